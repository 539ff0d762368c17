/*  pong - the rules of Rally's Pong. See pong.h.

    Speeds are given per second here and divided by the tick rate once, so
    a match plays the same at 30 Hz and 240 Hz give or take rounding. The
    ball is moved first, then tested against the paddles along its path
    (swept), so that no speed and no tick rate lets it pass through one.
*/
#include "pong.h"

#include <assert.h>

//  Per-second speeds, in field units.
#define PONG_BALL_START         30000   //  ~2 s from paddle to paddle
#define PONG_BALL_STEP          2500    //  added on every return
#define PONG_BALL_MAX           80000   //  the cap on the x speed

//  The y speed after a return is at most this fraction of the x speed, at
//  the paddle's very edge: a 37-degree bounce.
#define PONG_ANGLE_NUM          3
#define PONG_ANGLE_DEN          4

//  Where the ball's centre may go, and where it meets each paddle's face.
#define PONG_BALL_HALF          (PONG_BALL_SIZE / 2)
#define PONG_TOP                PONG_BALL_HALF
#define PONG_BOTTOM             (PONG_FIELD_H - PONG_BALL_HALF)
#define PONG_FACE_LEFT          (PONG_PADDLE_X + PONG_PADDLE_W / 2 + PONG_BALL_HALF)
#define PONG_FACE_RIGHT         (PONG_FIELD_W - PONG_FACE_LEFT)
#define PONG_REACH              (PONG_PADDLE_H / 2 + PONG_BALL_HALF)

//  Serve angles, as eighths of the serve speed, taken in turn point by
//  point: varied, but the same on every node.
static const int32_t s_serve_angles[] = { 2, -3, 1, -2, 3, -1 };
#define PONG_SERVE_ANGLES (sizeof (s_serve_angles) / sizeof (s_serve_angles[0]))

int pong_config_init (pong_config_t *cfg, uint32_t tick_hz,
                      uint32_t points_to_win)
{
    assert (cfg);
    if (tick_hz < PONG_TICK_HZ_MIN || tick_hz > PONG_TICK_HZ_MAX)
        return -1;
    if (points_to_win < PONG_POINTS_MIN || points_to_win > PONG_POINTS_MAX)
        return -1;
    int32_t hz = (int32_t) tick_hz;
    cfg->tick_hz = tick_hz;
    cfg->points_to_win = points_to_win;
    cfg->paddle_speed = PONG_PADDLE_SPEED / hz;
    cfg->ball_speed_start = PONG_BALL_START / hz;
    cfg->ball_speed_step = PONG_BALL_STEP / hz;
    cfg->ball_speed_max = PONG_BALL_MAX / hz;
    cfg->serve_ticks = tick_hz;
    return 0;
}

static void s_hold_ball (pong_match_t *m)
{
    m->ball_x = PONG_FIELD_W / 2;
    m->ball_y = PONG_FIELD_H / 2;
    m->ball_vx = 0;
    m->ball_vy = 0;
}

void pong_match_init (pong_match_t *m, const pong_config_t *cfg,
                      pong_side_t first_serve)
{
    assert (m && cfg);
    assert (first_serve == PONG_LEFT || first_serve == PONG_RIGHT);
    *m = (pong_match_t) {
        .phase = PONG_SERVE,
        .paused_phase = PONG_SERVE,
        .countdown = cfg->serve_ticks,
        .serve = first_serve,
        .winner = -1,
        .paddle_y = { PONG_FIELD_H / 2, PONG_FIELD_H / 2 },
    };
    s_hold_ball (m);
}

int pong_set_intent (pong_match_t *m, int side, int intent)
{
    assert (m);
    if (side != PONG_LEFT && side != PONG_RIGHT)
        return -1;
    if (intent < -1 || intent > 1)
        return -1;
    m->intent[side] = intent;
    return 0;
}

static int32_t s_clamp (int32_t value, int32_t low, int32_t high)
{
    return value < low? low: value > high? high: value;
}

static void s_move_paddles (pong_match_t *m, const pong_config_t *cfg)
{
    for (int side = 0; side < 2; side++) {
        int32_t y = m->paddle_y[side] + m->intent[side] * cfg->paddle_speed;
        m->paddle_y[side] = s_clamp (y, PONG_PADDLE_H / 2,
                                      PONG_FIELD_H - PONG_PADDLE_H / 2);
    }
}

//  The ball leaves the server's side; its angle follows the table.
static uint32_t s_serve (pong_match_t *m, const pong_config_t *cfg)
{
    int32_t speed = cfg->ball_speed_start;
    int32_t angle = s_serve_angles[m->points_played % PONG_SERVE_ANGLES];
    m->ball_vx = m->serve == PONG_LEFT? speed: -speed;
    m->ball_vy = speed * angle / 8;
    m->phase = PONG_PLAY;
    return PONG_EVENT_SERVE;
}

//  Reflects the ball off the top and bottom walls. One reflection is
//  enough: no y speed comes near the field's height.
static uint32_t s_bounce_walls (pong_match_t *m)
{
    if (m->ball_y < PONG_TOP) {
        m->ball_y = 2 * PONG_TOP - m->ball_y;
        m->ball_vy = -m->ball_vy;
        return PONG_EVENT_WALL;
    }
    if (m->ball_y > PONG_BOTTOM) {
        m->ball_y = 2 * PONG_BOTTOM - m->ball_y;
        m->ball_vy = -m->ball_vy;
        return PONG_EVENT_WALL;
    }
    return 0;
}

//  Tests the ball's path from (x0, y0) to where it is now against one
//  paddle's face; on a hit, sends it back faster, at an angle set by how
//  far from the paddle's centre it struck.
static uint32_t s_hit_paddle (pong_match_t *m, const pong_config_t *cfg,
                              int side, int32_t x0, int32_t y0)
{
    int32_t face = side == PONG_LEFT? PONG_FACE_LEFT: PONG_FACE_RIGHT;
    int32_t dir = side == PONG_LEFT? -1: 1;     //  ball's x direction toward it
    if ((int64_t) m->ball_vx * dir <= 0)
        return 0;
    if ((int64_t) (x0 - face) * dir > 0 || (int64_t) (m->ball_x - face) * dir < 0)
        return 0;
    //  Where along its path the ball's centre crossed the face.
    int64_t run = (int64_t) m->ball_x - x0;
    int64_t along = run? ((int64_t) face - x0) * ((int64_t) m->ball_y - y0) / run: 0;
    int32_t y_cross = s_clamp ((int32_t) (y0 + along), PONG_TOP, PONG_BOTTOM);
    int32_t offset = y_cross - m->paddle_y[side];
    if (offset < -PONG_REACH || offset > PONG_REACH)
        return 0;

    int32_t speed = m->ball_vx < 0? -m->ball_vx: m->ball_vx;
    speed += cfg->ball_speed_step;
    if (speed > cfg->ball_speed_max)
        speed = cfg->ball_speed_max;
    m->ball_vx = -dir * speed;
    m->ball_vy = (int32_t) ((int64_t) speed * PONG_ANGLE_NUM * offset
                            / ((int64_t) PONG_ANGLE_DEN * PONG_REACH));
    m->ball_x = 2 * face - m->ball_x;   //  the rest of the step, reflected
    return PONG_EVENT_RETURN;
}

static uint32_t s_score (pong_match_t *m, const pong_config_t *cfg, int side)
{
    m->score[side]++;
    m->points_played++;
    s_hold_ball (m);
    uint32_t events = side == PONG_LEFT? PONG_EVENT_POINT_LEFT: PONG_EVENT_POINT_RIGHT;
    if (m->score[side] >= cfg->points_to_win) {
        m->phase = PONG_OVER;
        m->winner = side;
        return events | PONG_EVENT_OVER;
    }
    m->serve ^= 1;
    m->phase = PONG_SERVE;
    m->countdown = cfg->serve_ticks;
    return events;
}

static uint32_t s_move_ball (pong_match_t *m, const pong_config_t *cfg)
{
    int32_t x0 = m->ball_x, y0 = m->ball_y;
    m->ball_x += m->ball_vx;
    m->ball_y += m->ball_vy;
    uint32_t events = s_bounce_walls (m);
    events |= s_hit_paddle (m, cfg, PONG_LEFT, x0, y0);
    events |= s_hit_paddle (m, cfg, PONG_RIGHT, x0, y0);
    if (m->ball_x + PONG_BALL_HALF < 0)
        events |= s_score (m, cfg, PONG_RIGHT);
    else
    if (m->ball_x - PONG_BALL_HALF > PONG_FIELD_W)
        events |= s_score (m, cfg, PONG_LEFT);
    return events;
}

uint32_t pong_step (pong_match_t *m, const pong_config_t *cfg)
{
    assert (m && cfg);
    if (m->phase == PONG_OVER || m->phase == PONG_PAUSED)
        return 0;
    m->tick++;
    s_move_paddles (m, cfg);
    if (m->phase == PONG_SERVE) {
        if (m->countdown > 0)
            m->countdown--;
        return m->countdown == 0? s_serve (m, cfg): 0;
    }
    return s_move_ball (m, cfg);
}

void pong_tick (pong_match_t *matches, size_t count,
                const pong_config_t *cfg, uint32_t *events)
{
    assert (matches || count == 0);
    for (size_t i = 0; i < count; i++) {
        uint32_t happened = pong_step (&matches[i], cfg);
        if (events)
            events[i] = happened;
    }
}

void pong_pause (pong_match_t *m, bool paused)
{
    assert (m);
    if (m->phase == PONG_OVER)
        return;
    if (paused && m->phase != PONG_PAUSED) {
        m->paused_phase = m->phase;
        m->phase = PONG_PAUSED;
    }
    else
    if (!paused && m->phase == PONG_PAUSED)
        m->phase = m->paused_phase;
}

void pong_forfeit (pong_match_t *m, pong_side_t loser)
{
    assert (m);
    assert (loser == PONG_LEFT || loser == PONG_RIGHT);
    if (m->phase == PONG_OVER)
        return;
    m->phase = PONG_OVER;
    m->winner = loser == PONG_LEFT? PONG_RIGHT: PONG_LEFT;
    m->ball_vx = 0;
    m->ball_vy = 0;
}

static uint64_t s_fnv (uint64_t hash, uint32_t value)
{
    for (int byte = 0; byte < 4; byte++) {
        hash ^= (value >> (8 * byte)) & 0xff;
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

uint64_t pong_hash (const pong_match_t *m)
{
    assert (m);
    const uint32_t fields[] = {
        m->tick, m->phase, m->paused_phase, m->countdown, m->serve,
        m->points_played, m->score[0], m->score[1], (uint32_t) m->winner,
        (uint32_t) m->ball_x, (uint32_t) m->ball_y,
        (uint32_t) m->ball_vx, (uint32_t) m->ball_vy,
        (uint32_t) m->paddle_y[0], (uint32_t) m->paddle_y[1],
        (uint32_t) m->intent[0], (uint32_t) m->intent[1]
    };
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < sizeof (fields) / sizeof (fields[0]); i++)
        hash = s_fnv (hash, fields[i]);
    return hash;
}
