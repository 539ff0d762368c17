/*  pong - the rules of Rally's Pong, pure: no I/O, no clock, integers only.

    A match is a plain struct; pong_step() advances it by one fixed tick from
    the intents its players last gave. Everything is in field units (the field
    is PONG_FIELD_W by PONG_FIELD_H, y grows downwards) and per-tick speeds
    derived from the tick rate once, in pong_config_init(), so that the same
    inputs give the same states, bit for bit, on every node.
*/
#ifndef PONG_H_INCLUDED
#define PONG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Geometry, in field units. Positions are centres.
#define PONG_FIELD_W        64000
#define PONG_FIELD_H        48000
#define PONG_BALL_SIZE      1000    //  the ball is a square
#define PONG_PADDLE_W       1200
#define PONG_PADDLE_H       8000
#define PONG_PADDLE_X       2400    //  left paddle centre; right is W - this
#define PONG_PADDLE_SPEED   48000   //  units per second: the field in 1 s

#define PONG_TICK_HZ_MIN    10
#define PONG_TICK_HZ_MAX    240
#define PONG_POINTS_MIN     1
#define PONG_POINTS_MAX     99

//  Phases, with the same values as the wire's rally_phase_t.
typedef enum {
    PONG_SERVE = 0,         //  ball held at the centre, countdown running
    PONG_PLAY = 1,          //  ball moving
    PONG_PAUSED = 2,        //  frozen while a player is lost
    PONG_OVER = 3           //  decided; pong_step() leaves it as it is
} pong_phase_t;

typedef enum {
    PONG_LEFT = 0,
    PONG_RIGHT = 1
} pong_side_t;

//  Events pong_step() reports, as bits.
#define PONG_EVENT_POINT_LEFT   0x01    //  left scored
#define PONG_EVENT_POINT_RIGHT  0x02    //  right scored
#define PONG_EVENT_OVER         0x04    //  this tick decided the match
#define PONG_EVENT_RETURN       0x08    //  a paddle hit the ball
#define PONG_EVENT_WALL         0x10    //  the ball bounced off a wall
#define PONG_EVENT_SERVE        0x20    //  the ball was served

typedef struct {
    uint32_t tick_hz;           //  ticks per second
    uint32_t points_to_win;     //  first to this many wins
    int32_t paddle_speed;       //  units per tick
    int32_t ball_speed_start;   //  units per tick along x at the serve
    int32_t ball_speed_step;    //  added to the x speed on each return
    int32_t ball_speed_max;     //  cap on the x speed
    uint32_t serve_ticks;       //  ticks the ball is held before a serve
} pong_config_t;

typedef struct {
    uint32_t tick;              //  ticks this match has been stepped
    uint32_t phase;             //  pong_phase_t
    uint32_t paused_phase;      //  phase to return to when unpaused
    uint32_t countdown;         //  ticks left before the serve
    uint32_t serve;             //  side that serves next (ball goes away)
    uint32_t points_played;     //  points so far; varies the serve angle
    uint32_t score[2];          //  left, right
    int32_t winner;             //  -1 until over, then a pong_side_t
    int32_t ball_x, ball_y;     //  ball centre
    int32_t ball_vx, ball_vy;   //  units per tick
    int32_t paddle_y[2];        //  paddle centres
    int32_t intent[2];          //  -1 up, 0 still, +1 down
} pong_match_t;

//  Derives per-tick speeds. Returns 0, or -1 if tick_hz or points_to_win is
//  out of range (cfg is then unchanged).
int pong_config_init (pong_config_t *cfg, uint32_t tick_hz,
                      uint32_t points_to_win);

//  A new match: paddles centred, ball held for a serve by first_serve.
void pong_match_init (pong_match_t *m, const pong_config_t *cfg,
                      pong_side_t first_serve);

//  Sets a player's intent. Returns 0, or -1 if side or intent is invalid.
int pong_set_intent (pong_match_t *m, int side, int intent);

//  Advances one match by one tick; returns the PONG_EVENT_ bits.
uint32_t pong_step (pong_match_t *m, const pong_config_t *cfg);

//  Advances count matches by one tick. If events is not NULL it receives
//  each match's event bits.
void pong_tick (pong_match_t *matches, size_t count,
                const pong_config_t *cfg, uint32_t *events);

//  Freezes or unfreezes a match (a lost player). No effect once over.
void pong_pause (pong_match_t *m, bool paused);

//  Ends the match: the side that forfeits loses, scores stay as they are.
void pong_forfeit (pong_match_t *m, pong_side_t loser);

//  64-bit FNV-1a hash of the match's canonical encoding (every field, in
//  declaration order, little-endian), the same on every machine.
uint64_t pong_hash (const pong_match_t *m);

#endif
