/*  sound - the viewer's few sounds, made in code and played through
    OpenAL: a paddle hit, a wall bounce, a point, a win, a loss.

    No sound file ships with Rally: each cue is synthesised at start (a
    short tone or arpeggio with an envelope, 16-bit mono). A machine with
    no audio device, or one OpenAL cannot open, plays silently: sound_new
    still succeeds, logs once why there is no sound, and every call after
    is a no-op. Muting keeps the device and drops the cues.
*/
#ifndef SOUND_H_INCLUDED
#define SOUND_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    SOUND_HIT = 0,          //  the ball off a paddle
    SOUND_WALL,             //  the ball off the top or bottom wall
    SOUND_POINT,            //  a point scored
    SOUND_WIN,              //  the match won
    SOUND_LOSE,             //  the match lost
    SOUND_COUNT
} sound_cue_t;

typedef struct _sound_t sound_t;

//  Opens the default audio device and makes the cues; muted starts muted.
//  Never NULL: without a device the result is silent.
sound_t *sound_new (bool muted);

//  Closes the device; nulls *self_p.
void sound_destroy (sound_t **self_p);

//  Plays cue now, over what is playing, unless muted or silent.
void sound_play (sound_t *self, sound_cue_t cue);

void sound_set_muted (sound_t *self, bool muted);
bool sound_muted (sound_t *self);

//  True if a device is open (false: everything is silent).
bool sound_live (sound_t *self);

//  How many times cue was asked for, played or not (for tests and logs).
uint32_t sound_asked (sound_t *self, sound_cue_t cue);

//  The cue's name: "hit", "wall", ...
const char *sound_name (sound_cue_t cue);

#endif
