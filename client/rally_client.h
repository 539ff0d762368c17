/*  rally_client - one player's session with a Rally cluster, without a window.

    The viewer and the bot share this module. It asks the brokers where the
    leader is, joins under a username, waits in the queue, follows its match
    on the leader's PUB socket, sends paddle intents, plays again on request,
    and, when the node it talks to goes quiet or says another node leads,
    finds the leader again and resumes with its session token.

    It never blocks and owns no thread: the caller polls the sockets that
    rally_client_pollitems() lists (alongside its own, for many clients in
    one loop), then calls rally_client_pump() with the monotonic time, which
    reads whatever arrived and runs the session's timers. What happened comes
    out as events, in order, from rally_client_next_event(); what to draw
    comes from rally_client_view().
*/
#ifndef RALLY_CLIENT_H_INCLUDED
#define RALLY_CLIENT_H_INCLUDED

#include "rally_cluster.h"
#include "rally_keys.h"
#include "rally_msg.h"

typedef struct _rally_client_t rally_client_t;

//  Where the session is.
typedef enum {
    RALLY_CLIENT_FINDING = 0,   //  asking the brokers for the leader
    RALLY_CLIENT_JOINING,       //  join (or resume) sent, no answer yet
    RALLY_CLIENT_QUEUED,        //  waiting for an opponent
    RALLY_CLIENT_PLAYING,       //  in a match that is not over
    RALLY_CLIENT_ENDED,         //  match over; play again or leave
    RALLY_CLIENT_FAILED         //  refused for good (say, a bad name)
} rally_client_status_t;

typedef enum {
    RALLY_EVENT_JOINED = 1,     //  name, token known
    RALLY_EVENT_QUEUED,         //  position
    RALLY_EVENT_MATCH_START,    //  match, side, opponent
    RALLY_EVENT_STATE,          //  match, tick, score, phase: every state
    RALLY_EVENT_POINT,          //  match, tick, score: a point was scored
    RALLY_EVENT_MATCH_END,      //  match, score, winner
    RALLY_EVENT_RECONNECT,      //  gap_ms, from_node, to_node, term:
                                //  back on a node after a silence or a
                                //  redirect
    RALLY_EVENT_ERROR           //  code, reason
} rally_event_type_t;

typedef struct {
    rally_event_type_t type;
    int64_t t_ms;               //  monotonic ms when it happened
    uint32_t match;
    uint32_t tick;
    uint32_t phase;
    uint32_t score[2];
    int32_t side;               //  own side, -1 if none
    int32_t winner;             //  side, -1 if none
    uint32_t position;          //  place in the queue
    int64_t gap_ms;             //  reconnect: what the player missed, in
                                //  a match from the last state before the
                                //  silence to the first after it, else
                                //  from the last frame heard to joined
    uint32_t from_node;         //  reconnect: the node that went quiet
    uint32_t to_node;           //  reconnect: the node now serving
    uint64_t term;              //  reconnect: to_node's term
    char name[RALLY_NAME_BUF];      //  own name
    char opponent[RALLY_NAME_BUF];
    char winner_name[RALLY_NAME_BUF];
    char code[RALLY_CODE_BUF];
    char reason[RALLY_REASON_BUF];
} rally_event_t;

//  What a renderer needs. prev and last are the two most recent states of
//  the current match, received at prev_ms and last_ms; a renderer places
//  things between them for smooth motion. They are what arrived, in the
//  order it arrived: a new leader behind the old one shows as a state with
//  a lower tick, and a renderer that must never step back skips it.
//  While reconnecting, the match and its states stay as they were.
typedef struct {
    rally_client_status_t status;
    bool reconnecting;          //  the serving node went quiet (or sent
                                //  us on); until the session is back
    uint32_t lost_node;         //  while reconnecting: the node we left
    char name[RALLY_NAME_BUF];
    int32_t side;               //  -1 until paired
    uint32_t position;          //  place in the queue when queued
    uint32_t match;
    uint32_t node;              //  node serving us, 0 if none
    uint64_t term;
    int64_t rtt_ms;             //  last ping round trip, -1 if unknown
    int32_t intent;             //  own intent as last set
    bool have_state;            //  last (and maybe prev) are valid
    bool have_prev;
    rally_msg_state_t prev, last;
    int64_t prev_ms, last_ms;
    char error[RALLY_REASON_BUF];   //  last error reason, "" if none
    int64_t searching_ms;       //  when the session began to look for a
                                //  node that answers (at the start, or
                                //  when one went quiet); 0 once one has
    uint32_t tries;             //  times the brokers were asked since
    uint32_t spectators;        //  watching the match, as last heard
    uint32_t grace_ms;          //  paused: grace left when heard, else 0
    int64_t grace_heard_ms;     //  when that was
} rally_view_t;

typedef struct {
    const char *brokers[RALLY_CLUSTER_BROKERS_MAX];     //  endpoints; one
                                //  or more, required
    size_t broker_count;
    char broker_keys[RALLY_CLUSTER_BROKERS_MAX][RALLY_KEY_BUF];
                                //  each broker's public key (Z85), ""
                                //  where unknown: that broker is skipped
    const char *name;           //  username, required
    int64_t silence_ms;         //  quiet node after this: reconnect (800)
    int64_t play_silence_ms;    //  the same in a match, where states come
                                //  every tick (150)
    int64_t ping_ms;            //  keepalive period (200)
    bool auto_requeue;          //  play again by itself after a match
} rally_client_config_t;

//  Fills cfg with defaults, the name, and every broker of cluster, with
//  its key from the cluster's key directory (broker<N>.cert), else from
//  $RALLY_BROKER_KEY (a Z85 key or a certificate file). The strings stay
//  the caller's: they must last until rally_client_new.
void rally_client_config_defaults (rally_client_config_t *cfg,
                                   const rally_cluster_t *cluster,
                                   const char *name);

//  The keys every session of the process uses: a player's (made once, for
//  the whole process, when a first session starts without this) or plain
//  text. The caller keeps them for as long as any session lives.
void rally_client_set_keys (rally_keys_t *keys);

//  The keys sessions use (made here, for the process, if none were set).
rally_keys_t *rally_client_keys (void);

//  Starts a session: connects to every broker and asks for the leader at
//  now_ms. NULL if the name is invalid (the caller validates first), a
//  broker endpoint is refused, or the sockets cannot be made.
rally_client_t *rally_client_new (const rally_client_config_t *cfg,
                                  int64_t now_ms);

//  Leaves (if joined) and closes every socket; nulls *self_p.
void rally_client_destroy (rally_client_t **self_p);

//  Fills up to max poll items (ZMQ_POLLIN) with the client's sockets;
//  returns how many. The set changes when the client moves to another node.
int rally_client_pollitems (rally_client_t *self, zmq_pollitem_t *items,
                            int max);

//  Milliseconds from now_ms until the client's next timer, >= 0.
int64_t rally_client_timeout (rally_client_t *self, int64_t now_ms);

//  Reads every pending message and runs due timers.
void rally_client_pump (rally_client_t *self, int64_t now_ms);

//  Pops the oldest event into ev; false if there is none.
bool rally_client_next_event (rally_client_t *self, rally_event_t *ev);

//  Sets the own paddle's intent (-1 up, 0 still, +1 down); sent at once.
void rally_client_set_intent (rally_client_t *self, int intent);

//  After a match: queue again.
void rally_client_play_again (rally_client_t *self);

//  The current picture of the session, valid until the next pump.
const rally_view_t *rally_client_view (rally_client_t *self);

#endif
