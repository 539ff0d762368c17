/*  test_bot_ai - the bot's player: prediction, steering, skill, seeds.

    The last cases play the real rules (rules/pong.c) against the player,
    with its intents reaching the match a couple of ticks late as they do
    over the network.
*/
#include "bot_ai.h"
#include "pong.h"

#include "check_main.h"
#include <stdlib.h>
#include <string.h>

#define FACE_LEFT   (PONG_PADDLE_X + PONG_PADDLE_W / 2 + PONG_BALL_SIZE / 2)
#define BOTTOM      (PONG_FIELD_H - PONG_BALL_SIZE / 2)
#define LATENCY     3       //  ticks from a state to its intent taking hold

static rally_msg_state_t s_state (int32_t x, int32_t y, int32_t vx, int32_t vy,
                                  int32_t left_y, int32_t right_y)
{
    rally_msg_state_t st;
    memset (&st, 0, sizeof (st));
    st.phase = RALLY_PHASE_PLAY;
    st.ball[0] = x;
    st.ball[1] = y;
    st.ball[2] = vx;
    st.ball[3] = vy;
    st.paddles[0] = left_y;
    st.paddles[1] = right_y;
    st.winner = -1;
    st.points = 3;
    return st;
}

static rally_msg_state_t s_from_match (const pong_match_t *m)
{
    rally_msg_state_t st = s_state (m->ball_x, m->ball_y, m->ball_vx,
                                    m->ball_vy, m->paddle_y[0], m->paddle_y[1]);
    st.tick = m->tick;
    st.phase = m->phase;
    st.score[0] = m->score[0];
    st.score[1] = m->score[1];
    st.winner = m->winner;
    st.serve = m->serve;
    st.countdown = m->countdown;
    return st;
}

START_TEST (predicts_a_straight_shot)
{
    bot_ai_t ai;
    bot_ai_init (&ai, RALLY_SIDE_LEFT, 1.0, 1);
    rally_msg_state_t st = s_state (32000, 20000, -500, 0, 30000, 24000);
    ck_assert_int_eq (bot_ai_predict (&ai, &st), 20000);
    ck_assert_int_eq (bot_ai_intent (&ai, &st), -1);      //  up toward it

    //  Moving away: no crossing to predict.
    st.ball[2] = 500;
    ck_assert_int_eq (bot_ai_predict (&ai, &st), -1);
}
END_TEST

START_TEST (predicts_a_wall_bounce)
{
    bot_ai_t ai;
    bot_ai_init (&ai, RALLY_SIDE_LEFT, 1.0, 1);
    //  57 ticks to the face, 17100 down from 44000: off the bottom wall.
    rally_msg_state_t st = s_state (32000, 44000, -500, 300, 40000, 24000);
    int32_t ticks = (32000 - FACE_LEFT) / 500;
    int32_t unfolded = 44000 + ticks * 300;
    ck_assert_int_gt (unfolded, BOTTOM);
    int32_t expected = 2 * BOTTOM - unfolded;
    ck_assert_int_eq (bot_ai_predict (&ai, &st), expected);
    //  Without the bounce it would go down; with it, the paddle goes up.
    ck_assert_int_eq (bot_ai_intent (&ai, &st), -1);

    //  The right side, off the top wall.
    bot_ai_init (&ai, RALLY_SIDE_RIGHT, 1.0, 1);
    st = s_state (32000, 3000, 500, -300, 24000, 10000);
    ticks = (PONG_FIELD_W - FACE_LEFT - 32000) / 500;
    unfolded = 3000 - ticks * 300;
    expected = PONG_BALL_SIZE - unfolded;           //  2 * top - y
    ck_assert_int_eq (bot_ai_predict (&ai, &st), expected);
    ck_assert_int_eq (bot_ai_intent (&ai, &st), 1);
}
END_TEST

START_TEST (still_inside_the_dead_zone)
{
    bot_ai_t ai;
    bot_ai_init (&ai, RALLY_SIDE_RIGHT, 1.0, 7);
    rally_msg_state_t st = s_state (32000, 20000, 500, 0, 24000,
                                    20000 + BOT_AI_DEAD_ZONE);
    ck_assert_int_eq (bot_ai_intent (&ai, &st), 0);
    st.paddles[1] = 20000 - BOT_AI_DEAD_ZONE;
    ck_assert_int_eq (bot_ai_intent (&ai, &st), 0);
    st.paddles[1] = 20000 - BOT_AI_DEAD_ZONE - 1;
    ck_assert_int_eq (bot_ai_intent (&ai, &st), 1);
    st.paddles[1] = 20000 + BOT_AI_DEAD_ZONE + 1;
    ck_assert_int_eq (bot_ai_intent (&ai, &st), -1);
}
END_TEST

START_TEST (drifts_to_centre_when_ball_goes_away)
{
    bot_ai_t ai;
    bot_ai_init (&ai, RALLY_SIDE_LEFT, 0.5, 3);
    rally_msg_state_t st = s_state (32000, 5000, 500, 0, 8000, 24000);
    ck_assert_int_eq (bot_ai_intent (&ai, &st), 1);
    st.paddles[0] = 40000;
    ck_assert_int_eq (bot_ai_intent (&ai, &st), -1);
    st.paddles[0] = PONG_FIELD_H / 2;
    ck_assert_int_eq (bot_ai_intent (&ai, &st), 0);
    //  Waiting for a serve, and over: centre, then nothing.
    st.phase = RALLY_PHASE_SERVE;
    st.paddles[0] = 8000;
    ck_assert_int_eq (bot_ai_intent (&ai, &st), 1);
    st.phase = RALLY_PHASE_OVER;
    ck_assert_int_eq (bot_ai_intent (&ai, &st), 0);
}
END_TEST

START_TEST (aim_error_is_steady_within_an_approach)
{
    //  At skill 0 the aim error is large; it must not change tick to tick
    //  while the same ball comes in.
    bot_ai_t ai;
    bot_ai_init (&ai, RALLY_SIDE_LEFT, 0.0, 11);
    rally_msg_state_t st = s_state (60000, 24000, -500, 0, 24000, 24000);
    bot_ai_intent (&ai, &st);
    int32_t offset = ai.offset;
    for (int i = 0; i < 50; i++) {
        st.ball[0] -= 500;
        bot_ai_intent (&ai, &st);
        ck_assert_int_eq (ai.offset, offset);
    }
    //  A return, then a new approach: a fresh draw from the generator.
    uint64_t rng = ai.rng;
    st.ball[2] = 500;
    bot_ai_intent (&ai, &st);
    st.ball[2] = -500;
    bot_ai_intent (&ai, &st);
    ck_assert (ai.rng != rng);
    ck_assert_int_le (abs (ai.offset), BOT_AI_ERROR_MAX);
}
END_TEST

START_TEST (same_seed_same_play)
{
    bot_ai_t a, b, c;
    bot_ai_init (&a, RALLY_SIDE_RIGHT, 0.3, 42);
    bot_ai_init (&b, RALLY_SIDE_RIGHT, 0.3, 42);
    bot_ai_init (&c, RALLY_SIDE_RIGHT, 0.3, 43);
    int differ = 0;
    for (int i = 0; i < 200; i++) {
        //  Alternate approaches so every other state draws a new error.
        int32_t vx = i % 2? 600: -600;
        rally_msg_state_t st = s_state (30000, 1000 + 230 * i, vx, 100 - i,
                                        24000, 4000 + 200 * i);
        int ia = bot_ai_intent (&a, &st);
        int ib = bot_ai_intent (&b, &st);
        ck_assert_int_eq (ia, ib);
        ck_assert_int_eq (a.offset, b.offset);
        bot_ai_intent (&c, &st);
        differ += a.offset != c.offset;
    }
    ck_assert_int_gt (differ, 0);
}
END_TEST

//  Plays one tick: each paddle gets the intent its player chose LATENCY
//  ticks ago. history holds the last LATENCY intents per side.
static uint32_t s_play_tick (pong_match_t *m, const pong_config_t *cfg,
                             bot_ai_t *players[2], int history[2][LATENCY],
                             uint32_t tick)
{
    rally_msg_state_t st = s_from_match (m);
    for (int side = 0; side < 2; side++) {
        if (!players[side])
            continue;
        int slot = tick % LATENCY;
        pong_set_intent (m, side, history[side][slot]);
        history[side][slot] = bot_ai_intent (players[side], &st);
    }
    return pong_step (m, cfg);
}

START_TEST (skill_one_returns_straight_shots)
{
    pong_config_t cfg;
    ck_assert_int_eq (pong_config_init (&cfg, 60, 3), 0);
    bot_ai_t ai;
    bot_ai_init (&ai, RALLY_SIDE_LEFT, 1.0, 5);
    bot_ai_t *players[2] = { &ai, NULL };
    for (int shot = 0; shot < 100; shot++) {
        //  From the centre line, anywhere up and down, straight or angled,
        //  with the paddle wherever the last shot left it.
        pong_match_t m;
        pong_match_init (&m, &cfg, PONG_RIGHT);
        m.phase = PONG_PLAY;
        m.ball_x = PONG_FIELD_W / 2;
        m.ball_y = 2000 + (shot * 4409) % 44000;
        m.ball_vx = -(cfg.ball_speed_start + (shot % 4) * cfg.ball_speed_step);
        m.ball_vy = ((shot % 7) - 3) * m.ball_vx / 4;
        m.paddle_y[0] = PONG_PADDLE_H / 2 + (shot * 7919) % 40000;
        int history[2][LATENCY] = { { 0 } };
        uint32_t events = 0;
        for (uint32_t t = 0; t < 600 && !(events & (PONG_EVENT_RETURN
                                                    | PONG_EVENT_POINT_RIGHT)); t++)
            events = s_play_tick (&m, &cfg, players, history, t);
        ck_assert_msg (events & PONG_EVENT_RETURN, "shot %d was missed", shot);
    }
}
END_TEST

//  Plays a whole match between two players; returns its length in ticks.
static uint32_t s_match_ticks (double skill, uint64_t seed, uint32_t points)
{
    pong_config_t cfg;
    ck_assert_int_eq (pong_config_init (&cfg, 60, points), 0);
    pong_match_t m;
    pong_match_init (&m, &cfg, PONG_LEFT);
    bot_ai_t left, right;
    bot_ai_init (&left, RALLY_SIDE_LEFT, skill, seed);
    bot_ai_init (&right, RALLY_SIDE_RIGHT, skill, seed + 1000);
    bot_ai_t *players[2] = { &left, &right };
    int history[2][LATENCY] = { { 0 } };
    for (uint32_t t = 0; t < 60 * 600; t++)
        if (s_play_tick (&m, &cfg, players, history, t) & PONG_EVENT_OVER)
            return m.tick;
    return UINT32_MAX;
}

static int s_compare (const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    return x < y? -1: x > y;
}

START_TEST (skill_sixty_finishes_quickly)
{
    //  The integration test gives two 0.6 bots 30 s for a match to 3;
    //  typically they should need half of that, and never all of it.
    uint32_t ticks[41];
    for (int seed = 0; seed < 41; seed++)
        ticks[seed] = s_match_ticks (0.6, (uint64_t) seed, 3);
    qsort (ticks, 41, sizeof (ticks[0]), s_compare);
    ck_assert_uint_le (ticks[20], 15 * 60);
    ck_assert_uint_le (ticks[40], 25 * 60);
}
END_TEST

START_TEST (skill_one_rallies_long)
{
    //  Two perfect players: nobody scores for a long time.
    ck_assert_uint_gt (s_match_ticks (1.0, 9, 1), 60 * 60);
}
END_TEST

Suite *rally_test_suite (void)
{
    Suite *suite = suite_create ("bot_ai");
    TCase *tc = tcase_create ("core");
    tcase_add_test (tc, predicts_a_straight_shot);
    tcase_add_test (tc, predicts_a_wall_bounce);
    tcase_add_test (tc, still_inside_the_dead_zone);
    tcase_add_test (tc, drifts_to_centre_when_ball_goes_away);
    tcase_add_test (tc, aim_error_is_steady_within_an_approach);
    tcase_add_test (tc, same_seed_same_play);
    tcase_add_test (tc, skill_one_returns_straight_shots);
    tcase_add_test (tc, skill_sixty_finishes_quickly);
    tcase_add_test (tc, skill_one_rallies_long);
    suite_add_tcase (suite, tc);
    return suite;
}
