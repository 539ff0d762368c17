/*  node - one Rally game node: a zloop reactor around the lobby.

    Everything happens on one thread, in handlers that never block: one per
    socket (requests, peers, the leader, brokers) and two timers (heartbeat,
    tick). The lobby decides the game; the node carries messages in and
    out and plays its part in replication.

    Files. This one holds the node's life (construction, sockets, the
    reactor), its roles and the brokers' leases, and the timers. Each
    other role has a file of its own, all sharing node_impl.h:
    node_players.c (the player plane, and dispatch by plane),
    node_follow.c (a follower's diffs and snapshots), node_lead.c (a
    leader's ticks, replication and what is shown), node_results.c
    (finished matches stored, retried and converged).

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
#include "node_impl.h"

static int s_handle_heartbeat (zloop_t *loop, int timer_id, void *arg);

//  True if a term heard from a peer or a broker is one this node can
//  believe (rally_term.h); else it is logged, and the caller drops what
//  carried it: one term believed raises every term after it.
bool node_term_believed (node_t *self, uint64_t term, const char *what)
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
bool node_leading (node_t *self, int64_t now)
{
    if (self->role != RALLY_ROLE_LEADER)
        return false;
    if (now < self->lead_until)
        return true;
    if (!self->suspended)
        s_suspend (self, now);
    int64_t hold = (int64_t) self->cfg.cluster.lease_ms * NODE_SILENCE_LEASES;
    if (now - self->lead_until >= hold)
        node_step_down (self, "its lease was not renewed while suspended");
    return false;
}

void node_step_down (node_t *self, const char *why)
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
    node_drop_pending (self);
}

//  The highest match id this node knows to be taken: stored, seen in the
//  replicated state or given out here, or on disk when it started. Not
//  what it has reserved since: a follower rounds what it saw up to a
//  block, and a leader that took that for used ids would skip a block at
//  every round.
uint32_t node_top (node_t *self)
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
    node_drop_held (self);
    memset (self->follower_heard, 0, sizeof (self->follower_heard));
    lobby_adopt (self->lobby, now);
    //  Ids it saw or reserved may be unfinished matches of earlier terms:
    //  its matches start above them all. No match opens until it knows
    //  its followers' ids too (node_check_ids).
    uint32_t top = node_top (self);
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


//  Makes sock a CURVE client of member kind<id> ("node2", "broker1").
int node_secure (node_t *self, zsock_t *sock, const char *kind,
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
            node_leading (self, now);  //  stops once the old grant ends
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
        if (node_term_believed (self, msg.u.lease.lease_term, "a lease"))
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
    bool leading = node_leading (self, now);
    if (!leading && !self->synced && self->leader)
        node_ask_snapshot (self, now);
    node_retry_stores (self, now);
    if (leading)
        node_check_ids (self, now);    //  a held-back leader runs no tick
    //  A round that got no answer (the leader went) starts again.
    if (!leading && self->synced && self->leader
        && now - self->round_at >= (self->round_lo ? 5 : 1) * NODE_CONVERGE_MS)
        node_begin_round (self, now);
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_NODE_HB);
    rally_msg_node_hb_t *hb = &msg.u.node_hb;
    node_origin (self, &hb->from);
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
    while (ran < NODE_CATCH_UP && node_leading (self, zclock_mono ())
           && s_deadline (self, self->tick_next) <= zclock_usecs ()) {
        if (node_held_back (self, zclock_mono ())) {
            //  Held back for want of an ack, it still answers the syncs:
            //  a follower that is loading a snapshot acks only once it has
            //  one, and without it the wait would never end.
            node_serve_syncs (self);
            held = true;
            break;
        }
        node_tick (self);
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
        if (node_secure (self, self->peers, "node", peer->id))
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
    if (node_secure (self, dealer, "broker", cluster->broker_index[i]))
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
        node_drop_pending (self);
    if (self->held)
        node_drop_held (self);
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
    zloop_reader (self->loop, self->game, node_handle_game, self);
    zloop_reader (self->loop, self->peer, node_handle_game, self);
    if (self->monitor)
        zloop_reader (self->loop, (zsock_t *) self->monitor, s_handle_monitor,
                      self);
    zloop_reader (self->loop, self->peers, node_handle_peers, self);
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
