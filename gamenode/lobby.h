/*  lobby - players, the queue and the matches of one game node.

    The lobby is pure and clock-injected: every call that can depend on time
    takes now_ms (a monotonic millisecond count), and it owns no socket and
    does no I/O. Session tokens come from the caller, so tests choose them.
    What happened (a player queued at a new place, a match paired, a match
    over, a player lost or back) comes out as events, in order, which the
    node turns into messages and log lines.

    A player is queued, playing, or ended (its match is over and gone; it may
    queue again). The first two queued players that are not lost are paired,
    the first on the left. A player unheard for LOBBY_LOST_MS is lost: its
    match pauses until it is heard again, and after grace_ms lost it forfeits
    the match, or, if it was not playing, is forgotten. A finished match
    stays (and is published) for LOBBY_LINGER_MS, then is dropped.
*/
#ifndef LOBBY_H_INCLUDED
#define LOBBY_H_INCLUDED

#include "rally_msg.h"
#include "rally_repl.h"
#include "pong.h"

#define LOBBY_LOST_MS        1000   //  unheard this long: lost
#define LOBBY_LINGER_MS      3000   //  a finished match is kept this long
#define LOBBY_INPUT_RATE     60     //  inputs a player may send in a second
#define LOBBY_QUEUED_EVERY   1000   //  a queued player hears its place this often
#define LOBBY_PEER_MAX       256    //  bytes in a peer address (routing id)
#define LOBBY_SOURCE_MAX     64     //  bytes in a source (network address)
#define LOBBY_MATCH_ID_MAX   0x7fffffffu    //  highest match id; never wraps,
                                            //  and fits any signed 32 bits
//  Matches held at once, lingering ones too: a lobby pairs no more.
#define LOBBY_MATCHES_MAX(cfg) ((cfg)->max_players * 2)

typedef struct _lobby_t lobby_t;

typedef struct {
    uint32_t tick_hz;           //  ticks per second, PONG_TICK_HZ_MIN..MAX
    uint32_t points_to_win;     //  PONG_POINTS_MIN..MAX
    uint32_t grace_ms;          //  seat kept for a lost player
    uint32_t max_players;       //  players at once, >= 2
    uint32_t max_per_source;    //  players at once from one source (its
                                //  network address); 0: no limit
} lobby_config_t;

//  Why a request was refused; LOBBY_OK when it was not.
typedef enum {
    LOBBY_OK = 0,
    LOBBY_BAD_NAME,             //  "bad_name"
    LOBBY_NAME_TAKEN,           //  "name_taken"
    LOBBY_FULL,                 //  "full"
    LOBBY_UNKNOWN_TOKEN,        //  "unknown_token"
    LOBBY_NOT_PLAYING,          //  "not_playing"
    LOBBY_RATE_LIMITED,         //  "rate_limited": dropped, tell the player
    LOBBY_RATE_LIMITED_QUIET,   //  dropped, the player was told this second
    LOBBY_IN_MATCH,             //  "in_match"
    LOBBY_BAD_INTENT,           //  "bad_message": intent not -1, 0 or +1
    LOBBY_ALREADY_JOINED,       //  "already_joined": one player a connection
    LOBBY_UNAVAILABLE,          //  "unavailable": try again
    LOBBY_BUSY                  //  "busy": the source holds max_per_source
} lobby_result_t;

typedef enum {
    LOBBY_QUEUED = 0,           //  waiting in the queue
    LOBBY_PLAYING,              //  in a match (live, or over and lingering)
    LOBBY_ENDED                 //  its match is gone; may queue again
} lobby_state_t;

typedef enum {
    LOBBY_EVENT_QUEUED = 1,     //  tell player its place (new, changed, or due)
    LOBBY_EVENT_MATCH,          //  tell player its match (paired, or resumed)
    LOBBY_EVENT_PAIRED,         //  a match began: match, names
    LOBBY_EVENT_OVER,           //  a match was decided: score, winner, forfeit
    LOBBY_EVENT_LOST,           //  player went quiet; match paused if playing
    LOBBY_EVENT_BACK,           //  a lost player was heard again
    LOBBY_EVENT_DROPPED,        //  lost past grace while not playing: forgotten
    LOBBY_EVENT_GONE            //  a finished match was dropped
} lobby_event_type_t;

//  One event. Player events (QUEUED, MATCH, LOST, BACK, DROPPED) name the
//  player by token, name and peer; match events name the match.
typedef struct {
    lobby_event_type_t type;
    uint8_t token[RALLY_TOKEN_SIZE];    //  the player concerned
    uint8_t peer[LOBBY_PEER_MAX];       //  its peer address, as last set
    size_t peer_size;                   //  0 if none is known
    char name[RALLY_NAME_BUF];          //  its name
    uint32_t position;                  //  QUEUED: 1 = next to be paired
    uint32_t match;                     //  match id, 0 if none
    int32_t side;                       //  the player's side, -1 if none
    char names[2][RALLY_NAME_BUF];      //  MATCH, PAIRED, OVER: left, right
    uint32_t score[2];                  //  OVER
    int32_t winner;                     //  OVER: winning side
    bool forfeit;                       //  OVER: decided by a forfeit
} lobby_event_t;

//  What the node may ask about a player.
typedef struct {
    char name[RALLY_NAME_BUF];
    lobby_state_t state;
    uint32_t position;          //  1-based when queued, else 0
    uint32_t match;             //  match id when playing, else 0
    int32_t side;               //  rally_side_t when playing, else -1
    bool lost;                  //  unheard for LOBBY_LOST_MS or more
} lobby_player_info_t;

//  What the node publishes about a match. game points into the lobby and
//  is valid until the next call that changes it.
typedef struct {
    uint32_t id;
    const pong_match_t *game;
    char names[2][RALLY_NAME_BUF];
    uint32_t lost;              //  bit 0 left, bit 1 right
} lobby_match_view_t;

//  Fills cfg with Rally's defaults (60 Hz, 11 points, 10 s, 1024 players,
//  no limit per source).
void lobby_config_defaults (lobby_config_t *cfg);

//  A new, empty lobby, or NULL if cfg is out of range.
lobby_t *lobby_new (const lobby_config_t *cfg);

//  Destroys the lobby; safe on NULL, nulls *self_p.
void lobby_destroy (lobby_t **self_p);

//  Admits a new player under name with the caller's random token, queues it
//  and pairs if it can. On refusal, reason (if not NULL) says why.
lobby_result_t lobby_join (lobby_t *self, const char *name,
                           const uint8_t *token, const uint8_t *peer,
                           size_t peer_size, int64_t now_ms, char *reason,
                           size_t reason_size);

//  The same, from a source (the connection's network address, or NULL):
//  a source holds at most max_per_source players at once, so that one
//  host cannot take every seat. A player counts against its source until
//  it is forgotten; a resume moves it to the new source.
lobby_result_t lobby_join_from (lobby_t *self, const char *name,
                                const uint8_t *token, const uint8_t *peer,
                                size_t peer_size, const char *source,
                                int64_t now_ms, char *reason,
                                size_t reason_size);

//  Players held from a source.
size_t lobby_source_players (lobby_t *self, const char *source);

//  A player comes back: its peer becomes this one, it is heard, and an
//  event tells it where it is (QUEUED or MATCH; none when ended).
lobby_result_t lobby_resume (lobby_t *self, const uint8_t *token,
                             const uint8_t *peer, size_t peer_size,
                             int64_t now_ms);
lobby_result_t lobby_resume_from (lobby_t *self, const uint8_t *token,
                                  const uint8_t *peer, size_t peer_size,
                                  const char *source, int64_t now_ms);

//  Sets the intent of the token's own paddle, within the rate limit.
lobby_result_t lobby_input (lobby_t *self, const uint8_t *token,
                            int32_t intent, int64_t now_ms);

//  Queues the player again (or repeats its place if already queued).
lobby_result_t lobby_requeue (lobby_t *self, const uint8_t *token,
                              int64_t now_ms);

//  The player leaves for good: out of the queue, or forfeiting a live match.
lobby_result_t lobby_leave (lobby_t *self, const uint8_t *token,
                            int64_t now_ms);

//  Marks the player with this token, or the one at this peer, as heard.
//  Returns true if there was such a player.
bool lobby_heard (lobby_t *self, const uint8_t *token, int64_t now_ms);
bool lobby_heard_peer (lobby_t *self, const uint8_t *peer, size_t peer_size,
                       int64_t now_ms);

//  One tick: liveness (lost, forfeits, drops), every match stepped once,
//  finished matches past their linger dropped, places in the queue told.
void lobby_tick (lobby_t *self, int64_t now_ms);

//  Pops the oldest event into event; false if there is none.
bool lobby_next_event (lobby_t *self, lobby_event_t *event);

//  Fills info for the player with this token; -1 if there is none.
int lobby_player_info (lobby_t *self, const uint8_t *token,
                       lobby_player_info_t *info);

//  Matches held (live, or finished and lingering), in the order they began.
size_t lobby_match_count (lobby_t *self);

//  Fills view for the match at index (0..count-1); -1 if out of range.
int lobby_match_at (lobby_t *self, size_t index, lobby_match_view_t *view);

//  Fills view for match id; -1 if there is no such match.
int lobby_match_find (lobby_t *self, uint32_t id, lobby_match_view_t *view);

//  Milliseconds at now before the player of match id lost first forfeits
//  (what a paused match's players are shown); 0 if none is lost or there
//  is no such match.
uint32_t lobby_grace_left (lobby_t *self, uint32_t id, int64_t now);

//  Writes the match's part of its state message into state: everything but
//  the origin, seq and points, which are the node's.
void lobby_match_state (const lobby_match_view_t *view,
                        rally_msg_state_t *state);

//  Replication. The replicated state is every player and match record and
//  the globals (ticks run, next match id, next queue ticket); peers,
//  liveness and rate limits are each node's own. Its hash is the sum of the
//  records' hashes (rally_repl.h), kept as records change.

//  The state's hash, and the ticks the lobby has run.
uint64_t lobby_hash (lobby_t *self);
uint64_t lobby_ticks (lobby_t *self);

//  Match ids up to last are taken (stored before a restart): the next
//  match made here gets a higher one. -1 (nothing changed) if last is
//  LOBBY_MATCH_ID_MAX or more: no id would be left.
int lobby_reserve_matches (lobby_t *self, uint32_t last);

//  Leader, mid-term: ids up to last are taken elsewhere (a follower stored
//  or reserved them); the next match gets a higher one. The next diff
//  carries the new globals.
void lobby_raise_matches (lobby_t *self, uint32_t last);

//  Players are paired only while the next id is at most limit; pairs wait
//  otherwise (UINT32_MAX - 1, the default, never holds them back).
void lobby_limit_matches (lobby_t *self, uint32_t limit);

//  The id the next match will get.
uint32_t lobby_next_match (lobby_t *self);

//  Leader, after each tick: fills out with what changed since the last
//  diff (or since the lobby was made or adopted), base and new hash. The
//  caller sets the origin and seq.
void lobby_diff (lobby_t *self, rally_repl_t *out);

//  Leader, right after lobby_diff: the whole state, as that diff left it.
void lobby_snapshot (lobby_t *self, rally_repl_t *out);

//  Checks a diff or snapshot against the lobby without applying any of it:
//  the state it would leave must be one the lobby could reach itself (ids
//  in range, below a next match id that cannot wrap, at most max_players
//  players and LOBBY_MATCHES_MAX matches, every seat and every player's
//  match pointing at each other, names unique, no counter going back).
//  Returns 0, or -1 with a reason.
int lobby_check (lobby_t *self, const rally_repl_t *in, char *reason,
                 size_t reason_size);

//  Follower: applies a diff (against the state held) or a snapshot (which
//  replaces it), once lobby_check passes it: a refused one changes nothing. A match it shows decided for the first time comes out as
//  an OVER event, as on the leader. Returns 0, or -1 with a reason when the diff does not fit
//  or the result does not hash to in->hash; the lobby is then unusable
//  until a snapshot is applied.
int lobby_apply (lobby_t *self, const rally_repl_t *in, char *reason,
                 size_t reason_size);

//  A follower becomes leader at now_ms: every player counts as heard now
//  (it has a while to find the new leader), those the old leader had lost
//  stay lost with their grace counted anew, finished matches linger anew.
void lobby_adopt (lobby_t *self, int64_t now_ms);

//  Counts: players held, players queued, matches not over.
size_t lobby_players (lobby_t *self);
size_t lobby_waiting (lobby_t *self);
size_t lobby_live_matches (lobby_t *self);

//  The configuration the lobby runs with.
const lobby_config_t *lobby_config (lobby_t *self);

//  The wire's error code for a refusal ("bad_name", ...), "" for LOBBY_OK.
const char *lobby_result_code (lobby_result_t result);

//  A human-readable reason for a refusal, "" for LOBBY_OK.
const char *lobby_result_reason (lobby_result_t result);

#endif
