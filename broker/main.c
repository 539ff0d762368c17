/*  rally-broker - the directory of a Rally cluster.

    Game nodes heartbeat to it; clients ask it where the leader is; rallyctl
    asks it for the whole table. One ROUTER, one zloop, two timers: a short
    one that hands out a lapsed lease the moment it lapses, and a slower one
    that notices quiet nodes. A socket monitor on the ROUTER reports closed
    connections; each heartbeat's connection (its file descriptor) names
    the node, so a node whose kernel closed its connections (it died) is
    told from one that is only silent (broker.h: crash and silence). The table itself (broker.c) is pure; this file
    only carries messages in and out, turns the table's events into log
    lines, and logs bad input without letting it flood the log.

    A `where` that comes while no node leads is held (up to BROKER_PARK_MS)
    and answered as soon as one does: during a failover the players learn
    the new leader the moment it is granted, without polling.

    Settings come from the defaults, then the cluster file (--config), then
    the environment (RALLY_*), then the flags. Runs until SIGINT or SIGTERM,
    then exits 0.
*/
#include "broker.h"
#include "rally_args.h"
#include "rally_cluster.h"
#include "rally_keys.h"
#include "rally_limits.h"
#include "rally_warn.h"

#include <errno.h>

#include <inttypes.h>
#include <string.h>

#define PROGRAM             "rally-broker"
#define BROKER_EXPIRE_MS    100     //  how often quiet nodes are looked for
#define BROKER_WARN_BURST   10      //  bad-input log lines per second
#define BROKER_GRANT_MS     5       //  how often a lapsed lease is looked for
#define BROKER_PARK_MS      1000    //  a where is held this long at most
#define BROKER_PARK_MAX     1024    //  wheres held at once

//  What the command line said. NULL means the flag was not given.
typedef struct {
    const char *broker;         //  --broker ENDPOINT
    const char *config;         //  --config FILE
    const char *key;            //  --key FILE
    bool plaintext;             //  --insecure-plaintext
    bool verbose;               //  -v, --verbose
    bool help;                  //  -h, --help
} flags_t;

typedef struct {
    zloop_t *loop;              //  the reactor
    zsock_t *router;            //  ROUTER, peer plane: heartbeats, status
    zsock_t *players;           //  ROUTER, player plane: where, ping
    zsock_t *answer;            //  the ROUTER of the request at hand
    rally_keys_t *keys;         //  own and members' keys
    broker_t *table;            //  the nodes, and who leads
    zframe_t *routes[RALLY_NODE_ID_MAX + 1];    //  each node's routing id
    int fds[RALLY_NODE_ID_MAX + 1];     //  each node's connection, or -1
    zsock_t *monitor;                   //  PAIR: the ROUTER's closed connections
    zlistx_t *parked;           //  parked_t: wheres waiting for a leader
    bool verbose;               //  log every message at debug level
    rally_warn_t warn;          //  bad input, rate-limited
} server_t;

//  A where held until a node leads.
typedef struct {
    zframe_t *peer;             //  who asked
    int64_t since;              //  when
} parked_t;

//  --------------------------------------------------------------------------
//  Flags

static void s_usage (FILE *out)
{
    fprintf (out,
        "usage: rally-broker [flags]\n"
        "\n"
        "Runs a Rally broker: the directory game nodes heartbeat to and\n"
        "clients ask where the leader is. Settings come from the defaults,\n"
        "then the cluster file, then the environment (RALLY_*), then these\n"
        "flags.\n"
        "\n"
        "  --broker ENDPOINT   which broker of the cluster file this is, by\n"
        "                      its player or peer endpoint (default: the\n"
        "                      first); it binds both (addresses or *, not\n"
        "                      host names)\n"
        "  --key FILE          this broker's certificate (default $RALLY_KEY,\n"
        "                      else KEYS/../broker<N>/rally.cert; rallyctl\n"
        "                      keys makes them)\n"
        "  --insecure-plaintext  no CURVE: anyone who reaches a port can\n"
        "                      read and forge everything; every log line\n"
        "                      says so\n"
        "  --config FILE       cluster file (ZPL; see config/README.md;\n"
        "                      default $RALLY_CONFIG)\n"
        "  -v, --verbose       log every message at debug level\n"
        "  -h, --help          print this and exit\n"
        "\n"
        "Exit status: 0 stopped by SIGINT or SIGTERM, 1 could not start (the\n"
        "port taken, say), 2 a bad command line, file or environment.\n");
}

static int s_parse (flags_t *f, int argc, char **argv)
{
    const rally_arg_t table[] = {
        RALLY_ARGS_STRING ("--broker", &f->broker),
        RALLY_ARGS_STRING ("--config", &f->config),
        RALLY_ARGS_STRING ("--key", &f->key),
        RALLY_ARGS_SWITCH ("--insecure-plaintext", NULL, &f->plaintext),
        RALLY_ARGS_SWITCH ("--verbose", "-v", &f->verbose),
        RALLY_ARGS_SWITCH ("--help", "-h", &f->help),
    };
    return rally_args_parse (PROGRAM, table, sizeof (table) / sizeof (table[0]),
                             argc, argv, NULL, 0);
}

//  Defaults, then the file, then the environment, then --broker.
static int s_configure (rally_cluster_t *c, const flags_t *f)
{
    char reason[RALLY_REASON_BUF];
    if (rally_cluster_configure (c, f->config, &f->broker, f->broker? 1: 0,
                                 reason, sizeof (reason))
        || rally_cluster_check_bind (c->brokers[0], reason, sizeof (reason)))
        return rally_args_fail (PROGRAM, "%s", reason);
    if (!c->broker_index[0] || !*c->broker_peers[0])
        return rally_args_fail (PROGRAM, "the broker at %s is not one of the "
                                "cluster file with a peer endpoint "
                                "(broker/peer)", c->brokers[0]);
    return 0;
}

//  --------------------------------------------------------------------------
//  Logging

//  The table's events, as log lines.
static void s_log_events (server_t *self)
{
    broker_event_t e;
    while (broker_next_event (self->table, &e)) {
        switch (e.type) {
        case BROKER_EVENT_NEW:
            zsys_info ("rally-broker: node %" PRIu32 " heard (term %" PRIu64
                       ", game %s)", e.node, e.term, e.game);
            break;
        case BROKER_EVENT_BACK:
            zsys_info ("rally-broker: node %" PRIu32 " heard again", e.node);
            break;
        case BROKER_EVENT_QUIET:
            zsys_info ("rally-broker: node %" PRIu32 " quiet (unheard for %"
                       PRIu32 " ms)", e.node, e.age_ms);
            break;
        case BROKER_EVENT_FORGOTTEN:
            zsys_info ("rally-broker: node %" PRIu32 " forgotten", e.node);
            break;
        case BROKER_EVENT_LEADER:
            if (e.node)
                zsys_info ("rally-broker: leader is node %" PRIu32 " (term %"
                           PRIu64 "), was %" PRIu32, e.node, e.term, e.previous);
            else
                zsys_info ("rally-broker: no leader (was node %" PRIu32 ")",
                           e.previous);
            break;
        case BROKER_EVENT_REFUSED:
            rally_warn (&self->warn, zclock_mono (), "node %" PRIu32
                        " refused: the table holds %d nodes", e.node,
                        BROKER_NODES_MAX);
            break;
        //  With the monotonic time of the event itself, not of the log
        //  line (written after the grant is sent), so that a test can set
        //  every lease against every node's leadership on one clock.
        case BROKER_EVENT_GRANTED:
            zsys_info ("rally-broker: lease term %" PRIu64 " granted to node %"
                       PRIu32 " at mono %" PRId64, e.term, e.node, e.at_ms);
            break;
        case BROKER_EVENT_LAPSED:
            if (e.held_ms)
                zsys_info ("rally-broker: lease term %" PRIu64 " of node %"
                           PRIu32 " lapsed at mono %" PRId64 "; held for it "
                           "until %" PRIu32 " ms after it was last heard (silent, "
                           "its connection open)", e.term, e.node, e.at_ms,
                           e.held_ms);
            else
                zsys_info ("rally-broker: lease term %" PRIu64 " of node %"
                           PRIu32 " lapsed at mono %" PRId64, e.term, e.node,
                           e.at_ms);
            break;
        case BROKER_EVENT_BAD_TERM:
            rally_warn (&self->warn, zclock_mono (), "heartbeat of node %"
                        PRIu32 " refused: term %" PRIu64 ", want %" PRIu64
                        " beyond what this broker can grant next (it knows "
                        "term %" PRIu64 ")", e.node, e.term, e.want, e.known);
            break;
        }
    }
}

//  --------------------------------------------------------------------------
//  Requests

static void s_reply_on (server_t *self, zsock_t *sock, zframe_t *peer,
                        const rally_msg_t *msg)
{
    if (rally_msg_send_to (msg, sock, peer))
        zsys_error ("rally-broker: cannot send %s",
                    rally_msg_type_name (msg->type));
}

//  Answers on the ROUTER the request came on.
static void s_reply (server_t *self, zframe_t *peer, const rally_msg_t *msg)
{
    if (rally_msg_send_to (msg, self->answer ? self->answer : self->router,
                           peer))
        zsys_error ("rally-broker: cannot send %s",
                    rally_msg_type_name (msg->type));
}

static void s_send_error (server_t *self, zframe_t *peer, const char *code,
                          const char *reason)
{
    rally_msg_t msg;
    rally_msg_error (&msg, NULL, code, reason);
    s_reply (self, peer, &msg);
}

static void s_bad (server_t *self, zframe_t *peer, const char *reason)
{
    char hex[RALLY_WARN_PEER_BUF];
    rally_warn_peer (zframe_data (peer), zframe_size (peer), hex);
    rally_warn (&self->warn, zclock_mono (), "bad message from %s: %s", hex,
                reason);
    s_send_error (self, peer, "bad_message", reason);
}

//  Answers a where with the leader; false if there is none to name.
static bool s_answer_where (server_t *self, zframe_t *peer)
{
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_LEADER);
    if (!broker_leader (self->table, zclock_mono (), &msg.u.leader))
        return false;
    //  The key players will check the leader by: the broker's own copy,
    //  never one a heartbeat carried.
    char name[32];
    snprintf (name, sizeof (name), "node%u", msg.u.leader.from.node);
    const char *key = rally_keys_of (self->keys, name);
    snprintf (msg.u.leader.key, sizeof (msg.u.leader.key), "%s",
              key && !rally_keys_plaintext (self->keys) ? key : "");
    s_reply_on (self, self->players, peer, &msg);
    return true;
}

static void s_no_leader (server_t *self, zframe_t *peer)
{
    rally_msg_t msg;
    rally_msg_error (&msg, NULL, "no_leader", "no game node is leading");
    s_reply_on (self, self->players, peer, &msg);
}

static void s_where (server_t *self, zframe_t *peer)
{
    if (s_answer_where (self, peer))
        return;
    if (zlistx_size (self->parked) >= BROKER_PARK_MAX) {
        s_no_leader (self, peer);
        return;
    }
    parked_t *held = (parked_t *) zmalloc (sizeof (parked_t));
    assert (held);
    held->peer = zframe_dup (peer);
    held->since = zclock_mono ();
    zlistx_add_end (self->parked, held);
}

static void s_parked_free (void **item)
{
    parked_t *held = (parked_t *) *item;
    if (held) {
        zframe_destroy (&held->peer);
        free (held);
        *item = NULL;
    }
}

//  Answers the held wheres that can be answered, or have waited enough.
static void s_unpark (server_t *self, int64_t now)
{
    parked_t *held = (parked_t *) zlistx_first (self->parked);
    while (held) {
        void *handle = zlistx_cursor (self->parked);
        bool done = s_answer_where (self, held->peer);
        if (!done && now - held->since >= BROKER_PARK_MS) {
            s_no_leader (self, held->peer);
            done = true;
        }
        held = (parked_t *) zlistx_next (self->parked);
        if (done)
            zlistx_delete (self->parked, handle);
    }
}

//  Hands a lapsed lease to the best candidate, answering its last
//  heartbeat, and tells the held wheres.
static void s_grant (server_t *self)
{
    int64_t now = zclock_mono ();
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_LEASE);
    uint32_t node = broker_grant_due (self->table, now, &msg.u.lease);
    if (node && self->routes[node])
        s_reply_on (self, self->router, self->routes[node], &msg);
    s_log_events (self);
    if (zlistx_size (self->parked))
        s_unpark (self, now);
}

//  A heartbeat: recorded, answered with the lease as this broker sees it,
//  and its sender's route kept for a grant that comes between heartbeats.
static void s_heartbeat (server_t *self, zframe_t *peer, int fd,
                         const rally_msg_node_hb_t *hb)
{
    int64_t now = zclock_mono ();
    broker_heard_t heard = broker_heard (self->table, hb, now);
    if (heard == BROKER_HEARD_BAD_TERM)
        s_send_error (self, peer, "bad_term", "term out of bounds; refused");
    if (heard == BROKER_HEARD_REFUSED || heard == BROKER_HEARD_BAD_TERM)
        return;
    self->fds[hb->from.node] = fd;
    zframe_t **route = &self->routes[hb->from.node];
    if (!*route || !zframe_eq (*route, peer)) {
        zframe_destroy (route);
        *route = zframe_dup (peer);
    }
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_LEASE);
    broker_reply (self->table, hb, now, &msg.u.lease);
    s_reply (self, peer, &msg);
    s_grant (self);
}

static void s_status (server_t *self, zframe_t *peer)
{
    rally_msg_t *msg = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    assert (msg);
    rally_msg_init (msg, RALLY_MSG_CLUSTER);
    broker_cluster (self->table, zclock_mono (), &msg->u.cluster);
    s_reply (self, peer, msg);
    free (msg);
}

static void s_ping (server_t *self, zframe_t *peer, const rally_msg_ping_t *ping)
{
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_PONG);
    msg.u.pong.nonce = ping->nonce;
    s_reply (self, peer, &msg);
}

//  The peer plane takes heartbeats and status, the player plane where;
//  both take ping.
static bool s_plane_takes (server_t *self, rally_msg_type_t type)
{
    if (type == RALLY_MSG_PING)
        return true;
    if (self->answer == self->router)
        return type == RALLY_MSG_NODE_HB || type == RALLY_MSG_STATUS;
    return type == RALLY_MSG_WHERE;
}

static void s_dispatch (server_t *self, zframe_t *peer, int fd,
                        const rally_msg_t *req)
{
    if (!s_plane_takes (self, req->type)) {
        char reason[RALLY_REASON_BUF];
        snprintf (reason, sizeof (reason), "'%s' is not taken on the %s "
                  "endpoint", rally_msg_type_name (req->type),
                  self->answer == self->router ? "peer" : "player");
        s_bad (self, peer, reason);
        return;
    }
    switch (req->type) {
    case RALLY_MSG_NODE_HB:
        s_heartbeat (self, peer, fd, &req->u.node_hb);
        break;
    case RALLY_MSG_WHERE:
        s_where (self, peer);
        break;
    case RALLY_MSG_STATUS:
        s_status (self, peer);
        break;
    case RALLY_MSG_PING:
        s_ping (self, peer, &req->u.ping);
        break;
    default: {
        char reason[RALLY_REASON_BUF];
        snprintf (reason, sizeof (reason), "unexpected '%s' at the broker",
                  rally_msg_type_name (req->type));
        s_bad (self, peer, reason);
    }
    }
}

//  A whole message, and the connection it came on: its file descriptor
//  (ZMQ_SRCFD, which libzmq sets on the frames that came off the wire, not
//  on the routing id), which the monitor names when it closes.
static zmsg_t *s_recv (zsock_t *reader, int *fd)
{
    zmsg_t *msg = zmsg_new ();
    bool more = true;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init (&part);
        if (zmq_msg_recv (&part, zsock_resolve (reader), ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&part);
            zmsg_destroy (&msg);
            return NULL;
        }
        int from = zmq_msg_get (&part, ZMQ_SRCFD);
        if (from >= 0)
            *fd = from;
        more = zmq_msg_more (&part);
        zmsg_addmem (msg, zmq_msg_data (&part), zmq_msg_size (&part));
        zmq_msg_close (&part);
    }
    return msg;
}

//  One message: [routing id][body]. A routing id alone cannot arrive on a
//  ROUTER, so every message has a peer to answer.
static int s_handle_request (zloop_t *loop, zsock_t *reader, void *arg)
{
    server_t *self = (server_t *) arg;
    int fd = -1;
    zmsg_t *in = s_recv (reader, &fd);
    if (!in)
        return 0;               //  interrupted; the loop will see it
    self->answer = reader;
    zframe_t *peer = zmsg_pop (in);
    if (!peer) {
        zmsg_destroy (&in);
        return 0;
    }
    //  A rally_msg_t is kilobytes (it can hold a cluster or matches
    //  reply), so it lives on the heap, as in the node.
    rally_msg_t *req = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    assert (req);
    char reason[RALLY_REASON_BUF];
    zframe_t *body = zmsg_first (in);
    if (zmsg_size (in) != 1)
        s_bad (self, peer, "expected one body frame");
    else if (rally_msg_decode (req, zframe_data (body), zframe_size (body),
                               reason, sizeof (reason)))
        s_bad (self, peer, reason);
    else {
        if (self->verbose) {
            char hex[RALLY_WARN_PEER_BUF];
            rally_warn_peer (zframe_data (peer), zframe_size (peer), hex);
            zsys_debug ("rally-broker: %s from %s (%zu bytes)",
                        rally_msg_type_name (req->type), hex,
                        zframe_size (body));
        }
        s_dispatch (self, peer, fd, req);
        s_log_events (self);
    }
    self->answer = NULL;
    free (req);
    zframe_destroy (&peer);
    zmsg_destroy (&in);
    return 0;
}

//  A connection closed: the node that heartbeats on it, if any, died or
//  lost its link, rather than fell silent. libzmq's monitor message:
//  [16-bit event, 32-bit value (the fd)][endpoint].
static int s_handle_monitor (zloop_t *loop, zsock_t *reader, void *arg)
{
    server_t *self = (server_t *) arg;
    zmsg_t *msg = zmsg_recv (reader);
    zframe_t *head = msg ? zmsg_first (msg) : NULL;
    if (head && zframe_size (head) == 6) {
        uint16_t event;
        uint32_t value;
        memcpy (&event, zframe_data (head), 2);
        memcpy (&value, zframe_data (head) + 2, 4);
        //  A connection it could not accept (descriptors ran out, say):
        //  ZeroMQ drops it without a word.
        if (event == ZMQ_EVENT_ACCEPT_FAILED)
            rally_warn (&self->warn, zclock_mono (), "a connection was "
                        "refused: %s", strerror ((int) value));
        int fd = event == ZMQ_EVENT_DISCONNECTED ? (int) value : -1;
        for (uint32_t id = 1; id <= RALLY_NODE_ID_MAX; id++) {
            if (self->fds[id] != fd)
                continue;
            self->fds[id] = -1;
            broker_closed (self->table, id, zclock_mono ());
            zsys_info ("rally-broker: node %" PRIu32 "'s connection closed",
                       id);
        }
    }
    zmsg_destroy (&msg);
    return 0;
}

static int s_handle_grant (zloop_t *loop, int timer_id, void *arg)
{
    s_grant ((server_t *) arg);
    return 0;
}

static int s_handle_timer (zloop_t *loop, int timer_id, void *arg)
{
    server_t *self = (server_t *) arg;
    int64_t now = zclock_mono ();
    broker_expire (self->table, now);
    s_log_events (self);
    rally_warn_flush (&self->warn, now);
    return 0;
}

//  --------------------------------------------------------------------------
//  Main: only wiring

static int s_run (const rally_cluster_t *cluster, bool verbose,
                  rally_keys_t *keys)
{
    server_t self = { 0 };
    self.verbose = verbose;
    self.keys = keys;
    rally_warn_init (&self.warn, PROGRAM, BROKER_WARN_BURST);
    char endpoint[RALLY_ENDPOINT_BUF], peer_ep[RALLY_ENDPOINT_BUF];
    snprintf (endpoint, sizeof (endpoint), "%s", cluster->brokers[0]);
    snprintf (peer_ep, sizeof (peer_ep), "%s", cluster->broker_peers[0]);

    int rc = 1;
    self.router = rally_msg_socket_new (ZMQ_ROUTER);
    self.players = rally_msg_socket_new (ZMQ_ROUTER);
    self.table = broker_new (cluster->liveness_ms, cluster->lease_ms,
                             zclock_mono ());
    self.parked = zlistx_new ();
    self.loop = zloop_new ();
    for (size_t i = 0; i <= RALLY_NODE_ID_MAX; i++)
        self.fds[i] = -1;
    //  An inproc name of its own, should two brokers share a process.
    char monitor[64];
    snprintf (monitor, sizeof (monitor), "inproc://rally-broker-monitor-%p",
              (void *) &self);
    if (self.router
        && zmq_socket_monitor (zsock_resolve (self.router), monitor,
                               ZMQ_EVENT_DISCONNECTED
                               | ZMQ_EVENT_ACCEPT_FAILED) == 0)
        self.monitor = zsock_new_pair (monitor);
    if (self.monitor)
        zsock_set_rcvtimeo (self.monitor, 0);
    if (self.parked)
        zlistx_set_destructor (self.parked, s_parked_free);
    if (!self.router || !self.players || !self.table || !self.loop
        || !self.parked || !self.monitor)
        zsys_error ("rally-broker: out of memory");
    else if (rally_keys_serve (keys, self.router, RALLY_ZAP_PEER)
             || rally_keys_serve (keys, self.players, RALLY_ZAP_PLAYER))
        zsys_error ("rally-broker: cannot start the key checks");
    else if (rally_cluster_bind (self.router, peer_ep))
        zsys_error ("rally-broker: cannot bind %s: %s", peer_ep,
                    zmq_strerror (zmq_errno ()));
    else if (rally_cluster_bind (self.players, endpoint))
        zsys_error ("rally-broker: cannot bind %s: %s", endpoint,
                    zmq_strerror (zmq_errno ()));
    else {
        //  The player endpoint last: the harness waits for this line.
        zsys_info ("rally-broker: peers on %s", peer_ep);
        zsys_info ("rally-broker: listening on %s", endpoint);
        zloop_set_nonstop (self.loop, false);
        zloop_reader (self.loop, self.router, s_handle_request, &self);
        zloop_reader (self.loop, self.players, s_handle_request, &self);
        zloop_reader (self.loop, self.monitor, s_handle_monitor, &self);
        zloop_timer (self.loop, BROKER_EXPIRE_MS, 0, s_handle_timer, &self);
        zloop_timer (self.loop, BROKER_GRANT_MS, 0, s_handle_grant, &self);
        zloop_start (self.loop);
        zsys_info ("rally-broker: stopping");
        rc = 0;
    }
    zloop_destroy (&self.loop);
    zsock_destroy (&self.monitor);
    if (self.router)
        zmq_socket_monitor (zsock_resolve (self.router), NULL, 0);
    zlistx_destroy (&self.parked);
    for (size_t i = 0; i <= RALLY_NODE_ID_MAX; i++)
        zframe_destroy (&self.routes[i]);
    broker_destroy (&self.table);
    zsock_destroy (&self.router);
    zsock_destroy (&self.players);
    return rc;
}

int main (int argc, char **argv)
{
    flags_t flags = { 0 };
    int rc = s_parse (&flags, argc, argv);
    if (rc)
        return rc;
    if (flags.help) {
        s_usage (stdout);
        return 0;
    }
    rally_cluster_t cluster;
    rc = s_configure (&cluster, &flags);
    if (rc)
        return rc;
    char name[32], reason[RALLY_REASON_BUF * 2];
    snprintf (name, sizeof (name), "broker%u", cluster.broker_index[0]);
    rally_keys_t *keys = rally_keys_open_member (&cluster, PROGRAM, name,
                                                 flags.key, NULL,
                                                 flags.plaintext, reason,
                                                 sizeof (reason));
    if (!keys)
        return rally_args_fail (PROGRAM, "%s", reason);
    //  A descriptor a connection: the soft limit would cap them early.
    uint64_t limit = 0;
    if (rally_limits_raise_nofile (&limit))
        zsys_warning ("rally-broker: cannot raise the descriptor limit: %s; "
                      "it stays %" PRIu64, strerror (errno), limit);
    else
        zsys_info ("rally-broker: descriptor limit %" PRIu64, limit);
    rc = s_run (&cluster, flags.verbose, keys);
    rally_keys_destroy (&keys);
    return rc;
}
