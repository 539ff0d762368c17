/*  bot_ai - a Pong player. See bot_ai.h.

    Geometry comes from the rules (pong.h): the ball's centre meets a
    paddle's face at the paddle's x plus half the paddle's width plus half
    the ball, and stays between the walls by half a ball. The prediction
    runs in 64-bit integers: the ball's y path is unfolded as a triangle
    wave between the walls.
*/
#include "bot_ai.h"
#include "pong.h"

#include <assert.h>

#define AI_BALL_HALF    (PONG_BALL_SIZE / 2)
#define AI_TOP          AI_BALL_HALF
#define AI_BOTTOM       (PONG_FIELD_H - AI_BALL_HALF)
#define AI_FACE_LEFT    (PONG_PADDLE_X + PONG_PADDLE_W / 2 + AI_BALL_HALF)
#define AI_FACE_RIGHT   (PONG_FIELD_W - AI_FACE_LEFT)
#define AI_PADDLE_MIN   (PONG_PADDLE_H / 2)
#define AI_PADDLE_MAX   (PONG_FIELD_H - PONG_PADDLE_H / 2)

//  splitmix64's finaliser: neighbouring seeds give unrelated states, and
//  never 0, which xorshift could not leave.
static uint64_t s_mix (uint64_t seed)
{
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return z? z: 0x9e3779b97f4a7c15ULL;
}

void bot_ai_init (bot_ai_t *ai, int side, double skill, uint64_t seed)
{
    assert (ai);
    assert (side == RALLY_SIDE_LEFT || side == RALLY_SIDE_RIGHT);
    *ai = (bot_ai_t) {
        .side = side,
        .skill = skill < 0? 0: skill > 1? 1: skill,
        .rng = s_mix (seed),
    };
}

uint64_t bot_ai_random (bot_ai_t *ai)
{
    assert (ai);
    uint64_t x = ai->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    ai->rng = x;
    return x;
}

//  Folds an unbounded y into the walls, as the bounces would.
static int32_t s_fold (int64_t y)
{
    int64_t span = AI_BOTTOM - AI_TOP;
    int64_t period = 2 * span;
    int64_t u = (y - AI_TOP) % period;
    if (u < 0)
        u += period;
    if (u > span)
        u = period - u;
    return (int32_t) (AI_TOP + u);
}

int32_t bot_ai_predict (const bot_ai_t *ai, const rally_msg_state_t *state)
{
    assert (ai && state);
    int32_t x = state->ball[0], y = state->ball[1];
    int32_t vx = state->ball[2], vy = state->ball[3];
    int32_t face = ai->side == RALLY_SIDE_LEFT? AI_FACE_LEFT: AI_FACE_RIGHT;
    int32_t toward = ai->side == RALLY_SIDE_LEFT? -1: 1;
    if (state->phase != RALLY_PHASE_PLAY || (int64_t) vx * toward <= 0)
        return -1;
    int64_t run = (int64_t) face - x;
    if (run * toward < 0)
        run = 0;                //  already past the face: where it is now
    return s_fold (y + run * vy / vx);
}

//  A fresh aim error, uniform in [-range, range].
static int32_t s_draw_offset (bot_ai_t *ai)
{
    int32_t range = (int32_t) ((1.0 - ai->skill) * BOT_AI_ERROR_MAX);
    if (range <= 0)
        return 0;
    uint64_t r = bot_ai_random (ai) % (uint64_t) (2 * range + 1);
    return (int32_t) r - range;
}

static int s_steer (int32_t paddle, int32_t target)
{
    if (target < AI_PADDLE_MIN)
        target = AI_PADDLE_MIN;
    if (target > AI_PADDLE_MAX)
        target = AI_PADDLE_MAX;
    if (target < paddle - BOT_AI_DEAD_ZONE)
        return -1;
    if (target > paddle + BOT_AI_DEAD_ZONE)
        return 1;
    return 0;
}

int bot_ai_intent (bot_ai_t *ai, const rally_msg_state_t *state)
{
    assert (ai && state);
    if (state->phase == RALLY_PHASE_OVER || state->phase == RALLY_PHASE_PAUSED)
        return 0;
    int32_t paddle = state->paddles[ai->side];
    int32_t cross = bot_ai_predict (ai, state);
    if (cross < 0) {
        ai->approaching = false;
        return s_steer (paddle, PONG_FIELD_H / 2);
    }
    if (!ai->approaching) {
        ai->approaching = true;
        ai->offset = s_draw_offset (ai);
    }
    return s_steer (paddle, cross + ai->offset);
}
