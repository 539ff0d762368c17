/*  rally-bench-core - what one tick costs a game node, without the network.

    Times the parts every tick of every match goes through: the rules
    (pong_tick over many matches), the state hash, the codec (encoding
    the state message each match publishes, decoding it as a viewer does),
    and a follower's check of the leader's diff before it applies it
    (lobby_check, over a lobby of that many matches).
    Each figure is the median of several rounds, in nanoseconds per match;
    the last line turns the rules' cost into matches a core could tick at
    60 Hz. Run it on a quiet machine; compare figures from the same run.

        rally-bench-core [--rounds N] [--matches N]
*/
#include "lobby.h"
#include "pong.h"
#include "rally_args.h"
#include "rally_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROGRAM "rally-bench-core"

static int64_t s_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int s_compare (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

static double s_median (double *values, size_t count)
{
    qsort (values, count, sizeof (double), s_compare);
    return count % 2? values[count / 2]
                    : (values[count / 2 - 1] + values[count / 2]) / 2;
}

//  Matches in play, paddles chasing the ball so that rallies go on.
static void s_steer (pong_match_t *matches, size_t count)
{
    for (size_t i = 0; i < count; i++)
        for (int side = 0; side < 2; side++) {
            int32_t gap = matches[i].ball_y - matches[i].paddle_y[side];
            pong_set_intent (&matches[i], side, (gap > 500) - (gap < -500));
        }
}

//  One round: ticks every match ticks times; ns per match-tick.
static double s_round_rules (pong_match_t *matches, size_t count,
                             const pong_config_t *cfg, uint32_t ticks)
{
    int64_t start = s_now_ns ();
    for (uint32_t t = 0; t < ticks; t++) {
        s_steer (matches, count);
        pong_tick (matches, count, cfg, NULL);
    }
    return (double) (s_now_ns () - start) / ((double) count * ticks);
}

static volatile uint64_t s_sink;    //  keeps results the compiler could drop

static double s_round_hash (const pong_match_t *matches, size_t count)
{
    int64_t start = s_now_ns ();
    uint64_t all = 0;
    for (size_t i = 0; i < count; i++)
        all ^= pong_hash (&matches[i]);
    s_sink = all;
    return (double) (s_now_ns () - start) / (double) count;
}

//  A state message as a node publishes it for one match.
static void s_state (rally_msg_t *msg, const pong_match_t *m, uint32_t id)
{
    lobby_match_view_t view = { .id = id, .game = m,
                                .names = { "alice", "bob" } };
    rally_msg_init (msg, RALLY_MSG_STATE);
    rally_msg_state_t *s = &msg->u.state;
    s->from.term = 1;
    s->from.node = 1;
    s->seq = m->tick;
    s->points = 11;
    lobby_match_state (&view, s);
}

//  ns per message to encode (and, with decode, to decode as well).
static double s_round_codec (const pong_match_t *matches, size_t count,
                             bool decode)
{
    rally_msg_t msg, back;
    char reason[RALLY_REASON_BUF];
    int64_t start = s_now_ns ();
    for (size_t i = 0; i < count; i++) {
        s_state (&msg, &matches[i], (uint32_t) i + 1);
        zframe_t *frame = rally_msg_encode (&msg);
        assert (frame);
        if (decode) {
            int rc = rally_msg_decode (&back, zframe_data (frame),
                                       zframe_size (frame), reason,
                                       sizeof (reason));
            assert (rc == 0);
            s_sink = back.u.state.tick + (uint64_t) rc;
        }
        zframe_destroy (&frame);
    }
    return (double) (s_now_ns () - start) / (double) count;
}

//  A leader and a follower of count matches, equal; diff is the next one.
typedef struct {
    lobby_t *leader, *follower;
    rally_repl_t *diff;
} s_pair_t;

static void s_pair_new (s_pair_t *pair, uint32_t count)
{
    lobby_config_t cfg;
    lobby_config_defaults (&cfg);
    cfg.max_players = 2 * count;
    pair->leader = lobby_new (&cfg);
    pair->follower = lobby_new (&cfg);
    pair->diff = rally_repl_new (RALLY_REPL_DIFF);
    assert (pair->leader && pair->follower && pair->diff);
    for (uint32_t i = 0; i < 2 * count; i++) {
        uint8_t token[RALLY_TOKEN_SIZE] = { 0 };
        memcpy (token, &i, sizeof (i));
        char name[16];
        snprintf (name, sizeof (name), "p%u", i);
        lobby_join (pair->leader, name, token, NULL, 0, 0, NULL, 0);
    }
    char reason[RALLY_REASON_BUF];
    lobby_tick (pair->leader, 0);
    lobby_diff (pair->leader, pair->diff);
    int rc = lobby_apply (pair->follower, pair->diff, reason, sizeof (reason));
    assert (rc == 0);
    (void) rc;
}

//  One round: the follower checks and applies ticks diffs; ns per match.
static double s_round_check (s_pair_t *pair, uint32_t count, uint32_t ticks)
{
    char reason[RALLY_REASON_BUF];
    int64_t spent = 0;
    lobby_event_t event;
    for (uint32_t t = 0; t < ticks; t++) {
        lobby_tick (pair->leader, 0);
        while (lobby_next_event (pair->leader, &event))
            ;
        lobby_diff (pair->leader, pair->diff);
        int64_t start = s_now_ns ();
        int rc = lobby_check (pair->follower, pair->diff, reason,
                              sizeof (reason));
        spent += s_now_ns () - start;
        rc |= lobby_apply (pair->follower, pair->diff, reason, sizeof (reason));
        while (lobby_next_event (pair->follower, &event))
            ;
        assert (rc == 0);
        (void) rc;
    }
    return (double) spent / ((double) count * ticks);
}

int main (int argc, char **argv)
{
    uint32_t rounds = 15, count = 1000;
    bool help = false;
    const rally_arg_t table[] = {
        RALLY_ARGS_UINT ("--rounds", &rounds, 1, 1000, NULL),
        RALLY_ARGS_UINT ("--matches", &count, 1, 1000000, NULL),
        RALLY_ARGS_SWITCH ("--help", "-h", &help),
    };
    int rc = rally_args_parse (PROGRAM, table,
                               sizeof (table) / sizeof (table[0]), argc, argv,
                               NULL, 0);
    if (rc)
        return rc;
    if (help) {
        printf ("usage: %s [--rounds N] [--matches N]\n"
                "Times the rules, the hash and the codec per match-tick;\n"
                "prints medians of N rounds (default 15 rounds of 1000).\n",
                PROGRAM);
        return 0;
    }
    pong_config_t cfg;
    pong_config_init (&cfg, 60, 11);
    pong_match_t *matches = calloc (count, sizeof (pong_match_t));
    double *rules = calloc (rounds, sizeof (double));
    double *hash = calloc (rounds, sizeof (double));
    double *encode = calloc (rounds, sizeof (double));
    double *both = calloc (rounds, sizeof (double));
    double *check = calloc (rounds, sizeof (double));
    assert (matches && rules && hash && encode && both && check);
    s_pair_t pair;
    s_pair_new (&pair, count);
    for (uint32_t i = 0; i < count; i++)
        pong_match_init (&matches[i], &cfg, i % 2);
    s_round_rules (matches, count, &cfg, 200);     //  warm up, get rallies going

    for (uint32_t r = 0; r < rounds; r++) {
        rules[r] = s_round_rules (matches, count, &cfg, 60);
        hash[r] = s_round_hash (matches, count);
        encode[r] = s_round_codec (matches, count, false);
        both[r] = s_round_codec (matches, count, true);
        check[r] = s_round_check (&pair, count, 10);
    }
    double rules_ns = s_median (rules, rounds);
    double encode_ns = s_median (encode, rounds);
    double decode_ns = s_median (both, rounds) - encode_ns;
    printf ("%u matches, median of %u rounds, ns per match-tick\n", count, rounds);
    printf ("  rules (pong_tick)   %8.1f\n", rules_ns);
    printf ("  hash (pong_hash)    %8.1f\n", s_median (hash, rounds));
    printf ("  encode state msg    %8.1f\n", encode_ns);
    printf ("  decode state msg    %8.1f\n", decode_ns);
    printf ("  check a diff        %8.1f  (a follower, lobby_check)\n",
            s_median (check, rounds));
    printf ("rules + encode at 60 Hz: %.0f matches per core\n",
            1e9 / 60 / (rules_ns + encode_ns));
    lobby_destroy (&pair.leader);
    lobby_destroy (&pair.follower);
    rally_repl_destroy (&pair.diff);
    free (check);
    free (both);
    free (encode);
    free (hash);
    free (rules);
    free (matches);
    return 0;
}
