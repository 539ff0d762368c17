/*  rally-bot - headless players: many clients in one process, one loop.

    Only wiring: read the flags, make one rally_client per player, then one
    loop: poll every client's sockets until the nearest timer, pump each
    client with the time, print its events as JSON lines on stdout, and
    steer the paddles of those that are playing. Logs go to stderr.

    Exit codes: 0 when every client has played its matches (or on SIGINT or
    SIGTERM), 1 when a client is refused for good, 2 on a bad command line,
    3 when --timeout passes first.
*/
#include "rally_args.h"
#include "rally_client.h"
#include "rally_cluster.h"
#include "rally_json.h"
#include "rally_limits.h"
#include "bot_ai.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define BOT_CLIENTS_MAX     256
#define PROGRAM             "rally-bot"

typedef struct {
    rally_args_list_t brokers;  //  --broker, each time it is given
    const char *config;         //  --config, NULL if not given
    const char *name;           //  --name
    uint32_t clients;           //  --clients
    uint32_t matches;           //  --matches, 0 = forever
    double skill;               //  --skill
    uint64_t seed;              //  --seed
    bool trace;                 //  --trace
    uint32_t timeout_s;         //  --timeout, 0 = none
    rally_args_list_t broker_keys;  //  --broker-key, each time it is given
    bool plaintext;             //  --insecure-plaintext
} flags_t;

typedef struct {
    rally_client_t *client;     //  the session
    bot_ai_t ai;                //  its player
    uint64_t seed;              //  seed for each new match's player
    uint32_t done;              //  matches finished
    int64_t steered_ms;         //  view.last_ms the intent was chosen from
} player_t;

static int64_t s_start_ms;      //  t_ms counts from here

static void s_usage (FILE *out)
{
    fprintf (out,
        "usage: rally-bot [flags]\n"
        "\n"
        "Plays Rally with computer players: each client finds the leader\n"
        "through the brokers, joins, plays its matches and leaves, and when\n"
        "the leader changes, finds it again and carries on. Prints one JSON\n"
        "object per event on stdout (joined, queued, match_start, point,\n"
        "match_end, reconnect, error; with --trace also tick). A reconnect's\n"
        "gap_ms is what the player missed: in a match, from the last state\n"
        "before the silence to the first after it.\n"
        "\n"
        "  --broker ENDPOINT   a broker to ask; repeat for more, up to %d\n"
        "                      (default tcp://127.0.0.1:5600, or the brokers\n"
        "                      of --config)\n"
        "  --config FILE       cluster file (ZPL; see config/README.md;\n"
        "                      default $RALLY_CONFIG)\n"
        "  --name NAME         username (default \"bot\"); with --clients N > 1\n"
        "                      the names are NAME-0 .. NAME-(N-1)\n"
        "  --clients N         players in this process, 1..256 (default 1)\n"
        "  --matches M         matches per player, 0 = forever (default 1);\n"
        "                      a match lost to a node restart counts\n"
        "  --skill S           0..1, 1 returns nearly everything (default 0.8)\n"
        "  --seed N            seed for the players' aim errors (default 1)\n"
        "  --trace             print a tick line for every state received,\n"
        "                      as it came (even one behind the last)\n"
        "  --timeout SECONDS   exit 3 if not done by then (default 0 = none)\n"
        "  --broker-key KEY    the broker's public key (Z85, or a certificate\n"
        "                      file); repeat, in the order of the brokers\n"
        "                      (default: KEYS/broker<N>.cert of the cluster\n"
        "                      file, else $RALLY_BROKER_KEY)\n"
        "  --insecure-plaintext  no CURVE (for a cluster run so); says so in\n"
        "                      every log line\n"
        "  -h, --help          print this and exit\n"
        "\n"
        "Exit status: 0 done (or interrupted), 1 a player refused for good,\n"
        "2 a bad command line, 3 timed out.\n", RALLY_CLUSTER_BROKERS_MAX);
}

//  --------------------------------------------------------------------------
//  Flags

//  Player i's username: --name, with -i appended when there are several.
static void s_player_name (const flags_t *flags, uint32_t i, char *buf,
                           size_t size)
{
    if (flags->clients == 1)
        snprintf (buf, size, "%s", flags->name);
    else
        snprintf (buf, size, "%s-%u", flags->name, i);
}

//  Returns -1 to go on, else the exit code.
static int s_parse (int argc, char **argv, flags_t *flags)
{
    *flags = (flags_t) {
        .name = "bot", .clients = 1, .matches = 1, .skill = 0.8, .seed = 1 };
    bool help = false;
    const rally_arg_t table[] = {
        RALLY_ARGS_LIST ("--broker", &flags->brokers),
        RALLY_ARGS_STRING ("--config", &flags->config),
        RALLY_ARGS_STRING ("--name", &flags->name),
        RALLY_ARGS_UINT ("--clients", &flags->clients,
                         1, BOT_CLIENTS_MAX, NULL),
        RALLY_ARGS_UINT ("--matches", &flags->matches, 0, UINT32_MAX, NULL),
        RALLY_ARGS_FRACTION ("--skill", &flags->skill),
        RALLY_ARGS_U64 ("--seed", &flags->seed),
        RALLY_ARGS_UINT ("--timeout", &flags->timeout_s, 0, 86400 * 365, NULL),
        RALLY_ARGS_SWITCH ("--trace", NULL, &flags->trace),
        RALLY_ARGS_LIST ("--broker-key", &flags->broker_keys),
        RALLY_ARGS_SWITCH ("--insecure-plaintext", NULL, &flags->plaintext),
        RALLY_ARGS_SWITCH ("--help", "-h", &help),
    };
    int rc = rally_args_parse (PROGRAM, table,
                               sizeof (table) / sizeof (table[0]), argc, argv,
                               NULL, 0);
    if (rc)
        return rc;
    if (help) {
        s_usage (stdout);
        return 0;
    }
    for (uint32_t i = 0; i < flags->clients; i++) {
        char name[RALLY_NAME_BUF + 8], reason[RALLY_REASON_BUF];
        s_player_name (flags, i, name, sizeof (name));
        if (!rally_msg_name_valid (name, reason, sizeof (reason)))
            return rally_args_fail (PROGRAM, "bad name '%s': %s", name, reason);
    }
    return -1;
}

//  --------------------------------------------------------------------------
//  Output: one JSON object per line, flushed, so a reader sees it at once.

static const char *s_side (int32_t side)
{
    return side == RALLY_SIDE_LEFT? "left": side == RALLY_SIDE_RIGHT? "right": "none";
}

static const char *s_phase (uint32_t phase)
{
    static const char *names[] = { "serve", "play", "paused", "over" };
    return phase < 4? names[phase]: "unknown";
}

static void s_begin (const char *event, size_t client, const rally_event_t *ev)
{
    printf ("{\"event\":\"%s\",\"client\":%zu,\"t_ms\":%" PRId64,
            event, client, ev->t_ms - s_start_ms);
}

static void s_key_string (const char *key, const char *value)
{
    printf (",\"%s\":", key);
    rally_json_string (stdout, value);
}

static void s_score (const rally_event_t *ev)
{
    printf (",\"score\":[%u,%u]", ev->score[0], ev->score[1]);
}

static void s_end (void)
{
    printf ("}\n");
    fflush (stdout);
}

static void s_print (size_t client, const rally_event_t *ev, bool trace)
{
    switch (ev->type) {
        case RALLY_EVENT_JOINED:
            s_begin ("joined", client, ev);
            s_key_string ("name", ev->name);
            break;
        case RALLY_EVENT_QUEUED:
            s_begin ("queued", client, ev);
            printf (",\"position\":%u", ev->position);
            break;
        case RALLY_EVENT_MATCH_START:
            s_begin ("match_start", client, ev);
            printf (",\"match\":%u,\"side\":\"%s\"", ev->match, s_side (ev->side));
            s_key_string ("opponent", ev->opponent);
            break;
        case RALLY_EVENT_STATE:
            if (!trace)
                return;
            s_begin ("tick", client, ev);
            printf (",\"match\":%u,\"tick\":%u", ev->match, ev->tick);
            s_score (ev);
            printf (",\"phase\":\"%s\"", s_phase (ev->phase));
            break;
        case RALLY_EVENT_POINT:
            s_begin ("point", client, ev);
            printf (",\"match\":%u,\"tick\":%u", ev->match, ev->tick);
            s_score (ev);
            break;
        case RALLY_EVENT_MATCH_END:
            s_begin ("match_end", client, ev);
            printf (",\"match\":%u", ev->match);
            s_score (ev);
            if (ev->winner_name[0])
                s_key_string ("winner", ev->winner_name);
            else
                printf (",\"winner\":null");
            printf (",\"winner_side\":\"%s\",\"side\":\"%s\"",
                    s_side (ev->winner), s_side (ev->side));
            break;
        case RALLY_EVENT_RECONNECT:
            s_begin ("reconnect", client, ev);
            printf (",\"gap_ms\":%" PRId64 ",\"from_node\":%u,\"to_node\":%u"
                    ",\"term\":%" PRIu64, ev->gap_ms, ev->from_node,
                    ev->to_node, ev->term);
            break;
        case RALLY_EVENT_ERROR:
            s_begin ("error", client, ev);
            s_key_string ("code", ev->code);
            s_key_string ("reason", ev->reason);
            break;
        default:
            return;
    }
    s_end ();
}

//  --------------------------------------------------------------------------
//  Players

//  Makes every client, each asking every broker of the cluster; false
//  (with a message) if one cannot be made.
static bool s_make_players (player_t *players, const flags_t *flags,
                            const rally_cluster_t *cluster, int64_t now)
{
    for (uint32_t i = 0; i < flags->clients; i++) {
        char name[RALLY_NAME_BUF + 8];
        s_player_name (flags, i, name, sizeof (name));
        rally_client_config_t cfg;
        rally_client_config_defaults (&cfg, cluster, name);
        for (size_t k = 0; k < flags->broker_keys.count
                        && k < RALLY_CLUSTER_BROKERS_MAX; k++)
            if (rally_keys_parse (flags->broker_keys.items[k],
                                  cfg.broker_keys[k])) {
                zsys_error ("%s: --broker-key: '%s' is neither a Z85 key nor"
                            " a certificate", PROGRAM,
                            flags->broker_keys.items[k]);
                return false;
            }
        players[i].client = rally_client_new (&cfg, now);
        if (!players[i].client) {
            zsys_error ("%s: cannot start a client for broker '%s'%s", PROGRAM,
                        cluster->brokers[0],
                        cluster->broker_count > 1? " and the others": "");
            return false;
        }
        players[i].seed = flags->seed * 1000003ULL + i;
        bot_ai_init (&players[i].ai, RALLY_SIDE_LEFT, flags->skill,
                     players[i].seed);
    }
    return true;
}

static void s_destroy_players (player_t *players, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++)
        rally_client_destroy (&players[i].client);
}

//  Prints one player's events and acts on them. Returns 1 if the player
//  was refused for good, else 0.
//  A match that ended while its player was away, or that a node forgot
//  when it restarted, counts as played: --matches counts matches ended,
//  however they ended.
static bool s_match_lost (const rally_event_t *ev)
{
    return ev->type == RALLY_EVENT_ERROR
        && (streq (ev->code, "match_lost") || streq (ev->code, "session_lost"));
}

static int s_drain (player_t *p, size_t index, const flags_t *flags)
{
    rally_event_t ev;
    int failed = 0;
    while (rally_client_next_event (p->client, &ev)) {
        s_print (index, &ev, flags->trace);
        if (ev.type == RALLY_EVENT_MATCH_START) {
            p->seed++;
            bot_ai_init (&p->ai, ev.side, flags->skill, p->seed);
        }
        else
        if (ev.type == RALLY_EVENT_MATCH_END || s_match_lost (&ev)) {
            p->done++;
            if (flags->matches == 0 || p->done < flags->matches)
                rally_client_play_again (p->client);
        }
    }
    if (rally_client_view (p->client)->status == RALLY_CLIENT_FAILED)
        failed = 1;
    return failed;
}

//  Chooses a new intent when a new state has come in.
static void s_steer (player_t *p)
{
    const rally_view_t *view = rally_client_view (p->client);
    if (view->status != RALLY_CLIENT_PLAYING || !view->have_state
    ||  view->last_ms == p->steered_ms || view->last.match != view->match)
        return;
    p->steered_ms = view->last_ms;
    rally_client_set_intent (p->client, bot_ai_intent (&p->ai, &view->last));
}

static bool s_all_done (const player_t *players, const flags_t *flags)
{
    if (flags->matches == 0)
        return false;
    for (uint32_t i = 0; i < flags->clients; i++)
        if (players[i].done < flags->matches)
            return false;
    return true;
}

//  The loop; returns the exit code.
static int s_run (player_t *players, const flags_t *flags)
{
    static zmq_pollitem_t items[BOT_CLIENTS_MAX * 3];
    int64_t deadline = flags->timeout_s
                     ? s_start_ms + (int64_t) flags->timeout_s * 1000: 0;
    while (!zsys_interrupted) {
        int64_t now = zclock_mono ();
        int count = 0;
        int64_t wait = 1000;
        for (uint32_t i = 0; i < flags->clients; i++) {
            count += rally_client_pollitems (players[i].client, items + count,
                                             3);
            int64_t t = rally_client_timeout (players[i].client, now);
            if (t < wait)
                wait = t;
        }
        if (deadline && deadline - now < wait)
            wait = deadline > now? deadline - now: 0;
        if (zmq_poll (items, count, (long) wait) == -1 && errno != EINTR) {
            zsys_error ("%s: poll failed: %s", PROGRAM, zmq_strerror (errno));
            return 1;
        }
        now = zclock_mono ();
        for (uint32_t i = 0; i < flags->clients; i++) {
            rally_client_pump (players[i].client, now);
            if (s_drain (&players[i], i, flags))
                return 1;
            s_steer (&players[i]);
        }
        if (s_all_done (players, flags))
            return 0;
        if (deadline && now >= deadline) {
            zsys_warning ("%s: timed out after %u s", PROGRAM, flags->timeout_s);
            return 3;
        }
    }
    return 0;
}

int main (int argc, char **argv)
{
    flags_t flags;
    int code = s_parse (argc, argv, &flags);
    if (code >= 0)
        return code;

    static rally_cluster_t cluster;
    char reason[RALLY_REASON_BUF];
    if (rally_cluster_configure (&cluster, flags.config, flags.brokers.items,
                                 flags.brokers.count, reason, sizeof (reason)))
        return rally_args_fail (PROGRAM, "%s", reason);

    //  CZMQ catches SIGINT and SIGTERM and sets zsys_interrupted.
    zsys_init ();
    zsys_set_logstream (stderr);
    s_start_ms = zclock_mono ();
    //  One key for every player of the process, for as long as it runs.
    rally_keys_t *keys = flags.plaintext ? rally_keys_plaintext_new (PROGRAM)
                                         : rally_keys_player_new (NULL);
    rally_client_set_keys (keys);
    //  Each player holds a few connections: hundreds of them pass 1,024.
    uint64_t limit = 0;
    if (rally_limits_raise_nofile (&limit))
        zsys_warning ("rally-bot: descriptor limit stays %" PRIu64, limit);

    static player_t players[BOT_CLIENTS_MAX];
    if (!s_make_players (players, &flags, &cluster, s_start_ms)) {
        s_destroy_players (players, flags.clients);
        rally_keys_destroy (&keys);
        return 1;
    }
    code = s_run (players, &flags);
    s_destroy_players (players, flags.clients);
    rally_keys_destroy (&keys);
    return code;
}
