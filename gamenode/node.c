/*  node - one Rally game node: a zloop reactor around the lobby.

    Everything happens on one thread, in handlers that never block: one per
    socket (requests, peers, the leader, brokers) and two timers (heartbeat,
    tick). The lobby decides the game; this file carries messages in and
    out and plays the node's part in replication.

    Roles. A node starts as a follower. It leads term T while a majority of
    the brokers grant it T (lease.c), and stops the moment that runs out by
    its own clock, checked before every act of a leader: a tick, an answer
    to a player, a state published. Stopped so, it is suspended: it keeps
    its term and state, and goes on leading T if the brokers, who hold a
    silent leader's lease for it (broker.h), renew it within
    NODE_SILENCE_LEASES lease lengths; after that it steps down. It steps
    down, too, on hearing a leader of a higher term. A follower answers
    players with where the leader is, and asks for a term of its own only
    when it hears no leader and a majority of the brokers (lease.h).

    Sessions are bound to the player's CURVE key. The lobby never holds
    the token a player holds, T, but SHA-1 (T, K) cut to the token's size,
    where K is the public key the player's connection authenticated with
    (ZAP's User-Id). A request with T from another key finds no session;
    resume after a failover works, as the player keeps its key for the
    process; and the diffs and snapshots carry the bound form only, which
    is of no use without K's secret. So the player is the only one to ever
    see T, in its joined, over its own CURVE link.

    Replication. After each tick the leader publishes the diff of the lobby
    (topic "diff") on its heartbeat PUB. A follower applies a diff only if
    it is the next seq of the term it follows and hashes right; otherwise it
    asks the leader for a snapshot (sync) over a DEALER, holds the diffs
    that arrive meanwhile, and applies those after the snapshot (the Clone
    pattern). It acks every seq it reaches. The leader publishes a tick's
    states, and sends players what that tick decided, only once a follower
    has acked it, or at once when no follower is live: no player sees what
    a failover could take back. A follower heard within the liveness period
    could be elected next (the brokers elect the most up-to-date live
    node), so while one is heard and none acks, the leader shows nothing:
    the game stalls rather than show a tick that a crash would undo (it
    once showed ticks unacked after 100 ms, and a one-way cut followed by a
    leader crash took back up to 600 of them). A follower unheard for the
    liveness period no longer holds the leader back: the brokers do not
    elect a node they have not heard for that long either.

    Identity. Terms and match ids are never used twice (ident.h): a node
    writes a term to disk before it leads or follows it, and asks for a
    term only above the highest it has seen; a leader gives a match an id
    only from a block it reserved on disk first, and opens no match before
    every follower it hears has said which ids it stores or reserved (have),
    or NODE_HAVE_WAIT_MS has passed. A follower writes down the ids it sees
    in blocks before it acks them.

    Convergence. A follower describes its store to the leader, a window of
    runs of ids at a time (have); the leader answers with the results the
    follower lacks and a have of its own, and the follower sends back the
    results the leader lacks. Rounds repeat every NODE_CONVERGE_MS, so
    every node ends with every finished match, whatever it missed. A store
    that fails (disk full, database locked) is retried until it succeeds.

    The tick keeps time by deadline: tick n is due at base + n * 1e6 / hz
    microseconds, so that rounding never accumulates. After each tick the
    node arms a one-shot timer for what is left until the next deadline,
    rounded up to the millisecond (zloop's resolution). A late node runs
    the ticks it owes, at most NODE_CATCH_UP of them at once; further
    behind than that it starts counting afresh from now, and says so.
*/
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

static void s_step_down (node_t *self, const char *why);
static void s_drop_held (node_t *self);
static int s_handle_heartbeat (zloop_t *loop, int timer_id, void *arg);
static void s_check_ids (node_t *self, int64_t now);
static void s_commit (node_t *self, uint64_t seq);
static void s_serve_syncs (node_t *self);

//  --------------------------------------------------------------------------
//  Sending

static void s_origin (node_t *self, rally_origin_t *from)
{
    from->term = self->term;
    from->node = self->cfg.id;
}

//  Sends msg to the peer with this routing id; never blocks (a ROUTER drops
//  what it cannot deliver).
static void s_send_to (node_t *self, const uint8_t *peer, size_t peer_size,
                       const rally_msg_t *msg)
{
    if (peer_size == 0)
        return;
    zframe_t *body = rally_msg_encode (msg);
    if (!body) {
        zsys_error ("gamenode: cannot encode %s", rally_msg_type_name (msg->type));
        return;
    }
    zmsg_t *out = zmsg_new ();
    zmsg_addmem (out, peer, peer_size);
    zmsg_append (out, &body);
    if (zmsg_send (&out, self->answer ? self->answer : self->game))
        zmsg_destroy (&out);
}

//  Sends a reply that tells of the state (a join, a place, a match) once
//  the tick that holds it is on a follower.
static void s_send_held (node_t *self, const uint8_t *peer, size_t peer_size,
                         const rally_msg_t *msg)
{
    if (self->tag_seq <= self->committed) {
        s_send_to (self, peer, peer_size, msg);
        return;
    }
    zframe_t *body = rally_msg_encode (msg);
    if (!body || peer_size == 0) {
        zframe_destroy (&body);
        return;
    }
    outgoing_t *out = (outgoing_t *) zmalloc (sizeof (outgoing_t));
    assert (out);
    out->seq = self->tag_seq;
    out->msg = zmsg_new ();
    zmsg_addmem (out->msg, peer, peer_size);
    zmsg_append (out->msg, &body);
    zlist_append (self->outbox, out);
}

static void s_outgoing_free (outgoing_t **out_p)
{
    zmsg_destroy (&(*out_p)->msg);
    free (*out_p);
    *out_p = NULL;
}

static void s_send_error (node_t *self, const uint8_t *peer, size_t peer_size,
                          const char *code, const char *reason)
{
    rally_origin_t from;
    s_origin (self, &from);
    rally_msg_t msg;
    rally_msg_error (&msg, &from, code, reason && *reason? reason: code);
    s_send_to (self, peer, peer_size, &msg);
}

//  Answers a refused request with an error, and logs it (rate-limited).
static void s_refuse_with (node_t *self, const uint8_t *peer,
                           size_t peer_size, const char *what,
                           const char *code, const char *reason)
{
    char hex[RALLY_WARN_PEER_BUF];
    rally_warn_peer (peer, peer_size, hex);
    rally_warn (&self->warn, zclock_mono (), "refused %s from %s: %s (%s)",
                what, hex, code, reason);
    s_send_error (self, peer, peer_size, code, reason);
}

//  A join refused for now: busy, with when to ask again, spread so that
//  the refused do not all come back at once.
static void s_send_busy (node_t *self, const uint8_t *peer, size_t peer_size,
                         lobby_result_t result, const char *reason)
{
    uint32_t base = result == LOBBY_BUSY ? NODE_BUSY_RETRY_MS
                                         : NODE_FULL_RETRY_MS;
    char hex[RALLY_WARN_PEER_BUF];
    rally_warn_peer (peer, peer_size, hex);
    rally_warn (&self->warn, zclock_mono (), "refused join from %s (%s): %s "
                "(%s)", hex, self->source ? self->source : "?",
                lobby_result_code (result), reason);
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_BUSY);
    s_origin (self, &msg.u.busy.from);
    snprintf (msg.u.busy.code, sizeof (msg.u.busy.code), "%s",
              lobby_result_code (result));
    snprintf (msg.u.busy.reason, sizeof (msg.u.busy.reason), "%s", reason);
    uint32_t spread = 0;
    if (getrandom (&spread, sizeof (spread), 0) != (ssize_t) sizeof (spread))
        spread = (uint32_t) zclock_mono ();
    msg.u.busy.retry_ms = base + spread % (base / 2);
    s_send_to (self, peer, peer_size, &msg);
}

//  True if a term heard from a peer or a broker is one this node can
//  believe (rally_term.h); else it is logged, and the caller drops what
//  carried it: one term believed raises every term after it.
static bool s_term_believed (node_t *self, uint64_t term, const char *what)
{
    uint64_t known = lease_max_term (self->lease);
    if (known < self->term)
        known = self->term;
    if (rally_term_believable (known, term))
        return true;
    rally_warn (&self->warn, zclock_mono (), "%s of term %" PRIu64
                " refused: beyond what this node can believe (it knows term %"
                PRIu64 ")", what, term, known);
    return false;
}

//  --------------------------------------------------------------------------
//  Lobby events -> messages and log lines

static void s_send_queued (node_t *self, const lobby_event_t *ev)
{
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_QUEUED);
    s_origin (self, &msg.u.queued.from);
    msg.u.queued.position = ev->position;
    strcpy (msg.u.queued.name, ev->name);
    s_send_held (self, ev->peer, ev->peer_size, &msg);
}

static void s_send_match (node_t *self, const lobby_event_t *ev)
{
    const lobby_config_t *cfg = lobby_config (self->lobby);
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_MATCH);
    s_origin (self, &msg.u.match.from);
    msg.u.match.match = ev->match;
    msg.u.match.side = (uint32_t) ev->side;
    msg.u.match.points = cfg->points_to_win;
    msg.u.match.tick_hz = cfg->tick_hz;
    memcpy (msg.u.match.names, ev->names, sizeof (ev->names));
    s_send_held (self, ev->peer, ev->peer_size, &msg);
}

//  Stores a finished match; one the database refused (full, locked,
//  read-only) waits in unstored and is tried again until it goes in.
static void s_keep (node_t *self, const results_match_t *m)
{
    if (results_store (self->results, m) != RESULTS_FAILED)
        return;
    results_match_t *waiting = (results_match_t *) zlist_first (self->unstored);
    for (; waiting; waiting = (results_match_t *) zlist_next (self->unstored))
        if (waiting->match == m->match)
            return;             //  sent again by a peer: tried already
    zsys_warning ("gamenode: node %u could not store match %u; it will try "
                  "again every %d ms", self->cfg.id, m->match, NODE_RETRY_MS);
    results_match_t *copy = (results_match_t *) zmalloc (sizeof (*copy));
    assert (copy);
    *copy = *m;
    zlist_append (self->unstored, copy);
    if (!self->retry_at)
        self->retry_at = zclock_mono () + NODE_RETRY_MS;
}

//  Tries the stores that failed, in order, until one fails again.
static void s_retry_stores (node_t *self, int64_t now)
{
    if (!self->retry_at || now < self->retry_at)
        return;
    results_match_t *m;
    while ((m = (results_match_t *) zlist_first (self->unstored))) {
        if (results_store (self->results, m) == RESULTS_FAILED) {
            rally_warn (&self->warn, now, "match %u is still not stored (%zu "
                        "waiting); trying again", m->match,
                        zlist_size (self->unstored));
            self->retry_at = now + NODE_RETRY_MS;
            return;
        }
        zsys_info ("gamenode: node %u stored match %u at last", self->cfg.id,
                   m->match);
        zlist_pop (self->unstored);
        free (m);
    }
    self->retry_at = 0;
}

//  A decided match, as this node's store keeps it.
static void s_store_over (node_t *self, const lobby_event_t *ev)
{
    results_match_t m;
    memset (&m, 0, sizeof (m));
    m.match = ev->match;
    memcpy (m.names, ev->names, sizeof (m.names));
    m.score[0] = ev->score[0];
    m.score[1] = ev->score[1];
    m.winner = ev->winner;
    m.forfeit = ev->forfeit;
    m.term = self->term;
    s_keep (self, &m);
}

static void s_log_over (const lobby_event_t *ev)
{
    const char *winner = ev->winner == 0   ? ev->names[0]
                         : ev->winner == 1 ? ev->names[1]
                                           : "nobody";
    zsys_info ("gamenode: match %u over%s: %s %u - %u %s, winner %s",
               ev->match, ev->forfeit ? " by forfeit" : "", ev->names[0],
               ev->score[0], ev->score[1], ev->names[1], winner);
}

static void s_handle_event (node_t *self, const lobby_event_t *ev)
{
    switch (ev->type) {
    case LOBBY_EVENT_QUEUED:
        s_send_queued (self, ev);
        break;
    case LOBBY_EVENT_MATCH:
        s_send_match (self, ev);
        break;
    case LOBBY_EVENT_PAIRED:
        zsys_info ("gamenode: match %u: %s (left) vs %s (right)", ev->match,
                   ev->names[0], ev->names[1]);
        break;
    case LOBBY_EVENT_OVER:
        s_log_over (ev);
        //  A snapshot holds matches decided in earlier terms, and a result
        //  carries the term it ended in: such a match comes from the
        //  leader's store instead, as it is there (convergence).
        if (!self->loading)
            s_store_over (self, ev);
        break;
    case LOBBY_EVENT_LOST:
        zsys_info ("gamenode: player %s lost%s", ev->name,
                   ev->match ? "; its match is paused" : "");
        break;
    case LOBBY_EVENT_BACK:
        zsys_info ("gamenode: player %s is back", ev->name);
        break;
    case LOBBY_EVENT_DROPPED:
        zsys_info ("gamenode: player %s dropped after %u ms lost", ev->name,
                   lobby_config (self->lobby)->grace_ms);
        break;
    case LOBBY_EVENT_GONE:
        //  From here on only the results store has it: a node that comes
        //  back later catches up from there, not from a snapshot.
        zsys_info ("gamenode: match %u dropped", ev->match);
        break;
    }
}

static void s_drain_events (node_t *self)
{
    lobby_event_t ev;
    while (lobby_next_event (self->lobby, &ev))
        s_handle_event (self, &ev);
}

//  --------------------------------------------------------------------------
//  Requests

//  What the lobby knows a session by: the token bound to the key of the
//  connection it came on (see the top of this file).
static void s_bind_token (node_t *self, const uint8_t *token, uint8_t *bound)
{
    zdigest_t *digest = zdigest_new ();
    assert (digest);
    zdigest_update (digest, token, RALLY_TOKEN_SIZE);
    zdigest_update (digest, self->client_key, sizeof (self->client_key));
    memcpy (bound, zdigest_data (digest), RALLY_TOKEN_SIZE);
    zdigest_destroy (&digest);
}

//  The CURVE key a request came with, from ZAP's User-Id (Z85); zeros when
//  there is none (plain text) or the peer plane's (a member's name).
static void s_take_client_key (node_t *self, zframe_t *body)
{
    memset (self->client_key, 0, sizeof (self->client_key));
    const char *user = zframe_meta (body, "User-Id");
    if (user && strlen (user) == 40)
        if (!zmq_z85_decode (self->client_key, user))
            memset (self->client_key, 0, sizeof (self->client_key));
}

//  The token field of a request that carries one, or NULL.
static uint8_t *s_request_token (rally_msg_t *req)
{
    switch (req->type) {
    case RALLY_MSG_RESUME: return req->u.resume.token;
    case RALLY_MSG_INPUT: return req->u.input.token;
    case RALLY_MSG_REQUEUE: return req->u.requeue.token;
    case RALLY_MSG_LEAVE: return req->u.leave.token;
    default: return NULL;
    }
}

static void s_join (node_t *self, const uint8_t *peer, size_t peer_size,
                    const rally_msg_join_t *join)
{
    uint8_t token[RALLY_TOKEN_SIZE];
    if (getrandom (self->told_token, RALLY_TOKEN_SIZE, 0) != RALLY_TOKEN_SIZE) {
        zsys_error ("gamenode: getrandom failed: %s", strerror (errno));
        s_send_error (self, peer, peer_size, "unavailable",
                      "could not issue a session token; try again");
        return;
    }
    s_bind_token (self, self->told_token, token);
    char reason[RALLY_REASON_BUF];
    lobby_result_t result =
        lobby_join_from (self->lobby, join->name, token, peer, peer_size,
                         self->source, zclock_mono (), reason,
                         sizeof (reason));
    if (result == LOBBY_FULL || result == LOBBY_BUSY) {
        s_send_busy (self, peer, peer_size, result, reason);
        return;
    }
    if (result != LOBBY_OK) {
        s_refuse_with (self, peer, peer_size, "join",
                       lobby_result_code (result), reason);
        return;
    }
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_JOINED);
    s_origin (self, &msg.u.joined.from);
    strcpy (msg.u.joined.name, join->name);
    memcpy (msg.u.joined.token, self->told_token, RALLY_TOKEN_SIZE);
    s_send_held (self, peer, peer_size, &msg);
    zsys_info ("gamenode: player %s joined (%zu players, %zu waiting)",
               join->name, lobby_players (self->lobby),
               lobby_waiting (self->lobby));
}

static void s_resume (node_t *self, const uint8_t *peer, size_t peer_size,
                      const rally_msg_token_t *resume)
{
    lobby_result_t result = lobby_resume_from (self->lobby, resume->token,
                                               peer, peer_size, self->source,
                                               zclock_mono ());
    lobby_player_info_t info;
    if (result != LOBBY_OK
        || lobby_player_info (self->lobby, resume->token, &info)) {
        s_send_error (self, peer, peer_size, "unknown_token",
                      lobby_result_reason (LOBBY_UNKNOWN_TOKEN));
        return;
    }
    //  joined goes first; the lobby's queued or match event follows it.
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_JOINED);
    s_origin (self, &msg.u.joined.from);
    memcpy (msg.u.joined.token, self->told_token, RALLY_TOKEN_SIZE);
    strcpy (msg.u.joined.name, info.name);
    msg.u.joined.match = info.match;
    s_send_held (self, peer, peer_size, &msg);
    zsys_info ("gamenode: player %s resumed", info.name);
}

static void s_refuse (node_t *self, const uint8_t *peer, size_t peer_size,
                      const char *what, lobby_result_t result)
{
    if (result == LOBBY_OK || result == LOBBY_RATE_LIMITED_QUIET)
        return;
    s_refuse_with (self, peer, peer_size, what, lobby_result_code (result),
                   lobby_result_reason (result));
}

static void s_leave (node_t *self, const uint8_t *peer, size_t peer_size,
                     const rally_msg_token_t *leave)
{
    lobby_player_info_t info;
    if (lobby_player_info (self->lobby, leave->token, &info)) {
        s_refuse (self, peer, peer_size, "leave", LOBBY_UNKNOWN_TOKEN);
        return;
    }
    lobby_leave (self->lobby, leave->token, zclock_mono ());
    zsys_info ("gamenode: player %s left%s", info.name,
               info.state == LOBBY_PLAYING ? " its match" : "");
}

static void s_ping (node_t *self, const uint8_t *peer, size_t peer_size,
                    const rally_msg_ping_t *ping)
{
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_PONG);
    s_origin (self, &msg.u.pong.from);
    msg.u.pong.nonce = ping->nonce;
    s_send_to (self, peer, peer_size, &msg);
}

static void s_status (node_t *self, const uint8_t *peer, size_t peer_size)
{
    //  Big enough to keep off the stack.
    rally_msg_t *msg = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    assert (msg);
    rally_msg_init (msg, RALLY_MSG_MATCHES);
    rally_msg_matches_t *m = &msg->u.matches;
    s_origin (self, &m->from);
    m->waiting = (uint32_t) lobby_waiting (self->lobby);
    m->total = (uint32_t) lobby_live_matches (self->lobby);
    lobby_match_view_t view;
    for (size_t i = 0; lobby_match_at (self->lobby, i, &view) == 0; i++) {
        if (view.game->phase == PONG_OVER)
            continue;
        if (m->count == RALLY_STATUS_MATCHES_MAX)
            break;
        rally_match_info_t *info = &m->matches[m->count++];
        info->match = view.id;
        info->tick = view.game->tick;
        info->phase = view.game->phase;
        info->score[0] = view.game->score[0];
        info->score[1] = view.game->score[1];
        memcpy (info->names, view.names, sizeof (view.names));
    }
    s_send_to (self, peer, peer_size, msg);
    free (msg);
}

//  --------------------------------------------------------------------------
//  Roles

//  The moment a leader's lease runs out by its own clock it stops acting,
//  before any other node can be granted one; the line says so, in the
//  form the tests read spans from.
static void s_suspend (node_t *self, int64_t now)
{
    self->suspended = true;
    zsys_info ("gamenode: node %u stops leading term %" PRIu64 " at mono %"
               PRId64 ": its lease ran out (lease until mono %" PRId64 ", seq %"
               PRIu64 "); suspended until the brokers renew it or give it up",
               self->cfg.id, self->term, now, self->lead_until, self->seq);
}

//  True while this node leads. A leader whose lease ran out is suspended
//  until its lease is renewed, or until the brokers can no longer be
//  holding it, when it steps down.
static bool s_leading (node_t *self, int64_t now)
{
    if (self->role != RALLY_ROLE_LEADER)
        return false;
    if (now < self->lead_until)
        return true;
    if (!self->suspended)
        s_suspend (self, now);
    int64_t hold = (int64_t) self->cfg.cluster.lease_ms * NODE_SILENCE_LEASES;
    if (now - self->lead_until >= hold)
        s_step_down (self, "its lease was not renewed while suspended");
    return false;
}

static void s_drop_pending (node_t *self)
{
    for (size_t i = 0; i < self->pending_count; i++) {
        pending_t *entry = &self->pending[(self->pending_head + i) % NODE_PENDING];
        zmsg_t *msg;
        while ((msg = (zmsg_t *) zlist_pop (entry->msgs)))
            zmsg_destroy (&msg);
    }
    self->pending_head = self->pending_count = 0;
    outgoing_t *out;
    while ((out = (outgoing_t *) zlist_pop (self->outbox)))
        s_outgoing_free (&out);
    zframe_t *route;
    while ((route = (zframe_t *) zlist_pop (self->syncs)))
        zframe_destroy (&route);
}

static void s_step_down (node_t *self, const char *why)
{
    assert (self->role == RALLY_ROLE_LEADER);
    //  The lease end and the time, on the monotonic clock every process of
    //  the host shares, so that a test can check no two leaders overlap.
    //  A suspended leader said so when it stopped acting.
    if (self->suspended)
        zsys_info ("gamenode: node %u gives up term %" PRIu64 ": %s",
                   self->cfg.id, self->term, why);
    else
        zsys_info ("gamenode: node %u stops leading term %" PRIu64 " at mono %"
                   PRId64 ": %s (lease until mono %" PRId64 ", seq %" PRIu64 ")",
                   self->cfg.id, self->term, zclock_mono (), why,
                   self->lead_until, self->seq);
    self->suspended = false;
    lease_campaign_end (self->lease);
    self->role = RALLY_ROLE_FOLLOWER;
    self->leader = 0;
    self->synced = false;       //  what it made since may be no one's
    s_drop_pending (self);
}

//  The highest match id this node knows to be taken: stored, seen in the
//  replicated state or given out here, or on disk when it started. Not
//  what it has reserved since: a follower rounds what it saw up to a
//  block, and a leader that took that for used ids would skip a block at
//  every round.
static uint32_t s_top (node_t *self)
{
    uint32_t seen = lobby_next_match (self->lobby) - 1;
    if (seen > self->used_max)
        self->used_max = seen;
    uint32_t stored = results_max_match (self->results);
    return stored > self->used_max ? stored : self->used_max;
}

static void s_become_leader (node_t *self, uint64_t term, int64_t until)
{
    int64_t now = zclock_mono ();
    //  Raft's rule: the term is on disk before anything is done in it, so
    //  that this node never asks for it, or leads it, again.
    if (ident_raise (self->ident, term, 0)) {
        rally_warn (&self->warn, now, "cannot write term %" PRIu64 " to "
                    "disk; not leading it", term);
        return;
    }
    self->role = RALLY_ROLE_LEADER;
    self->suspended = false;
    lease_campaign_end (self->lease);
    self->term = term;
    self->lead_until = until;
    self->leader = self->cfg.id;
    self->committed = self->seq;    //  its state: all it may show is later
    self->stalled = false;
    self->lead_since = now;
    self->ids_known = false;
    self->sync_asked = 0;
    s_drop_held (self);
    memset (self->follower_heard, 0, sizeof (self->follower_heard));
    lobby_adopt (self->lobby, now);
    //  Ids it saw or reserved may be unfinished matches of earlier terms:
    //  its matches start above them all. No match opens until it knows
    //  its followers' ids too (s_check_ids).
    uint32_t top = s_top (self);
    lobby_raise_matches (self->lobby, top);
    lobby_limit_matches (self->lobby, 0);
    zsys_info ("gamenode: node %u leads term %" PRIu64 " from mono %" PRId64
               " (lease until mono %" PRId64 ") at seq %" PRIu64 ", hash %016"
               PRIx64 "; game %s, state %s, heartbeat %s", self->cfg.id, term,
               now, until, self->seq, lobby_hash (self->lobby), self->me.game,
               self->me.state, self->me.heartbeat);
    self->tick_base_us = zclock_usecs ();
    self->tick_next = 1;
    //  Say so at once: brokers send players here only once it does.
    s_handle_heartbeat (self->loop, 0, self);
}

static int s_handle_upstream (zloop_t *loop, zsock_t *reader, void *arg);

//  Makes sock a CURVE client of member kind<id> ("node2", "broker1").
static int s_secure (node_t *self, zsock_t *sock, const char *kind,
                     uint32_t id)
{
    char name[32];
    snprintf (name, sizeof (name), "%s%u", kind, id);
    const char *key = rally_keys_of (self->cfg.keys, name);
    if (rally_keys_plaintext (self->cfg.keys))
        return 0;
    if (!key || rally_keys_client (self->cfg.keys, sock, key)) {
        zsys_error ("gamenode: no public key for %s in %s", name,
                    self->cfg.cluster.keys);
        return -1;
    }
    return 0;
}

//  Points the DEALER for syncs and acks at the leader's ROUTER.
static void s_connect_upstream (node_t *self, uint32_t leader)
{
    if (self->upstream && self->upstream_node == leader)
        return;
    //  Only a node of the cluster file: its peer endpoint and its key are
    //  known, and a leader named by anything else is not one to sync from.
    const rally_node_conf_t *conf = rally_cluster_node (&self->cfg.cluster,
                                                        leader);
    if (!conf || !*conf->peer)
        return;
    const char *endpoint = conf->peer;
    if (self->upstream)
        zloop_reader_end (self->loop, self->upstream);
    zsock_destroy (&self->upstream);
    self->upstream = rally_msg_socket_new (ZMQ_DEALER);
    assert (self->upstream);
    zsock_set_maxmsgsize (self->upstream, RALLY_REPL_MAX_BYTES);
    if (s_secure (self, self->upstream, "node", leader)
        || zsock_connect (self->upstream, "%s", endpoint)) {
        zsys_error ("gamenode: cannot connect to node %u at %s", leader,
                    endpoint);
        zsock_destroy (&self->upstream);
        return;
    }
    self->upstream_node = leader;
    zloop_reader (self->loop, self->upstream, s_handle_upstream, self);
}

//  A leader of term is heard (heartbeat or diff): follow it.
static void s_follow (node_t *self, uint32_t leader, uint64_t term,
                      const char *game, const char *state)
{
    lease_see_term (self->lease, term);
    if (term < self->term || leader == self->cfg.id)
        return;
    if (self->role == RALLY_ROLE_LEADER) {
        if (term == self->term)
            zsys_error ("gamenode: node %u also claims term %" PRIu64,
                        leader, term);
        s_step_down (self, "a leader of a higher term is heard");
    }
    if (term > self->term || self->leader != leader) {
        zsys_info ("gamenode: node %u follows node %u in term %" PRIu64,
                   self->cfg.id, leader, term);
        self->synced = false;
        self->round_lo = 0;
    }
    self->followed = true;
    //  On disk, so that after a restart this node never asks for a term
    //  at or below one it followed.
    if (term > ident_term (self->ident) && ident_raise (self->ident, term, 0))
        rally_warn (&self->warn, zclock_mono (), "cannot write term %"
                    PRIu64 " to disk", term);
    self->term = term;
    self->leader = leader;
    self->leader_heard = zclock_mono ();
    lease_campaign_end (self->lease);
    self->leader_at.from.node = leader;
    self->leader_at.from.term = term;
    if (game && *game) {
        snprintf (self->leader_at.game, sizeof (self->leader_at.game), "%s", game);
        snprintf (self->leader_at.state, sizeof (self->leader_at.state), "%s", state);
    }
    s_connect_upstream (self, leader);
}

//  --------------------------------------------------------------------------
//  Following

//  Sends sync or ack, which share one layout (rally_msg_ack_t is
//  rally_msg_sync_t), so either union member serves.
static void s_send_upstream (node_t *self, rally_msg_type_t type)
{
    if (!self->upstream)
        return;
    rally_msg_t msg;
    rally_msg_init (&msg, type);
    s_origin (self, &msg.u.ack.from);
    msg.u.ack.seq = self->seq;
    rally_msg_send (&msg, self->upstream);
}

//  --------------------------------------------------------------------------
//  Convergence: runs of stored ids compared, what is missing sent

//  True if have's runs are ascending, apart and inside its window.
static bool s_have_valid (const rally_msg_have_t *have)
{
    if (have->lo > have->hi)
        return false;
    for (uint32_t i = 0; i < have->count; i++) {
        const rally_range_t *r = &have->ranges[i];
        if (r->lo > r->hi || r->lo < have->lo || r->hi > have->hi
            || (i && r->lo <= have->ranges[i - 1].hi))
            return false;
    }
    return true;
}

//  Cuts runs down to ids at most hi.
static void s_clip (rally_range_t *runs, uint32_t *count, uint32_t hi)
{
    uint32_t kept = 0;
    while (kept < *count && runs[kept].lo <= hi) {
        if (runs[kept].hi > hi)
            runs[kept].hi = hi;
        kept++;
    }
    *count = kept;
}

//  The ids in runs a that are not in runs b (both ascending): the first
//  cap of them into out, *filled how many; returns how many there are in
//  all, counted by run, never one by one (a run can span billions).
static uint64_t s_missing (const rally_range_t *a, size_t na,
                           const rally_range_t *b, size_t nb,
                           uint32_t *out, size_t cap, size_t *filled)
{
    uint64_t total = 0;
    size_t j = 0;
    *filled = 0;
    for (size_t i = 0; i < na; i++) {
        uint64_t at = a[i].lo, hi = a[i].hi;
        while (j < nb && b[j].hi < at)
            j++;
        size_t k = j;
        while (at <= hi) {
            if (k < nb && b[k].lo <= at) {
                at = (uint64_t) b[k++].hi + 1;
                continue;
            }
            uint64_t end = k < nb && b[k].lo <= hi ? b[k].lo - 1 : hi;
            total += end - at + 1;
            for (uint64_t id = at; id <= end && *filled < cap; id++)
                out[(*filled)++] = (uint32_t) id;
            at = end + 1;
        }
    }
    return total;
}

//  Sends results to the peer (a follower, through the ROUTER) or, with
//  no peer, to the leader.
static void s_send_page (node_t *self, const uint8_t *peer, size_t peer_size,
                         rally_msg_t *page)
{
    if (page->u.results.count == 0)
        return;
    if (peer_size)
        s_send_to (self, peer, peer_size, page);
    else if (self->upstream)
        rally_msg_send (page, self->upstream);
    page->u.results.count = 0;
}

//  Sends the stored matches of these ids, a page at a time.
static void s_push (node_t *self, const uint8_t *peer, size_t peer_size,
                    const uint32_t *ids, size_t count)
{
    rally_msg_t *page = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    assert (page);
    rally_msg_init (page, RALLY_MSG_RESULTS);
    s_origin (self, &page->u.results.from);
    for (size_t i = 0; i < count; i++) {
        rally_result_t *r = &page->u.results.results[page->u.results.count];
        if (results_get (self->results, ids[i], r) == 0
            && ++page->u.results.count == RALLY_RESULTS_MAX)
            s_send_page (self, peer, peer_size, page);
    }
    s_send_page (self, peer, peer_size, page);
    free (page);
}

//  This node's runs of ids in the window lo..hi, as a have: hi is cut to
//  where this node's own description ends. -1 on a database error.
static int s_describe (node_t *self, uint32_t lo, uint32_t hi,
                       rally_msg_t *msg)
{
    rally_msg_init (msg, RALLY_MSG_HAVE);
    rally_msg_have_t *have = &msg->u.have;
    s_origin (self, &have->from);
    size_t count = 0;
    uint32_t end = 0;
    if (results_ranges (self->results, lo, RALLY_HAVE_RANGES, have->ranges,
                        &count, &end))
        return -1;
    have->lo = lo;
    have->hi = end < hi ? end : hi;
    have->count = (uint32_t) count;
    s_clip (have->ranges, &have->count, have->hi);
    have->top = s_top (self);
    return 0;
}

//  Follower: describes its store from lo on to the leader.
static void s_send_have (node_t *self, uint32_t lo)
{
    rally_msg_t *msg = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    assert (msg);
    if (self->upstream && s_describe (self, lo, UINT32_MAX, msg) == 0) {
        rally_msg_send (msg, self->upstream);
        self->round_lo = lo;
    }
    else
        self->round_lo = 0;
    free (msg);
}

static void s_begin_round (node_t *self, int64_t now)
{
    self->round_at = now;
    self->round_behind = 0;
    s_send_have (self, 1);
}

//  Says when the node's store is behind the leader's, and when no more.
static void s_set_behind (node_t *self, uint64_t behind)
{
    if (behind == self->behind)
        return;
    if (behind)
        zsys_warning ("gamenode: node %u is behind by %" PRIu64 " finished "
                      "match%s", self->cfg.id, behind, behind == 1 ? "" : "es");
    else
        zsys_info ("gamenode: node %u holds every finished match its leader "
                   "holds", self->cfg.id);
    self->behind = behind;
}

//  Follower: the leader's runs for the window asked. Sends the leader what
//  it lacks, counts what this node still lacks (the leader has sent it
//  before this reply), and asks about the next window.
static void s_on_leader_have (node_t *self, const rally_msg_have_t *have)
{
    if (have->from.node != self->leader || have->from.term != self->term
        || !self->round_lo || have->lo != self->round_lo)
        return;
    rally_msg_t *mine = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    assert (mine);
    if (!s_have_valid (have))
        rally_warn (&self->warn, zclock_mono (), "the leader's have is "
                    "malformed");
    else if (s_describe (self, have->lo, have->hi, mine) == 0) {
        rally_msg_have_t *m = &mine->u.have;
        rally_range_t theirs[RALLY_HAVE_RANGES];
        uint32_t their_count = have->count;
        memcpy (theirs, have->ranges, sizeof (theirs[0]) * their_count);
        s_clip (theirs, &their_count, m->hi);
        uint32_t ids[NODE_PUSH_PAGES * RALLY_RESULTS_MAX];
        size_t filled;
        s_missing (m->ranges, m->count, theirs, their_count, ids,
                   sizeof (ids) / sizeof (ids[0]), &filled);
        s_push (self, NULL, 0, ids, filled);
        self->round_behind += s_missing (theirs, their_count, m->ranges,
                                         m->count, ids, 0, &filled);
        if (m->hi == UINT32_MAX) {
            s_set_behind (self, self->round_behind);
            self->round_lo = 0;
        }
        else
            s_send_have (self, m->hi + 1);
    }
    free (mine);
}

//  Results from the leader, or from a follower: kept.
static void s_on_results (node_t *self, const rally_msg_results_t *page)
{
    for (uint32_t i = 0; i < page->count; i++) {
        //  An id no lobby makes would take every id after it at restart.
        if (page->results[i].match > LOBBY_MATCH_ID_MAX) {
            rally_warn (&self->warn, zclock_mono (), "result of match %u "
                        "refused: ids stop at %u", page->results[i].match,
                        LOBBY_MATCH_ID_MAX);
            return;
        }
        //  Nor a term no broker grants (rally_term.h): it would not even
        //  fit the store's integers.
        if (page->results[i].term > RALLY_TERM_MAX) {
            rally_warn (&self->warn, zclock_mono (), "result of match %u "
                        "refused: term %" PRIu64 " is past %" PRIu64,
                        page->results[i].match, page->results[i].term,
                        RALLY_TERM_MAX);
            return;
        }
        s_keep (self, &page->results[i]);
    }
    if (page->count)
        zsys_info ("gamenode: node %u caught up on %u finished match%s from "
                   "node %u (%u..%u)", self->cfg.id, page->count,
                   page->count == 1 ? "" : "es", page->from.node,
                   page->results[0].match, page->results[page->count - 1].match);
}

static void s_ask_snapshot (node_t *self, int64_t now)
{
    if (self->sync_asked && now - self->sync_asked < NODE_SYNC_AGAIN_MS)
        return;
    self->sync_asked = now;
    s_send_upstream (self, RALLY_MSG_SYNC);
}

static void s_hold (node_t *self, zframe_t *frame)
{
    if (zlist_size (self->held) == NODE_HELD_MAX) {
        zframe_t *oldest = (zframe_t *) zlist_pop (self->held);
        zframe_destroy (&oldest);
    }
    zframe_t *copy = zframe_dup (frame);
    zlist_append (self->held, copy);
}

static void s_drop_held (node_t *self)
{
    zframe_t *frame;
    while ((frame = (zframe_t *) zlist_pop (self->held)))
        zframe_destroy (&frame);
}

//  Follower: the match ids it has seen, on disk before it acks them, in
//  blocks, so that a node restarted with the whole cluster never gives an
//  id that a player may have seen, even of a match that never finished.
static void s_note_ids (node_t *self)
{
    uint32_t seen = lobby_next_match (self->lobby) - 1;
    if (seen <= ident_matches (self->ident))
        return;
    uint32_t upto = seen < LOBBY_MATCH_ID_MAX - NODE_ID_BLOCK
                  ? seen + NODE_ID_BLOCK : LOBBY_MATCH_ID_MAX;
    if (ident_raise (self->ident, 0, upto))
        rally_warn (&self->warn, zclock_mono (), "cannot write match id %u "
                    "to disk", seen);
}

//  Applies self->repl, the next diff of the term followed. Returns 0, or
//  -1 when the state no longer matches the leader's.
static int s_apply_next (node_t *self)
{
    char reason[RALLY_REASON_BUF];
    if (lobby_apply (self->lobby, self->repl, reason, sizeof (reason))) {
        zsys_warning ("gamenode: node %u cannot apply seq %" PRIu64 ": %s; "
                      "asking for a snapshot", self->cfg.id, self->repl->seq,
                      reason);
        self->synced = false;
        return -1;
    }
    self->seq = self->repl->seq;
    s_drain_events (self);
    s_note_ids (self);
    return 0;
}

//  One diff from the leader followed, whole frame given so it can be held.
static void s_on_diff (node_t *self, zframe_t *frame, int64_t now)
{
    const rally_repl_t *diff = self->repl;
    if (diff->from.term < self->term || self->role == RALLY_ROLE_LEADER)
        return;
    if (diff->from.term > self->term || self->leader != diff->from.node)
        s_follow (self, diff->from.node, diff->from.term, NULL, NULL);
    if (diff->seq > self->leader_seq)
        self->leader_seq = diff->seq;
    self->leader_heard = now;
    if (self->synced && diff->seq <= self->seq)
        return;                 //  had it already
    if (self->synced && diff->seq == self->seq + 1) {
        if (s_apply_next (self) == 0) {
            s_send_upstream (self, RALLY_MSG_ACK);
            return;
        }
    }
    self->synced = false;
    s_hold (self, frame);
    s_ask_snapshot (self, now);
}

//  After a snapshot: the held diffs that follow it, in order.
static void s_replay_held (node_t *self)
{
    char reason[RALLY_REASON_BUF];
    zframe_t *frame;
    while (self->synced && (frame = (zframe_t *) zlist_pop (self->held))) {
        if (rally_repl_decode (self->repl, zframe_data (frame),
                               zframe_size (frame), reason, sizeof (reason)) == 0
            && self->repl->from.term == self->term
            && self->repl->seq == self->seq + 1)
            s_apply_next (self);
        zframe_destroy (&frame);
    }
    s_drop_held (self);
}

static void s_on_snapshot (node_t *self)
{
    const rally_repl_t *snap = self->repl;
    if (self->role == RALLY_ROLE_LEADER || snap->from.term < self->term)
        return;
    if (snap->from.term > self->term || self->leader != snap->from.node)
        s_follow (self, snap->from.node, snap->from.term, NULL, NULL);
    char reason[RALLY_REASON_BUF];
    self->sync_asked = 0;
    if (lobby_apply (self->lobby, snap, reason, sizeof (reason))) {
        zsys_error ("gamenode: node %u cannot load the snapshot at seq %"
                    PRIu64 ": %s", self->cfg.id, snap->seq, reason);
        return;
    }
    self->seq = snap->seq;
    self->synced = true;
    self->loading = true;
    s_drain_events (self);
    self->loading = false;
    s_note_ids (self);
    zsys_info ("gamenode: node %u synced to node %u by snapshot at seq %"
               PRIu64 ", hash %016" PRIx64 " (%zu players, %zu matches)",
               self->cfg.id, snap->from.node, snap->seq, snap->hash,
               snap->player_count, snap->match_count);
    s_replay_held (self);
    s_send_upstream (self, RALLY_MSG_ACK);
    s_begin_round (self, zclock_mono ());
}

//  What else the leader sends: results, or a refusal. why says why the
//  frame was not a snapshot, should it be nothing at all.
static void s_handle_upstream_msg (node_t *self, zframe_t *frame,
                                   const char *why)
{
    rally_msg_t *msg = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    assert (msg);
    char reason[RALLY_REASON_BUF];
    if (rally_msg_decode (msg, zframe_data (frame), zframe_size (frame),
                          reason, sizeof (reason)))
        rally_warn (&self->warn, zclock_mono (), "bad message from the "
                    "leader: %s", why);
    else if (msg->type == RALLY_MSG_RESULTS)
        s_on_results (self, &msg->u.results);
    else if (msg->type == RALLY_MSG_HAVE)
        s_on_leader_have (self, &msg->u.have);
    else if (msg->type == RALLY_MSG_ERROR)
        rally_warn (&self->warn, zclock_mono (), "the leader says %s: %s",
                    msg->u.error.code, msg->u.error.reason);
    free (msg);
}

//  Snapshots from the leader, results, or its refusals.
static int s_handle_upstream (zloop_t *loop, zsock_t *reader, void *arg)
{
    node_t *self = (node_t *) arg;
    zmsg_t *in = zmsg_recv (reader);
    if (!in)
        return 0;
    zframe_t *frame = zmsg_first (in);
    char reason[RALLY_REASON_BUF];
    if (zmsg_size (in) != 1)
        rally_warn (&self->warn, zclock_mono (), "leader sent %zu frames",
                    zmsg_size (in));
    else if (rally_repl_decode (self->repl, zframe_data (frame),
                                zframe_size (frame), reason, sizeof (reason)) == 0) {
        if (self->repl->kind == RALLY_REPL_SNAPSHOT
            && s_term_believed (self, self->repl->from.term, "a snapshot"))
            s_on_snapshot (self);
    }
    else
        s_handle_upstream_msg (self, frame, reason);
    zmsg_destroy (&in);
    return 0;
}

//  Another node's heartbeat.
static void s_on_peer_hb (node_t *self, const rally_msg_node_hb_t *hb,
                          int64_t now)
{
    uint32_t id = hb->from.node;
    if (id == self->cfg.id
        || !s_term_believed (self, hb->from.term, "a heartbeat"))
        return;
    lease_see_term (self->lease, hb->from.term);
    //  A node that has followed or led a higher term (one restarted with
    //  it on disk) ends this one, as in Raft: the next grant is above both.
    if (hb->from.term > self->term && self->role == RALLY_ROLE_LEADER)
        s_step_down (self, "a node of a higher term is heard");
    if (hb->role == RALLY_ROLE_LEADER) {
        if (hb->from.term >= self->term)
            s_follow (self, id, hb->from.term, hb->game, hb->state);
        if (self->leader == id && hb->seq > self->leader_seq)
            self->leader_seq = hb->seq;
    }
    else
        self->follower_heard[id] = now;
}

//  The other nodes' PUBs: [topic][body], topic "hb" or "diff".
static int s_handle_peers (zloop_t *loop, zsock_t *reader, void *arg)
{
    node_t *self = (node_t *) arg;
    zmsg_t *in = zmsg_recv (reader);
    if (!in)
        return 0;
    int64_t now = zclock_mono ();
    char reason[RALLY_REASON_BUF];
    char *topic = zmsg_popstr (in);
    zframe_t *body = zmsg_first (in);
    if (!topic || !body || zmsg_size (in) != 1)
        rally_warn (&self->warn, now, "bad message from a peer");
    else if (streq (topic, "diff")) {
        if (rally_repl_decode (self->repl, zframe_data (body),
                               zframe_size (body), reason, sizeof (reason)))
            rally_warn (&self->warn, now, "bad diff: %s", reason);
        else if (self->repl->kind == RALLY_REPL_DIFF
                 && s_term_believed (self, self->repl->from.term, "a diff"))
            s_on_diff (self, body, now);
    }
    else {
        rally_msg_t msg;
        if (rally_msg_decode (&msg, zframe_data (body), zframe_size (body),
                              reason, sizeof (reason)))
            rally_warn (&self->warn, now, "bad heartbeat: %s", reason);
        else if (msg.type == RALLY_MSG_NODE_HB)
            s_on_peer_hb (self, &msg.u.node_hb, now);
    }
    free (topic);
    zmsg_destroy (&in);
    return 0;
}

//  --------------------------------------------------------------------------
//  Leading: what followers ask

static void s_on_ack (node_t *self, const rally_msg_ack_t *ack, int64_t now)
{
    if (ack->from.term != self->term)
        return;                 //  of another term: means nothing now
    self->follower_heard[ack->from.node] = now;
    if (self->stalled && ack->seq > self->committed && ack->seq <= self->seq) {
        self->stalled = false;
        zsys_info ("gamenode: node %u acked seq %" PRIu64 "; the game goes "
                   "on", ack->from.node, ack->seq);
    }
    if (ack->seq > self->committed && ack->seq <= self->seq)
        s_commit (self, ack->seq);
}

static void s_on_sync (node_t *self, const uint8_t *peer, size_t peer_size,
                       const rally_msg_sync_t *sync)
{
    if (sync->from.term > self->term)
        return;
    self->follower_heard[sync->from.node] = zclock_mono ();
    zlist_append (self->syncs, zframe_new (peer, peer_size));
    zsys_info ("gamenode: node %u asks for a snapshot (at seq %" PRIu64 ")",
               sync->from.node, sync->seq);
}

//  A follower's runs of ids: what it lacks goes to it, then this node's
//  runs for the same window, from which it sends back what this node
//  lacks. Its top says which ids it holds taken.
static void s_on_have (node_t *self, const uint8_t *peer, size_t peer_size,
                       const rally_msg_have_t *have, int64_t now)
{
    uint32_t node = have->from.node;
    if (have->from.term != self->term || node == self->cfg.id
        || !rally_cluster_node (&self->cfg.cluster, node))
        return;                 //  not a follower of this term
    if (!s_have_valid (have)) {
        rally_warn (&self->warn, now, "node %u sent a malformed have", node);
        return;
    }
    self->follower_heard[node] = now;
    self->have_term[node] = self->term;
    //  Its results are taken from this route only (s_from_follower).
    self->have_peer_size[node] = peer_size <= NODE_PEER_MAX ? peer_size : 0;
    memcpy (self->have_peer[node], peer, self->have_peer_size[node]);
    if (have->top > LOBBY_MATCH_ID_MAX)
        rally_warn (&self->warn, now, "node %u holds match ids up to %u "
                    "taken; ids stop at %u", node, have->top,
                    LOBBY_MATCH_ID_MAX);
    else if (have->top >= lobby_next_match (self->lobby)) {
        zsys_info ("gamenode: node %u holds match ids up to %u taken; the "
                   "next match here gets a higher one", node, have->top);
        lobby_raise_matches (self->lobby, have->top);
    }
    rally_msg_t *mine = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    assert (mine);
    if (s_describe (self, have->lo, have->hi, mine) == 0) {
        rally_msg_have_t *m = &mine->u.have;
        rally_range_t theirs[RALLY_HAVE_RANGES];
        uint32_t their_count = have->count;
        memcpy (theirs, have->ranges, sizeof (theirs[0]) * their_count);
        s_clip (theirs, &their_count, m->hi);
        uint32_t ids[NODE_PUSH_PAGES * RALLY_RESULTS_MAX];
        size_t filled;
        s_missing (m->ranges, m->count, theirs, their_count, ids,
                   sizeof (ids) / sizeof (ids[0]), &filled);
        s_push (self, peer, peer_size, ids, filled);
        uint64_t lacks = s_missing (theirs, their_count, m->ranges, m->count,
                                    ids, 0, &filled);
        if (lacks)
            zsys_info ("gamenode: node %u lacks %" PRIu64 " finished match%s "
                       "that node %u holds; it sends them", self->cfg.id,
                       lacks, lacks == 1 ? "" : "es", node);
        s_send_to (self, peer, peer_size, mine);
    }
    free (mine);
}

//  True if from is a follower of this term that sent its have this term
//  on this very route: results are taken from no one else.
static bool s_from_follower (node_t *self, const rally_origin_t *from,
                             const uint8_t *peer, size_t peer_size)
{
    uint32_t node = from->node;
    return from->term == self->term && node >= 1 && node <= RALLY_NODE_ID_MAX
        && self->have_term[node] == self->term
        && self->have_peer_size[node] == peer_size && peer_size > 0
        && memcmp (self->have_peer[node], peer, peer_size) == 0;
}

//  The finished matches after after, a page at a time.
static void s_send_results (node_t *self, const uint8_t *peer,
                            size_t peer_size, uint32_t after)
{
    rally_msg_t *msg = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    assert (msg);
    rally_msg_init (msg, RALLY_MSG_RESULTS);
    s_origin (self, &msg->u.results.from);
    size_t count = 0;
    if (results_since (self->results, after, RALLY_RESULTS_MAX,
                       msg->u.results.results, &count) == 0) {
        msg->u.results.count = (uint32_t) count;
        s_send_to (self, peer, peer_size, msg);
    }
    free (msg);
}

//  A player's or an operator's look at the stored matches, newest first.
//  Any node answers: every node stores every match it applied.
static void s_send_history (node_t *self, const uint8_t *peer,
                            size_t peer_size, const rally_msg_history_t *req)
{
    rally_msg_t *msg = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    assert (msg);
    rally_msg_init (msg, RALLY_MSG_RESULTS);
    s_origin (self, &msg->u.results.from);
    size_t count = 0;
    if (results_recent (self->results, req->name, req->before,
                        RALLY_RESULTS_MAX, msg->u.results.results, &count) == 0) {
        msg->u.results.count = (uint32_t) count;
        s_send_to (self, peer, peer_size, msg);
    }
    else
        s_send_error (self, peer, peer_size, "unavailable",
                      "the results store cannot be read");
    free (msg);
}

static void s_send_board (node_t *self, const uint8_t *peer,
                          size_t peer_size, const rally_msg_standings_t *req)
{
    rally_msg_t *msg = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    assert (msg);
    rally_msg_init (msg, RALLY_MSG_BOARD);
    rally_msg_board_t *b = &msg->u.board;
    s_origin (self, &b->from);
    snprintf (b->own.name, sizeof (b->own.name), "%s", req->name);
    size_t count = 0;
    if (results_standings (self->results, RALLY_BOARD_MAX, b->top, &count,
                           &b->players, &b->own) == 0) {
        b->count = (uint32_t) count;
        s_send_to (self, peer, peer_size, msg);
    }
    else
        s_send_error (self, peer, peer_size, "unavailable",
                      "the results store cannot be read");
    free (msg);
}

//  True if a follower was heard within the liveness period. Only the
//  cluster's nodes can be followers: it looks at those, not every id.
static bool s_have_followers (node_t *self, int64_t now)
{
    const rally_cluster_t *cluster = &self->cfg.cluster;
    for (size_t i = 0; i < cluster->node_count; i++) {
        int64_t heard = self->follower_heard[cluster->nodes[i].id];
        if (heard && now - heard < (int64_t) cluster->liveness_ms)
            return true;
    }
    return false;
}

//  --------------------------------------------------------------------------
//  Requests

//  A follower sends a player to the leader it knows, or says it knows none.
static void s_not_leader (node_t *self, const uint8_t *peer, size_t peer_size)
{
    int64_t fresh = self->cfg.cluster.lease_ms;
    if (self->leader && self->leader != self->cfg.id
        && zclock_mono () - self->leader_heard < fresh
        && self->leader_at.game[0]) {
        rally_msg_t msg;
        rally_msg_init (&msg, RALLY_MSG_LEADER);
        msg.u.leader = self->leader_at;
        s_origin (self, &msg.u.leader.from);
        char name[32];
        snprintf (name, sizeof (name), "node%u", self->leader);
        const char *key = rally_keys_of (self->cfg.keys, name);
        snprintf (msg.u.leader.key, sizeof (msg.u.leader.key), "%s",
                  key && !rally_keys_plaintext (self->cfg.keys) ? key : "");
        s_send_to (self, peer, peer_size, &msg);
    }
    else
        s_send_error (self, peer, peer_size, "not_leader",
                      "this node does not lead and knows no leader; ask a "
                      "broker");
}

static bool s_player_request (rally_msg_type_t type)
{
    return type == RALLY_MSG_JOIN || type == RALLY_MSG_RESUME
        || type == RALLY_MSG_INPUT || type == RALLY_MSG_REQUEUE
        || type == RALLY_MSG_LEAVE;
}

//  What each plane takes: players' requests on the game ROUTER, the
//  members' (sync, ack, fetch, status) on the peer ROUTER; ping on both.
static bool s_plane_takes (bool peer_plane, rally_msg_type_t type)
{
    //  Stored results are every player's to see, and the operator's.
    if (type == RALLY_MSG_PING || type == RALLY_MSG_HISTORY
        || type == RALLY_MSG_STANDINGS)
        return true;
    bool members = type == RALLY_MSG_SYNC || type == RALLY_MSG_ACK
                || type == RALLY_MSG_FETCH || type == RALLY_MSG_HAVE
                || type == RALLY_MSG_RESULTS || type == RALLY_MSG_STATUS;
    return peer_plane ? members
                      : s_player_request (type) || type == RALLY_MSG_WATCH;
}

static void s_dispatch (node_t *self, const uint8_t *peer, size_t peer_size,
                        const rally_msg_t *req, bool peer_plane)
{
    int64_t now = zclock_mono ();
    bool leading = s_leading (self, now);
    if (!s_plane_takes (peer_plane, req->type)) {
        char reason[RALLY_REASON_BUF];
        snprintf (reason, sizeof (reason), "'%s' is not taken on the %s "
                  "endpoint", rally_msg_type_name (req->type),
                  peer_plane ? "peer" : "game");
        s_refuse_with (self, peer, peer_size, "a message", "bad_message",
                       reason);
        return;
    }
    if (s_player_request (req->type) && !leading) {
        s_not_leader (self, peer, peer_size);
        return;
    }
    switch (req->type) {
    case RALLY_MSG_SYNC:
        if (leading)
            s_on_sync (self, peer, peer_size, &req->u.sync);
        break;
    case RALLY_MSG_ACK:
        if (leading)
            s_on_ack (self, &req->u.ack, now);
        break;
    case RALLY_MSG_FETCH:
        if (leading)
            s_send_results (self, peer, peer_size, req->u.fetch.after);
        break;
    case RALLY_MSG_HAVE:
        if (leading)
            s_on_have (self, peer, peer_size, &req->u.have, now);
        break;
    case RALLY_MSG_RESULTS:
        //  A follower's answer to this node's have: what it lacked.
        if (leading && s_from_follower (self, &req->u.results.from, peer,
                                        peer_size))
            s_on_results (self, &req->u.results);
        else
            s_refuse_with (self, peer, peer_size, "results", "bad_message",
                           "results come from a follower, after its have");
        break;
    case RALLY_MSG_JOIN:
        s_join (self, peer, peer_size, &req->u.join);
        break;
    case RALLY_MSG_RESUME:
        s_resume (self, peer, peer_size, &req->u.resume);
        break;
    case RALLY_MSG_INPUT:
        s_refuse (self, peer, peer_size, "input",
                  lobby_input (self->lobby, req->u.input.token,
                               req->u.input.intent, now));
        break;
    case RALLY_MSG_REQUEUE:
        s_refuse (self, peer, peer_size, "requeue",
                  lobby_requeue (self->lobby, req->u.requeue.token, now));
        break;
    case RALLY_MSG_LEAVE:
        s_leave (self, peer, peer_size, &req->u.leave);
        break;
    case RALLY_MSG_PING:
        s_ping (self, peer, peer_size, &req->u.ping);
        break;
    case RALLY_MSG_STATUS:
        s_status (self, peer, peer_size);
        break;
    case RALLY_MSG_HISTORY:
        s_send_history (self, peer, peer_size, &req->u.history);
        break;
    case RALLY_MSG_STANDINGS:
        s_send_board (self, peer, peer_size, &req->u.standings);
        break;
    case RALLY_MSG_WATCH:
        //  A spectator: counted where the match is played, and shown the
        //  list (a follower's list is empty; the spectator asks a broker).
        if (leading)
            watchers_heard (self->watchers, peer, peer_size,
                            req->u.watch.match, now);
        s_status (self, peer, peer_size);
        break;
    default: {
        char reason[RALLY_REASON_BUF];
        snprintf (reason, sizeof (reason), "a game node does not take '%s'",
                  rally_msg_type_name (req->type));
        s_refuse_with (self, peer, peer_size, "a message", "bad_message",
                       reason);
    }
    }
}

//  One request: [routing id][body]. Anything from a player's connection
//  counts as hearing that player, even a message we then refuse. The same
//  handler serves the peer ROUTER, which only members can reach.
static int s_handle_game (zloop_t *loop, zsock_t *reader, void *arg)
{
    node_t *self = (node_t *) arg;
    bool peer_plane = reader == self->peer;
    self->answer = reader;
    zmsg_t *in = zmsg_recv (reader);
    if (!in)
        return 0;               //  interrupted; the loop will see it
    zframe_t *id = zmsg_pop (in);
    const uint8_t *peer = id ? zframe_data (id) : NULL;
    size_t peer_size = id ? zframe_size (id) : 0;
    //  What a request changes lands in the next tick's diff.
    self->tag_seq = self->seq + 1;
    if (!peer_plane && s_leading (self, zclock_mono ()))
        lobby_heard_peer (self->lobby, peer, peer_size, zclock_mono ());

    char reason[RALLY_REASON_BUF];
    rally_msg_t *req = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    assert (req);
    zframe_t *body = zmsg_first (in);
    //  The connection's network address: joins are counted by it.
    self->source = body ? zframe_meta (body, "Peer-Address") : NULL;
    int rc = -1;
    if (zmsg_size (in) != 1)
        snprintf (reason, sizeof (reason),
                  "a request is one frame, this was %zu", zmsg_size (in));
    else
        rc = rally_msg_decode (req, zframe_data (body), zframe_size (body),
                               reason, sizeof (reason));
    if (rc == 0) {
        if (self->cfg.verbose)
            zsys_debug ("gamenode: %s request", rally_msg_type_name (req->type));
        s_take_client_key (self, body);
        uint8_t *token = s_request_token (req);
        if (token) {
            memcpy (self->told_token, token, RALLY_TOKEN_SIZE);
            s_bind_token (self, self->told_token, token);
        }
        s_dispatch (self, peer, peer_size, req, peer_plane);
    }
    else {
        s_refuse_with (self, peer, peer_size, "a message", "bad_message",
                       reason);
    }
    self->answer = NULL;
    s_drain_events (self);
    self->source = NULL;
    free (req);
    zframe_destroy (&id);
    zmsg_destroy (&in);
    return 0;
}

//  A connection the game ROUTER could not accept (descriptors ran out,
//  say): ZeroMQ drops it without a word, so the monitor says so.
static int s_handle_monitor (zloop_t *loop, zsock_t *reader, void *arg)
{
    node_t *self = (node_t *) arg;
    int err = 0;
    if (rally_limits_monitor_read (self->monitor, &err))
        rally_warn (&self->warn, zclock_mono (), "a connection to %s was "
                    "refused: %s", self->me.game, strerror (err));
    return 0;
}

//  A suspended leader's term is renewed: it acts again, from now, on the
//  state it stopped with (no other node can have led meanwhile: the
//  brokers held its lease).
static void s_resume_leading (node_t *self, int64_t now)
{
    self->suspended = false;
    zsys_info ("gamenode: node %u leads term %" PRIu64 " from mono %" PRId64
               " (lease until mono %" PRId64 ") at seq %" PRIu64 ", hash %016"
               PRIx64 "; resumed", self->cfg.id, self->term, now,
               self->lead_until, self->seq, lobby_hash (self->lobby));
    self->tick_base_us = zclock_usecs ();
    self->tick_next = 1;
}

//  A broker's answer to a heartbeat, or a grant: the lease as it stands.
static void s_on_lease (node_t *self, size_t broker,
                        const rally_msg_lease_t *reply)
{
    int64_t now = zclock_mono ();
    lease_reply (self->lease, broker, reply);
    lease_heard (self->lease, broker, now);
    int64_t until = 0;
    uint64_t term = lease_held (self->lease, now, &until);
    if (self->role == RALLY_ROLE_LEADER) {
        if (term == self->term) {
            self->lead_until = until;
            if (self->suspended)
                s_resume_leading (self, now);
        }
        else
            s_leading (self, now);  //  stops once the old grant ends
    }
    else if (term > self->term)
        s_become_leader (self, term, until);
}

static size_t s_broker_index (node_t *self, zsock_t *reader)
{
    for (size_t i = 0; i < self->broker_count; i++)
        if (self->brokers[i] == reader || self->spares[i] == reader)
            return i;
    assert (false);
    return 0;
}

static int s_handle_broker (zloop_t *loop, zsock_t *reader, void *arg)
{
    node_t *self = (node_t *) arg;
    zmsg_t *in = zmsg_recv (reader);
    if (!in)
        return 0;
    char reason[RALLY_REASON_BUF];
    rally_msg_t msg;
    zframe_t *frame = zmsg_first (in);
    if (zmsg_size (in) != 1)
        rally_warn (&self->warn, zclock_mono (),
                    "bad message from a broker: %zu frames", zmsg_size (in));
    else if (rally_msg_decode (&msg, zframe_data (frame), zframe_size (frame),
                               reason, sizeof (reason)))
        rally_warn (&self->warn, zclock_mono (),
                    "bad message from a broker: %s", reason);
    else if (msg.type == RALLY_MSG_LEASE) {
        if (s_term_believed (self, msg.u.lease.lease_term, "a lease"))
            s_on_lease (self, s_broker_index (self, reader), &msg.u.lease);
    }
    else if (msg.type == RALLY_MSG_ERROR)
        rally_warn (&self->warn, zclock_mono (), "a broker says %s: %s",
                    msg.u.error.code, msg.u.error.reason);
    else if (self->cfg.verbose)
        zsys_debug ("gamenode: broker sent %s", rally_msg_type_name (msg.type));
    zmsg_destroy (&in);
    return 0;
}

//  --------------------------------------------------------------------------
//  Timers

//  Says, at most once a NODE_NO_MAJORITY_LOG_MS, that too few brokers
//  answer for this node to campaign.
static void s_log_no_majority (node_t *self, int64_t now, size_t heard)
{
    if (self->no_majority_logged
        && now - self->no_majority_logged < NODE_NO_MAJORITY_LOG_MS)
        return;
    self->no_majority_logged = now;
    zsys_warning ("gamenode: node %u asks for no lease: %zu of %zu brokers "
                  "answer, a majority is %zu", self->cfg.id, heard,
                  self->broker_count, lease_majority (self->lease));
}

//  The term a follower asks the brokers for: none while it hears a leader
//  (it would only unseat it) or too few brokers to win; else its
//  campaign's, with a random back-off of one to two leases.
static uint64_t s_want (node_t *self, int64_t now)
{
    uint32_t lease_ms = self->cfg.cluster.lease_ms;
    if (self->leader && self->leader != self->cfg.id
        && now - self->leader_heard < lease_ms / 2)
        return 0;
    size_t heard = lease_reachable (self->lease, now, 2 * lease_ms);
    if (heard < lease_majority (self->lease)) {
        s_log_no_majority (self, now, heard);
        return 0;
    }
    self->no_majority_logged = 0;
    //  Nodes that start together must not draw the same back-off.
    uint32_t draw = 0;
    if (getrandom (&draw, sizeof (draw), GRND_NONBLOCK) != sizeof (draw))
        draw = (uint32_t) now * 2654435761u + self->cfg.id;
    uint32_t backoff = lease_ms + draw % (lease_ms + 1);
    return lease_campaign (self->lease, now, backoff);
}

static int s_handle_heartbeat (zloop_t *loop, int timer_id, void *arg)
{
    node_t *self = (node_t *) arg;
    int64_t now = zclock_mono ();
    rally_warn_flush (&self->warn, now);
    bool leading = s_leading (self, now);
    if (!leading && !self->synced && self->leader)
        s_ask_snapshot (self, now);
    s_retry_stores (self, now);
    if (leading)
        s_check_ids (self, now);    //  a held-back leader runs no tick
    //  A round that got no answer (the leader went) starts again.
    if (!leading && self->synced && self->leader
        && now - self->round_at >= (self->round_lo ? 5 : 1) * NODE_CONVERGE_MS)
        s_begin_round (self, now);
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_NODE_HB);
    rally_msg_node_hb_t *hb = &msg.u.node_hb;
    s_origin (self, &hb->from);
    hb->role = self->role;
    hb->seq = self->seq;
    //  A leader renews its term (a suspended one too); a follower may
    //  campaign for one. A node just started asks nothing until it has
    //  heard every peer that is up, and with them the terms they have seen,
    //  or has followed a leader (which told it the term): a node that
    //  synced and acked may be the most up to date, and must be electable.
    bool young = !self->followed && now - self->started
               < (int64_t) self->cfg.cluster.liveness_ms;
    hb->want = self->role == RALLY_ROLE_LEADER ? self->term
             : young ? 0 : s_want (self, now);
    hb->nonce = lease_sent (self->lease, now);
    hb->lag = !leading && self->leader_seq > self->seq
            ? self->leader_seq - self->seq : 0;
    hb->behind = leading ? 0 : self->behind > UINT32_MAX ? UINT32_MAX
                                                        : (uint32_t) self->behind;
    hb->matches = (uint32_t) lobby_live_matches (self->lobby);
    hb->players = (uint32_t) lobby_players (self->lobby);
    //  What the brokers, and followers redirecting, tell players.
    strcpy (hb->game, self->told_game);
    strcpy (hb->state, self->told_state);
    //  Sends never block: a broker that is down just misses heartbeats.
    for (size_t i = 0; i < self->broker_count; i++) {
        rally_msg_send (&msg, self->brokers[i]);
        rally_msg_send (&msg, self->spares[i]);
    }
    rally_msg_publish (&msg, self->heartbeat, "hb");
    return 0;
}

//  ZeroMQ's I/O thread allocates each connection's buffers (some 28 KB) in
//  an arena of its own, and the allocator keeps what they free: a node
//  that a thousand connections came and went from kept 30 MB. Trimming
//  hands the free pages back to the system (the junk_joins test measures
//  what stays).
static int s_handle_trim (zloop_t *loop, int timer_id, void *arg)
{
    malloc_trim (0);
    return 0;
}

//  This tick's states, held until a follower has the tick.
static void s_stage_states (node_t *self, int64_t now)
{
    if (self->pending_count == NODE_PENDING) {
        //  No follower kept up for this long: the oldest tick is skipped.
        pending_t *oldest = &self->pending[self->pending_head];
        zmsg_t *msg;
        while ((msg = (zmsg_t *) zlist_pop (oldest->msgs)))
            zmsg_destroy (&msg);
        self->pending_head = (self->pending_head + 1) % NODE_PENDING;
        self->pending_count--;
    }
    pending_t *entry = &self->pending[(self->pending_head
                                       + self->pending_count++) % NODE_PENDING];
    entry->seq = self->seq;
    entry->at = now;
    const lobby_config_t *cfg = lobby_config (self->lobby);
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_STATE);
    rally_msg_state_t *st = &msg.u.state;
    s_origin (self, &st->from);
    st->seq = self->seq;
    st->points = cfg->points_to_win;
    lobby_match_view_t view;
    for (size_t i = 0; lobby_match_at (self->lobby, i, &view) == 0; i++) {
        lobby_match_state (&view, st);
        char topic[9];
        rally_msg_match_topic (view.id, topic);
        zframe_t *body = rally_msg_encode (&msg);
        if (!body) {
            zsys_error ("gamenode: cannot encode match %u", view.id);
            continue;
        }
        zmsg_t *out = zmsg_new ();
        zmsg_addstr (out, topic);
        zmsg_append (out, &body);
        zlist_append (entry->msgs, out);
    }
}

//  True if the ticks run so far may be shown with no follower's ack: none
//  is live, so none could be elected with an older state.
static bool s_commit_alone (node_t *self, int64_t now)
{
    if (s_have_followers (self, now))
        return false;
    if (self->stalled)
        zsys_info ("gamenode: node %u hears no follower any more; the game "
                   "goes on", self->cfg.id);
    self->stalled = false;
    return true;
}

//  True if the leader must not run another tick: a follower is heard, and
//  none has acked the last NODE_PENDING ticks (one cut off one way, or
//  still loading a snapshot). The game waits, frozen where the players
//  last saw it, rather than run on unseen or show what a crash would take
//  back: that is the price, a stall for as long as such a follower is
//  heard and no other acks. It says so once per stall.
static bool s_held_back (node_t *self, int64_t now)
{
    //  A follower that asked for a snapshot gets it after the next tick
    //  (s_replicate): that tick runs, else the follower could never catch
    //  up and ack. What it shows waits for the ack all the same.
    if (self->seq - self->committed < NODE_PENDING
        || !s_have_followers (self, now) || zlist_size (self->syncs))
        return false;
    if (!self->stalled)
        zsys_warning ("gamenode: node %u: no follower acked seq %" PRIu64
                      " or later; the game waits until one does",
                      self->cfg.id, self->committed + 1);
    self->stalled = true;
    return true;
}

//  Leader: opens matches only under ids it knows are free and has made its
//  own. Free: every follower it hears has told it its ids (have), or
//  NODE_HAVE_WAIT_MS has passed since it began to lead (a follower heard
//  but cut off may never tell). Its own: reserved on disk, a block ahead.
static bool s_followers_told (node_t *self, int64_t now)
{
    int64_t led = now - self->lead_since;
    const rally_cluster_t *cluster = &self->cfg.cluster;
    if (led < 2 * (int64_t) cluster->heartbeat_ms)
        return false;           //  every live peer has been heard by then
    bool told = true;
    for (size_t i = 0; i < cluster->node_count; i++) {
        uint32_t id = cluster->nodes[i].id;
        int64_t heard = self->follower_heard[id];
        if (id != self->cfg.id && heard
            && now - heard < (int64_t) cluster->liveness_ms
            && self->have_term[id] != self->term)
            told = false;
    }
    if (!told && led >= NODE_HAVE_WAIT_MS) {
        zsys_warning ("gamenode: node %u opens matches without every "
                      "follower's ids after %d ms", self->cfg.id,
                      NODE_HAVE_WAIT_MS);
        told = true;
    }
    return told;
}

static void s_check_ids (node_t *self, int64_t now)
{
    if (!self->ids_known) {
        if (!s_followers_told (self, now))
            return;             //  the limit stays at 0
        self->ids_known = true;
        zsys_info ("gamenode: node %u opens matches from id %u",
                   self->cfg.id, lobby_next_match (self->lobby));
    }
    uint32_t next = lobby_next_match (self->lobby);
    uint32_t reserved = ident_matches (self->ident);
    if (next > LOBBY_MATCH_ID_MAX - NODE_ID_BLOCK)
        return;                 //  ids are spent: no more matches
    if (next + NODE_ID_BLOCK / 2 > reserved
        && ident_raise (self->ident, 0, next - 1 + NODE_ID_BLOCK) == 0)
        reserved = next - 1 + NODE_ID_BLOCK;
    lobby_limit_matches (self->lobby, reserved);
}

//  A follower has seq (or none is live): what it holds may be shown. Of the
//  ticks waiting, only the newest it covers is published; viewers need no
//  older one.
static void s_commit (node_t *self, uint64_t seq)
{
    self->committed = seq;
    pending_t *newest = NULL;
    while (self->pending_count
           && self->pending[self->pending_head].seq <= seq) {
        pending_t *entry = &self->pending[self->pending_head];
        if (newest) {
            zmsg_t *msg;
            while ((msg = (zmsg_t *) zlist_pop (newest->msgs)))
                zmsg_destroy (&msg);
        }
        newest = entry;
        self->pending_head = (self->pending_head + 1) % NODE_PENDING;
        self->pending_count--;
    }
    zmsg_t *msg;
    while (newest && (msg = (zmsg_t *) zlist_pop (newest->msgs)))
        if (zmsg_send (&msg, self->state))
            zmsg_destroy (&msg);
    outgoing_t *out;
    while ((out = (outgoing_t *) zlist_first (self->outbox))
           && out->seq <= seq) {
        zlist_pop (self->outbox);
        if (zmsg_send (&out->msg, self->game))
            zmsg_destroy (&out->msg);
        s_outgoing_free (&out);
    }
}

//  This tick's diff to the followers, and a snapshot to each that asked.
static void s_replicate (node_t *self)
{
    lobby_diff (self->lobby, self->repl);
    s_origin (self, &self->repl->from);
    self->repl->seq = self->seq;
    zframe_t *body = rally_repl_encode (self->repl);
    if (!body) {
        zsys_error ("gamenode: cannot encode the diff at seq %" PRIu64,
                    self->seq);
        return;
    }
    zmsg_t *out = zmsg_new ();
    zmsg_addstr (out, "diff");
    zmsg_append (out, &body);
    if (zmsg_send (&out, self->heartbeat))
        zmsg_destroy (&out);
    s_serve_syncs (self);
}

//  A snapshot of the state as it stands to each follower that asked.
static void s_serve_syncs (node_t *self)
{
    if (zlist_size (self->syncs) == 0)
        return;
    lobby_snapshot (self->lobby, self->repl);
    s_origin (self, &self->repl->from);
    self->repl->seq = self->seq;
    zframe_t *snap = rally_repl_encode (self->repl);
    zframe_t *route;
    while ((route = (zframe_t *) zlist_pop (self->syncs))) {
        if (snap) {
            zmsg_t *reply = zmsg_new ();
            zmsg_append (reply, &route);
            zmsg_addmem (reply, zframe_data (snap), zframe_size (snap));
            if (zmsg_send (&reply, self->peer))
                zmsg_destroy (&reply);
        }
        zframe_destroy (&route);
    }
    zframe_destroy (&snap);
}

//  Each live match's spectators and grace, for its players and
//  spectators. Not replicated and not held for an ack: a count and a
//  countdown that a failover may restart take nothing back.
static void s_publish_crowd (node_t *self, int64_t now)
{
    if (now < self->crowd_at)
        return;
    self->crowd_at = now + RALLY_CROWD_EVERY_MS;
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_CROWD);
    s_origin (self, &msg.u.crowd.from);
    lobby_match_view_t view;
    for (size_t i = 0; lobby_match_at (self->lobby, i, &view) == 0; i++) {
        if (view.game->phase == PONG_OVER)
            continue;
        uint32_t count = watchers_count (self->watchers, view.id, now);
        msg.u.crowd.match = view.id;
        msg.u.crowd.spectators = count < RALLY_SPECTATORS_MAX
                               ? count: RALLY_SPECTATORS_MAX;
        msg.u.crowd.grace_ms = lobby_grace_left (self->lobby, view.id, now);
        char topic[9];
        rally_msg_match_topic (view.id, topic);
        rally_msg_publish (&msg, self->state, topic);
    }
}

static void s_tick (node_t *self)
{
    int64_t now = zclock_mono ();
    self->seq++;
    self->tag_seq = self->seq;
    s_check_ids (self, now);
    lobby_tick (self->lobby, now);
    s_drain_events (self);
    s_replicate (self);
    s_stage_states (self, now);
    s_publish_crowd (self, now);
    if (s_commit_alone (self, now))
        s_commit (self, self->seq);
}

static int64_t s_deadline (node_t *self, uint64_t n)
{
    uint64_t hz = lobby_config (self->lobby)->tick_hz;
    return self->tick_base_us + (int64_t) (n * 1000000 / hz);
}

static int s_handle_tick (zloop_t *loop, int timer_id, void *arg)
{
    node_t *self = (node_t *) arg;
    int ran = 0;
    bool held = false;
    while (ran < NODE_CATCH_UP && s_leading (self, zclock_mono ())
           && s_deadline (self, self->tick_next) <= zclock_usecs ()) {
        if (s_held_back (self, zclock_mono ())) {
            //  Held back for want of an ack, it still answers the syncs:
            //  a follower that is loading a snapshot acks only once it has
            //  one, and without it the wait would never end.
            s_serve_syncs (self);
            held = true;
            break;
        }
        s_tick (self);
        self->tick_next++;
        ran++;
    }
    int64_t now = zclock_usecs ();
    int64_t late = now - s_deadline (self, self->tick_next);
    if (late >= 0 && (self->role != RALLY_ROLE_LEADER || self->suspended
                      || held)) {
        self->tick_base_us = now;   //  a follower, or a leader suspended or
                                    //  held back, only keeps the beat
        self->tick_next = 1;
    }
    else if (late >= 0) {
        zsys_warning ("gamenode: tick clock %" PRId64 " ms behind at seq %"
                      PRIu64 "; resynchronising", late / 1000, self->seq);
        self->tick_base_us = now;
        self->tick_next = 1;
    }
    int64_t wait = s_deadline (self, self->tick_next) - zclock_usecs ();
    size_t delay = wait > 0 ? (size_t) ((wait + 999) / 1000) : 0;
    if (zloop_timer (loop, delay, 1, s_handle_tick, self) < 0) {
        zsys_error ("gamenode: cannot arm the tick timer");
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Construction

//  Binds sock at endpoint; a "*" port becomes the port bound, in endpoint.
static int s_bind (zsock_t *sock, char *endpoint)
{
    if (rally_cluster_bind (sock, endpoint) == 0)
        return 0;
    zsys_error ("gamenode: cannot bind %s: %s", endpoint,
                zmq_strerror (zmq_errno ()));
    return -1;
}

//  A SUB on every other node's PUB, for heartbeats and diffs.
static int s_open_peers (node_t *self)
{
    self->peers = rally_msg_socket_new (ZMQ_SUB);
    if (!self->peers)
        return -1;
    zsock_set_maxmsgsize (self->peers, RALLY_REPL_MAX_BYTES);
    zsock_set_subscribe (self->peers, "hb");
    zsock_set_subscribe (self->peers, "diff");
    const rally_cluster_t *cluster = &self->cfg.cluster;
    for (size_t i = 0; i < cluster->node_count; i++) {
        const rally_node_conf_t *peer = &cluster->nodes[i];
        if (peer->id == self->cfg.id)
            continue;
        //  One SUB, many servers: CURVE's server key is per connect.
        if (s_secure (self, self->peers, "node", peer->id))
            return -1;
        if (zsock_connect (self->peers, "%s", peer->heartbeat)) {
            zsys_error ("gamenode: cannot connect to node %u at %s", peer->id,
                        peer->heartbeat);
            return -1;
        }
    }
    return 0;
}

//  A DEALER to broker i's peer endpoint, with its key, or NULL.
static zsock_t *s_broker_dealer (node_t *self, size_t i)
{
    const rally_cluster_t *cluster = &self->cfg.cluster;
    const char *endpoint = cluster->broker_peers[i];
    zsock_t *dealer = rally_msg_socket_new (ZMQ_DEALER);
    if (!dealer)
        return NULL;
    zsock_set_sndhwm (dealer, NODE_DEALER_HWM);
    if (s_secure (self, dealer, "broker", cluster->broker_index[i]))
        zsock_destroy (&dealer);
    else
    if (zsock_connect (dealer, "%s", endpoint)) {
        zsys_error ("gamenode: cannot connect to broker %s", endpoint);
        zsock_destroy (&dealer);
    }
    return dealer;
}

static int s_open_sockets (node_t *self)
{
    self->game = rally_msg_socket_new (ZMQ_ROUTER);
    self->state = rally_msg_socket_new (ZMQ_PUB);
    self->heartbeat = rally_msg_socket_new (ZMQ_PUB);
    self->peer = rally_msg_socket_new (ZMQ_ROUTER);
    if (!self->game || !self->state || !self->heartbeat || !self->peer)
        return -1;
    //  Snapshots and results pages go out on the peer ROUTER.
    zsock_set_maxmsgsize (self->peer, RALLY_MSG_MAX_BYTES);
    rally_keys_t *keys = self->cfg.keys;
    if (rally_keys_serve (keys, self->game, RALLY_ZAP_PLAYER)
        || rally_keys_serve (keys, self->state, RALLY_ZAP_PLAYER)
        || rally_keys_serve (keys, self->heartbeat, RALLY_ZAP_PEER)
        || rally_keys_serve (keys, self->peer, RALLY_ZAP_PEER))
        return -1;
    zsock_set_sndhwm (self->game, NODE_GAME_HWM);
    zsock_set_rcvhwm (self->game, NODE_GAME_HWM);
    if (s_bind (self->game, self->me.game)
        || s_bind (self->state, self->me.state)
        || s_bind (self->heartbeat, self->me.heartbeat)
        || s_bind (self->peer, self->me.peer))
        return -1;
    self->monitor = rally_limits_monitor (self->game);
    if (!self->monitor)
        zsys_warning ("gamenode: cannot watch %s for refused connections",
                      self->me.game);
    const rally_cluster_t *cluster = &self->cfg.cluster;
    for (size_t i = 0; i < cluster->broker_count; i++) {
        size_t n = self->broker_count++;
        self->brokers[n] = s_broker_dealer (self, i);
        self->spares[n] = s_broker_dealer (self, i);
        if (!self->brokers[n] || !self->spares[n])
            return -1;
    }
    return s_open_peers (self);
}

//  The store of finished matches: DIR/results.db, or memory without a
//  data directory. Match ids go on above the last one stored, so that a
//  cluster restarted whole never numbers a match twice.
static int s_open_results (node_t *self)
{
    char path[sizeof (self->cfg.data) + sizeof ("/" RESULTS_FILE)];
    if (*self->cfg.data) {
        zsys_dir_create ("%s", self->cfg.data);
        snprintf (path, sizeof (path), "%s/%s", self->cfg.data, RESULTS_FILE);
    }
    else
        snprintf (path, sizeof (path), ":memory:");
    char reason[RALLY_REASON_BUF];
    self->results = results_new (path, reason, sizeof (reason));
    if (!self->results) {
        zsys_error ("gamenode: cannot keep results: %s", reason);
        return -1;
    }
    self->ident = ident_new (self->cfg.data, reason, sizeof (reason));
    if (!self->ident) {
        zsys_error ("gamenode: cannot read the node's state: %s", reason);
        return -1;
    }
    //  Ids stored or reserved before a restart, and terms led or followed,
    //  are never used again.
    uint32_t last = results_max_match (self->results);
    uint32_t reserved = ident_matches (self->ident);
    if (lobby_reserve_matches (self->lobby, reserved > last ? reserved : last)) {
        zsys_error ("gamenode: %s or %s/%s holds match %u; ids above %u are "
                    "refused, so no match id would be left", path,
                    self->cfg.data, IDENT_FILE, reserved > last ? reserved : last,
                    LOBBY_MATCH_ID_MAX);
        return -1;
    }
    self->term = ident_term (self->ident);
    self->used_max = reserved > last ? reserved : last;
    lease_see_term (self->lease, self->term);
    zsys_info ("gamenode: node %u keeps results in %s (%zu matches, last %u); "
               "match ids up to %u and terms up to %" PRIu64 " are taken",
               self->cfg.id, *self->cfg.data ? path : "memory",
               results_count (self->results), last, reserved, self->term);
    return 0;
}

node_t *node_new (const node_config_t *cfg)
{
    assert (cfg);
    const rally_node_conf_t *me = rally_cluster_node (&cfg->cluster, cfg->id);
    if (!me) {
        zsys_error ("gamenode: node %u is not in the cluster", cfg->id);
        return NULL;
    }
    if (!*me->peer) {
        zsys_error ("gamenode: node %u has no peer endpoint in the cluster "
                    "file (node/peer)", cfg->id);
        return NULL;
    }
    for (size_t i = 0; i < cfg->cluster.broker_count; i++)
        if (!*cfg->cluster.broker_peers[i]) {
            zsys_error ("gamenode: broker %s has no peer endpoint in the "
                        "cluster file (broker/peer)", cfg->cluster.brokers[i]);
            return NULL;
        }
    node_t *self = (node_t *) zmalloc (sizeof (node_t));
    assert (self);
    self->cfg = *cfg;
    self->me = *me;
    self->told_game = self->cfg.advertise_game[0]
                    ? self->cfg.advertise_game : self->me.game;
    self->told_state = self->cfg.advertise_state[0]
                     ? self->cfg.advertise_state : self->me.state;
    rally_warn_init (&self->warn, "gamenode", NODE_WARN_BURST);
    self->role = RALLY_ROLE_FOLLOWER;   //  until the brokers say otherwise
    //  The lease the node counts is shorter than the broker's by a margin
    //  for clock-rate drift and the time a grant takes to arrive.
    self->lease = lease_new (cfg->id, cfg->cluster.broker_count,
                             cfg->cluster.lease_ms / NODE_DRIFT_DIVISOR);
    self->repl = rally_repl_new (RALLY_REPL_DIFF);
    self->held = zlist_new ();
    self->syncs = zlist_new ();
    self->outbox = zlist_new ();
    self->unstored = zlist_new ();
    self->started = zclock_mono ();
    for (size_t i = 0; i < NODE_PENDING; i++) {
        self->pending[i].msgs = zlist_new ();
        assert (self->pending[i].msgs);
    }
    if (!self->lease) {
        zsys_error ("gamenode: %zu brokers; a node counts 1..%d",
                    cfg->cluster.broker_count, LEASE_BROKERS_MAX);
        node_destroy (&self);
        return NULL;
    }
    lobby_config_t lc;
    lc.tick_hz = cfg->cluster.tick_hz;
    lc.points_to_win = cfg->cluster.points_to_win;
    lc.grace_ms = cfg->cluster.grace_ms;
    lc.max_players = cfg->cluster.max_players;
    lc.max_per_source = cfg->cluster.max_per_source;
    self->lobby = lobby_new (&lc);
    self->watchers = watchers_new ();
    assert (self->watchers);
    if (!self->lobby)
        zsys_error ("gamenode: bad game settings (tick_hz %u, points %u, "
                    "max_players %u)", lc.tick_hz, lc.points_to_win,
                    lc.max_players);
    if (self->lobby && s_open_results (self))
        lobby_destroy (&self->lobby);
    if (!self->lobby || s_open_sockets (self)) {
        node_destroy (&self);
        return NULL;
    }
    self->loop = zloop_new ();
    assert (self->loop);
    return self;
}

void node_destroy (node_t **self_p)
{
    assert (self_p);
    node_t *self = *self_p;
    if (!self)
        return;
    zloop_destroy (&self->loop);
    if (self->outbox)
        s_drop_pending (self);
    if (self->held)
        s_drop_held (self);
    zlist_destroy (&self->held);
    zlist_destroy (&self->syncs);
    zlist_destroy (&self->outbox);
    if (self->unstored && zlist_size (self->unstored))
        zsys_error ("gamenode: node %u stops with %zu finished matches not "
                    "stored; its peers still hold them", self->cfg.id,
                    zlist_size (self->unstored));
    results_match_t *m;
    while (self->unstored && (m = (results_match_t *) zlist_pop (self->unstored)))
        free (m);
    zlist_destroy (&self->unstored);
    ident_destroy (&self->ident);
    for (size_t i = 0; i < NODE_PENDING; i++)
        zlist_destroy (&self->pending[i].msgs);
    rally_repl_destroy (&self->repl);
    lease_destroy (&self->lease);
    results_destroy (&self->results);
    for (size_t i = 0; i < self->broker_count; i++) {
        zsock_destroy (&self->brokers[i]);
        zsock_destroy (&self->spares[i]);
    }
    zsock_destroy (&self->upstream);
    zsock_destroy (&self->peers);
    zsock_destroy (&self->heartbeat);
    zsock_destroy (&self->state);
    zactor_destroy (&self->monitor);    //  before the socket it watches
    zsock_destroy (&self->game);
    zsock_destroy (&self->peer);
    lobby_destroy (&self->lobby);
    watchers_destroy (&self->watchers);
    free (self);
    *self_p = NULL;
}

int node_run (node_t *self)
{
    assert (self);
    const rally_cluster_t *c = &self->cfg.cluster;
    zsys_info ("gamenode: node %u up as a follower; game %s, state %s, "
               "heartbeat %s, peer %s", self->cfg.id, self->me.game,
               self->me.state, self->me.heartbeat, self->me.peer);
    if (self->told_game != self->me.game || self->told_state != self->me.state)
        zsys_info ("gamenode: node %u tells players game %s, state %s",
                   self->cfg.id, self->told_game, self->told_state);
    zsys_info ("gamenode: %u Hz, first to %u, grace %u ms, up to %u players, "
               "%zu broker(s)", c->tick_hz, c->points_to_win, c->grace_ms,
               c->max_players, self->broker_count);
    zloop_reader (self->loop, self->game, s_handle_game, self);
    zloop_reader (self->loop, self->peer, s_handle_game, self);
    if (self->monitor)
        zloop_reader (self->loop, (zsock_t *) self->monitor, s_handle_monitor,
                      self);
    zloop_reader (self->loop, self->peers, s_handle_peers, self);
    for (size_t i = 0; i < self->broker_count; i++) {
        zloop_reader (self->loop, self->brokers[i], s_handle_broker, self);
        zloop_reader (self->loop, self->spares[i], s_handle_broker, self);
    }
    zloop_timer (self->loop, c->heartbeat_ms, 0, s_handle_heartbeat, self);
    zloop_timer (self->loop, NODE_TRIM_MS, 0, s_handle_trim, self);
    self->tick_base_us = zclock_usecs ();
    self->tick_next = 0;
    zloop_timer (self->loop, 0, 1, s_handle_tick, self);
    s_handle_heartbeat (self->loop, 0, self);   //  say hello at once
    int rc = zloop_start (self->loop);
    zsys_info ("gamenode: node %u stopping at seq %" PRIu64, self->cfg.id,
               self->seq);
    return rc == 0 ? 0 : -1;
}
