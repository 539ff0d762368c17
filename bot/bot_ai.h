/*  bot_ai - a Pong player, pure: a match state in, a paddle intent out.

    It predicts where the ball will cross its own paddle's face, bouncing it
    off the top and bottom walls, and steers toward that point plus an aim
    error. The error is drawn once per approach of the ball (not per tick,
    so the paddle does not jitter) from a range that grows as skill falls:
    at skill 1 it is zero and the bot returns essentially everything. A dead
    zone around the target keeps the paddle from hunting. While the ball
    goes away, or waits for a serve, the paddle drifts back to the centre.

    No I/O and no clock: the randomness is a seeded xorshift, so the same
    seed and the same states give the same intents.
*/
#ifndef BOT_AI_H_INCLUDED
#define BOT_AI_H_INCLUDED

#include "rally_msg.h"

//  Paddle centre within this of the target: stand still. Wider than the
//  distance a paddle moves in the two or three ticks an intent takes to
//  reach the node, narrower than half the paddle's reach.
#define BOT_AI_DEAD_ZONE    2000

//  The aim error at skill 0, in field units, either way; it scales down
//  linearly to 0 at skill 1.
#define BOT_AI_ERROR_MAX    40000

typedef struct {
    int side;               //  own side, rally_side_t
    double skill;           //  0..1
    uint64_t rng;           //  xorshift64 state, never 0
    bool approaching;       //  the ball was coming toward us last state
    int32_t offset;         //  aim error for this approach
} bot_ai_t;

//  Sets up a player for side at skill (clamped to 0..1), seeded with seed.
void bot_ai_init (bot_ai_t *ai, int side, double skill, uint64_t seed);

//  Where the ball's centre will cross own paddle's face, or -1 if it is not
//  moving toward it.
int32_t bot_ai_predict (const bot_ai_t *ai, const rally_msg_state_t *state);

//  The paddle intent for this state: -1 up, 0 still, +1 down.
int bot_ai_intent (bot_ai_t *ai, const rally_msg_state_t *state);

//  The next number from the player's generator (exposed for tests).
uint64_t bot_ai_random (bot_ai_t *ai);

#endif
