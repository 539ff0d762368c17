/*  sound - synthesised cues through OpenAL. See sound.h.

    Each cue is a list of notes (frequency, length); a note is a sine with
    a little third harmonic, shaped by a 3 ms attack and an exponential
    decay, so there are no clicks. SOUND_VOICES sources are used in turn,
    so a hit right after a wall does not cut it off.
*/
#include "sound.h"

#include <AL/al.h>
#include <AL/alc.h>
#include <czmq.h>
#include <math.h>

#define SOUND_RATE      22050       //  samples a second
#define SOUND_VOICES    4           //  cues that can sound at once
#define SOUND_NOTES_MAX 4

typedef struct {
    float hz[SOUND_NOTES_MAX];      //  0 ends the list
    float ms;                       //  each note's length
    float gain;
} cue_t;

static const cue_t s_cues[SOUND_COUNT] = {
    [SOUND_HIT]   = { { 880 }, 45, 0.5f },
    [SOUND_WALL]  = { { 440 }, 35, 0.35f },
    [SOUND_POINT] = { { 660, 990 }, 90, 0.5f },
    [SOUND_WIN]   = { { 523, 659, 784, 1047 }, 110, 0.5f },
    [SOUND_LOSE]  = { { 392, 330, 262 }, 160, 0.5f },
};

static const char *s_names[SOUND_COUNT] = {
    "hit", "wall", "point", "win", "lose"
};

struct _sound_t {
    ALCdevice *device;              //  NULL: silent
    ALCcontext *context;
    ALuint buffers[SOUND_COUNT];
    ALuint sources[SOUND_VOICES];
    size_t next;                    //  the source to use next
    bool muted;
    uint32_t asked[SOUND_COUNT];
};

//  Fills samples (room for the cue's length) and returns how many.
static size_t s_synth (const cue_t *cue, int16_t *samples, size_t max)
{
    size_t per_note = (size_t) (cue->ms * SOUND_RATE / 1000);
    size_t n = 0;
    for (int i = 0; i < SOUND_NOTES_MAX && cue->hz[i] > 0; i++)
        for (size_t k = 0; k < per_note && n < max; k++, n++) {
            double t = (double) k / SOUND_RATE;
            double attack = fmin (1.0, t / 0.003);
            double decay = exp (-t * 1000.0 / cue->ms * 2.5);
            double w = 2 * 3.14159265358979 * cue->hz[i] * t;
            double v = (sin (w) + 0.25 * sin (3 * w)) * attack * decay;
            samples[n] = (int16_t) (v * cue->gain * 26000);
        }
    return n;
}

//  True if the machine has somewhere to play: a sound server's socket or
//  an ALSA playback device. Asking OpenAL on a machine with neither
//  works too, but ALSA then prints its failure on stderr.
static bool s_have_output (void)
{
    const char *runtime = getenv ("XDG_RUNTIME_DIR");
    char path[512];
    if (getenv ("PULSE_SERVER") || getenv ("ALSOFT_DRIVERS"))
        return true;
    if (runtime) {
        snprintf (path, sizeof path, "%s/pulse/native", runtime);
        if (zsys_file_exists (path))
            return true;
        snprintf (path, sizeof path, "%s/pipewire-0", runtime);
        if (zsys_file_exists (path))
            return true;
    }
    for (int card = 0; card < 8; card++) {
        snprintf (path, sizeof path, "/dev/snd/pcmC%dD0p", card);
        if (zsys_file_exists (path))
            return true;
    }
    return false;
}

static bool s_open (sound_t *self)
{
    if (!s_have_output ()) {
        zsys_info ("sound: no audio device; playing silently");
        return false;
    }
    //  OpenAL Soft's own chatter, unless asked for.
    setenv ("ALSOFT_LOGLEVEL", "0", 0);
    self->device = alcOpenDevice (NULL);
    if (!self->device) {
        zsys_info ("sound: no audio device; playing silently");
        return false;
    }
    self->context = alcCreateContext (self->device, NULL);
    if (!self->context || !alcMakeContextCurrent (self->context)) {
        zsys_info ("sound: the audio device gives no context; playing silently");
        return false;
    }
    alGenBuffers (SOUND_COUNT, self->buffers);
    alGenSources (SOUND_VOICES, self->sources);
    int16_t samples[SOUND_RATE];        //  a second: more than any cue
    for (int i = 0; i < SOUND_COUNT; i++) {
        size_t n = s_synth (&s_cues[i], samples, SOUND_RATE);
        alBufferData (self->buffers[i], AL_FORMAT_MONO16, samples,
                      (ALsizei) (n * sizeof (int16_t)), SOUND_RATE);
    }
    if (alGetError () != AL_NO_ERROR) {
        zsys_info ("sound: OpenAL refuses the sounds; playing silently");
        return false;
    }
    zsys_info ("sound: playing through %s",
               alcGetString (self->device, ALC_DEVICE_SPECIFIER));
    return true;
}

static void s_close (sound_t *self)
{
    if (self->context) {
        alDeleteSources (SOUND_VOICES, self->sources);
        alDeleteBuffers (SOUND_COUNT, self->buffers);
        alcMakeContextCurrent (NULL);
        alcDestroyContext (self->context);
        self->context = NULL;
    }
    if (self->device)
        alcCloseDevice (self->device);
    self->device = NULL;
}

sound_t *sound_new (bool muted)
{
    sound_t *self = (sound_t *) zmalloc (sizeof (sound_t));
    self->muted = muted;
    if (!s_open (self))
        s_close (self);
    return self;
}

void sound_destroy (sound_t **self_p)
{
    assert (self_p);
    sound_t *self = *self_p;
    if (!self)
        return;
    s_close (self);
    free (self);
    *self_p = NULL;
}

void sound_play (sound_t *self, sound_cue_t cue)
{
    assert (self && cue < SOUND_COUNT);
    self->asked[cue]++;
    zsys_debug ("sound: %s%s", s_names[cue],
                self->muted? " (muted)": self->device? "": " (silent)");
    if (self->muted || !self->device)
        return;
    ALuint source = self->sources[self->next];
    self->next = (self->next + 1) % SOUND_VOICES;
    alSourceStop (source);
    alSourcei (source, AL_BUFFER, (ALint) self->buffers[cue]);
    alSourcePlay (source);
}

void sound_set_muted (sound_t *self, bool muted)
{
    assert (self);
    self->muted = muted;
    zsys_info ("sound: %s", muted? "muted": "on");
}

bool sound_muted (sound_t *self)
{
    assert (self);
    return self->muted;
}

bool sound_live (sound_t *self)
{
    assert (self);
    return self->device != NULL;
}

uint32_t sound_asked (sound_t *self, sound_cue_t cue)
{
    assert (self && cue < SOUND_COUNT);
    return self->asked[cue];
}

const char *sound_name (sound_cue_t cue)
{
    return cue < SOUND_COUNT? s_names[cue]: "?";
}
