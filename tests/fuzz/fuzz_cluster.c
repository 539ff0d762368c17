/*  fuzz_cluster - the cluster file: rally_cluster_load on any bytes (CZMQ's
    ZPL reader, then Rally's keys and values).

    Promise checked: a file taken describes a cluster every program can
    use: one to RALLY_CLUSTER_BROKERS_MAX brokers, nodes with distinct ids
    in range, every endpoint (player and peer) one rally_parse_endpoint
    accepts, a keys path that fits its buffer, every setting in its range;
    a file refused leaves a reason.
*/
#include "fuzz.h"
#include "rally_cluster.h"
#include "rally_parse.h"

#include <string.h>
#include <unistd.h>

static char s_path[64];

int LLVMFuzzerInitialize (int *argc, char ***argv)
{
    zsys_set_logstream (NULL);      //  a file that is not ZPL is logged
    snprintf (s_path, sizeof (s_path), "/tmp/rally-fuzz-cluster-%d.cfg",
              (int) getpid ());
    return 0;
}

static void s_check_endpoint (const char *endpoint)
{
    char reason[RALLY_REASON_BUF];
    FUZZ_CHECK (rally_parse_endpoint (endpoint, reason, sizeof (reason)) == 0);
    char bind[RALLY_ENDPOINT_BUF];
    rally_cluster_bind_endpoint (endpoint, bind, sizeof (bind));
    FUZZ_CHECK (strlen (bind) <= RALLY_ENDPOINT_MAX);
}

static void s_check (const rally_cluster_t *c)
{
    FUZZ_CHECK (c->broker_count >= 1
                && c->broker_count <= RALLY_CLUSTER_BROKERS_MAX);
    for (size_t i = 0; i < c->broker_count; i++) {
        s_check_endpoint (c->brokers[i]);
        if (*c->broker_peers[i])
            s_check_endpoint (c->broker_peers[i]);
    }
    FUZZ_CHECK (memchr (c->keys, 0, sizeof (c->keys)));
    FUZZ_CHECK (c->node_count <= RALLY_CLUSTER_NODES_MAX);
    for (size_t i = 0; i < c->node_count; i++) {
        const rally_node_conf_t *n = &c->nodes[i];
        FUZZ_CHECK (n->id >= 1 && n->id <= RALLY_NODE_ID_MAX);
        FUZZ_CHECK (rally_cluster_node (c, n->id) == n);
        s_check_endpoint (n->heartbeat);
        s_check_endpoint (n->game);
        s_check_endpoint (n->state);
        if (*n->peer)
            s_check_endpoint (n->peer);
    }
    FUZZ_CHECK (c->heartbeat_ms >= RALLY_HEARTBEAT_MS_MIN
                && c->heartbeat_ms <= RALLY_HEARTBEAT_MS_MAX);
    FUZZ_CHECK (c->lease_ms >= RALLY_LEASE_MS_MIN
                && c->lease_ms <= RALLY_LEASE_MS_MAX);
    FUZZ_CHECK (c->tick_hz >= RALLY_TICK_HZ_MIN
                && c->tick_hz <= RALLY_TICK_HZ_MAX);
    FUZZ_CHECK (c->points_to_win >= 1 && c->points_to_win <= RALLY_SCORE_MAX);
    FUZZ_CHECK (c->max_players >= RALLY_MAX_PLAYERS_MIN
                && c->max_players <= RALLY_MAX_PLAYERS_MAX);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    FILE *file = fopen (s_path, "wb");
    FUZZ_CHECK (file);
    FUZZ_CHECK (fwrite (data, 1, size, file) == size);
    fclose (file);
    rally_cluster_t cluster;
    rally_cluster_defaults (&cluster);
    char reason[RALLY_REASON_BUF] = "";
    if (rally_cluster_load (&cluster, s_path, reason, sizeof (reason)) == 0)
        s_check (&cluster);
    else
        FUZZ_CHECK (strlen (reason) > 0);
    unlink (s_path);
    return 0;
}
