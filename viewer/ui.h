/*  ui - the viewer's screens and the session behind them.

    The window goes name entry -> waiting -> match -> end, and back to name
    entry when the cluster refuses the name or the player leaves. The
    screen follows the session's status (rally_client_view), and stays put
    while the session reconnects; ui owns the rally_client_t and makes a
    new one each time the player joins. With watch, it shows the matches
    under way instead (rally_watch_t), one at a time. It knows nothing of
    GLFW or GL: main hands it keys and characters, ui draws through
    render.h and asks sound.h for the cues.
*/
#ifndef UI_H_INCLUDED
#define UI_H_INCLUDED

#include "rally_client.h"
#include "render.h"
#include "sound.h"

typedef struct _ui_t ui_t;

//  The keys the viewer reacts to; letters typed arrive as characters.
typedef enum {
    UI_KEY_ENTER = 1,
    UI_KEY_BACKSPACE,
    UI_KEY_ESCAPE,
    UI_KEY_SPACE,
    UI_KEY_UP,          //  Up arrow
    UI_KEY_DOWN,        //  Down arrow
    UI_KEY_W,
    UI_KEY_S,
    UI_KEY_F1,
    UI_KEY_LEFT,        //  Left arrow
    UI_KEY_RIGHT,       //  Right arrow
    UI_KEY_Q,           //  quit, where no name is being typed
    UI_KEY_M,           //  mute, likewise
    UI_KEY_TAB          //  the leaderboard (name entry, end screen)
} ui_key_t;

//  Starts at name entry with name typed in (may be NULL); if join, joins
//  at once as if Enter were pressed. With watch, spectates instead. The
//  sessions ask every broker of cluster (copied). sound is the caller's.
ui_t *ui_new (const rally_cluster_t *cluster, const char *name, bool join,
              bool watch, sound_t *sound);

//  With on, the own paddle follows the ball by itself (a headless demo
//  plays its match out instead of leaving it).
void ui_set_autoplay (ui_t *self, bool on);

//  Leaves the session (if any); nulls *self_p.
void ui_destroy (ui_t **self_p);

//  A key went down (repeat counts as down) or up.
void ui_key (ui_t *self, ui_key_t key, bool down);

//  A character was typed (a Unicode code point).
void ui_char (ui_t *self, uint32_t codepoint);

//  Waits up to timeout_ms for the session's sockets (or just sleeps when
//  there is no session), reads what arrived and runs its timers. When the
//  cluster refuses the session for good, goes back to name entry.
void ui_update (ui_t *self, int timeout_ms);

//  Moves what moves between frames (the own paddle, predicted from the
//  keys) on to now_us, the monotonic clock in microseconds (zclock_usecs).
//  Once a frame, before ui_draw.
void ui_step (ui_t *self, int64_t now_us);

//  True if a frame drawn at now_us would differ from the last one drawn:
//  something changed, or something on screen moves or counts. Static
//  screens are drawn only when this says so.
bool ui_redraw_due (ui_t *self, int64_t now_us);

//  The window changed (size, exposed): the next frame is drawn.
void ui_invalidate (ui_t *self);

//  Draws the current screen into a width x height framebuffer, as it
//  stands at now_us; changes nothing it shows.
void ui_draw (ui_t *self, render_t *render, int width, int height,
              int64_t now_us);

//  What the screen shows, in a word: "name", "finding", "joining",
//  "queued", "match", "paused" (with the grace left; "paused-wait" until
//  the node says it), "reconnecting", "unreachable", "menu",
//  "last-point" (a match just won, before the end screen), "end" (with
//  the leaderboard; "end-wait" until it comes), "board" (name screen,
//  Tab; "board-wait"), "watch", "watch-list". Scripts and tests wait on it.
const char *ui_showing (ui_t *self);

//  True if the screen shows a match under way: both players known and the
//  ball held for a serve or in play.
bool ui_showing_match (ui_t *self);

//  True once the player asked to quit.
bool ui_quit (ui_t *self);

#endif
