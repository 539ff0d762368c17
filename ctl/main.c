/*  rallyctl - the operator's view of a Rally cluster.

        rallyctl status [--json] [--broker EP] [--config FILE] [--timeout MS]
        rallyctl health [--node ID] [--broker EP] [--config FILE] [--timeout MS]
        rallyctl results [--player NAME] [--json] [...]
        rallyctl leaderboard [--player NAME] [--json] [...]

    Asks every broker of the cluster at once for its view (status ->
    cluster): the lease it holds for a node, the leader it names, and its
    table of nodes. The leader shown is the one a majority of the brokers
    that answered name, else the first answering broker's; the node table
    is the first answering broker's, in the cluster file's order. Then it
    asks that leader (or, with no leader, the first live node) for its
    matches (status -> matches), and prints it all: as text for a person,
    or as one JSON object for a script. No answer from any broker is a
    failure (exit 1); a broker that does not answer is only shown as
    unreachable, and no answer from the node only leaves the matches
    unknown.

    health is for a container's healthcheck: it asks every broker (or,
    with --node, that node alone) and succeeds only if all of them answer.

    results and leaderboard find the node as status does and ask it for
    the stored matches (history -> results, the latest first) or the
    players' records (standings -> board): what players see in the viewer.

    All ask on the peer plane, with an operator's key (any member's key
    will do: a container's healthcheck uses its own program's).

    keys makes the cluster's certificates (rally_keys_make), keeping any
    that are there.
*/
#include "rally_args.h"
#include "rally_cluster.h"
#include "rally_json.h"
#include "rally_keys.h"

#include <inttypes.h>
#include <string.h>

#define PROGRAM         "rallyctl"
#define CTL_TIMEOUT_MS  1000    //  default wait for each answer
#define CTL_REASON_BUF  256     //  room for why an endpoint did not answer

//  What the command line said. NULL means the flag was not given.
typedef struct {
    const char *command;        //  "status", "health", "results" or
                                //  "leaderboard"
    const char *player;         //  --player NAME
    uint32_t node;              //  --node ID, 0 if not given
    const char *broker;         //  --broker ENDPOINT
    const char *config;         //  --config FILE
    uint32_t timeout_ms;        //  --timeout MS
    bool json;                  //  --json
    const char *key;            //  --key FILE
    bool plaintext;             //  --insecure-plaintext
    bool help;                  //  -h, --help
} flags_t;

//  One status request to one endpoint, and what came of it.
typedef struct {
    const char *endpoint;       //  who is asked, as shown
    const char *peer;           //  its peer endpoint, where it is asked
    const char *key;            //  its public key, NULL if unknown
    rally_msg_t request;        //  what; a status when its type is 0
    zsock_t *dealer;            //  the socket it is asked on, NULL when done
    bool answered;              //  reply holds the answer wanted
    rally_msg_t reply;          //  the answer, when answered
    char reason[CTL_REASON_BUF];    //  why there is no answer, when not
} ask_t;

//  Everything the report shows.
typedef struct {
    const rally_cluster_t *cluster;     //  as configured
    uint32_t liveness_ms;       //  a node older than this is not live
    size_t broker_count;        //  brokers asked
    ask_t brokers[RALLY_CLUSTER_BROKERS_MAX];   //  each one's cluster reply
    size_t answered;            //  brokers that answered
    const ask_t *table;         //  the first that answered: its nodes shown
    uint32_t leader;            //  the leader shown, 0 if none
    uint64_t term;              //  its term
    size_t agreeing;            //  brokers naming it, 0 if no majority does
    uint32_t asked_node;        //  the node asked for matches, 0 if none
    ask_t node;                 //  its matches reply
} report_t;

static const char *s_phase_names[] = { "serve", "play", "paused", "over" };

//  --------------------------------------------------------------------------
//  Flags

static void s_usage (FILE *out)
{
    fprintf (out,
        "usage: rallyctl status [--json] [--broker EP] [--config FILE]\n"
        "                       [--timeout MS]\n"
        "       rallyctl health [--node ID] [--broker EP] [--config FILE]\n"
        "                       [--timeout MS]\n"
        "       rallyctl results [--player NAME] [--json] [--broker EP]\n"
        "                        [--config FILE] [--timeout MS]\n"
        "       rallyctl leaderboard [--player NAME] [--json] [...]\n"
        "       rallyctl keys [--config FILE]\n"
        "       rallyctl --help\n"
        "\n"
        "status asks every broker of the cluster, at once, for its lease and\n"
        "its view of the nodes, then the leader for the matches under way,\n"
        "and prints: the leader (the one a majority of the brokers that\n"
        "answered name, else the first answering broker's) and its term;\n"
        "each broker's lease (holder, term, ms left), or that it has none\n"
        "or did not answer; the nodes as the first answering broker heard\n"
        "them, with each one's role, term, seq and lag (ticks behind its\n"
        "leader); and the matches. A node's row is its last heartbeat (see\n"
        "age ms), so its counts may trail the list.\n"
        "\n"
        "health, for a container's healthcheck, asks every broker (with\n"
        "--node, that node at its game endpoint instead) and exits 0 only\n"
        "if each one answers.\n"
        "\n"
        "  --json            one JSON object instead of text: \"leader\" (id\n"
        "                    or null), \"term\", \"broker\" (whose nodes),\n"
        "                    \"brokers\" (endpoint, reachable, lease_holder,\n"
        "                    lease_term, lease_ms), \"nodes\", \"waiting\",\n"
        "                    \"matches\"\n"
        "  --broker EP       ask only this broker (default: every broker in\n"
        "                    the cluster file, or RALLY_BROKER, else\n"
        "                    tcp://127.0.0.1:5600)\n"
        "  --config FILE     cluster file (ZPL; see config/README.md;\n"
        "                    default $RALLY_CONFIG)\n"
        "  --node ID         health: ask this node of the cluster file\n"
        "  --player NAME     results: only NAME's matches; leaderboard:\n"
        "                    NAME's own record too\n"
        "  --timeout MS      wait for the answers, ms (default 1000); the\n"
        "                    brokers are asked together, then the node\n"
        "  -h, --help        print this and exit\n"
        "\n"
        "keys makes the cluster's CURVE certificates, keeping those already\n"
        "there: KEYS/NAME.cert (public) for every node, broker and the\n"
        "operator, and each one's own KEYS/../NAME/rally.cert (secret),\n"
        "where KEYS is the cluster file's keys directory.\n"
        "\n"
        "  --key FILE        the operator's certificate (default $RALLY_KEY,\n"
        "                    else KEYS/../operator/rally.cert)\n"
        "  --insecure-plaintext  for a cluster run without CURVE\n"
        "\n"
        "Exit status: status 0 when a broker answered (even if others or\n"
        "the node did not), health 0 when all that were asked answered;\n"
        "else 1; 2 when the command line is wrong.\n");
}

static int s_parse (flags_t *f, int argc, char **argv)
{
    const rally_arg_t table[] = {
        RALLY_ARGS_STRING ("--broker", &f->broker),
        RALLY_ARGS_STRING ("--config", &f->config),
        RALLY_ARGS_UINT ("--timeout", &f->timeout_ms, 1, 600000, NULL),
        RALLY_ARGS_UINT ("--node", &f->node, 1, RALLY_NODE_ID_MAX, NULL),
        RALLY_ARGS_SWITCH ("--json", NULL, &f->json),
        RALLY_ARGS_STRING ("--player", &f->player),
        RALLY_ARGS_STRING ("--key", &f->key),
        RALLY_ARGS_SWITCH ("--insecure-plaintext", NULL, &f->plaintext),
        RALLY_ARGS_SWITCH ("--help", "-h", &f->help),
    };
    int rc = rally_args_parse (PROGRAM, table,
                               sizeof (table) / sizeof (table[0]), argc, argv,
                               &f->command, 1);
    if (rc || f->help)
        return rc;
    if (!f->command)
        return rally_args_fail (PROGRAM, "no command");
    if (!streq (f->command, "status") && !streq (f->command, "health")
    &&  !streq (f->command, "results") && !streq (f->command, "leaderboard")
    &&  !streq (f->command, "keys"))
        return rally_args_fail (PROGRAM, "unknown command '%s'", f->command);
    if (f->json && streq (f->command, "health"))
        return rally_args_fail (PROGRAM, "--json: only for status, results and"
                                " leaderboard");
    bool records = streq (f->command, "results")
                || streq (f->command, "leaderboard");
    if (f->player && !records)
        return rally_args_fail (PROGRAM, "--player: only for results and"
                                " leaderboard");
    char reason[RALLY_REASON_BUF];
    if (f->player && !rally_msg_name_valid (f->player, reason, sizeof reason))
        return rally_args_fail (PROGRAM, "--player '%s': %s", f->player,
                                reason);
    if (f->node && !streq (f->command, "health"))
        return rally_args_fail (PROGRAM, "--node: only for health");
    return 0;
}

//  --------------------------------------------------------------------------
//  Asking

static rally_keys_t *s_keys;    //  the operator's

//  Sends self's endpoint a status request. Returns 0, or -1 with why in
//  self->reason. Until an answer comes, the reason is that none came.
static int s_ask_start (ask_t *self, uint32_t timeout_ms)
{
    snprintf (self->reason, sizeof (self->reason),
              "no answer within %" PRIu32 " ms", timeout_ms);
    self->answered = false;
    self->dealer = rally_msg_socket_new (ZMQ_DEALER);
    rally_msg_t request = self->request;
    if (request.type == 0)
        rally_msg_init (&request, RALLY_MSG_STATUS);
    if (!self->dealer)
        snprintf (self->reason, sizeof (self->reason), "no socket to ask on");
    else if (!rally_keys_plaintext (s_keys)
             && rally_keys_client (s_keys, self->dealer, self->key))
        snprintf (self->reason, sizeof (self->reason), "no public key for "
                  "it in the key directory");
    else if (zsock_connect (self->dealer, "%s",
                            self->peer ? self->peer : self->endpoint) == -1)
        snprintf (self->reason, sizeof (self->reason), "cannot connect");
    else if (rally_msg_send (&request, self->dealer) == 0)
        return 0;
    zsock_destroy (&self->dealer);
    return -1;
}

//  Reads one frame from self's socket: the answer if it is of type want,
//  else the reason it is not. Returns 0, or -1 if no frame came.
static int s_ask_take (ask_t *self, rally_msg_type_t want)
{
    zframe_t *frame = zframe_recv (self->dealer);
    if (!frame)
        return -1;
    rally_msg_t *reply = &self->reply;
    char why[RALLY_REASON_BUF];
    if (rally_msg_decode (reply, zframe_data (frame), zframe_size (frame),
                          why, sizeof (why)))
        snprintf (self->reason, sizeof (self->reason),
                  "sent a bad answer (%s)", why);
    else if (reply->type == want)
        self->answered = true;
    else if (reply->type == RALLY_MSG_ERROR)
        snprintf (self->reason, sizeof (self->reason), "sent an error: %s: %s",
                  reply->u.error.code, reply->u.error.reason);
    else
        snprintf (self->reason, sizeof (self->reason),
                  "sent an unexpected '%s'", rally_msg_type_name (reply->type));
    zframe_destroy (&frame);
    return 0;
}

//  The ask whose socket is dealer: one of ours, or the poller is wrong.
static ask_t *s_ask_of (ask_t *asks, size_t count, void *dealer)
{
    for (size_t i = 0; i < count; i++)
        if (asks[i].dealer == dealer)
            return &asks[i];
    assert (false);
    return NULL;
}

//  Asks count endpoints at once and waits, up to timeout_ms in all, for
//  each one's answer of type want: a dead broker delays nobody else's.
//  An endpoint is asked once and answers once, so whatever it sends first,
//  right or wrong, is final.
static void s_ask_all (ask_t *asks, size_t count, rally_msg_type_t want,
                       uint32_t timeout_ms)
{
    zpoller_t *poller = zpoller_new (NULL);
    assert (poller);
    size_t waiting = 0;
    for (size_t i = 0; i < count; i++)
        if (s_ask_start (&asks[i], timeout_ms) == 0
            && zpoller_add (poller, asks[i].dealer) == 0)
            waiting++;
    int64_t deadline = zclock_mono () + timeout_ms;
    int64_t left;
    while (waiting && (left = deadline - zclock_mono ()) > 0) {
        void *which = zpoller_wait (poller, (int) left);
        if (!which)
            break;
        ask_t *ask = s_ask_of (asks, count, which);
        if (s_ask_take (ask, want) == 0) {
            zpoller_remove (poller, which);
            zsock_destroy (&ask->dealer);
            waiting--;
        }
    }
    zpoller_destroy (&poller);
    for (size_t i = 0; i < count; i++)
        zsock_destroy (&asks[i].dealer);
}

//  Broker i's view, or NULL if it did not answer.
static const rally_msg_cluster_t *s_view (const report_t *r, size_t i)
{
    return r->brokers[i].answered ? &r->brokers[i].reply.u.cluster : NULL;
}

//  The leader to show: the one a majority of the brokers that answered
//  name (none, too, can win), in the highest term any of them gives; else,
//  when they split, the first answering broker's.
static void s_choose_leader (report_t *r)
{
    for (size_t i = 0; i < r->broker_count; i++) {
        const rally_msg_cluster_t *mine = s_view (r, i);
        size_t naming = 0;
        uint64_t term = 0;
        for (size_t j = 0; mine && j < r->broker_count; j++) {
            const rally_msg_cluster_t *other = s_view (r, j);
            if (other && other->leader == mine->leader) {
                naming++;
                term = other->term > term ? other->term : term;
            }
        }
        if (2 * naming > r->answered) {
            r->leader = mine->leader;
            r->term = term;
            r->agreeing = naming;
            return;
        }
    }
    r->leader = r->table->reply.u.cluster.leader;
    r->term = r->table->reply.u.cluster.term;
}

//  Asks every broker; returns 0 if at least one answered, else -1.
static int s_ask_brokers (report_t *r, uint32_t timeout_ms)
{
    s_ask_all (r->brokers, r->broker_count, RALLY_MSG_CLUSTER, timeout_ms);
    for (size_t i = 0; i < r->broker_count; i++) {
        if (!r->brokers[i].answered)
            continue;
        r->answered++;
        if (!r->table)
            r->table = &r->brokers[i];
    }
    if (!r->table)
        return -1;
    s_choose_leader (r);
    return 0;
}

//  The node to ask for matches: the leader, else the first live node.
static const rally_node_info_t *s_pick_node (const report_t *r)
{
    const rally_msg_cluster_t *c = &r->table->reply.u.cluster;
    const rally_node_info_t *live = NULL;
    for (uint32_t i = 0; i < c->node_count; i++) {
        const rally_node_info_t *n = &c->nodes[i];
        if (r->leader && n->id == r->leader)
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

static void s_print_text_leader (const report_t *r)
{
    if (r->leader)
        printf ("leader: node %" PRIu32 ", term %" PRIu64, r->leader, r->term);
    else
        printf ("leader: none, term %" PRIu64, r->term);
    if (r->broker_count == 1)
        printf (" (broker %s)\n", r->table->endpoint);
    else if (r->agreeing)
        printf (" (%zu of %zu answering brokers agree)\n", r->agreeing,
                r->answered);
    else
        printf (" (the brokers disagree: as %s says)\n", r->table->endpoint);
}

static void s_print_text_brokers (const report_t *r)
{
    int width = 0;
    for (size_t i = 0; i < r->broker_count; i++) {
        int len = (int) strlen (r->brokers[i].endpoint);
        width = len > width ? len : width;
    }
    for (size_t i = 0; i < r->broker_count; i++) {
        const ask_t *b = &r->brokers[i];
        const rally_msg_cluster_t *c = s_view (r, i);
        printf ("broker %-*s  ", width, b->endpoint);
        if (!c)
            printf ("unreachable (%s)\n", b->reason);
        else if (c->lease_holder)
            printf ("lease: node %" PRIu32 ", term %" PRIu64 ", %" PRIu32
                    " ms left\n", c->lease_holder, c->lease_term, c->lease_ms);
        else
            printf ("no lease\n");
    }
}

static void s_print_text_nodes (const report_t *r)
{
    const rally_msg_cluster_t *c = &r->table->reply.u.cluster;
    if (c->node_count == 0) {
        printf ("nodes: none heard by broker %s\n", r->table->endpoint);
        return;
    }
    printf ("nodes, as broker %s heard them:\n", r->table->endpoint);
    printf ("%4s  %-8s  %6s  %10s  %6s  %6s  %7s  %7s  %7s  %s\n", "id",
            "role", "term", "seq", "lag", "behind", "age ms", "matches",
            "players", "game");
    for (uint32_t i = 0; i < c->node_count; i++) {
        const rally_node_info_t *n = &c->nodes[i];
        char lag[24] = "-", behind[16] = "-";
        if (n->role != RALLY_ROLE_LEADER) {
            snprintf (lag, sizeof (lag), "%" PRIu64, n->lag);
            snprintf (behind, sizeof (behind), "%" PRIu32, n->behind);
        }
        printf ("%4" PRIu32 "  %-8s  %6" PRIu64 "  %10" PRIu64 "  %6s  %6s  %7"
                PRIu32 "  %7" PRIu32 "  %7" PRIu32 "  %s%s\n",
                n->id, s_role (n->role), n->term, n->seq, lag, behind, n->age_ms,
                n->matches, n->players, n->game,
                n->age_ms < r->liveness_ms ? "" : "  (quiet)");
    }
}

static void s_print_text_matches (const report_t *r)
{
    if (!r->asked_node) {
        printf ("matches: unknown (no live node to ask)\n");
        return;
    }
    if (!r->node.answered) {
        printf ("matches: unknown (node %" PRIu32 " did not answer)\n",
                r->asked_node);
        return;
    }
    const rally_msg_matches_t *m = &r->node.reply.u.matches;
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

static void s_print_text (const report_t *r)
{
    s_print_text_leader (r);
    s_print_text_brokers (r);
    s_print_text_nodes (r);
    s_print_text_matches (r);
}

//  A node id as JSON: null for 0, which means none.
static void s_print_json_id (uint32_t id)
{
    if (id)
        printf ("%" PRIu32, id);
    else
        printf ("null");
}

static void s_print_json_broker (const ask_t *b)
{
    const rally_msg_cluster_t *c = b->answered ? &b->reply.u.cluster : NULL;
    printf ("{\"endpoint\": ");
    rally_json_string (stdout, b->endpoint);
    printf (", \"reachable\": %s, \"lease_holder\": ", c ? "true" : "false");
    if (c) {
        s_print_json_id (c->lease_holder);
        printf (", \"lease_term\": %" PRIu64 ", \"lease_ms\": %" PRIu32 "}",
                c->lease_term, c->lease_ms);
    }
    else
        printf ("null, \"lease_term\": null, \"lease_ms\": null}");
}

static void s_print_json_node (const report_t *r, const rally_node_info_t *n)
{
    printf ("{\"id\": %" PRIu32 ", \"role\": \"%s\", \"term\": %" PRIu64
            ", \"seq\": %" PRIu64 ", \"lag\": %" PRIu64 ", \"behind\": %"
            PRIu32 ", \"age_ms\": %" PRIu32 ", \"live\": %s, \"matches\": %"
            PRIu32 ", \"players\": %" PRIu32 ", \"game\": ",
            n->id, s_role (n->role), n->term, n->seq, n->lag, n->behind,
            n->age_ms,
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

static void s_print_json_matches (const report_t *r)
{
    const rally_msg_matches_t *m = &r->node.reply.u.matches;
    if (!r->node.answered) {
        printf (", \"waiting\": null, \"matches\": null");
        return;
    }
    printf (", \"waiting\": %" PRIu32 ", \"matches\": [", m->waiting);
    for (uint32_t i = 0; i < m->count; i++) {
        printf (i ? ", " : "");
        s_print_json_match (&m->matches[i]);
    }
    printf ("]");
}

static void s_print_json (const report_t *r)
{
    const rally_msg_cluster_t *c = &r->table->reply.u.cluster;
    printf ("{\"broker\": ");
    rally_json_string (stdout, r->table->endpoint);
    printf (", \"term\": %" PRIu64 ", \"leader\": ", r->term);
    s_print_json_id (r->leader);
    printf (", \"brokers\": [");
    for (size_t i = 0; i < r->broker_count; i++) {
        printf (i ? ", " : "");
        s_print_json_broker (&r->brokers[i]);
    }
    printf ("], \"nodes\": [");
    for (uint32_t i = 0; i < c->node_count; i++) {
        printf (i ? ", " : "");
        s_print_json_node (r, &c->nodes[i]);
    }
    printf ("]");
    s_print_json_matches (r);
    printf ("}\n");
}

//  --------------------------------------------------------------------------
//  Main: only wiring

static void s_ask_broker (ask_t *ask, const rally_cluster_t *cluster,
                          size_t i)
{
    char name[32];
    snprintf (name, sizeof (name), "broker%u", cluster->broker_index[i]);
    ask->endpoint = cluster->brokers[i];
    ask->peer = *cluster->broker_peers[i] ? cluster->broker_peers[i]
                                          : cluster->brokers[i];
    ask->key = rally_keys_of (s_keys, name);
}

static void s_ask_node (ask_t *ask, const rally_node_conf_t *node)
{
    char name[32];
    snprintf (name, sizeof (name), "node%u", node->id);
    ask->endpoint = node->peer;
    ask->peer = node->peer;
    ask->key = rally_keys_of (s_keys, name);
}

//  Asks the chosen node for its matches; says on stderr, for a person,
//  why it did not answer.
static void s_ask_matches (report_t *r, uint32_t timeout_ms, bool json)
{
    const rally_node_info_t *node = s_pick_node (r);
    if (!node)
        return;
    r->asked_node = node->id;
    //  Matches are asked on the node's peer endpoint, which only the
    //  cluster file names.
    const rally_node_conf_t *conf = rally_cluster_node (r->cluster, node->id);
    if (!conf || !*conf->peer) {
        if (!json)
            fprintf (stderr, "rallyctl: node %" PRIu32 " has no peer endpoint "
                     "in the cluster file\n", node->id);
        return;
    }
    s_ask_node (&r->node, conf);
    s_ask_all (&r->node, 1, RALLY_MSG_MATCHES, timeout_ms);
    if (!r->node.answered && !json)
        fprintf (stderr, "rallyctl: node %" PRIu32 " at %s: %s\n", node->id,
                 conf->peer, r->node.reason);
}

static int s_status (const rally_cluster_t *cluster, uint32_t timeout_ms,
                     bool json)
{
    report_t *r = (report_t *) zmalloc (sizeof (report_t));
    assert (r);
    r->cluster = cluster;
    r->liveness_ms = cluster->liveness_ms;
    r->broker_count = cluster->broker_count;
    for (size_t i = 0; i < r->broker_count; i++)
        s_ask_broker (&r->brokers[i], cluster, i);
    int rc = s_ask_brokers (r, timeout_ms);
    if (rc)
        for (size_t i = 0; i < r->broker_count; i++)
            fprintf (stderr, "rallyctl: the broker at %s: %s\n",
                     r->brokers[i].endpoint, r->brokers[i].reason);
    else {
        s_ask_matches (r, timeout_ms, json);
        if (json)
            s_print_json (r);
        else
            s_print_text (r);
    }
    free (r);
    return rc ? 1 : 0;
}

//  --------------------------------------------------------------------------
//  Results and the leaderboard

static void s_print_result (const rally_result_t *x, bool json)
{
    const char *winner = x->winner == 0 || x->winner == 1
                       ? x->names[x->winner]: NULL;
    if (!json) {
        printf ("  match %-6" PRIu32 " %s v %s  %" PRIu32 "-%" PRIu32 "  %s%s%s\n",
                x->match, x->names[0], x->names[1], x->score[0], x->score[1],
                winner? winner: "no winner", winner? " wins": "",
                x->forfeit? " by forfeit": "");
        return;
    }
    printf ("{\"match\": %" PRIu32 ", \"names\": [", x->match);
    rally_json_string (stdout, x->names[0]);
    printf (", ");
    rally_json_string (stdout, x->names[1]);
    printf ("], \"score\": [%" PRIu32 ", %" PRIu32 "], \"winner\": ",
            x->score[0], x->score[1]);
    if (winner)
        rally_json_string (stdout, winner);
    else
        printf ("null");
    printf (", \"forfeit\": %s}", x->forfeit? "true": "false");
}

static void s_print_results (uint32_t node, const rally_msg_results_t *m,
                             bool json)
{
    if (!json) {
        printf ("finished matches, latest first (node %" PRIu32 "): %" PRIu32
                "%s\n", node, m->count,
                m->count == RALLY_RESULTS_MAX? " (the latest ones)": "");
        for (uint32_t i = 0; i < m->count; i++)
            s_print_result (&m->results[i], false);
        return;
    }
    printf ("{\"node\": %" PRIu32 ", \"results\": [", node);
    for (uint32_t i = 0; i < m->count; i++) {
        printf (i? ", ": "");
        s_print_result (&m->results[i], true);
    }
    printf ("]}\n");
}

static void s_print_record (const rally_record_t *x, int rank, bool json)
{
    if (!json) {
        printf ("  %3d  %-20s %5" PRIu32 " %6" PRIu32 " %8" PRIu32 "\n",
                rank, x->name, x->wins, x->losses, x->forfeits);
        return;
    }
    printf ("{\"name\": ");
    rally_json_string (stdout, x->name);
    printf (", \"wins\": %" PRIu32 ", \"losses\": %" PRIu32
            ", \"forfeits\": %" PRIu32 "}", x->wins, x->losses, x->forfeits);
}

static void s_print_board (uint32_t node, const rally_msg_board_t *m,
                           bool json)
{
    if (!json) {
        printf ("leaderboard (node %" PRIu32 "): %" PRIu32 " players\n"
                "  rank name                  wins losses forfeits\n",
                node, m->players);
        for (uint32_t i = 0; i < m->count; i++)
            s_print_record (&m->top[i], (int) i + 1, false);
        if (m->own.name[0]) {
            printf ("record of %s: %" PRIu32 " wins, %" PRIu32 " losses (%"
                    PRIu32 " by forfeit)\n", m->own.name, m->own.wins,
                    m->own.losses, m->own.forfeits);
        }
        return;
    }
    printf ("{\"node\": %" PRIu32 ", \"players\": %" PRIu32 ", \"top\": [",
            node, m->players);
    for (uint32_t i = 0; i < m->count; i++) {
        printf (i? ", ": "");
        s_print_record (&m->top[i], (int) i + 1, true);
    }
    printf ("], \"player\": ");
    if (m->own.name[0])
        s_print_record (&m->own, 0, true);
    else
        printf ("null");
    printf ("}\n");
}

//  Asks the node status would ask for the stored matches or the board.
static int s_records (const rally_cluster_t *cluster, const flags_t *f)
{
    report_t *r = (report_t *) zmalloc (sizeof (report_t));
    assert (r);
    r->cluster = cluster;
    r->liveness_ms = cluster->liveness_ms;
    r->broker_count = cluster->broker_count;
    for (size_t i = 0; i < r->broker_count; i++)
        s_ask_broker (&r->brokers[i], cluster, i);
    int rc = s_ask_brokers (r, f->timeout_ms);
    const rally_node_info_t *node = rc? NULL: s_pick_node (r);
    const rally_node_conf_t *conf = node ? rally_cluster_node (cluster, node->id)
                                         : NULL;
    if (node && (!conf || !*conf->peer)) {
        fprintf (stderr, "rallyctl: node %" PRIu32 " has no peer endpoint in "
                 "the cluster file\n", node->id);
        free (r);
        return 1;
    }
    bool board = streq (f->command, "leaderboard");
    if (node) {
        s_ask_node (&r->node, conf);
        rally_msg_t *req = &r->node.request;
        rally_msg_init (req, board? RALLY_MSG_STANDINGS: RALLY_MSG_HISTORY);
        const char *name = f->player? f->player: "";
        if (board)
            snprintf (req->u.standings.name, sizeof (req->u.standings.name),
                      "%s", name);
        else
            snprintf (req->u.history.name, sizeof (req->u.history.name),
                      "%s", name);
        s_ask_all (&r->node, 1, board? RALLY_MSG_BOARD: RALLY_MSG_RESULTS,
                   f->timeout_ms);
    }
    if (!node)
        fprintf (stderr, "rallyctl: no broker names a live node\n");
    else
    if (!r->node.answered)
        fprintf (stderr, "rallyctl: node %" PRIu32 " at %s: %s\n", node->id,
                 conf->peer, r->node.reason);
    else
    if (board)
        s_print_board (node->id, &r->node.reply.u.board, f->json);
    else
        s_print_results (node->id, &r->node.reply.u.results, f->json);
    rc = node && r->node.answered? 0: 1;
    free (r);
    return rc;
}

//  Asks the brokers, or only node id when id is not 0, and says of each
//  whether it answered. Returns 0 if every one did, else 1.
static int s_health (const rally_cluster_t *cluster, uint32_t id,
                     uint32_t timeout_ms)
{
    ask_t asks[RALLY_CLUSTER_BROKERS_MAX];
    memset (asks, 0, sizeof (asks));
    size_t count = cluster->broker_count;
    rally_msg_type_t want = RALLY_MSG_CLUSTER;
    if (id) {
        const rally_node_conf_t *node = rally_cluster_node (cluster, id);
        if (!node) {
            fprintf (stderr, "rallyctl: node %" PRIu32 " is not in the "
                     "cluster file\n", id);
            return 1;
        }
        s_ask_node (&asks[0], node);
        count = 1;
        want = RALLY_MSG_MATCHES;
    }
    else
        for (size_t i = 0; i < count; i++)
            s_ask_broker (&asks[i], cluster, i);
    s_ask_all (asks, count, want, timeout_ms);
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        const char *what = id ? "node" : "broker";
        if (asks[i].answered)
            printf ("%s %s: answers\n", what, asks[i].endpoint);
        else {
            printf ("%s %s: %s\n", what, asks[i].endpoint, asks[i].reason);
            rc = 1;
        }
    }
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

    //  rallyctl is a command, not a service: Ctrl-C should just stop it.
    zsys_handler_set (NULL);
    if (streq (flags.command, "keys")) {
        if (rally_keys_make (&cluster, stdout, reason, sizeof (reason))) {
            fprintf (stderr, "rallyctl: %s\n", reason);
            return 1;
        }
        return 0;
    }
    char why[RALLY_REASON_BUF * 2];
    s_keys = rally_keys_open_member (&cluster, PROGRAM, "operator", flags.key,
                                     NULL, flags.plaintext, why, sizeof (why));
    if (!s_keys) {
        fprintf (stderr, "rallyctl: %s\n", why);
        return 1;
    }
    if (streq (flags.command, "health"))
        rc = s_health (&cluster, flags.node, flags.timeout_ms);
    else if (!streq (flags.command, "status"))
        rc = s_records (&cluster, &flags);
    else
        rc = s_status (&cluster, flags.timeout_ms, flags.json);
    rally_keys_destroy (&s_keys);
    return rc;
}
