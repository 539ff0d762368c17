/*  node_follow - a follower's part: diffs and snapshots from the leader.

    A follower applies a diff only if it is the next seq of the term it
    follows and hashes right; otherwise it asks the leader for a snapshot
    (sync), holds the diffs that arrive meanwhile, and replays them after
    the snapshot (the Clone pattern). It acks every seq it reaches, once
    the match ids it has seen are on disk.
*/
#include "node_impl.h"

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
    if (node_secure (self, self->upstream, "node", leader)
        || zsock_connect (self->upstream, "%s", endpoint)) {
        zsys_error ("gamenode: cannot connect to node %u at %s", leader,
                    endpoint);
        zsock_destroy (&self->upstream);
        return;
    }
    self->upstream_node = leader;
    zloop_reader (self->loop, self->upstream, node_handle_upstream, self);
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
        node_step_down (self, "a leader of a higher term is heard");
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

//  Sends sync or ack, which share one layout (rally_msg_ack_t is
//  rally_msg_sync_t), so either union member serves.
static void s_send_upstream (node_t *self, rally_msg_type_t type)
{
    if (!self->upstream)
        return;
    rally_msg_t msg;
    rally_msg_init (&msg, type);
    node_origin (self, &msg.u.ack.from);
    msg.u.ack.seq = self->seq;
    rally_msg_send (&msg, self->upstream);
}


void node_ask_snapshot (node_t *self, int64_t now)
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

void node_drop_held (node_t *self)
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
    node_drain_events (self);
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
    node_ask_snapshot (self, now);
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
    node_drop_held (self);
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
    node_drain_events (self);
    self->loading = false;
    s_note_ids (self);
    zsys_info ("gamenode: node %u synced to node %u by snapshot at seq %"
               PRIu64 ", hash %016" PRIx64 " (%zu players, %zu matches)",
               self->cfg.id, snap->from.node, snap->seq, snap->hash,
               snap->player_count, snap->match_count);
    s_replay_held (self);
    s_send_upstream (self, RALLY_MSG_ACK);
    node_begin_round (self, zclock_mono ());
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
        node_on_results (self, &msg->u.results);
    else if (msg->type == RALLY_MSG_HAVE)
        node_on_leader_have (self, &msg->u.have);
    else if (msg->type == RALLY_MSG_ERROR)
        rally_warn (&self->warn, zclock_mono (), "the leader says %s: %s",
                    msg->u.error.code, msg->u.error.reason);
    free (msg);
}

//  Snapshots from the leader, results, or its refusals.
int node_handle_upstream (zloop_t *loop, zsock_t *reader, void *arg)
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
            && node_term_believed (self, self->repl->from.term, "a snapshot"))
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
        || !node_term_believed (self, hb->from.term, "a heartbeat"))
        return;
    lease_see_term (self->lease, hb->from.term);
    //  A node that has followed or led a higher term (one restarted with
    //  it on disk) ends this one, as in Raft: the next grant is above both.
    if (hb->from.term > self->term && self->role == RALLY_ROLE_LEADER)
        node_step_down (self, "a node of a higher term is heard");
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
int node_handle_peers (zloop_t *loop, zsock_t *reader, void *arg)
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
                 && node_term_believed (self, self->repl->from.term, "a diff"))
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