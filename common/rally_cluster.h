/*  rally_cluster - the cluster file, with flag and environment overrides.

    One ZPL file (read with CZMQ's zconfig) describes a cluster: its brokers,
    its nodes and their endpoints, and the timings. Every program reads it
    with --config FILE; without one, the defaults describe one broker and
    one node on loopback. The format is in config/README.md:

        rally
            keys = "keys"
            broker = "tcp://127.0.0.1:5600"
                peer = "tcp://127.0.0.1:5609"
            timing
                heartbeat_ms = 50
            game
                tick_hz = 60
            node
                id = 1
                heartbeat = "tcp://127.0.0.1:5601"
                game = "tcp://127.0.0.1:5602"
                state = "tcp://127.0.0.1:5603"
                peer = "tcp://127.0.0.1:5604"

    A broker's value is its player endpoint (where); its peer endpoint
    (heartbeats, leases, operators) is a child. A node's game and state are
    player endpoints; heartbeat and peer are members' only. keys names the
    directory of the members' public certificates (rally_keys.h).

    Endpoints are what peers connect to. A program binds the same endpoint,
    which must then be a numeric address or "*": a host name is refused.

    A file is read only if it is a regular file (a FIFO would hang the
    start) of at most RALLY_CLUSTER_FILE_MAX bytes and
    RALLY_CLUSTER_ITEMS_MAX items, so reading stays linear in its size;
    the timings must work together (rally_cluster_check).
*/
#ifndef RALLY_CLUSTER_H_INCLUDED
#define RALLY_CLUSTER_H_INCLUDED

#include "rally_msg.h"

#define RALLY_CLUSTER_BROKERS_MAX 5
#define RALLY_CLUSTER_NODES_MAX   RALLY_STATUS_NODES_MAX
#define RALLY_CLUSTER_PATH_BUF    256
#define RALLY_CLUSTER_FILE_MAX    65536   //  bytes in a cluster file
#define RALLY_CLUSTER_ITEMS_MAX   1024    //  lines with an item in one

//  The settings' ranges, the same from the file, the environment or a flag.
#define RALLY_HEARTBEAT_MS_MIN    10
#define RALLY_HEARTBEAT_MS_MAX    10000
#define RALLY_LIVENESS_MS_MIN     50
#define RALLY_LIVENESS_MS_MAX     60000
#define RALLY_LEASE_MS_MIN        50
#define RALLY_LEASE_MS_MAX        60000
#define RALLY_GRACE_MS_MAX        600000
#define RALLY_TICK_HZ_MIN         10
#define RALLY_TICK_HZ_MAX         240
#define RALLY_MAX_PLAYERS_MIN     2
#define RALLY_MAX_PLAYERS_MAX     100000

typedef struct {
    uint32_t id;                            //  1..255
    char heartbeat[RALLY_ENDPOINT_BUF];     //  PUB: heartbeats, diffs
    char game[RALLY_ENDPOINT_BUF];          //  ROUTER: requests
    char state[RALLY_ENDPOINT_BUF];         //  PUB: match states
    char peer[RALLY_ENDPOINT_BUF];          //  ROUTER: sync, ack, fetch,
                                            //  status; "" if not given
} rally_node_conf_t;

typedef struct {
    size_t broker_count;
    char brokers[RALLY_CLUSTER_BROKERS_MAX][RALLY_ENDPOINT_BUF];
                                //  player endpoints (where)
    char broker_peers[RALLY_CLUSTER_BROKERS_MAX][RALLY_ENDPOINT_BUF];
                                //  peer endpoints (node_hb, status); ""
                                //  where the file gives none
    uint32_t broker_index[RALLY_CLUSTER_BROKERS_MAX];
                                //  1-based place in the file (its key is
                                //  broker<index>.cert), 0 if not listed
    char keys[RALLY_CLUSTER_PATH_BUF];  //  public certificates' directory
    size_t node_count;
    rally_node_conf_t nodes[RALLY_CLUSTER_NODES_MAX];
    uint32_t heartbeat_ms;      //  node heartbeat period (50)
    uint32_t liveness_ms;       //  a node unheard this long is gone (500)
    uint32_t lease_ms;          //  broker lease duration (200)
    uint32_t grace_ms;          //  seat kept for a lost player (10000)
    uint32_t tick_hz;           //  game ticks per second (60)
    uint32_t points_to_win;     //  (11)
    uint32_t max_players;       //  players a node accepts at once (1024)
    uint32_t max_per_source;    //  of them from one network address (64;
                                //  0: no limit)
} rally_cluster_t;

//  One broker and one node (id 1) on loopback, default timings.
void rally_cluster_defaults (rally_cluster_t *self);

//  Replaces self with the file's contents on top of the defaults. Returns 0,
//  or -1 with a reason (unreadable, not a regular file, too large, too many
//  items, unknown key, bad value) that does not repeat the path: the
//  caller says which file.
int rally_cluster_load (rally_cluster_t *self, const char *path,
                        char *reason, size_t reason_size);

//  Applies the environment: RALLY_BROKER; RALLY_HEARTBEAT_MS,
//  RALLY_LIVENESS_MS, RALLY_LEASE_MS, RALLY_GRACE_MS, RALLY_TICK_HZ,
//  RALLY_POINTS_TO_WIN and RALLY_MAX_PLAYERS; and for each listed node,
//  RALLY_NODE<id>_{HEARTBEAT,GAME,STATE}. Returns 0, or -1 with a reason,
//  leaving self as it was.
int rally_cluster_from_env (rally_cluster_t *self, char *reason,
                            size_t reason_size);

//  Applies RALLY_NODE<id>_{HEARTBEAT,GAME,STATE} to one node, for a node
//  the file does not list. Returns 0, or -1 with a reason.
int rally_cluster_node_from_env (rally_node_conf_t *node, char *reason,
                                 size_t reason_size);

//  What every program starts from: the defaults, then the file at path
//  (else RALLY_CONFIG's, if set and not empty), then the environment, then the count endpoints given as
//  --broker flags, which replace the brokers when count > 0. A --broker
//  (or RALLY_BROKER) that is a listed broker's player or peer endpoint
//  picks that broker, both endpoints and its key; any other endpoint is
//  a broker not in the file, with that endpoint for both. Then it checks
//  the timings (rally_cluster_check). Returns 0, or -1 with a reason that
//  names the file, variable or flag at fault.
int rally_cluster_configure (rally_cluster_t *self, const char *path,
                             const char *const *brokers, size_t count,
                             char *reason, size_t reason_size);

//  The node with this id, or NULL.
const rally_node_conf_t *rally_cluster_node (const rally_cluster_t *self,
                                             uint32_t id);

//  Adds or replaces node id's endpoints (for flags). Returns 0 or -1.
int rally_cluster_set_node (rally_cluster_t *self,
                            const rally_node_conf_t *node);

//  Checks that the timings can work together: a node's count of its
//  lease (7/8 of lease_ms) holds two heartbeats, and liveness_ms is at
//  least lease_ms. Returns 0, or -1 with a reason.
int rally_cluster_check (const rally_cluster_t *self, char *reason,
                         size_t reason_size);

//  Checks that a program can bind endpoint: a tcp host must be a numeric
//  address or "*", not a name. Returns 0, or -1 with a reason.
int rally_cluster_check_bind (const char *endpoint, char *reason,
                              size_t reason_size);

//  Writes into buf the endpoint to bind for a peer-facing endpoint: the
//  endpoint itself. Returns -1 if it names a host (not bindable).
int rally_cluster_bind_endpoint (const char *endpoint, char *buf,
                                 size_t size);

//  Binds sock to a peer-facing endpoint (a buffer of RALLY_ENDPOINT_BUF);
//  one that names a host fails with EINVAL.
//  A port of * binds any free port and is replaced in endpoint by the port
//  it got, so that what the program reports is what peers can reach: how
//  tests run many programs side by side. Returns 0, or -1 with the reason
//  in zmq_errno ().
int rally_cluster_bind (zsock_t *sock, char *endpoint);

#endif
