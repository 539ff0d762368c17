/*  node_players - a game node's player plane: requests in, replies out.

    Players' requests (join, resume, input, requeue, leave, ping, watch,
    history, standings) arrive on the game ROUTER; the leader hands them to
    the lobby and turns what the lobby decided into replies, held until a
    follower has the tick that decided them. A node that does not lead
    sends players to the leader it knows. Operators' and followers'
    requests on the peer ROUTER are dispatched here too, by plane.
*/
#include "node_impl.h"

//  --------------------------------------------------------------------------
//  Sending

void node_origin (node_t *self, rally_origin_t *from)
{
    from->term = self->term;
    from->node = self->cfg.id;
}

//  Sends msg to the peer with this routing id; never blocks (a ROUTER drops
//  what it cannot deliver).
void node_send_to (node_t *self, const uint8_t *peer, size_t peer_size,
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
        node_send_to (self, peer, peer_size, msg);
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

void node_outgoing_free (outgoing_t **out_p)
{
    zmsg_destroy (&(*out_p)->msg);
    free (*out_p);
    *out_p = NULL;
}

void node_send_error (node_t *self, const uint8_t *peer, size_t peer_size,
                      const char *code, const char *reason)
{
    rally_origin_t from;
    node_origin (self, &from);
    rally_msg_t msg;
    rally_msg_error (&msg, &from, code, reason && *reason? reason: code);
    node_send_to (self, peer, peer_size, &msg);
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
    node_send_error (self, peer, peer_size, code, reason);
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
    node_origin (self, &msg.u.busy.from);
    snprintf (msg.u.busy.code, sizeof (msg.u.busy.code), "%s",
              lobby_result_code (result));
    snprintf (msg.u.busy.reason, sizeof (msg.u.busy.reason), "%s", reason);
    uint32_t spread = 0;
    if (getrandom (&spread, sizeof (spread), 0) != (ssize_t) sizeof (spread))
        spread = (uint32_t) zclock_mono ();
    msg.u.busy.retry_ms = base + spread % (base / 2);
    node_send_to (self, peer, peer_size, &msg);
}

//  --------------------------------------------------------------------------
//  Lobby events -> messages and log lines

static void s_send_queued (node_t *self, const lobby_event_t *ev)
{
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_QUEUED);
    node_origin (self, &msg.u.queued.from);
    msg.u.queued.position = ev->position;
    strcpy (msg.u.queued.name, ev->name);
    s_send_held (self, ev->peer, ev->peer_size, &msg);
}

static void s_send_match (node_t *self, const lobby_event_t *ev)
{
    const lobby_config_t *cfg = lobby_config (self->lobby);
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_MATCH);
    node_origin (self, &msg.u.match.from);
    msg.u.match.match = ev->match;
    msg.u.match.side = (uint32_t) ev->side;
    msg.u.match.points = cfg->points_to_win;
    msg.u.match.tick_hz = cfg->tick_hz;
    memcpy (msg.u.match.names, ev->names, sizeof (ev->names));
    s_send_held (self, ev->peer, ev->peer_size, &msg);
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
            node_store_over (self, ev);
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

void node_drain_events (node_t *self)
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
        node_send_error (self, peer, peer_size, "unavailable",
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
    node_origin (self, &msg.u.joined.from);
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
        node_send_error (self, peer, peer_size, "unknown_token",
                         lobby_result_reason (LOBBY_UNKNOWN_TOKEN));
        return;
    }
    //  joined goes first; the lobby's queued or match event follows it.
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_JOINED);
    node_origin (self, &msg.u.joined.from);
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
    node_origin (self, &msg.u.pong.from);
    msg.u.pong.nonce = ping->nonce;
    node_send_to (self, peer, peer_size, &msg);
}

static void s_status (node_t *self, const uint8_t *peer, size_t peer_size)
{
    //  Big enough to keep off the stack.
    rally_msg_t *msg = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    assert (msg);
    rally_msg_init (msg, RALLY_MSG_MATCHES);
    rally_msg_matches_t *m = &msg->u.matches;
    node_origin (self, &m->from);
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
    node_send_to (self, peer, peer_size, msg);
    free (msg);
}

//  --------------------------------------------------------------------------
//  Requests, by plane

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
        node_origin (self, &msg.u.leader.from);
        char name[32];
        snprintf (name, sizeof (name), "node%u", self->leader);
        const char *key = rally_keys_of (self->cfg.keys, name);
        snprintf (msg.u.leader.key, sizeof (msg.u.leader.key), "%s",
                  key && !rally_keys_plaintext (self->cfg.keys) ? key : "");
        node_send_to (self, peer, peer_size, &msg);
    }
    else
        node_send_error (self, peer, peer_size, "not_leader",
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
    bool leading = node_leading (self, now);
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
            node_on_sync (self, peer, peer_size, &req->u.sync);
        break;
    case RALLY_MSG_ACK:
        if (leading)
            node_on_ack (self, &req->u.ack, now);
        break;
    case RALLY_MSG_FETCH:
        if (leading)
            node_send_results (self, peer, peer_size, req->u.fetch.after);
        break;
    case RALLY_MSG_HAVE:
        if (leading)
            node_on_have (self, peer, peer_size, &req->u.have, now);
        break;
    case RALLY_MSG_RESULTS:
        //  A follower's answer to this node's have: what it lacked.
        if (leading && node_from_follower (self, &req->u.results.from, peer,
                                           peer_size))
            node_on_results (self, &req->u.results);
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
        node_send_history (self, peer, peer_size, &req->u.history);
        break;
    case RALLY_MSG_STANDINGS:
        node_send_board (self, peer, peer_size, &req->u.standings);
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
int node_handle_game (zloop_t *loop, zsock_t *reader, void *arg)
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
    if (!peer_plane && node_leading (self, zclock_mono ()))
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
    node_drain_events (self);
    self->source = NULL;
    free (req);
    zframe_destroy (&id);
    zmsg_destroy (&in);
    return 0;
}
