/*  test_pong - the rules, tick by tick. */
#include "pong.h"

#include "check_main.h"
#include <stdlib.h>

static pong_config_t s_cfg;

static void s_setup (void)
{
    ck_assert_int_eq (pong_config_init (&s_cfg, 60, 11), 0);
}

//  Steps until one of the event bits shows, at most limit ticks; returns
//  the events of that tick, 0 if they never came.
static uint32_t s_step_until (pong_match_t *m, uint32_t bits, int limit)
{
    for (int i = 0; i < limit; i++) {
        uint32_t events = pong_step (m, &s_cfg);
        if (events & bits)
            return events;
    }
    return 0;
}

//  A match in play with the ball placed and aimed by the test.
static void s_ball_at (pong_match_t *m, int32_t x, int32_t y, int32_t vx, int32_t vy)
{
    pong_match_init (m, &s_cfg, PONG_LEFT);
    m->phase = PONG_PLAY;
    m->countdown = 0;
    m->ball_x = x;
    m->ball_y = y;
    m->ball_vx = vx;
    m->ball_vy = vy;
}

START_TEST (config_ranges)
{
    pong_config_t cfg = { 0 };
    ck_assert_int_eq (pong_config_init (&cfg, 9, 11), -1);
    ck_assert_int_eq (pong_config_init (&cfg, 241, 11), -1);
    ck_assert_int_eq (pong_config_init (&cfg, 60, 0), -1);
    ck_assert_int_eq (pong_config_init (&cfg, 60, 100), -1);
    ck_assert_uint_eq (cfg.tick_hz, 0);     //  untouched on refusal
    ck_assert_int_eq (pong_config_init (&cfg, 60, 11), 0);
    ck_assert_int_eq (cfg.paddle_speed, 800);
    ck_assert_int_eq (cfg.ball_speed_start, 500);
    ck_assert_uint_eq (cfg.serve_ticks, 60);
    ck_assert_int_eq (pong_config_init (&cfg, 240, 99), 0);
    ck_assert_int_gt (cfg.ball_speed_step, 0);
}
END_TEST

START_TEST (new_match_is_held_at_centre)
{
    pong_match_t m;
    pong_match_init (&m, &s_cfg, PONG_RIGHT);
    ck_assert_uint_eq (m.phase, PONG_SERVE);
    ck_assert_int_eq (m.winner, -1);
    ck_assert_int_eq (m.ball_x, PONG_FIELD_W / 2);
    ck_assert_int_eq (m.ball_y, PONG_FIELD_H / 2);
    ck_assert_int_eq (m.paddle_y[0], PONG_FIELD_H / 2);
    ck_assert_uint_eq (m.score[0] + m.score[1], 0);
}
END_TEST

START_TEST (intent_moves_and_clamps_paddle)
{
    pong_match_t m;
    pong_match_init (&m, &s_cfg, PONG_LEFT);
    ck_assert_int_eq (pong_set_intent (&m, PONG_LEFT, -1), 0);
    ck_assert_int_eq (pong_set_intent (&m, 2, 1), -1);
    ck_assert_int_eq (pong_set_intent (&m, PONG_RIGHT, 2), -1);
    pong_step (&m, &s_cfg);
    ck_assert_int_eq (m.paddle_y[0], PONG_FIELD_H / 2 - 800);
    ck_assert_int_eq (m.paddle_y[1], PONG_FIELD_H / 2);
    for (int i = 0; i < 100; i++)
        pong_step (&m, &s_cfg);
    ck_assert_int_eq (m.paddle_y[0], PONG_PADDLE_H / 2);
    pong_set_intent (&m, PONG_LEFT, 1);
    for (int i = 0; i < 100; i++)
        pong_step (&m, &s_cfg);
    ck_assert_int_eq (m.paddle_y[0], PONG_FIELD_H - PONG_PADDLE_H / 2);
}
END_TEST

START_TEST (serve_after_countdown_away_from_server)
{
    pong_match_t m;
    pong_match_init (&m, &s_cfg, PONG_RIGHT);
    for (uint32_t i = 1; i < s_cfg.serve_ticks; i++)
        ck_assert_uint_eq (pong_step (&m, &s_cfg), 0);
    ck_assert_uint_eq (m.phase, PONG_SERVE);
    ck_assert_uint_eq (pong_step (&m, &s_cfg), PONG_EVENT_SERVE);
    ck_assert_uint_eq (m.phase, PONG_PLAY);
    ck_assert_int_eq (m.ball_vx, -s_cfg.ball_speed_start);
    ck_assert_int_ne (m.ball_vy, 0);
}
END_TEST

START_TEST (wall_reflects_ball)
{
    pong_match_t m;
    s_ball_at (&m, 30000, 700, 300, -400);
    uint32_t events = pong_step (&m, &s_cfg);
    ck_assert (events & PONG_EVENT_WALL);
    ck_assert_int_eq (m.ball_vy, 400);
    ck_assert_int_eq (m.ball_y, 2 * (PONG_BALL_SIZE / 2) - 300);
}
END_TEST

START_TEST (centre_hit_returns_flat_and_faster)
{
    pong_match_t m;
    s_ball_at (&m, 6000, PONG_FIELD_H / 2, -500, 0);
    uint32_t events = s_step_until (&m, PONG_EVENT_RETURN, 100);
    ck_assert (events & PONG_EVENT_RETURN);
    ck_assert_int_eq (m.ball_vx, 500 + s_cfg.ball_speed_step);
    ck_assert_int_eq (m.ball_vy, 0);
    ck_assert_int_ge (m.ball_x, PONG_PADDLE_X + PONG_PADDLE_W / 2);
}
END_TEST

START_TEST (edge_hit_bounces_at_an_angle)
{
    pong_match_t m;
    //  Strikes the right paddle near its top edge: goes back up and left.
    s_ball_at (&m, 56000, PONG_FIELD_H / 2 - 4000, 500, 0);
    ck_assert (s_step_until (&m, PONG_EVENT_RETURN, 100));
    ck_assert_int_lt (m.ball_vx, 0);
    ck_assert_int_lt (m.ball_vy, 0);
    ck_assert_int_le (-m.ball_vy, -m.ball_vx * 3 / 4);
    int32_t top_vy = m.ball_vy;
    //  Lower on the paddle, a shallower angle.
    s_ball_at (&m, 56000, PONG_FIELD_H / 2 - 1000, 500, 0);
    ck_assert (s_step_until (&m, PONG_EVENT_RETURN, 100));
    ck_assert_int_lt (m.ball_vy, 0);
    ck_assert_int_gt (m.ball_vy, top_vy);
}
END_TEST

START_TEST (speed_is_capped)
{
    pong_match_t m;
    s_ball_at (&m, 32000, PONG_FIELD_H / 2, s_cfg.ball_speed_max, 0);
    for (int returns = 0; returns < 4; returns++)
        ck_assert (s_step_until (&m, PONG_EVENT_RETURN, 200));
    ck_assert_int_eq (abs (m.ball_vx), s_cfg.ball_speed_max);
}
END_TEST

START_TEST (fast_ball_cannot_pass_through_paddle)
{
    //  At 10 Hz the capped ball moves 8000 a tick, far more than a paddle
    //  is wide; the swept test must still catch it.
    pong_config_t slow;
    ck_assert_int_eq (pong_config_init (&slow, 10, 11), 0);
    pong_match_t m;
    pong_match_init (&m, &slow, PONG_LEFT);
    m.phase = PONG_PLAY;
    m.ball_x = PONG_PADDLE_X + 5000;
    m.ball_y = PONG_FIELD_H / 2;
    m.ball_vx = -slow.ball_speed_max;
    uint32_t events = pong_step (&m, &slow);
    ck_assert (events & PONG_EVENT_RETURN);
    ck_assert_int_gt (m.ball_vx, 0);
    ck_assert_uint_eq (m.score[1], 0);
}
END_TEST

START_TEST (miss_scores_and_serve_alternates)
{
    pong_match_t m;
    s_ball_at (&m, 6000, 2000, -500, 0);
    m.paddle_y[PONG_LEFT] = PONG_FIELD_H - PONG_PADDLE_H / 2;   //  far away
    uint32_t events = s_step_until (&m, PONG_EVENT_POINT_RIGHT, 100);
    ck_assert (events & PONG_EVENT_POINT_RIGHT);
    ck_assert_uint_eq (m.score[PONG_RIGHT], 1);
    ck_assert_uint_eq (m.score[PONG_LEFT], 0);
    ck_assert_uint_eq (m.phase, PONG_SERVE);
    ck_assert_uint_eq (m.serve, PONG_RIGHT);
    ck_assert_int_eq (m.ball_x, PONG_FIELD_W / 2);
    ck_assert (s_step_until (&m, PONG_EVENT_SERVE, 100));
    ck_assert_int_lt (m.ball_vx, 0);
}
END_TEST

START_TEST (first_to_n_wins_and_stops)
{
    pong_config_t cfg;
    ck_assert_int_eq (pong_config_init (&cfg, 60, 3), 0);
    pong_match_t m;
    pong_match_init (&m, &cfg, PONG_LEFT);
    //  Nobody moves; the serve angles send every ball past a paddle.
    uint32_t events = 0;
    int ticks = 0;
    for (; ticks < 100000 && !(events & PONG_EVENT_OVER); ticks++)
        events = pong_step (&m, &cfg);
    ck_assert (events & PONG_EVENT_OVER);
    ck_assert_uint_eq (m.phase, PONG_OVER);
    ck_assert_int_ge (m.winner, 0);
    ck_assert_uint_eq (m.score[m.winner], 3);
    ck_assert_uint_lt (m.score[1 - m.winner], 3);
    pong_match_t before = m;
    ck_assert_uint_eq (pong_step (&m, &cfg), 0);
    ck_assert_uint_eq (pong_hash (&m), pong_hash (&before));
}
END_TEST

START_TEST (pause_freezes_and_resumes)
{
    pong_match_t m;
    s_ball_at (&m, 30000, 20000, 500, 100);
    pong_set_intent (&m, PONG_LEFT, 1);
    pong_pause (&m, true);
    ck_assert_uint_eq (m.phase, PONG_PAUSED);
    uint64_t frozen = pong_hash (&m);
    for (int i = 0; i < 10; i++)
        ck_assert_uint_eq (pong_step (&m, &s_cfg), 0);
    ck_assert_uint_eq (pong_hash (&m), frozen);
    pong_pause (&m, false);
    ck_assert_uint_eq (m.phase, PONG_PLAY);
    pong_step (&m, &s_cfg);
    ck_assert_int_eq (m.ball_x, 30500);
}
END_TEST

START_TEST (forfeit_ends_with_scores_kept)
{
    pong_match_t m;
    pong_match_init (&m, &s_cfg, PONG_LEFT);
    m.score[PONG_LEFT] = 5;
    pong_forfeit (&m, PONG_LEFT);
    ck_assert_uint_eq (m.phase, PONG_OVER);
    ck_assert_int_eq (m.winner, PONG_RIGHT);
    ck_assert_uint_eq (m.score[PONG_LEFT], 5);
    pong_pause (&m, true);
    ck_assert_uint_eq (m.phase, PONG_OVER);
    pong_forfeit (&m, PONG_RIGHT);
    ck_assert_int_eq (m.winner, PONG_RIGHT);
}
END_TEST

//  Plays a match from a recorded input pattern and returns its hash.
static uint64_t s_replay (int ticks, uint32_t seed)
{
    pong_match_t m;
    pong_match_init (&m, &s_cfg, PONG_LEFT);
    for (int i = 0; i < ticks; i++) {
        seed = seed * 1103515245u + 12345u;
        pong_set_intent (&m, (seed >> 16) & 1, (int) ((seed >> 20) % 3) - 1);
        pong_step (&m, &s_cfg);
    }
    return pong_hash (&m);
}

START_TEST (replay_is_deterministic)
{
    ck_assert_uint_eq (s_replay (5000, 7), s_replay (5000, 7));
    ck_assert_uint_ne (s_replay (5000, 7), s_replay (5000, 8));
    ck_assert_uint_ne (s_replay (600, 7), s_replay (601, 7));
}
END_TEST

START_TEST (hash_covers_every_field)
{
    pong_match_t m;
    pong_match_init (&m, &s_cfg, PONG_LEFT);
    uint64_t base = pong_hash (&m);
    pong_match_t changed = m;
    changed.intent[1] = 1;
    ck_assert_uint_ne (pong_hash (&changed), base);
    changed = m;
    changed.paused_phase = PONG_PLAY;
    ck_assert_uint_ne (pong_hash (&changed), base);
    changed = m;
    changed.ball_vy = -1;
    ck_assert_uint_ne (pong_hash (&changed), base);
}
END_TEST

START_TEST (tick_advances_every_match)
{
    pong_match_t matches[3];
    uint32_t events[3];
    for (int i = 0; i < 3; i++)
        pong_match_init (&matches[i], &s_cfg, PONG_LEFT);
    pong_pause (&matches[1], true);
    for (uint32_t i = 0; i < s_cfg.serve_ticks; i++)
        pong_tick (matches, 3, &s_cfg, events);
    ck_assert_uint_eq (events[0], PONG_EVENT_SERVE);
    ck_assert_uint_eq (events[1], 0);
    ck_assert_uint_eq (matches[2].tick, s_cfg.serve_ticks);
    ck_assert_uint_eq (matches[1].tick, 0);
}
END_TEST

Suite *rally_test_suite (void)
{
    Suite *suite = suite_create ("pong");
    TCase *tc = tcase_create ("rules");
    tcase_add_checked_fixture (tc, s_setup, NULL);
    tcase_add_test (tc, config_ranges);
    tcase_add_test (tc, new_match_is_held_at_centre);
    tcase_add_test (tc, intent_moves_and_clamps_paddle);
    tcase_add_test (tc, serve_after_countdown_away_from_server);
    tcase_add_test (tc, wall_reflects_ball);
    tcase_add_test (tc, centre_hit_returns_flat_and_faster);
    tcase_add_test (tc, edge_hit_bounces_at_an_angle);
    tcase_add_test (tc, speed_is_capped);
    tcase_add_test (tc, fast_ball_cannot_pass_through_paddle);
    tcase_add_test (tc, miss_scores_and_serve_alternates);
    tcase_add_test (tc, first_to_n_wins_and_stops);
    tcase_add_test (tc, pause_freezes_and_resumes);
    tcase_add_test (tc, forfeit_ends_with_scores_kept);
    tcase_add_test (tc, replay_is_deterministic);
    tcase_add_test (tc, hash_covers_every_field);
    tcase_add_test (tc, tick_advances_every_match);
    suite_add_tcase (suite, tc);
    return suite;
}
