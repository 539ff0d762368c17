/*  rally_repl - the replication messages: diff and snapshot.

    The leader publishes one diff per tick on its PUB (topic "diff"): the
    records that changed since the tick before, the records that went, the
    globals, and the hashes of the state before (base_hash) and after
    (hash). A follower that cannot apply a diff asks for a snapshot: the
    same message with every record and base_hash 0.

    These messages are not in rally_msg_t: a snapshot holds every player and
    match of a node, which no fixed struct should, so their records live in
    arrays this module grows. One rally_repl_t is reused from tick to tick.

    Wire (protocol version 1): one MessagePack map, with
        "v" 1, "type" "diff" or "snapshot", "term", "node" (the leader),
        "seq", "base_hash", "hash" (uint64), "ticks" (uint64), "next_match"
        (uint32 >= 1), "next_ticket" (uint64), "matches" (array of match
        records), "players" (array of player records), "gone_matches"
        (array of uint32 >= 1), "gone_players" (array of bin 16)
    Records are arrays, by position, to keep a diff small: a match record
    has exactly 17 items and a player record 6, in the order of the structs
    below (score, ball, paddles, intents, names and tokens are each one
    item, an inner array). schema/README.md has the full layout. A snapshot
    has base_hash 0 and empty gone_ lists. Decoding is as strict as
    rally_msg's, with the same pre-walk before unpacking, and refuses a
    frame larger than RALLY_REPL_MAX_BYTES.
*/
#ifndef RALLY_REPL_H_INCLUDED
#define RALLY_REPL_H_INCLUDED

#include "rally_msg.h"

//  Sockets that carry snapshots allow frames this large.
#define RALLY_REPL_MAX_BYTES    (4 * 1024 * 1024)

typedef enum {
    RALLY_REPL_DIFF = 1,
    RALLY_REPL_SNAPSHOT = 2
} rally_repl_kind_t;

//  One match: its id, the rules' state field by field, who holds each seat.
typedef struct {
    uint32_t id;                    //  >= 1
    uint32_t tick;                  //  pong_match_t, in its order ...
    uint32_t phase;                 //  0..3
    uint32_t paused_phase;          //  0..3
    uint32_t countdown;
    uint32_t serve;                 //  0..1
    uint32_t points_played;
    uint32_t score[2];              //  0..RALLY_SCORE_MAX
    int32_t winner;                 //  -1..1
    int32_t ball[4];                //  x, y, vx, vy: |v| < RALLY_COORD_LIMIT
    int32_t paddles[2];             //  |v| < RALLY_COORD_LIMIT
    int32_t intents[2];             //  -1..1; ... to here
    char names[2][RALLY_NAME_BUF];  //  as paired, 1..RALLY_NAME_MAX bytes
    uint32_t seated;                //  bit per side: a player holds it
    uint8_t tokens[2][RALLY_TOKEN_SIZE];    //  seat holders (zero if not)
    uint32_t lost;                  //  bit per side: its player is lost
    uint64_t ended;                 //  lobby tick it was decided; 0 live
} rally_match_rec_t;

//  One player.
typedef struct {
    uint8_t token[RALLY_TOKEN_SIZE];
    char name[RALLY_NAME_BUF];      //  1..RALLY_NAME_MAX bytes
    uint32_t state;                 //  lobby_state_t: 0..2
    uint32_t match;                 //  0 if none
    int32_t side;                   //  -1..1
    uint64_t ticket;                //  queue order when queued, else 0
} rally_player_rec_t;

typedef struct {
    rally_repl_kind_t kind;
    rally_origin_t from;            //  the leader
    uint64_t seq;                   //  the tick this state is at
    uint64_t base_hash;             //  diff: hash of seq - 1; snapshot: 0
    uint64_t hash;                  //  hash of the state at seq
    uint64_t ticks;                 //  globals: the lobby's tick count,
    uint32_t next_match;            //  the next match id,
    uint64_t next_ticket;           //  the next queue ticket
    size_t match_count;
    rally_match_rec_t *matches;     //  changed (diff) or all (snapshot)
    size_t player_count;
    rally_player_rec_t *players;
    size_t gone_match_count;
    uint32_t *gone_matches;         //  diff: matches dropped
    size_t gone_player_count;
    uint8_t (*gone_players)[RALLY_TOKEN_SIZE];  //  diff: players forgotten
    //  Room in each array; the module's business.
    size_t match_cap, player_cap, gone_match_cap, gone_player_cap;
} rally_repl_t;

//  A new, empty message of this kind.
rally_repl_t *rally_repl_new (rally_repl_kind_t kind);

//  Destroys the message; safe on NULL, nulls *self_p.
void rally_repl_destroy (rally_repl_t **self_p);

//  Empties every list and zeroes the header, keeping the arrays' room.
void rally_repl_reset (rally_repl_t *self, rally_repl_kind_t kind);

//  Appends a zeroed record (or id, or token) and returns it.
rally_match_rec_t *rally_repl_add_match (rally_repl_t *self);
rally_player_rec_t *rally_repl_add_player (rally_repl_t *self);
void rally_repl_add_gone_match (rally_repl_t *self, uint32_t id);
void rally_repl_add_gone_player (rally_repl_t *self, const uint8_t *token);

//  Encodes into a new frame; NULL if a value is out of range (a
//  programmer's mistake) or the frame would pass RALLY_REPL_MAX_BYTES.
zframe_t *rally_repl_encode (const rally_repl_t *self);

//  Decodes one diff or snapshot from data into self (reset first). Returns
//  0, or -1 with a reason and self unspecified (but still destroyable).
int rally_repl_decode (rally_repl_t *self, const uint8_t *data, size_t size,
                       char *reason, size_t reason_size);

//  The canonical hash of one record: the same value on every node. A
//  state's hash is the sum (mod 2^64) of its records' hashes and of its
//  globals' hash, so that it changes by a record's difference when one
//  record changes and never needs the whole state walked.
//
//  Each is 64-bit FNV-1a over a canonical byte string, then the splitmix64
//  finalizer. The string is a kind byte (1 match, 2 player, 3 globals, so
//  no two kinds hash alike), then every field in struct order: integers
//  little-endian at their C width (int32 as its two's complement), strings
//  as one length byte and their bytes (nothing after the NUL counts),
//  tokens as their 16 bytes. The finalizer spreads every input bit over
//  the output, which FNV alone does not, so that a sum of hashes does not
//  let records cancel. schema/README.md spells the bytes out.
uint64_t rally_repl_match_hash (const rally_match_rec_t *rec);
uint64_t rally_repl_player_hash (const rally_player_rec_t *rec);
uint64_t rally_repl_globals_hash (uint64_t ticks, uint32_t next_match,
                                  uint64_t next_ticket);

#endif
