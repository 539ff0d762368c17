/*  node_impl - what the files of one game node share: its state and
    the functions one role file calls in another. Private to gamenode/.
*/
#ifndef NODE_IMPL_H_INCLUDED
#define NODE_IMPL_H_INCLUDED

#include "node.h"
#include "ident.h"
#include "lease.h"
#include "lobby.h"
#include "watchers.h"
#include "rally_limits.h"
#include "rally_repl.h"
#include "rally_term.h"
#include "rally_warn.h"
#include "results.h"

#include <inttypes.h>
#include <malloc.h>
#include <string.h>
#include <sys/random.h>

#define NODE_CATCH_UP       5       //  ticks run at once when late
#define NODE_WARN_BURST     10      //  bad-input log lines per second
#define NODE_DEALER_HWM     16      //  heartbeats queued for a quiet broker
#define NODE_PENDING        16      //  ticks whose states wait for an ack
#define NODE_HELD_MAX       240     //  diffs held while a snapshot comes
#define NODE_SYNC_AGAIN_MS  250     //  a snapshot unanswered this long: ask again
#define NODE_DRIFT_DIVISOR  8       //  lease / this: the node's safety margin
#define NODE_FULL_RETRY_MS  2000    //  a join refused as full: ask again after
                                    //  this, plus up to half again at random
#define NODE_BUSY_RETRY_MS  5000    //  refused for its source: likewise
#define NODE_GAME_HWM       64      //  messages queued per connection, each
                                    //  way: what a slow or hostile one holds
#define NODE_TRIM_MS        5000    //  freed memory goes back this often
#define NODE_ID_BLOCK       64      //  match ids reserved on disk at once
#define NODE_HAVE_WAIT_MS   1000    //  a new leader waits this long at most
                                    //  for its followers' ids
#define NODE_CONVERGE_MS    1000    //  a follower compares stores this often
#define NODE_RETRY_MS       500     //  a failed store is tried again so often
#define NODE_PUSH_PAGES     8       //  results pages sent per have, at most
#define NODE_PEER_MAX       16      //  bytes of a follower's route kept
#define NODE_SILENCE_LEASES 5       //  suspended this many leases at most, as
                                    //  long as the brokers hold its lease
#define NODE_NO_MAJORITY_LOG_MS 1000    //  "no majority" logged this often

//  One tick's states, waiting until a follower has the tick.
typedef struct {
    uint64_t seq;                   //  the tick
    int64_t at;                     //  when it was run
    zlist_t *msgs;                  //  zmsg_t: [topic][state], one a match
} pending_t;

//  A reply to a player, waiting likewise.
typedef struct {
    uint64_t seq;                   //  the tick that holds what it says
    zmsg_t *msg;                    //  [routing id][body]
} outgoing_t;

struct _node_t {
    node_config_t cfg;                  //  as given
    rally_node_conf_t me;               //  own endpoints, as peers use them
    const char *told_game;              //  own endpoints, as players are
    const char *told_state;             //  told them (advertised)
    zloop_t *loop;                      //  the reactor
    zsock_t *game;                      //  ROUTER: players (player plane)
    zsock_t *peer;                      //  ROUTER: followers, operators
                                        //  (peer plane: members only)
    zsock_t *answer;                    //  the ROUTER of the request at hand
    uint8_t client_key[32];             //  the request's CURVE key, zeros
                                        //  in plain text
    uint8_t told_token[RALLY_TOKEN_SIZE];   //  the request's token as the
                                        //  player holds it (before binding)
    zactor_t *monitor;                  //  the game ROUTER's failed accepts
    const char *source;                 //  the request's network address
    zsock_t *state;                     //  PUB: match states, for viewers
    zsock_t *heartbeat;                 //  PUB: heartbeats and diffs
    zsock_t *peers;                     //  SUB: the other nodes' PUBs
    zsock_t *upstream;                  //  DEALER to the leader, or NULL
    uint32_t upstream_node;             //  the leader it is connected to
    zsock_t *brokers[RALLY_CLUSTER_BROKERS_MAX];    //  DEALER per broker
    zsock_t *spares[RALLY_CLUSTER_BROKERS_MAX];     //  a second per broker:
                                        //  each heartbeat goes on both, so
                                        //  one segment stalled in TCP's
                                        //  retransmission (200 ms and more)
                                        //  does not stall the lease
    size_t broker_count;                //  brokers connected
    lobby_t *lobby;                     //  players, queue and matches
    results_t *results;                 //  finished matches, kept
    lease_t *lease;                     //  the brokers' grants
    rally_repl_t *repl;                 //  a diff or snapshot, reused
    rally_role_t role;                  //  leader or follower
    uint64_t term;                      //  term led or followed
    uint64_t seq;                       //  ticks made or applied
    int64_t lead_until;                 //  leader: lease end (mono ms)
    bool suspended;                     //  leader whose lease ran out: acts
                                        //  not, until renewed or given up
    int64_t no_majority_logged;         //  when "no majority" was last said
    int64_t tick_base_us;               //  when tick 0 of this count was due
    uint64_t tick_next;                 //  ticks since base; next is due
    uint64_t tag_seq;                   //  seq that holds what is drained
    //  Follower
    uint32_t leader;                    //  leader followed, 0 if none
    int64_t leader_heard;               //  when it was last heard
    rally_msg_leader_t leader_at;       //  its endpoints, for players
    uint64_t leader_seq;                //  highest seq it was seen at
    bool synced;                        //  state is the leader's, at seq
    int64_t sync_asked;                 //  when a snapshot was asked, or 0
    zlist_t *held;                      //  zframe_t: diffs held meanwhile
    //  Leader
    int64_t follower_heard[RALLY_NODE_ID_MAX + 1];  //  by node id: when a
                                        //  follower was last heard, or 0
    uint64_t committed;                 //  highest seq a follower has
    bool stalled;                       //  warned: followers heard, no ack
    int64_t lead_since;                 //  when it began to lead this term
    uint64_t have_term[RALLY_NODE_ID_MAX + 1];  //  by node id: the term of
                                        //  its last have, 0 if none
    uint8_t have_peer[RALLY_NODE_ID_MAX + 1][NODE_PEER_MAX];   //  and the
    size_t have_peer_size[RALLY_NODE_ID_MAX + 1];   //  route it came by
    bool ids_known;                     //  may open matches (see Identity)
    //  Durability and convergence
    ident_t *ident;                     //  term and match ids, on disk
    int64_t started;                    //  when the node started (mono)
    bool loading;                       //  events come from a snapshot
    bool followed;                      //  has followed a leader since start
    uint32_t used_max;                  //  highest match id known taken:
                                        //  on disk at start, seen, given
    zlist_t *unstored;                  //  results_match_t: stores to retry
    int64_t retry_at;                   //  when to retry them
    uint32_t round_lo;                  //  follower: window asked, 0 if idle
    int64_t round_at;                   //  when the round began or is due
    uint64_t round_behind;              //  ids missing so far this round
    uint64_t behind;                    //  as the last round found
    zlist_t *syncs;                     //  zframe_t: routes owed a snapshot
    pending_t pending[NODE_PENDING];    //  ring of ticks' states
    size_t pending_head, pending_count;
    zlist_t *outbox;                    //  outgoing_t, in order
    rally_warn_t warn;                  //  bad input, rate-limited
    watchers_t *watchers;               //  spectators, per match
    int64_t crowd_at;                   //  next crowd messages are due
};

//  --------------------------------------------------------------------------
//  node.c

//  True while this node leads. A leader whose lease ran out is suspended
//  until its lease is renewed, or until the brokers can no longer be
//  holding it, when it steps down.
bool node_leading (node_t *self, int64_t now);

//  Makes sock a CURVE client of member kind<id> ("node2", "broker1").
int node_secure (node_t *self, zsock_t *sock, const char *kind,
                 uint32_t id);

void node_step_down (node_t *self, const char *why);

//  True if a term heard from a peer or a broker is one this node can
//  believe (rally_term.h); else it is logged, and the caller drops what
//  carried it: one term believed raises every term after it.
bool node_term_believed (node_t *self, uint64_t term, const char *what);

//  The highest match id this node knows to be taken: stored, seen in the
//  replicated state or given out here, or on disk when it started. Not
//  what it has reserved since: a follower rounds what it saw up to a
//  block, and a leader that took that for used ids would skip a block at
//  every round.
uint32_t node_top (node_t *self);

//  --------------------------------------------------------------------------
//  node_players.c

void node_drain_events (node_t *self);

//  One request: [routing id][body]. Anything from a player's connection
//  counts as hearing that player, even a message we then refuse. The same
//  handler serves the peer ROUTER, which only members can reach.
int node_handle_game (zloop_t *loop, zsock_t *reader, void *arg);

//  --------------------------------------------------------------------------
//  Sending
void node_origin (node_t *self, rally_origin_t *from);

void node_outgoing_free (outgoing_t **out_p);

void node_send_error (node_t *self, const uint8_t *peer, size_t peer_size,
                      const char *code, const char *reason);

//  Sends msg to the peer with this routing id; never blocks (a ROUTER drops
//  what it cannot deliver).
void node_send_to (node_t *self, const uint8_t *peer, size_t peer_size,
                   const rally_msg_t *msg);

//  --------------------------------------------------------------------------
//  node_results.c

void node_begin_round (node_t *self, int64_t now);

//  True if from is a follower of this term that sent its have this term
//  on this very route: results are taken from no one else.
bool node_from_follower (node_t *self, const rally_origin_t *from,
                         const uint8_t *peer, size_t peer_size);

//  A follower's runs of ids: what it lacks goes to it, then this node's
//  runs for the same window, from which it sends back what this node
//  lacks. Its top says which ids it holds taken.
void node_on_have (node_t *self, const uint8_t *peer, size_t peer_size,
                   const rally_msg_have_t *have, int64_t now);

//  Follower: the leader's runs for the window asked. Sends the leader what
//  it lacks, counts what this node still lacks (the leader has sent it
//  before this reply), and asks about the next window.
void node_on_leader_have (node_t *self, const rally_msg_have_t *have);

//  Results from the leader, or from a follower: kept.
void node_on_results (node_t *self, const rally_msg_results_t *page);

//  Tries the stores that failed, in order, until one fails again.
void node_retry_stores (node_t *self, int64_t now);

void node_send_board (node_t *self, const uint8_t *peer,
                      size_t peer_size, const rally_msg_standings_t *req);

//  A player's or an operator's look at the stored matches, newest first.
//  Any node answers: every node stores every match it applied.
void node_send_history (node_t *self, const uint8_t *peer,
                        size_t peer_size, const rally_msg_history_t *req);

//  The finished matches after after, a page at a time.
void node_send_results (node_t *self, const uint8_t *peer,
                        size_t peer_size, uint32_t after);

//  A decided match, as this node's store keeps it.
void node_store_over (node_t *self, const lobby_event_t *ev);

//  --------------------------------------------------------------------------
//  node_lead.c

void node_check_ids (node_t *self, int64_t now);

void node_drop_pending (node_t *self);

//  True if the leader must not run another tick: a follower is heard, and
//  none has acked the last NODE_PENDING ticks (one cut off one way, or
//  still loading a snapshot). The game waits, frozen where the players
//  last saw it, rather than run on unseen or show what a crash would take
//  back: that is the price, a stall for as long as such a follower is
//  heard and no other acks. It says so once per stall.
bool node_held_back (node_t *self, int64_t now);

//  Sends a snapshot of the state as it stands to each follower that asked
//  (sync) since the last one went out.
void node_serve_syncs (node_t *self);

//  --------------------------------------------------------------------------
//  Leading: what followers ask
void node_on_ack (node_t *self, const rally_msg_ack_t *ack, int64_t now);

void node_on_sync (node_t *self, const uint8_t *peer, size_t peer_size,
                   const rally_msg_sync_t *sync);

void node_tick (node_t *self);

//  --------------------------------------------------------------------------
//  node_follow.c

void node_ask_snapshot (node_t *self, int64_t now);

void node_drop_held (node_t *self);

//  The other nodes' PUBs: [topic][body], topic "hb" or "diff".
int node_handle_peers (zloop_t *loop, zsock_t *reader, void *arg);

//  Snapshots from the leader, results, or its refusals.
int node_handle_upstream (zloop_t *loop, zsock_t *reader, void *arg);

#endif
