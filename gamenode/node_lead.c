/*  node_lead - a leader's part: ticks, replication, and what is shown.

    Each tick the leader steps the lobby, publishes the diff on its
    heartbeat PUB and a snapshot to each follower that asked, and holds the
    tick's states and replies until a follower has acked the tick: no
    player sees what a failover could take back.
*/
#include "node_impl.h"

static void s_commit (node_t *self, uint64_t seq);

void node_drop_pending (node_t *self)
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
        node_outgoing_free (&out);
    zframe_t *route;
    while ((route = (zframe_t *) zlist_pop (self->syncs)))
        zframe_destroy (&route);
}

void node_on_ack (node_t *self, const rally_msg_ack_t *ack, int64_t now)
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

void node_on_sync (node_t *self, const uint8_t *peer, size_t peer_size,
                   const rally_msg_sync_t *sync)
{
    if (sync->from.term > self->term)
        return;
    self->follower_heard[sync->from.node] = zclock_mono ();
    zlist_append (self->syncs, zframe_new (peer, peer_size));
    zsys_info ("gamenode: node %u asks for a snapshot (at seq %" PRIu64 ")",
               sync->from.node, sync->seq);
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
    node_origin (self, &st->from);
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
bool node_held_back (node_t *self, int64_t now)
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

void node_check_ids (node_t *self, int64_t now)
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
        node_outgoing_free (&out);
    }
}

//  This tick's diff to the followers, and a snapshot to each that asked.
static void s_replicate (node_t *self)
{
    lobby_diff (self->lobby, self->repl);
    node_origin (self, &self->repl->from);
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
    node_serve_syncs (self);
}

void node_serve_syncs (node_t *self)
{
    if (zlist_size (self->syncs) == 0)
        return;
    lobby_snapshot (self->lobby, self->repl);
    node_origin (self, &self->repl->from);
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
    node_origin (self, &msg.u.crowd.from);
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

void node_tick (node_t *self)
{
    int64_t now = zclock_mono ();
    self->seq++;
    self->tag_seq = self->seq;
    node_check_ids (self, now);
    lobby_tick (self->lobby, now);
    node_drain_events (self);
    s_replicate (self);
    s_stage_states (self, now);
    s_publish_crowd (self, now);
    if (s_commit_alone (self, now))
        s_commit (self, self->seq);
}