/*  rally_msg - every message between viewer, game node and broker.

    A message is one ZeroMQ frame holding one MessagePack map. Every map has
    "v" (protocol version) and "type" (a short string); the other keys depend
    on the type and are listed in schema/README.md, which is the reference a
    client in another language is written from. Messages sent by a game node
    also carry "term" and "node".

    Decoding is strict: a frame decodes only if it is exactly one map of a
    known type and version, with every field present, of the right type and
    in range, and no other key, and nothing after it. Anything else returns
    -1 and a reason; nothing outside this module ever sees a msgpack object.
*/
#ifndef RALLY_MSG_H_INCLUDED
#define RALLY_MSG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <czmq.h>

#define RALLY_PROTOCOL_VERSION 1

//  Limits. Sockets set ZMQ_MAXMSGSIZE to RALLY_MSG_MAX_BYTES, and the
//  decoder checks every string and array against these before copying.
#define RALLY_MSG_MAX_BYTES     65536
#define RALLY_MSG_LINK_PING_MS  500     //  ZMTP ping on a quiet link
#define RALLY_MSG_LINK_TIMEOUT_MS 2000  //  unanswered this long: link dead
#define RALLY_NAME_MAX          32      //  bytes of UTF-8 in a username
#define RALLY_NAME_MAX_CHARS    16      //  code points in a username
#define RALLY_TOKEN_SIZE        16      //  bytes in a session token
#define RALLY_ENDPOINT_MAX      128     //  bytes in a ZeroMQ endpoint
#define RALLY_CODE_MAX          24      //  bytes in an error code
#define RALLY_REASON_MAX        160     //  bytes in an error reason
#define RALLY_NODE_ID_MAX       255     //  node ids are 1..255
#define RALLY_SCORE_MAX         99      //  points to win is at most this
#define RALLY_COORD_LIMIT       (1 << 24)   //  |coordinate| and |velocity|
#define RALLY_STATUS_NODES_MAX  16      //  nodes in one cluster reply
#define RALLY_STATUS_MATCHES_MAX 64     //  matches in one matches reply
#define RALLY_RESULTS_MAX       32      //  finished matches in one results
#define RALLY_HAVE_RANGES       128     //  runs of match ids in one have
#define RALLY_SPECTATORS_MAX    65535   //  spectators one crowd counts
#define RALLY_CROWD_EVERY_MS    500     //  crowd published this often
#define RALLY_BOARD_MAX         10      //  players in one board
#define RALLY_MSG_DEPTH_MAX     8       //  deepest nesting the pre-walk takes
#define RALLY_MSG_QUOTE_MAX     24      //  bytes of hostile text quoted
#define RALLY_RETRY_MS_MAX      60000   //  longest retry-after in busy

//  Buffer sizes include the terminating NUL.
#define RALLY_NAME_BUF      (RALLY_NAME_MAX + 1)
#define RALLY_ENDPOINT_BUF  (RALLY_ENDPOINT_MAX + 1)
#define RALLY_KEY_MAX       40      //  a CURVE public key in Z85
#define RALLY_KEY_BUF       (RALLY_KEY_MAX + 1)
#define RALLY_CODE_BUF      (RALLY_CODE_MAX + 1)
#define RALLY_REASON_BUF    (RALLY_REASON_MAX + 1)

typedef enum {
    RALLY_MSG_WHERE = 1,    //  client -> broker: where is the leader?
    RALLY_MSG_LEADER,       //  broker -> client: the leader's endpoints
    RALLY_MSG_NODE_HB,      //  node -> broker and node -> nodes: heartbeat
    RALLY_MSG_JOIN,         //  client -> node: queue me under this name
    RALLY_MSG_JOINED,       //  node -> client: your session token
    RALLY_MSG_RESUME,       //  client -> node: I am back with this token
    RALLY_MSG_QUEUED,       //  node -> client: you wait at this place
    RALLY_MSG_MATCH,        //  node -> client: you are paired
    RALLY_MSG_INPUT,        //  client -> node: paddle intent
    RALLY_MSG_REQUEUE,      //  client -> node: play again
    RALLY_MSG_LEAVE,        //  client -> node: I am gone for good
    RALLY_MSG_PING,         //  client -> node or broker: are you there?
    RALLY_MSG_PONG,         //  reply to ping
    RALLY_MSG_STATE,        //  node -> PUB: one match at one tick
    RALLY_MSG_ERROR,        //  any -> peer: request refused, and why
    RALLY_MSG_STATUS,       //  rallyctl -> broker or node: report
    RALLY_MSG_CLUSTER,      //  broker -> rallyctl: nodes and leader
    RALLY_MSG_MATCHES,      //  node -> rallyctl: matches under way
    RALLY_MSG_SYNC,         //  follower -> leader: send me a snapshot
    RALLY_MSG_ACK,          //  follower -> leader: I applied this seq
    RALLY_MSG_LEASE,        //  broker -> node: reply to every node_hb
    RALLY_MSG_FETCH,        //  follower -> leader: results after this match
    RALLY_MSG_RESULTS,      //  leader -> follower: finished matches
    RALLY_MSG_WATCH,        //  spectator -> node: I watch this match;
                            //  answered with matches
    RALLY_MSG_CROWD,        //  node -> PUB: a match's spectators, grace
    RALLY_MSG_HISTORY,      //  viewer or rallyctl -> node: recent matches
                            //  (answered with results, newest first)
    RALLY_MSG_STANDINGS,    //  viewer or rallyctl -> node: the leaderboard
    RALLY_MSG_BOARD,        //  node -> asker: the leaderboard
    RALLY_MSG_BUSY,         //  node -> client: join refused for now; retry
                            //  after retry_ms
    RALLY_MSG_HAVE,         //  leader <-> follower: the match ids I store
    RALLY_MSG_TYPE_COUNT
} rally_msg_type_t;

typedef enum {
    RALLY_ROLE_FOLLOWER = 0,
    RALLY_ROLE_LEADER = 1
} rally_role_t;

typedef enum {
    RALLY_SIDE_LEFT = 0,
    RALLY_SIDE_RIGHT = 1
} rally_side_t;

//  A match's phase as the wire carries it; the rules use the same values.
typedef enum {
    RALLY_PHASE_SERVE = 0,  //  ball held before a serve
    RALLY_PHASE_PLAY = 1,   //  ball in play
    RALLY_PHASE_PAUSED = 2, //  a player is lost, waiting for the grace period
    RALLY_PHASE_OVER = 3    //  match decided; final
} rally_phase_t;

//  Fields every node-originated message carries.
typedef struct {
    uint64_t term;      //  sender's leadership term
    uint32_t node;      //  sender's node id, 1..255
} rally_origin_t;

typedef struct {
    rally_origin_t from;
    char game[RALLY_ENDPOINT_BUF];  //  leader's ROUTER, for requests
    char state[RALLY_ENDPOINT_BUF]; //  leader's PUB, for match states
    char key[RALLY_KEY_BUF];        //  leader's CURVE public key (Z85),
                                    //  "" in plain text
} rally_msg_leader_t;

typedef struct {
    rally_origin_t from;
    uint32_t role;                  //  rally_role_t
    uint64_t seq;                   //  last tick applied (or made)
    uint32_t matches;               //  matches under way
    uint32_t players;               //  players connected
    char game[RALLY_ENDPOINT_BUF];  //  this node's ROUTER
    char state[RALLY_ENDPOINT_BUF]; //  this node's PUB for viewers
    uint64_t want;                  //  term it asks a broker to grant or
                                    //  renew a lease for; 0 asks nothing
    uint64_t nonce;                 //  echoed in the broker's lease
    uint64_t lag;                   //  ticks behind the leader it follows;
                                    //  0 for a leader
    uint32_t behind;                //  finished matches its leader stores
                                    //  and it does not, as last compared
} rally_msg_node_hb_t;

typedef struct {
    char name[RALLY_NAME_BUF];
} rally_msg_join_t;

typedef struct {
    rally_origin_t from;
    uint8_t token[RALLY_TOKEN_SIZE];
    char name[RALLY_NAME_BUF];
    uint32_t match;             //  the player's match, live or just over; 0 none
} rally_msg_joined_t;

//  resume, requeue and leave carry only the token.
typedef struct {
    uint8_t token[RALLY_TOKEN_SIZE];
} rally_msg_token_t;

typedef struct {
    rally_origin_t from;
    uint32_t position;              //  1 = next to be paired
    char name[RALLY_NAME_BUF];
} rally_msg_queued_t;

typedef struct {
    rally_origin_t from;
    uint32_t match;                 //  match id, >= 1; also the PUB topic
    uint32_t side;                  //  rally_side_t of the receiver
    uint32_t points;                //  points to win
    uint32_t tick_hz;               //  ticks per second
    char names[2][RALLY_NAME_BUF];  //  left, right
} rally_msg_match_t;

typedef struct {
    uint8_t token[RALLY_TOKEN_SIZE];
    int32_t intent;                 //  -1 up, 0 still, +1 down
} rally_msg_input_t;

typedef struct {
    uint64_t nonce;
} rally_msg_ping_t;

typedef struct {
    rally_origin_t from;            //  term 0, node 0 when the broker answers
    uint64_t nonce;
} rally_msg_pong_t;

typedef struct {
    rally_origin_t from;
    uint64_t seq;                   //  node's global tick number
    uint32_t match;
    uint32_t tick;                  //  the match's own tick count
    uint32_t phase;                 //  rally_phase_t
    uint32_t score[2];
    int32_t ball[4];                //  x, y, vx, vy (field units)
    int32_t paddles[2];             //  left, right paddle y
    int32_t intents[2];             //  left, right intent
    uint32_t serve;                 //  side that serves next
    uint32_t countdown;             //  ticks before the ball moves
    int32_t winner;                 //  -1 none, else rally_side_t
    uint32_t lost;                  //  bit 0 left, bit 1 right: disconnected
    uint32_t points;                //  points to win
    char names[2][RALLY_NAME_BUF];
} rally_msg_state_t;

//  crowd: what a match's players and spectators see besides the game,
//  published on the match's topic every RALLY_CROWD_EVERY_MS.
typedef struct {
    rally_origin_t from;
    uint32_t match;
    uint32_t spectators;            //  viewers watching it
    uint32_t grace_ms;              //  paused: ms before the player lost
                                    //  first forfeits; else 0
} rally_msg_crowd_t;

typedef struct {
    rally_origin_t from;            //  term 0, node 0 when the broker sends
    char code[RALLY_CODE_BUF];      //  machine-readable: "bad_name", ...
    char reason[RALLY_REASON_BUF];  //  human-readable
} rally_msg_error_t;

//  A join refused for now ("full": the node holds max players; "busy":
//  the client's address holds as many as one may): ask again after
//  retry_ms, which the node spreads so that refused clients do not come
//  back at once.
typedef struct {
    rally_origin_t from;
    char code[RALLY_CODE_BUF];      //  "full" or "busy"
    char reason[RALLY_REASON_BUF];  //  human-readable
    uint32_t retry_ms;              //  1..RALLY_RETRY_MS_MAX
} rally_msg_busy_t;

typedef struct {
    uint32_t id;
    uint32_t role;
    uint64_t term;
    uint64_t seq;
    uint32_t age_ms;                //  since the broker last heard it
    uint32_t matches;
    uint32_t players;
    char game[RALLY_ENDPOINT_BUF];
    char state[RALLY_ENDPOINT_BUF];
    uint64_t lag;                   //  ticks behind its leader, as it said
    uint32_t behind;                //  finished matches it lacks, as it said
} rally_node_info_t;

typedef struct {
    uint64_t term;                  //  highest term the broker knows
    uint32_t leader;                //  node id, 0 if none
    uint32_t lease_holder;          //  node holding this broker's lease, 0 none
    uint64_t lease_term;            //  the term of that lease
    uint32_t lease_ms;              //  lease time left at this broker; 0 none
    uint32_t node_count;
    rally_node_info_t nodes[RALLY_STATUS_NODES_MAX];
} rally_msg_cluster_t;

typedef struct {
    uint32_t match;
    uint32_t tick;
    uint32_t phase;
    uint32_t score[2];
    char names[2][RALLY_NAME_BUF];
} rally_match_info_t;

typedef struct {
    rally_origin_t from;
    uint32_t waiting;               //  players in the queue
    uint32_t total;                 //  matches under way, may exceed count
    uint32_t count;
    rally_match_info_t matches[RALLY_STATUS_MATCHES_MAX];
} rally_msg_matches_t;

//  watch: a spectator shows this match (0: none yet, only the list).
typedef struct {
    uint32_t match;
} rally_msg_watch_t;

//  sync asks the leader for a snapshot; ack reports what was applied. Both
//  come from a follower, so node is 1..255.
typedef struct {
    rally_origin_t from;
    uint64_t seq;                   //  the follower's last applied seq
} rally_msg_sync_t;

typedef rally_msg_sync_t rally_msg_ack_t;

//  A broker's answer to a node_hb. The origin's "term" is the broker's 0,
//  so the lease's own term travels as "lease_term".
typedef struct {
    rally_origin_t from;            //  term 0, node 0: a broker
    uint64_t lease_term;            //  the broker's highest granted term
    uint32_t holder;                //  node holding the lease here now, 0 none
    uint32_t ms;                    //  lease granted to the receiver for
                                    //  lease_term, in ms; 0 = no grant
    uint64_t nonce;                 //  echoes the node_hb's nonce
} rally_msg_lease_t;

//  fetch: a follower that came back asks for the finished matches with an
//  id above after, which it missed.
typedef struct {
    rally_origin_t from;
    uint32_t after;                 //  the last match id it holds, 0 none
} rally_msg_fetch_t;

//  have: the finished matches a node stores with ids lo..hi, as runs of
//  ids, and the highest match id it has used, seen or reserved. A
//  follower sends it for each window of its store; the leader answers with
//  the results the follower lacks and a have of its own for the same
//  window, from which the follower sends the results the leader lacks.
typedef struct {
    uint32_t lo, hi;                //  one run of stored ids, lo <= hi
} rally_range_t;

typedef struct {
    rally_origin_t from;
    uint32_t lo;                    //  the window described, lo..hi
    uint32_t hi;
    uint32_t top;                   //  highest id used, seen or reserved
    uint32_t count;
    rally_range_t ranges[RALLY_HAVE_RANGES];   //  ascending, apart
} rally_msg_have_t;

typedef struct {
    uint32_t match;                 //  match id, >= 1
    char names[2][RALLY_NAME_BUF];  //  left, right
    uint32_t score[2];
    int32_t winner;                 //  -1 none, else rally_side_t
    uint32_t forfeit;               //  1 if decided by a forfeit
    uint64_t term;                  //  term in which it ended
} rally_result_t;

//  results: the next finished matches after fetch's id, in id order; fewer
//  than RALLY_RESULTS_MAX means there are no more.
typedef struct {
    rally_origin_t from;
    uint32_t count;
    rally_result_t results[RALLY_RESULTS_MAX];
} rally_msg_results_t;

//  history: the finished matches with an id below before (0: the
//  latest), newest first, of the player name ("": anyone's).
typedef struct {
    char name[RALLY_NAME_BUF];
    uint32_t before;
} rally_msg_history_t;

//  standings: the leaderboard, and name's own record ("": none).
typedef struct {
    char name[RALLY_NAME_BUF];
} rally_msg_standings_t;

//  One player's record over the stored matches: every win and loss, and
//  of the losses those by forfeit (away past the grace, or left).
typedef struct {
    char name[RALLY_NAME_BUF];
    uint32_t wins;
    uint32_t losses;
    uint32_t forfeits;
} rally_record_t;

typedef struct {
    rally_origin_t from;
    uint32_t players;               //  players with a stored match
    rally_record_t own;             //  the name asked for; wins, losses
                                    //  and forfeits 0 if it has none
    uint32_t count;
    rally_record_t top[RALLY_BOARD_MAX];    //  most wins first, then
                                    //  fewest losses, then by name
} rally_msg_board_t;

typedef struct {
    rally_msg_type_t type;
    union {
        rally_msg_leader_t leader;
        rally_msg_node_hb_t node_hb;
        rally_msg_join_t join;
        rally_msg_joined_t joined;
        rally_msg_token_t resume;
        rally_msg_queued_t queued;
        rally_msg_match_t match;
        rally_msg_input_t input;
        rally_msg_token_t requeue;
        rally_msg_token_t leave;
        rally_msg_ping_t ping;
        rally_msg_pong_t pong;
        rally_msg_state_t state;
        rally_msg_error_t error;
        rally_msg_cluster_t cluster;
        rally_msg_matches_t matches;
        rally_msg_sync_t sync;
        rally_msg_ack_t ack;
        rally_msg_lease_t lease;
        rally_msg_fetch_t fetch;
        rally_msg_results_t results;
        rally_msg_watch_t watch;
        rally_msg_crowd_t crowd;
        rally_msg_history_t history;
        rally_msg_standings_t standings;
        rally_msg_board_t board;
        rally_msg_busy_t busy;
        rally_msg_have_t have;
    } u;                            //  where, status: no fields
} rally_msg_t;

//  Encodes msg into a new frame; NULL if a field is out of range (a
//  programmer's mistake: the encoder refuses what the decoder would).
zframe_t *rally_msg_encode (const rally_msg_t *msg);

//  Decodes exactly one message from data. Returns 0, or -1 with a reason
//  in reason (always NUL-terminated) and msg unspecified.
int rally_msg_decode (rally_msg_t *msg, const uint8_t *data, size_t size,
                      char *reason, size_t reason_size);

//  The wire name of a type ("join"), or "?" for an unknown value.
const char *rally_msg_type_name (rally_msg_type_t type);

//  Zeroes msg and sets its type.
void rally_msg_init (rally_msg_t *msg, rally_msg_type_t type);

//  Sends msg as one frame on a DEALER, PUB without topic, or REQ-like
//  socket. Returns 0 or -1.
int rally_msg_send (const rally_msg_t *msg, zsock_t *sock);

//  Sends msg on a ROUTER to the peer whose routing id is routing_id.
int rally_msg_send_to (const rally_msg_t *msg, zsock_t *router,
                       zframe_t *routing_id);

//  Publishes msg on a PUB as [topic][body].
int rally_msg_publish (const rally_msg_t *msg, zsock_t *pub,
                       const char *topic);

//  The PUB topic of a match: 8 lowercase hex digits, fixed width so that a
//  SUB prefix never matches another match. buf holds at least 9 bytes.
void rally_msg_match_topic (uint32_t match, char *buf);

//  True if name is an acceptable username: 1..RALLY_NAME_MAX_CHARS code
//  points of valid UTF-8, at most RALLY_NAME_MAX bytes, no control
//  characters, no leading or trailing space. On false, reason says why.
bool rally_msg_name_valid (const char *name, char *reason, size_t reason_size);

//  Makes msg an error from this origin (NULL: a broker's 0, 0) with this
//  code ([a-z_], as the table in schema/README.md) and reason. The reason
//  is cut to fit at a character boundary, and what is not valid UTF-8 is
//  dropped, so the error always encodes: a peer never misses its answer.
void rally_msg_error (rally_msg_t *msg, const rally_origin_t *from,
                      const char *code, const char *reason);

//  A new socket as every Rally program wants one: ZMQ_MAXMSGSIZE at
//  RALLY_MSG_MAX_BYTES (a peer cannot make us buffer more), no linger,
//  sends that never wait (one reactor must not stall on one peer), and
//  ZMTP heartbeats, so that a connection whose peer vanished without a
//  word (a host cut off the network) is dropped and redialled, its host
//  name resolved again, within RALLY_MSG_LINK_TIMEOUT_MS. NULL if ZeroMQ
//  cannot make one.
zsock_t *rally_msg_socket_new (int type);

#endif
