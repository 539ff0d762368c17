/*  rally-gamenode - one game node of a Rally cluster.

    Only wiring: read the flags, build the configuration (defaults, then the
    cluster file, then the environment, then the flags), make the node, run
    it until SIGINT or SIGTERM, tear it down.
*/
#include "node.h"

#include <stdarg.h>
#include <string.h>

#define MAX_BROKER_FLAGS RALLY_CLUSTER_BROKERS_MAX

//  What the command line said, before it is applied over the file and the
//  environment. NULL (or 0) means the flag was not given.
typedef struct {
    const char *config;
    const char *brokers[MAX_BROKER_FLAGS];
    size_t broker_count;
    const char *id;
    const char *game;
    const char *state;
    const char *heartbeat;
    const char *tick_hz;
    const char *points_to_win;
    const char *grace_ms;
    const char *max_players;
    const char *heartbeat_ms;
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
        "  --config FILE         cluster file (ZPL; see config/README.md)\n"
        "  --id N                this node's id, 1..255 (default 1); its\n"
        "                        endpoints come from the cluster file, else\n"
        "                        tcp://127.0.0.1:5601 (heartbeat), :5602\n"
        "                        (game) and :5603 (state)\n"
        "  --game ENDPOINT       ROUTER for requests (default tcp://127.0.0.1:5602)\n"
        "  --state ENDPOINT      PUB for match states (default tcp://127.0.0.1:5603)\n"
        "  --heartbeat ENDPOINT  PUB for node heartbeats (default tcp://127.0.0.1:5601)\n"
        "  --tick-hz N           ticks per second, 10..240 (default 60)\n"
        "  --points-to-win N     points that win a match, 1..99 (default 11)\n"
        "  --grace-ms N          seat kept for a lost player, ms (default 10000)\n"
        "  --max-players N       players at once, 2..65536 (default 1024)\n"
        "  --heartbeat-ms N      heartbeat period, ms, 10..10000 (default 50)\n"
        "  -v, --verbose         log every request at debug level\n"
        "  -h, --help            print this and exit\n");
}

//  Says what is wrong with the command line; returns the exit code for it.
static int s_fail (const char *format, ...)
    __attribute__ ((format (printf, 1, 2)));

static int s_fail (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fprintf (stderr, "rally-gamenode: ");
    vfprintf (stderr, format, args);
    fprintf (stderr, "\nrally-gamenode: try --help\n");
    va_end (args);
    return 2;
}

//  The value of a flag that takes one, as "--flag VALUE" or "--flag=VALUE".
static const char *s_value (int argc, char **argv, int *i, const char *name)
{
    size_t len = strlen (name);
    const char *arg = argv[*i];
    if (strncmp (arg, name, len) != 0)
        return NULL;
    if (arg[len] == '=')
        return arg + len + 1;
    if (arg[len] != 0)
        return NULL;
    if (*i + 1 >= argc)
        return "";              //  caught below: a flag without a value
    return argv[++*i];
}

static int s_parse (flags_t *f, int argc, char **argv)
{
    static const struct {
        const char *name;
        size_t offset;
    } valued[] = {
        {"--config", offsetof (flags_t, config)},
        {"--id", offsetof (flags_t, id)},
        {"--game", offsetof (flags_t, game)},
        {"--state", offsetof (flags_t, state)},
        {"--heartbeat-ms", offsetof (flags_t, heartbeat_ms)},
        {"--heartbeat", offsetof (flags_t, heartbeat)},
        {"--tick-hz", offsetof (flags_t, tick_hz)},
        {"--points-to-win", offsetof (flags_t, points_to_win)},
        {"--grace-ms", offsetof (flags_t, grace_ms)},
        {"--max-players", offsetof (flags_t, max_players)},
    };
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (streq (arg, "-v") || streq (arg, "--verbose")) {
            f->verbose = true;
            continue;
        }
        if (streq (arg, "-h") || streq (arg, "--help")) {
            f->help = true;
            continue;
        }
        const char *value = s_value (argc, argv, &i, "--broker");
        if (value) {
            if (!*value)
                return s_fail ("--broker needs a value");
            if (f->broker_count == MAX_BROKER_FLAGS)
                return s_fail ("--broker: at most %d brokers", MAX_BROKER_FLAGS);
            f->brokers[f->broker_count++] = value;
            continue;
        }
        size_t k;
        for (k = 0; k < sizeof (valued) / sizeof (valued[0]); k++) {
            value = s_value (argc, argv, &i, valued[k].name);
            if (value)
                break;
        }
        if (!value)
            return s_fail ("unknown flag '%s'", arg);
        if (!*value)
            return s_fail ("%s needs a value", valued[k].name);
        *(const char **) ((char *) f + valued[k].offset) = value;
    }
    return 0;
}

static int s_number (const char *text, const char *flag, uint32_t min,
                     uint32_t max, uint32_t *value)
{
    if (!text)
        return 0;
    if (rally_parse_u32 (text, min, max, value) == 0)
        return 0;
    return s_fail ("%s: bad value '%s' (expected %u..%u)", flag, text, min,
                   max);
}

static int s_endpoint (const char *text, const char *flag, char *buf)
{
    if (!text)
        return 0;
    if (strlen (text) > RALLY_ENDPOINT_MAX || !strstr (text, "://"))
        return s_fail ("%s: bad endpoint '%s'", flag, text);
    snprintf (buf, RALLY_ENDPOINT_BUF, "%s", text);
    return 0;
}

//  This node's endpoints: the cluster's entry for its id, else the
//  defaults on loopback, then the flags.
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
    }
    if (s_endpoint (f->game, "--game", node.game)
        || s_endpoint (f->state, "--state", node.state)
        || s_endpoint (f->heartbeat, "--heartbeat", node.heartbeat))
        return 2;
    if (rally_cluster_set_node (c, &node))
        return s_fail ("--id: cannot add node %u", id);
    return 0;
}

static int s_apply (node_config_t *cfg, const flags_t *f)
{
    rally_cluster_t *c = &cfg->cluster;
    char reason[RALLY_REASON_BUF];
    rally_cluster_defaults (c);
    if (f->config && rally_cluster_load (c, f->config, reason, sizeof (reason)))
        return s_fail ("%s: %s", f->config, reason);
    if (rally_cluster_from_env (c, reason, sizeof (reason)))
        return s_fail ("environment: %s", reason);
    if (f->broker_count) {
        c->broker_count = 0;
        for (size_t i = 0; i < f->broker_count; i++)
            if (s_endpoint (f->brokers[i], "--broker",
                            c->brokers[c->broker_count++]))
                return 2;
    }
    cfg->id = 1;
    cfg->verbose = f->verbose;
    if (s_number (f->id, "--id", 1, RALLY_NODE_ID_MAX, &cfg->id)
        || s_number (f->tick_hz, "--tick-hz", 10, 240, &c->tick_hz)
        || s_number (f->points_to_win, "--points-to-win", 1, 99,
                     &c->points_to_win)
        || s_number (f->grace_ms, "--grace-ms", 0, 3600000, &c->grace_ms)
        || s_number (f->max_players, "--max-players", 2, 65536,
                     &c->max_players)
        || s_number (f->heartbeat_ms, "--heartbeat-ms", 10, 10000,
                     &c->heartbeat_ms))
        return 2;
    return s_apply_node (c, f, cfg->id);
}

int main (int argc, char **argv)
{
    flags_t flags;
    memset (&flags, 0, sizeof (flags));
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
    zsys_set_logident ("rally-gamenode");
    zsys_set_logstream (stderr);
    node_t *node = node_new (&cfg);
    if (!node)
        return 1;
    rc = node_run (node);
    node_destroy (&node);
    return rc == 0 ? 0 : 1;
}
