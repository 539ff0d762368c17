/*  make_corpus - writes the seed corpus of every fuzz target with Rally's
    own encoders, so that the seeds are valid frames of today's wire.

    Usage: make_corpus DIR; writes DIR/<target>/seed-<what> files (the
    cluster seeds are copies of the files in config/, made by the make-corpus
    script). Deterministic: the same code writes the same bytes.
*/
#include "lobby.h"
#include "rally_msg.h"
#include "rally_repl.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static const char *s_dir;

//  This tool runs in release builds too, where assert is compiled out.
#define S_NEED(cond) \
    do { \
        if (!(cond)) { \
            fprintf (stderr, "make_corpus: %s:%d: %s\n", __FILE__, \
                     __LINE__, #cond); \
            exit (1); \
        } \
    } while (0)

static void s_write (const char *target, const char *what,
                     const void *data, size_t size)
{
    char path[1024];
    snprintf (path, sizeof (path), "%s/%s", s_dir, target);
    if (mkdir (path, 0755) && errno != EEXIST) {
        perror (path);
        exit (1);
    }
    snprintf (path, sizeof (path), "%s/%s/seed-%s", s_dir, target, what);
    FILE *file = fopen (path, "wb");
    if (!file || fwrite (data, 1, size, file) != size || fclose (file)) {
        perror (path);
        exit (1);
    }
}

static void s_write_frame (const char *target, const char *what,
                           zframe_t **frame_p)
{
    S_NEED (*frame_p);
    s_write (target, what, zframe_data (*frame_p), zframe_size (*frame_p));
    zframe_destroy (frame_p);
}

//  --------------------------------------------------------------------------
//  Messages

static void s_token (uint8_t *token, int n)
{
    for (int i = 0; i < RALLY_TOKEN_SIZE; i++)
        token[i] = (uint8_t) (n * 37 + i);
}

static void s_origin (rally_origin_t *from)
{
    from->term = 7;
    from->node = 2;
}

//  Fills msg, already of its type, with values in range.
static void s_fill (rally_msg_t *msg)
{
    const char *game = "tcp://127.0.0.1:5602", *state = "tcp://127.0.0.1:5603";
    switch (msg->type) {
        case RALLY_MSG_LEADER:
            s_origin (&msg->u.leader.from);
            strcpy (msg->u.leader.game, game);
            strcpy (msg->u.leader.state, state);
            break;
        case RALLY_MSG_NODE_HB: {
            rally_msg_node_hb_t *hb = &msg->u.node_hb;
            s_origin (&hb->from);
            hb->role = 1;
            hb->seq = 123456;
            hb->matches = 3;
            hb->players = 7;
            strcpy (hb->game, game);
            strcpy (hb->state, state);
            hb->want = 7;
            hb->nonce = 99;
            break;
        }
        case RALLY_MSG_JOIN:
            strcpy (msg->u.join.name, "alice");
            break;
        case RALLY_MSG_JOINED:
            s_origin (&msg->u.joined.from);
            s_token (msg->u.joined.token, 1);
            strcpy (msg->u.joined.name, "alice");
            msg->u.joined.match = 4;
            break;
        case RALLY_MSG_RESUME: case RALLY_MSG_REQUEUE: case RALLY_MSG_LEAVE:
            s_token (msg->u.resume.token, 1);
            break;
        case RALLY_MSG_QUEUED:
            s_origin (&msg->u.queued.from);
            msg->u.queued.position = 2;
            strcpy (msg->u.queued.name, "bob");
            break;
        case RALLY_MSG_MATCH:
            s_origin (&msg->u.match.from);
            msg->u.match.match = 4;
            msg->u.match.side = 1;
            msg->u.match.points = 11;
            msg->u.match.tick_hz = 60;
            strcpy (msg->u.match.names[0], "alice");
            strcpy (msg->u.match.names[1], "b\xc3\xb6");
            break;
        case RALLY_MSG_INPUT:
            s_token (msg->u.input.token, 1);
            msg->u.input.intent = -1;
            break;
        case RALLY_MSG_PING:
            msg->u.ping.nonce = 5;
            break;
        case RALLY_MSG_WATCH:
            msg->u.watch.match = 4;
            break;
        case RALLY_MSG_BUSY:
            s_origin (&msg->u.busy.from);
            strcpy (msg->u.busy.code, "busy");
            strcpy (msg->u.busy.reason, "try again");
            msg->u.busy.retry_ms = 5000;
            break;
        case RALLY_MSG_CROWD:
            s_origin (&msg->u.crowd.from);
            msg->u.crowd.match = 4;
            msg->u.crowd.spectators = 2;
            msg->u.crowd.grace_ms = 7000;
            break;
        case RALLY_MSG_PONG:
            s_origin (&msg->u.pong.from);
            msg->u.pong.nonce = 5;
            break;
        case RALLY_MSG_STATE: {
            rally_msg_state_t *s = &msg->u.state;
            s_origin (&s->from);
            s->seq = 1000;
            s->match = 4;
            s->tick = 300;
            s->phase = 1;
            s->score[0] = 3;
            s->score[1] = 10;
            s->ball[0] = 1000;
            s->ball[1] = -2000;
            s->ball[2] = 30;
            s->ball[3] = -40;
            s->paddles[0] = 500;
            s->paddles[1] = -500;
            s->intents[0] = 1;
            s->countdown = 0;
            s->winner = -1;
            s->lost = 2;
            s->points = 11;
            strcpy (s->names[0], "alice");
            strcpy (s->names[1], "bob");
            break;
        }
        case RALLY_MSG_ERROR:
            rally_msg_error (msg, NULL, "bad_message", "field 'v' is missing");
            break;
        case RALLY_MSG_CLUSTER: {
            rally_msg_cluster_t *c = &msg->u.cluster;
            c->term = 7;
            c->leader = 2;
            c->lease_holder = 2;
            c->lease_term = 7;
            c->lease_ms = 150;
            c->node_count = 2;
            for (uint32_t i = 0; i < 2; i++) {
                rally_node_info_t *n = &c->nodes[i];
                n->id = i + 1;
                n->role = i;
                n->term = 7;
                n->seq = 1000 + i;
                n->age_ms = 20;
                n->matches = 1;
                n->players = 2;
                strcpy (n->game, game);
                strcpy (n->state, state);
                n->lag = 1 - i;
            }
            break;
        }
        case RALLY_MSG_MATCHES: {
            rally_msg_matches_t *m = &msg->u.matches;
            s_origin (&m->from);
            m->waiting = 1;
            m->total = 2;
            m->count = 2;
            for (uint32_t i = 0; i < 2; i++) {
                m->matches[i].match = 4 + i;
                m->matches[i].tick = 300;
                m->matches[i].phase = i;
                m->matches[i].score[1] = 5;
                strcpy (m->matches[i].names[0], "alice");
                strcpy (m->matches[i].names[1], "bob");
            }
            break;
        }
        case RALLY_MSG_SYNC: case RALLY_MSG_ACK:
            s_origin (&msg->u.sync.from);
            msg->u.sync.seq = 1000;
            break;
        case RALLY_MSG_LEASE:
            msg->u.lease.lease_term = 7;
            msg->u.lease.holder = 2;
            msg->u.lease.ms = 200;
            msg->u.lease.nonce = 99;
            break;
        case RALLY_MSG_FETCH:
            s_origin (&msg->u.fetch.from);
            msg->u.fetch.after = 3;
            break;
        case RALLY_MSG_RESULTS: {
            rally_msg_results_t *r = &msg->u.results;
            s_origin (&r->from);
            r->count = 3;
            for (uint32_t i = 0; i < 3; i++) {
                rally_result_t *res = &r->results[i];
                //  Two versions of match 2: the first stored stays.
                res->match = i == 2 ? 2 : i + 1;
                strcpy (res->names[0], "alice");
                strcpy (res->names[1], "bob");
                res->score[0] = 11;
                res->score[1] = i;
                res->winner = 0;
                res->forfeit = i == 1;
                res->term = 5 + i;
            }
            break;
        }
        case RALLY_MSG_HAVE: {
            rally_msg_have_t *h = &msg->u.have;
            s_origin (&h->from);
            h->lo = 1;
            h->hi = UINT32_MAX;
            h->top = 9;
            h->count = 2;
            h->ranges[0].lo = 1;
            h->ranges[0].hi = 3;
            h->ranges[1].lo = 7;
            h->ranges[1].hi = 9;
            break;
        }
        case RALLY_MSG_HISTORY:
            strcpy (msg->u.history.name, "alice");
            msg->u.history.before = 10;
            break;
        case RALLY_MSG_STANDINGS:
            strcpy (msg->u.standings.name, "alice");
            break;
        case RALLY_MSG_BOARD: {
            rally_msg_board_t *b = &msg->u.board;
            s_origin (&b->from);
            b->players = 2;
            strcpy (b->own.name, "alice");
            b->own.wins = 3;
            b->own.losses = 1;
            b->count = 2;
            strcpy (b->top[0].name, "alice");
            b->top[0].wins = 3;
            b->top[0].losses = 1;
            strcpy (b->top[1].name, "bob");
            b->top[1].wins = 1;
            b->top[1].losses = 3;
            b->top[1].forfeits = 1;
            break;
        }
        default:                //  a new type: its zeroes, if they encode
            break;
    }
}

static void s_messages (void)
{
    rally_msg_t *msg = (rally_msg_t *) calloc (1, sizeof (rally_msg_t));
    S_NEED (msg);
    for (int type = 1; type < RALLY_MSG_TYPE_COUNT; type++) {
        rally_msg_init (msg, (rally_msg_type_t) type);
        s_fill (msg);
        zframe_t *frame = rally_msg_encode (msg);
        const char *name = rally_msg_type_name ((rally_msg_type_t) type);
        if (!frame) {
            fprintf (stderr, "make_corpus: %s does not encode; fill it in "
                     "s_fill\n", name);
            exit (1);
        }
        s_write ("msg", name, zframe_data (frame), zframe_size (frame));
        if (type == RALLY_MSG_RESULTS)
            s_write ("results", name, zframe_data (frame),
                     zframe_size (frame));
        zframe_destroy (&frame);
    }
    free (msg);
}

//  --------------------------------------------------------------------------
//  Replication: a real lobby plays, and ships diffs and snapshots

//  The lobby's follow seed stays small: fuzzers mutate short inputs best.
#define S_FOLLOW_MAX 8192

//  One lobby frame: [op][length LE16][bytes], appended to buf.
static size_t s_lobby_frame (uint8_t *buf, size_t at, uint8_t op,
                             zframe_t *frame)
{
    size_t len = zframe_size (frame);
    S_NEED (len <= 0xffff);
    buf[at] = op;
    buf[at + 1] = (uint8_t) len;
    buf[at + 2] = (uint8_t) (len >> 8);
    memcpy (buf + at + 3, zframe_data (frame), len);
    return at + 3 + len;
}

static void s_replication (void)
{
    lobby_config_t cfg;
    lobby_config_defaults (&cfg);
    cfg.points_to_win = 1;
    cfg.grace_ms = 500;
    lobby_t *lobby = lobby_new (&cfg);
    rally_repl_t *repl = rally_repl_new (RALLY_REPL_DIFF);
    S_NEED (lobby && repl);
    //  A snapshot of the empty lobby, then every diff while five players
    //  join, two matches play, one player leaves and one goes quiet.
    static uint8_t sequence[S_FOLLOW_MAX];
    size_t at = 0;
    lobby_snapshot (lobby, repl);
    repl->from.term = 3;
    repl->from.node = 1;
    zframe_t *frame = rally_repl_encode (repl);
    at = s_lobby_frame (sequence, at, 0, frame);
    s_write_frame ("repl", "snapshot-empty", &frame);
    int64_t now = 1000;
    uint8_t token[RALLY_TOKEN_SIZE];
    const char *names[] = { "alice", "bob", "carol", "dave", "\xc3\xa9ve" };
    for (int i = 0; i < 5; i++) {
        s_token (token, i);
        lobby_join (lobby, names[i], token, token, 1, now, NULL, 0);
    }
    lobby_event_t event;
    for (int tick = 1; tick <= 400; tick++) {
        now += 17;
        for (int i = 0; i < 5; i++)
            if (i != 4 || tick < 100) {     //  eve goes quiet
                s_token (token, i);
                lobby_heard (lobby, token, now);
                lobby_input (lobby, token, (tick / 7 + i) % 3 - 1, now);
            }
        if (tick == 150) {
            s_token (token, 3);
            lobby_leave (lobby, token, now);
        }
        lobby_tick (lobby, now);
        while (lobby_next_event (lobby, &event))
            ;
        lobby_diff (lobby, repl);
        repl->from.term = 3;
        repl->from.node = 1;
        repl->seq = (uint64_t) tick;
        frame = rally_repl_encode (repl);
        S_NEED (frame);
        if (at + 3 + zframe_size (frame) < S_FOLLOW_MAX)
            at = s_lobby_frame (sequence, at, tick % 10 == 0 ? 2 : 0, frame);
        if (tick % 40 == 1 || repl->gone_match_count
            || repl->gone_player_count) {
            char what[32];
            snprintf (what, sizeof (what), "diff-%03d", tick);
            s_write_frame ("repl", what, &frame);
        }
        else
            zframe_destroy (&frame);
        if (tick % 100 == 0) {
            lobby_snapshot (lobby, repl);
            repl->from.term = 3;
            repl->from.node = 1;
            repl->seq = (uint64_t) tick;
            frame = rally_repl_encode (repl);
            char what[32];
            snprintf (what, sizeof (what), "snapshot-%03d", tick);
            zframe_t *copy = zframe_dup (frame);
            s_write_frame ("repl", what, &frame);
            //  The same snapshot alone, hashes fixed, then led on.
            uint8_t one[1 << 16];
            size_t n = s_lobby_frame (one, 0, 3 | 8 << 2, copy);
            snprintf (what, sizeof (what), "lead-%03d", tick);
            s_write ("lobby", what, one, n);
            zframe_destroy (&copy);
        }
    }
    s_write ("lobby", "follow", sequence, at);
    rally_repl_destroy (&repl);
    lobby_destroy (&lobby);
}

//  --------------------------------------------------------------------------
//  Field layer: [depth][objects / 16] then a frame

static void s_fields (void)
{
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_STATE);
    s_fill (&msg);
    zframe_t *frame = rally_msg_encode (&msg);
    uint8_t buf[4096] = { 4, 255 };
    memcpy (buf + 2, zframe_data (frame), zframe_size (frame));
    s_write ("field", "state", buf, 2 + zframe_size (frame));
    zframe_destroy (&frame);
    static const uint8_t nested[] = { 8, 1, 0x91, 0x91, 0x91, 0x81, 0xa1,
                                      'k', 0x92, 0xc3, 0xcb, 1, 2, 3, 4, 5,
                                      6, 7, 8 };
    s_write ("field", "nested", nested, sizeof (nested));
    static const uint8_t utf8[] = { 1, 1, 0xa9, 'a', 0xc3, 0xa9, 0xe2, 0x82,
                                    0xac, 0xf0, 0x9f, 0x8e, 0xbe };
    s_write ("field", "utf8", utf8, sizeof (utf8));
}

//  --------------------------------------------------------------------------
//  Command lines: words cut at NUL

static void s_args (void)
{
    static const char *lines[][8] = {
        { "--help", NULL },
        { "--name", "alice", "--tick-hz=60", "--seed", "42", NULL },
        { "--broker", "tcp://127.0.0.1:5600", "--broker=tcp://[::1]:5601",
          "--loss", "0.25", "-h", "extra", NULL },
    };
    for (size_t i = 0; i < sizeof (lines) / sizeof (lines[0]); i++) {
        char buf[256];
        size_t at = 0;
        for (size_t w = 0; lines[i][w]; w++) {
            size_t len = strlen (lines[i][w]);
            memcpy (buf + at, lines[i][w], len);
            at += len;
            if (lines[i][w + 1])
                buf[at++] = 0;
        }
        char what[16];
        snprintf (what, sizeof (what), "line-%zu", i);
        s_write ("args", what, buf, at);
    }
}

int main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: make_corpus DIR\n");
        return 2;
    }
    s_dir = argv[1];
    if (mkdir (s_dir, 0755) && errno != EEXIST) {
        perror (s_dir);
        return 1;
    }
    s_messages ();
    s_replication ();
    s_fields ();
    s_args ();
    return 0;
}
