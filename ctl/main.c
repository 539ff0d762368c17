/*  rallyctl - the operator's view of a Rally cluster.

        rallyctl status [--json] [--broker EP] [--config FILE] [--timeout MS]

    Asks the broker for its table of nodes (status -> cluster), then asks
    the leader (or, with no leader, the first live node) for its matches
    (status -> matches), and prints both: as text for a person, or as one
    JSON object for a script. No answer from the broker is a failure
    (exit 1); no answer from the node only leaves the matches unknown.
*/
#include "rally_args.h"
#include "rally_cluster.h"
#include "rally_json.h"

#include <inttypes.h>
#include <string.h>

#define PROGRAM         "rallyctl"
#define CTL_TIMEOUT_MS  1000    //  default wait for each answer

//  What the command line said. NULL means the flag was not given.
typedef struct {
    const char *command;        //  "status"
    const char *broker;         //  --broker ENDPOINT
    const char *config;         //  --config FILE
    uint32_t timeout_ms;        //  --timeout MS
    bool json;                  //  --json
    bool help;                  //  -h, --help
} flags_t;

//  Everything the report shows.
typedef struct {
    const char *broker;         //  the broker that answered
    uint32_t liveness_ms;       //  a node older than this is not live
    rally_msg_cluster_t cluster;    //  the broker's answer
    bool have_matches;          //  the node answered
    uint32_t asked_node;        //  the node asked for matches, 0 if none
    rally_msg_matches_t matches;    //  its answer, if it answered
} report_t;

static const char *s_phase_names[] = { "serve", "play", "paused", "over" };

//  --------------------------------------------------------------------------
//  Flags

static void s_usage (FILE *out)
{
    fprintf (out,
        "usage: rallyctl status [--json] [--broker EP] [--config FILE]\n"
        "                       [--timeout MS]\n"
        "       rallyctl --help\n"
        "\n"
        "status asks the broker for the cluster's nodes and leader, then the\n"
        "leader for the matches under way, and prints both. A node's row is\n"
        "its last heartbeat (see age ms), so its counts may trail the list.\n"
        "\n"
        "  --json            one JSON object instead of text\n"
        "  --broker EP       broker to ask (default: the first broker in the\n"
        "                    cluster file or RALLY_BROKER, else\n"
        "                    tcp://127.0.0.1:5600)\n"
        "  --config FILE     cluster file (ZPL; see config/README.md)\n"
        "  --timeout MS      wait for each answer, ms (default 1000)\n"
        "  -h, --help        print this and exit\n"
        "\n"
        "Exit status: 0 when the broker answered (even if the node did not),\n"
        "1 when it did not, 2 when the command line is wrong.\n");
}

static int s_parse (flags_t *f, int argc, char **argv)
{
    const rally_arg_t table[] = {
        RALLY_ARGS_STRING ("--broker", &f->broker),
        RALLY_ARGS_STRING ("--config", &f->config),
        RALLY_ARGS_UINT ("--timeout", &f->timeout_ms, 1, 600000, NULL),
        RALLY_ARGS_SWITCH ("--json", NULL, &f->json),
        RALLY_ARGS_SWITCH ("--help", "-h", &f->help),
    };
    int rc = rally_args_parse (PROGRAM, table,
                               sizeof (table) / sizeof (table[0]), argc, argv,
                               &f->command, 1);
    if (rc || f->help)
        return rc;
    if (!f->command)
        return rally_args_fail (PROGRAM, "no command");
    if (!streq (f->command, "status"))
        return rally_args_fail (PROGRAM, "unknown command '%s'", f->command);
    return 0;
}

//  --------------------------------------------------------------------------
//  Asking

//  Sends a status request to endpoint and waits up to timeout_ms for a
//  reply of type want, into reply. Returns 0, or -1 with why in reason.
static int s_ask (const char *endpoint, rally_msg_type_t want,
                  uint32_t timeout_ms, rally_msg_t *reply, char *reason,
                  size_t reason_size)
{
    snprintf (reason, reason_size, "no answer");
    zsock_t *dealer = rally_msg_socket_new (ZMQ_DEALER);
    if (!dealer)
        return -1;
    int rc = -1;
    rally_msg_t request;
    rally_msg_init (&request, RALLY_MSG_STATUS);
    if (zsock_connect (dealer, "%s", endpoint) == -1)
        snprintf (reason, reason_size, "cannot connect");
    else if (rally_msg_send (&request, dealer) == 0) {
        zpoller_t *poller = zpoller_new (dealer, NULL);
        int64_t deadline = zclock_mono () + timeout_ms;
        int64_t left;
        while (rc && (left = deadline - zclock_mono ()) > 0
               && zpoller_wait (poller, (int) left)) {
            zframe_t *frame = zframe_recv (dealer);
            if (!frame)
                break;
            char why[RALLY_REASON_BUF];
            if (rally_msg_decode (reply, zframe_data (frame),
                                  zframe_size (frame), why, sizeof (why)))
                snprintf (reason, reason_size, "a bad answer (%s)", why);
            else if (reply->type == want)
                rc = 0;
            else if (reply->type == RALLY_MSG_ERROR)
                snprintf (reason, reason_size, "an error: %s: %s",
                          reply->u.error.code, reply->u.error.reason);
            else
                snprintf (reason, reason_size, "an unexpected '%s'",
                          rally_msg_type_name (reply->type));
            zframe_destroy (&frame);
        }
        zpoller_destroy (&poller);
    }
    zsock_destroy (&dealer);
    return rc;
}

//  The node to ask for matches: the leader, else the first live node.
static const rally_node_info_t *s_pick_node (const report_t *r)
{
    const rally_node_info_t *live = NULL;
    for (uint32_t i = 0; i < r->cluster.node_count; i++) {
        const rally_node_info_t *n = &r->cluster.nodes[i];
        if (n->id == r->cluster.leader)
            return n;
        if (!live && n->age_ms < r->liveness_ms)
            live = n;
    }
    return live;
}

//  --------------------------------------------------------------------------
//  Printing

static const char *s_phase (uint32_t phase)
{
    return phase < 4 ? s_phase_names[phase] : "?";
}

static const char *s_role (uint32_t role)
{
    return role == RALLY_ROLE_LEADER ? "leader" : "follower";
}

static void s_print_text (const report_t *r)
{
    const rally_msg_cluster_t *c = &r->cluster;
    if (c->leader)
        printf ("leader: node %" PRIu32 ", term %" PRIu64 " (broker %s)\n",
                c->leader, c->term, r->broker);
    else
        printf ("leader: none, term %" PRIu64 " (broker %s)\n", c->term,
                r->broker);
    if (c->node_count == 0)
        printf ("nodes: none heard\n");
    else
        printf ("%4s  %-8s  %6s  %10s  %7s  %7s  %7s  %s\n", "id", "role",
                "term", "seq", "age ms", "matches", "players", "game");
    for (uint32_t i = 0; i < c->node_count; i++) {
        const rally_node_info_t *n = &c->nodes[i];
        printf ("%4" PRIu32 "  %-8s  %6" PRIu64 "  %10" PRIu64 "  %7" PRIu32
                "  %7" PRIu32 "  %7" PRIu32 "  %s%s\n",
                n->id, s_role (n->role), n->term, n->seq, n->age_ms,
                n->matches, n->players, n->game,
                n->age_ms < r->liveness_ms ? "" : "  (quiet)");
    }
    if (!r->asked_node) {
        printf ("matches: unknown (no live node to ask)\n");
        return;
    }
    if (!r->have_matches) {
        printf ("matches: unknown (node %" PRIu32 " did not answer)\n",
                r->asked_node);
        return;
    }
    const rally_msg_matches_t *m = &r->matches;
    printf ("waiting: %" PRIu32 "\n", m->waiting);
    printf ("matches under way: %" PRIu32 "%s\n", m->total,
            m->total > m->count ? " (first ones shown)" : "");
    for (uint32_t i = 0; i < m->count; i++) {
        const rally_match_info_t *x = &m->matches[i];
        printf ("  match %-6" PRIu32 " %s v %s  %" PRIu32 "-%" PRIu32
                "  tick %" PRIu32 "  %s\n",
                x->match, x->names[0], x->names[1], x->score[0], x->score[1],
                x->tick, s_phase (x->phase));
    }
}

static void s_print_json_node (const report_t *r, const rally_node_info_t *n)
{
    printf ("{\"id\": %" PRIu32 ", \"role\": \"%s\", \"term\": %" PRIu64
            ", \"seq\": %" PRIu64 ", \"age_ms\": %" PRIu32
            ", \"live\": %s, \"matches\": %" PRIu32 ", \"players\": %" PRIu32
            ", \"game\": ",
            n->id, s_role (n->role), n->term, n->seq, n->age_ms,
            n->age_ms < r->liveness_ms ? "true" : "false", n->matches,
            n->players);
    rally_json_string (stdout, n->game);
    printf (", \"state\": ");
    rally_json_string (stdout, n->state);
    printf ("}");
}

static void s_print_json_match (const rally_match_info_t *x)
{
    printf ("{\"match\": %" PRIu32 ", \"names\": [", x->match);
    rally_json_string (stdout, x->names[0]);
    printf (", ");
    rally_json_string (stdout, x->names[1]);
    printf ("], \"score\": [%" PRIu32 ", %" PRIu32 "], \"tick\": %" PRIu32
            ", \"phase\": \"%s\"}",
            x->score[0], x->score[1], x->tick, s_phase (x->phase));
}

static void s_print_json (const report_t *r)
{
    const rally_msg_cluster_t *c = &r->cluster;
    printf ("{\"broker\": ");
    rally_json_string (stdout, r->broker);
    printf (", \"term\": %" PRIu64 ", \"leader\": ", c->term);
    if (c->leader)
        printf ("%" PRIu32, c->leader);
    else
        printf ("null");
    printf (", \"nodes\": [");
    for (uint32_t i = 0; i < c->node_count; i++) {
        printf (i ? ", " : "");
        s_print_json_node (r, &c->nodes[i]);
    }
    printf ("], \"waiting\": ");
    if (r->have_matches)
        printf ("%" PRIu32, r->matches.waiting);
    else
        printf ("null");
    printf (", \"matches\": ");
    if (r->have_matches) {
        printf ("[");
        for (uint32_t i = 0; i < r->matches.count; i++) {
            printf (i ? ", " : "");
            s_print_json_match (&r->matches.matches[i]);
        }
        printf ("]");
    }
    else
        printf ("null");
    printf ("}\n");
}

//  --------------------------------------------------------------------------
//  Main: only wiring

static int s_status (const rally_cluster_t *cluster, const char *broker,
                     uint32_t timeout_ms, bool json)
{
    report_t *r = (report_t *) zmalloc (sizeof (report_t));
    rally_msg_t *reply = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    assert (r && reply);
    r->broker = broker;
    r->liveness_ms = cluster->liveness_ms;
    char reason[512];
    int rc = 0;
    if (s_ask (broker, RALLY_MSG_CLUSTER, timeout_ms, reply, reason,
               sizeof (reason))) {
        if (streq (reason, "no answer"))
            fprintf (stderr, "rallyctl: no answer from the broker at %s within "
                     "%" PRIu32 " ms\n", broker, timeout_ms);
        else
            fprintf (stderr, "rallyctl: the broker at %s sent %s\n", broker,
                     reason);
        rc = 1;
    }
    else {
        r->cluster = reply->u.cluster;
        const rally_node_info_t *node = s_pick_node (r);
        if (node) {
            r->asked_node = node->id;
            r->have_matches = s_ask (node->game, RALLY_MSG_MATCHES, timeout_ms,
                                     reply, reason, sizeof (reason)) == 0;
            if (r->have_matches)
                r->matches = reply->u.matches;
            else if (!json)
                fprintf (stderr, "rallyctl: node %" PRIu32 " at %s: %s "
                         "within %" PRIu32 " ms\n", node->id, node->game,
                         reason, timeout_ms);
        }
        if (json)
            s_print_json (r);
        else
            s_print_text (r);
    }
    free (reply);
    free (r);
    return rc;
}

int main (int argc, char **argv)
{
    flags_t flags = { .timeout_ms = CTL_TIMEOUT_MS };
    int rc = s_parse (&flags, argc, argv);
    if (rc)
        return rc;
    if (flags.help) {
        s_usage (stdout);
        return 0;
    }
    rally_cluster_t cluster;
    char reason[RALLY_REASON_BUF];
    if (rally_cluster_configure (&cluster, flags.config, &flags.broker,
                                 flags.broker? 1: 0, reason, sizeof (reason)))
        return rally_args_fail (PROGRAM, "%s", reason);
    const char *broker = cluster.brokers[0];

    //  rallyctl is a command, not a service: Ctrl-C should just stop it.
    zsys_handler_set (NULL);
    return s_status (&cluster, broker, flags.timeout_ms, flags.json);
}
