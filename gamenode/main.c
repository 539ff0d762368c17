/*  rally-gamenode - one game node of a Rally cluster.

    Only wiring: read the flags, build the configuration (defaults, then the
    cluster file, then the environment, then the flags), make the node, run
    it until SIGINT or SIGTERM, tear it down.
*/
#include "node.h"

#include "rally_args.h"
#include "rally_limits.h"
#include "rally_parse.h"

#include <errno.h>
#include <inttypes.h>

#include <stdlib.h>
#include <string.h>

#define PROGRAM "rally-gamenode"

//  What the command line said, before it is applied over the file and the
//  environment. A number counts only where its given flag is set.
typedef struct {
    const char *config;
    rally_args_list_t brokers;
    uint32_t id;
    const char *game;
    const char *state;
    const char *heartbeat;
    const char *peer;
    const char *key;
    bool plaintext;
    const char *advertise_game;
    const char *advertise_state;
    const char *data;
    uint32_t tick_hz, points_to_win, grace_ms, max_players, heartbeat_ms;
    uint32_t max_per_source;
    bool tick_hz_given, points_to_win_given, grace_ms_given;
    bool max_players_given, heartbeat_ms_given, max_per_source_given;
    bool verbose;
    bool help;
} flags_t;

static void s_usage (FILE *out)
{
    fprintf (out,
        "usage: rally-gamenode [flags]\n"
        "\n"
        "Runs one Rally game node: matchmaking and every match, served on a\n"
        "ROUTER (requests) and a PUB (match states), with heartbeats to the\n"
        "brokers and to other nodes. Settings come from the defaults, then\n"
        "the cluster file, then the environment (RALLY_*), then these flags.\n"
        "\n"
        "  --broker ENDPOINT     broker to heartbeat to; repeat for several\n"
        "                        (default tcp://127.0.0.1:5600)\n"
        "  --config FILE         cluster file (ZPL; see config/README.md;\n"
        "                        default $RALLY_CONFIG)\n"
        "  --id N                this node's id, 1..255 (default $RALLY_ID,\n"
        "                        else 1); its endpoints come from the\n"
        "                        cluster file, else\n"
        "                        tcp://127.0.0.1:5601 (heartbeat), :5602\n"
        "                        (game) and :5603 (state)\n"
        "  --game ENDPOINT       ROUTER for requests (default tcp://127.0.0.1:5602)\n"
        "  --state ENDPOINT      PUB for match states (default tcp://127.0.0.1:5603)\n"
        "  --heartbeat ENDPOINT  PUB for node heartbeats (default tcp://127.0.0.1:5601)\n"
        "  --peer ENDPOINT       ROUTER for the other members: sync, ack,\n"
        "                        fetch, status (default tcp://127.0.0.1:5604)\n"
        "  --key FILE            this node's certificate (default $RALLY_KEY,\n"
        "                        else DATA/rally.cert with --data, else\n"
        "                        KEYS/../node<ID>/rally.cert; rallyctl keys\n"
        "                        makes them)\n"
        "  --insecure-plaintext  no CURVE: anyone who reaches a port can read\n"
        "                        and forge everything; every log line says so\n"
        "  --advertise-game ENDPOINT\n"
        "  --advertise-state ENDPOINT\n"
        "                        what players are told to connect to, when\n"
        "                        they reach the node by another address\n"
        "                        (a container's published port); default\n"
        "                        $RALLY_ADVERTISE_GAME, $RALLY_ADVERTISE_STATE,\n"
        "                        else the game and state endpoints\n"
        "  --tick-hz N           ticks per second, %u..%u (default 60)\n"
        "  --points-to-win N     points that win a match, 1..%u (default 11)\n"
        "  --grace-ms N          seat kept for a lost player, ms, 0..%u\n"
        "                        (default 10000)\n"
        "  --max-players N       players at once, %u..%u (default 1024)\n"
        "  --max-per-source N    of them from one network address, 0..%u\n"
        "                        (default 64; 0: no limit)\n"
        "  --heartbeat-ms N      heartbeat period, ms, %u..%u (default 50)\n"
        "  --data DIR            data directory: finished matches are kept in\n"
        "                        DIR/results.db (default $RALLY_DATA; none:\n"
        "                        kept in memory only)\n"
        "  -v, --verbose         log every request at debug level\n"
        "  -h, --help            print this and exit\n"
        "\n"
        "Exit status: 0 stopped by SIGINT or SIGTERM, 1 could not start (a\n"
        "port taken, say), 2 a bad command line, file or environment.\n",
        RALLY_TICK_HZ_MIN, RALLY_TICK_HZ_MAX, RALLY_SCORE_MAX,
        RALLY_GRACE_MS_MAX, RALLY_MAX_PLAYERS_MIN, RALLY_MAX_PLAYERS_MAX,
        RALLY_MAX_PLAYERS_MAX, RALLY_HEARTBEAT_MS_MIN, RALLY_HEARTBEAT_MS_MAX);
}

static int s_parse (flags_t *f, int argc, char **argv)
{
    const rally_arg_t table[] = {
        RALLY_ARGS_STRING ("--config", &f->config),
        RALLY_ARGS_LIST ("--broker", &f->brokers),
        RALLY_ARGS_UINT ("--id", &f->id, 1, RALLY_NODE_ID_MAX, NULL),
        RALLY_ARGS_STRING ("--game", &f->game),
        RALLY_ARGS_STRING ("--state", &f->state),
        RALLY_ARGS_STRING ("--heartbeat", &f->heartbeat),
        RALLY_ARGS_STRING ("--peer", &f->peer),
        RALLY_ARGS_STRING ("--key", &f->key),
        RALLY_ARGS_SWITCH ("--insecure-plaintext", NULL, &f->plaintext),
        RALLY_ARGS_STRING ("--advertise-game", &f->advertise_game),
        RALLY_ARGS_STRING ("--advertise-state", &f->advertise_state),
        RALLY_ARGS_UINT ("--tick-hz", &f->tick_hz,
                         RALLY_TICK_HZ_MIN, RALLY_TICK_HZ_MAX,
                         &f->tick_hz_given),
        RALLY_ARGS_UINT ("--points-to-win", &f->points_to_win,
                         1, RALLY_SCORE_MAX, &f->points_to_win_given),
        RALLY_ARGS_UINT ("--grace-ms", &f->grace_ms,
                         0, RALLY_GRACE_MS_MAX, &f->grace_ms_given),
        RALLY_ARGS_UINT ("--max-players", &f->max_players,
                         RALLY_MAX_PLAYERS_MIN, RALLY_MAX_PLAYERS_MAX,
                         &f->max_players_given),
        RALLY_ARGS_UINT ("--max-per-source", &f->max_per_source,
                         0, RALLY_MAX_PLAYERS_MAX, &f->max_per_source_given),
        RALLY_ARGS_UINT ("--heartbeat-ms", &f->heartbeat_ms,
                         RALLY_HEARTBEAT_MS_MIN, RALLY_HEARTBEAT_MS_MAX,
                         &f->heartbeat_ms_given),
        RALLY_ARGS_STRING ("--data", &f->data),
        RALLY_ARGS_SWITCH ("--verbose", "-v", &f->verbose),
        RALLY_ARGS_SWITCH ("--help", "-h", &f->help),
    };
    return rally_args_parse (PROGRAM, table, sizeof (table) / sizeof (table[0]),
                             argc, argv, NULL, 0);
}

//  Copies an endpoint flag, if given, into buf; 0 or the usage exit status.
static int s_endpoint (const char *text, const char *flag, char *buf)
{
    if (!text)
        return 0;
    int rc = rally_args_endpoint (PROGRAM, flag, text);
    if (rc)
        return rc;
    snprintf (buf, RALLY_ENDPOINT_BUF, "%s", text);
    return 0;
}

//  An endpoint that has a flag and a variable: the flag's, else the
//  variable's (named as the culprit if bad), into buf; 0 or the exit status.
static int s_endpoint_or_env (const char *text, const char *flag,
                              const char *variable, char *buf)
{
    if (text)
        return s_endpoint (text, flag, buf);
    return s_endpoint (getenv (variable), variable, buf);
}

//  The node's id: the flag, else RALLY_ID, else 1; 0 or the exit status.
static int s_apply_id (node_config_t *cfg, const flags_t *f)
{
    const char *env = getenv ("RALLY_ID");
    cfg->id = 1;
    if (f->id)
        cfg->id = f->id;
    else if (env && rally_parse_u32 (env, 1, RALLY_NODE_ID_MAX, &cfg->id))
        return rally_args_fail (PROGRAM, "RALLY_ID must be 1..%d, not '%s'",
                                RALLY_NODE_ID_MAX, env);
    return 0;
}

//  This node's endpoints: the cluster's entry for its id (the environment
//  already applied), else the defaults on loopback and the environment;
//  then the flags.
static int s_apply_node (rally_cluster_t *c, const flags_t *f, uint32_t id)
{
    rally_node_conf_t node;
    const rally_node_conf_t *known = rally_cluster_node (c, id);
    if (known)
        node = *known;
    else {
        memset (&node, 0, sizeof (node));
        node.id = id;
        strcpy (node.heartbeat, "tcp://127.0.0.1:5601");
        strcpy (node.game, "tcp://127.0.0.1:5602");
        strcpy (node.state, "tcp://127.0.0.1:5603");
        strcpy (node.peer, "tcp://127.0.0.1:5604");
        char reason[RALLY_REASON_BUF];
        if (rally_cluster_node_from_env (&node, reason, sizeof (reason)))
            return rally_args_fail (PROGRAM, "%s", reason);
    }
    int rc = s_endpoint (f->game, "--game", node.game);
    if (!rc)
        rc = s_endpoint (f->state, "--state", node.state);
    if (!rc)
        rc = s_endpoint (f->heartbeat, "--heartbeat", node.heartbeat);
    if (!rc)
        rc = s_endpoint (f->peer, "--peer", node.peer);
    if (!rc && rally_cluster_set_node (c, &node))
        rc = rally_args_fail (PROGRAM, "--id: cannot add node %u", id);
    const char *own[] = { node.heartbeat, node.game, node.state };
    char reason[RALLY_REASON_BUF];
    for (size_t i = 0; i < 3 && !rc; i++)
        if (rally_cluster_check_bind (own[i], reason, sizeof (reason)))
            rc = rally_args_fail (PROGRAM, "node %u: %s", id, reason);
    return rc;
}

//  A node a cluster file does not list would bind ports no peer connects
//  to, and lead a cluster of its own: with a file, the id must be in it.
static int s_check_listed (const rally_cluster_t *c, const flags_t *f,
                           uint32_t id)
{
    const char *file = f->config ? f->config : getenv ("RALLY_CONFIG");
    if (!file || !*file || rally_cluster_node (c, id))
        return 0;
    char ids[4 * RALLY_CLUSTER_NODES_MAX + 1] = "";
    for (size_t i = 0; i < c->node_count; i++)
        snprintf (ids + strlen (ids), sizeof (ids) - strlen (ids), "%s%u",
                  i ? ", " : "", c->nodes[i].id);
    return rally_args_fail (PROGRAM, "node %u is not in %s (it lists %s)",
                            id, file, ids);
}

//  Replaces setting with a flag's number when the flag was given.
static void s_number (uint32_t *setting, uint32_t value, bool given)
{
    if (given)
        *setting = value;
}

static int s_apply (node_config_t *cfg, const flags_t *f)
{
    rally_cluster_t *c = &cfg->cluster;
    char reason[RALLY_REASON_BUF];
    if (rally_cluster_configure (c, f->config, f->brokers.items,
                                 f->brokers.count, reason, sizeof (reason)))
        return rally_args_fail (PROGRAM, "%s", reason);
    int rc = s_apply_id (cfg, f);
    if (!rc)
        rc = s_endpoint_or_env (f->advertise_game, "--advertise-game",
                                "RALLY_ADVERTISE_GAME", cfg->advertise_game);
    if (!rc)
        rc = s_endpoint_or_env (f->advertise_state, "--advertise-state",
                                "RALLY_ADVERTISE_STATE", cfg->advertise_state);
    if (rc)
        return rc;
    cfg->verbose = f->verbose;
    const char *data = f->data ? f->data : getenv ("RALLY_DATA");
    if (data && strlen (data) >= sizeof (cfg->data))
        return rally_args_fail (PROGRAM, "--data: the path is too long");
    snprintf (cfg->data, sizeof (cfg->data), "%s", data ? data : "");
    s_number (&c->tick_hz, f->tick_hz, f->tick_hz_given);
    s_number (&c->points_to_win, f->points_to_win, f->points_to_win_given);
    s_number (&c->grace_ms, f->grace_ms, f->grace_ms_given);
    s_number (&c->max_players, f->max_players, f->max_players_given);
    s_number (&c->max_per_source, f->max_per_source, f->max_per_source_given);
    s_number (&c->heartbeat_ms, f->heartbeat_ms, f->heartbeat_ms_given);
    if (rally_cluster_check (c, reason, sizeof (reason)))
        return rally_args_fail (PROGRAM, "%s", reason);
    rc = s_check_listed (c, f, cfg->id);
    return rc ? rc : s_apply_node (c, f, cfg->id);
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
    node_config_t cfg;
    memset (&cfg, 0, sizeof (cfg));
    rc = s_apply (&cfg, &flags);
    if (rc)
        return rc;

    zsys_init ();
    zsys_set_logident (PROGRAM);
    zsys_set_logstream (stderr);
    char name[32], reason[RALLY_REASON_BUF * 2];
    snprintf (name, sizeof (name), "node%u", cfg.id);
    cfg.keys = rally_keys_open_member (&cfg.cluster, PROGRAM, name, flags.key,
                                       cfg.data, flags.plaintext, reason,
                                       sizeof (reason));
    if (!cfg.keys)
        return rally_args_fail (PROGRAM, "%s", reason);
    uint64_t limit = 0;
    if (rally_limits_raise_nofile (&limit))
        zsys_warning ("gamenode: cannot raise the descriptor limit: %s; it "
                      "stays %" PRIu64, strerror (errno), limit);
    else
        zsys_info ("gamenode: descriptor limit %" PRIu64, limit);
    node_t *node = node_new (&cfg);
    if (!node) {
        rally_keys_destroy (&cfg.keys);
        return 1;
    }
    rc = node_run (node);
    node_destroy (&node);
    rally_keys_destroy (&cfg.keys);
    return rc == 0 ? 0 : 1;
}
