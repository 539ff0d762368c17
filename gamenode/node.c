/*  node - one Rally game node: a zloop reactor around the lobby.

    Everything happens on one thread, in handlers that never block: one per
    socket (requests, broker replies) and two timers (heartbeat, tick). The
    lobby decides; the node only carries messages in and events out.

    The tick keeps time by deadline: tick n is due at base + n * 1e6 / hz
    microseconds, so that rounding never accumulates. After each tick the
    node arms a one-shot timer for what is left until the next deadline,
    rounded up to the millisecond (zloop's resolution). A late node runs
    the ticks it owes, at most NODE_CATCH_UP of them at once; further
    behind than that it starts counting afresh from now, and says so.
*/
#include "node.h"
#include "lobby.h"
#include "rally_warn.h"

#include <inttypes.h>
#include <string.h>
#include <sys/random.h>

#define NODE_CATCH_UP       5       //  ticks run at once when late
#define NODE_WARN_BURST     10      //  bad-input log lines per second
#define NODE_DEALER_HWM     16      //  heartbeats queued for a quiet broker

struct _node_t {
    node_config_t cfg;                  //  as given
    rally_node_conf_t me;               //  own endpoints, as advertised
    zloop_t *loop;                      //  the reactor
    zsock_t *game;                      //  ROUTER: requests from players
    zsock_t *state;                     //  PUB: match states, for viewers
    zsock_t *heartbeat;                 //  PUB: heartbeats, for other nodes
    zsock_t *brokers[RALLY_CLUSTER_BROKERS_MAX];    //  DEALER per broker
    size_t broker_count;                //  brokers connected
    lobby_t *lobby;                     //  players, queue and matches
    rally_role_t role;                  //  leader or follower
    uint64_t term;                      //  leadership term
    uint64_t seq;                       //  ticks made (the global tick)
    int64_t tick_base_us;               //  when tick 0 of this count was due
    uint64_t tick_next;                 //  ticks since base; next is due
    rally_warn_t warn;                  //  bad input, rate-limited
};

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
    if (zmsg_send (&out, self->game))
        zmsg_destroy (&out);
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

//  --------------------------------------------------------------------------
//  Lobby events -> messages and log lines

static void s_send_queued (node_t *self, const lobby_event_t *ev)
{
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_QUEUED);
    s_origin (self, &msg.u.queued.from);
    msg.u.queued.position = ev->position;
    strcpy (msg.u.queued.name, ev->name);
    s_send_to (self, ev->peer, ev->peer_size, &msg);
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
    s_send_to (self, ev->peer, ev->peer_size, &msg);
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
        if (self->cfg.verbose)
            zsys_debug ("gamenode: match %u dropped", ev->match);
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

static void s_join (node_t *self, const uint8_t *peer, size_t peer_size,
                    const rally_msg_join_t *join)
{
    uint8_t token[RALLY_TOKEN_SIZE];
    if (getrandom (token, sizeof (token), 0) != (ssize_t) sizeof (token)) {
        zsys_error ("gamenode: getrandom failed: %s", strerror (errno));
        s_send_error (self, peer, peer_size, "unavailable",
                      "could not issue a session token; try again");
        return;
    }
    char reason[RALLY_REASON_BUF];
    lobby_result_t result =
        lobby_join (self->lobby, join->name, token, peer, peer_size,
                    zclock_mono (), reason, sizeof (reason));
    if (result != LOBBY_OK) {
        s_refuse_with (self, peer, peer_size, "join",
                       lobby_result_code (result), reason);
        return;
    }
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_JOINED);
    s_origin (self, &msg.u.joined.from);
    memcpy (msg.u.joined.token, token, sizeof (token));
    strcpy (msg.u.joined.name, join->name);
    s_send_to (self, peer, peer_size, &msg);
    zsys_info ("gamenode: player %s joined (%zu players, %zu waiting)",
               join->name, lobby_players (self->lobby),
               lobby_waiting (self->lobby));
}

static void s_resume (node_t *self, const uint8_t *peer, size_t peer_size,
                      const rally_msg_token_t *resume)
{
    lobby_result_t result = lobby_resume (self->lobby, resume->token, peer,
                                          peer_size, zclock_mono ());
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
    memcpy (msg.u.joined.token, resume->token, RALLY_TOKEN_SIZE);
    strcpy (msg.u.joined.name, info.name);
    msg.u.joined.match = info.match;
    s_send_to (self, peer, peer_size, &msg);
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

static void s_dispatch (node_t *self, const uint8_t *peer, size_t peer_size,
                        const rally_msg_t *req)
{
    int64_t now = zclock_mono ();
    switch (req->type) {
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
//  counts as hearing that player, even a message we then refuse.
static int s_handle_game (zloop_t *loop, zsock_t *reader, void *arg)
{
    node_t *self = (node_t *) arg;
    zmsg_t *in = zmsg_recv (reader);
    if (!in)
        return 0;               //  interrupted; the loop will see it
    zframe_t *id = zmsg_pop (in);
    const uint8_t *peer = id ? zframe_data (id) : NULL;
    size_t peer_size = id ? zframe_size (id) : 0;
    lobby_heard_peer (self->lobby, peer, peer_size, zclock_mono ());

    char reason[RALLY_REASON_BUF];
    rally_msg_t *req = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    assert (req);
    zframe_t *body = zmsg_first (in);
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
        s_dispatch (self, peer, peer_size, req);
    }
    else {
        s_refuse_with (self, peer, peer_size, "a message", "bad_message",
                       reason);
    }
    s_drain_events (self);
    free (req);
    zframe_destroy (&id);
    zmsg_destroy (&in);
    return 0;
}

//  Brokers send nothing a node needs yet, but what comes is read (so that
//  it cannot pile up) and errors are logged.
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

static int s_handle_heartbeat (zloop_t *loop, int timer_id, void *arg)
{
    node_t *self = (node_t *) arg;
    rally_warn_flush (&self->warn, zclock_mono ());
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_NODE_HB);
    rally_msg_node_hb_t *hb = &msg.u.node_hb;
    s_origin (self, &hb->from);
    hb->role = self->role;
    hb->seq = self->seq;
    hb->matches = (uint32_t) lobby_live_matches (self->lobby);
    hb->players = (uint32_t) lobby_players (self->lobby);
    strcpy (hb->game, self->me.game);
    strcpy (hb->state, self->me.state);
    //  Sends never block: a broker that is down just misses heartbeats.
    for (size_t i = 0; i < self->broker_count; i++)
        rally_msg_send (&msg, self->brokers[i]);
    rally_msg_publish (&msg, self->heartbeat, "hb");
    return 0;
}

static void s_publish_states (node_t *self)
{
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
        if (rally_msg_publish (&msg, self->state, topic))
            zsys_error ("gamenode: cannot publish match %u", view.id);
    }
}

static void s_tick (node_t *self)
{
    lobby_tick (self->lobby, zclock_mono ());
    self->seq++;
    s_drain_events (self);
    s_publish_states (self);
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
    while (ran < NODE_CATCH_UP
           && s_deadline (self, self->tick_next) <= zclock_usecs ()) {
        s_tick (self);
        self->tick_next++;
        ran++;
    }
    int64_t now = zclock_usecs ();
    int64_t late = now - s_deadline (self, self->tick_next);
    if (late >= 0) {
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

static int s_open_sockets (node_t *self)
{
    self->game = rally_msg_socket_new (ZMQ_ROUTER);
    self->state = rally_msg_socket_new (ZMQ_PUB);
    self->heartbeat = rally_msg_socket_new (ZMQ_PUB);
    if (!self->game || !self->state || !self->heartbeat)
        return -1;
    if (s_bind (self->game, self->me.game)
        || s_bind (self->state, self->me.state)
        || s_bind (self->heartbeat, self->me.heartbeat))
        return -1;
    const rally_cluster_t *cluster = &self->cfg.cluster;
    for (size_t i = 0; i < cluster->broker_count; i++) {
        zsock_t *dealer = rally_msg_socket_new (ZMQ_DEALER);
        if (!dealer)
            return -1;
        self->brokers[self->broker_count++] = dealer;
        zsock_set_sndhwm (dealer, NODE_DEALER_HWM);
        if (zsock_connect (dealer, "%s", cluster->brokers[i])) {
            zsys_error ("gamenode: cannot connect to broker %s",
                        cluster->brokers[i]);
            return -1;
        }
    }
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
    node_t *self = (node_t *) zmalloc (sizeof (node_t));
    assert (self);
    self->cfg = *cfg;
    self->me = *me;
    rally_warn_init (&self->warn, "gamenode", NODE_WARN_BURST);
    self->role = RALLY_ROLE_LEADER;     //  alone, so leader of term 1
    self->term = 1;
    lobby_config_t lc;
    lc.tick_hz = cfg->cluster.tick_hz;
    lc.points_to_win = cfg->cluster.points_to_win;
    lc.grace_ms = cfg->cluster.grace_ms;
    lc.max_players = cfg->cluster.max_players;
    self->lobby = lobby_new (&lc);
    if (!self->lobby)
        zsys_error ("gamenode: bad game settings (tick_hz %u, points %u, "
                    "max_players %u)", lc.tick_hz, lc.points_to_win,
                    lc.max_players);
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
    for (size_t i = 0; i < self->broker_count; i++)
        zsock_destroy (&self->brokers[i]);
    zsock_destroy (&self->heartbeat);
    zsock_destroy (&self->state);
    zsock_destroy (&self->game);
    lobby_destroy (&self->lobby);
    free (self);
    *self_p = NULL;
}

int node_run (node_t *self)
{
    assert (self);
    const rally_cluster_t *c = &self->cfg.cluster;
    zsys_info ("gamenode: node %u leads term %" PRIu64 "; game %s, state %s, "
               "heartbeat %s", self->cfg.id, self->term, self->me.game,
               self->me.state, self->me.heartbeat);
    zsys_info ("gamenode: %u Hz, first to %u, grace %u ms, up to %u players, "
               "%zu broker(s)", c->tick_hz, c->points_to_win, c->grace_ms,
               c->max_players, self->broker_count);
    zloop_reader (self->loop, self->game, s_handle_game, self);
    for (size_t i = 0; i < self->broker_count; i++)
        zloop_reader (self->loop, self->brokers[i], s_handle_broker, self);
    zloop_timer (self->loop, c->heartbeat_ms, 0, s_handle_heartbeat, self);
    self->tick_base_us = zclock_usecs ();
    self->tick_next = 0;
    zloop_timer (self->loop, 0, 1, s_handle_tick, self);
    s_handle_heartbeat (self->loop, 0, self);   //  say hello at once
    int rc = zloop_start (self->loop);
    zsys_info ("gamenode: node %u stopping at seq %" PRIu64, self->cfg.id,
               self->seq);
    return rc == 0 ? 0 : -1;
}
