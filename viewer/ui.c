/*  ui - the viewer's screens and the session behind them. See ui.h.

    Which screen shows is not a state of its own: it follows the session's
    status, so the window can never disagree with the client about where
    the player is. Two exceptions: a reconnection keeps the screen as it
    was (a match frozen under a banner) rather than flick through the
    waiting screens for the fraction of a second a failover takes, and a
    match that just ended stays on the field for UI_LAST_POINT_US so the
    last point is seen before the end screen. ui only adds what the client
    does not know: the name being typed, the keys held, the menu and the
    overlay, and the picture of the match between two states, which never
    steps back (a new leader may start a tick or two behind what was
    shown; the picture waits for it).

    Words. Every state says what is going on, for how long, and what comes
    next: where the server is being looked for and how often it was asked,
    since when a reconnection runs (and, past UI_UNREACHABLE_MS, a choice
    to keep trying or quit), whose seat is kept and how long the grace
    has left, why a match ended (a forfeit, a match lost while away).

    Motion. States arrive at the tick rate; drawing them as they come would
    judder. Everything is drawn one tick in the past, interpolated between
    the two latest states by their receive times, so the ball glides and
    never runs ahead of what the server said. The own paddle is the
    exception: it answers the keys at once from a local prediction, which
    is pulled towards the server's paddle all the time and never strays
    from it by more than a paddle's half height.

    Cost. A frame is drawn only when ui_redraw_due says it would differ:
    on any change, every frame while the ball moves, and otherwise at the
    next moment a counter, the caret or the dots on screen change.
*/
#include "ui.h"

#include "pong.h"
#include "rally_watch.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

//  Time constant of the pull from the predicted to the server's paddle.
#define UI_PREDICT_TAU_S    0.10
//  The prediction never strays further than this from the server.
#define UI_PREDICT_DRIFT    (PONG_PADDLE_H / 2.0)
//  The server's own paddle is carried forward by its intent at most this
//  long, to meet the prediction about where it is now.
#define UI_EXTRAPOLATE_MS   100.0
//  Tick period assumed until two states tell the real one.
#define UI_TICK_MS_DEFAULT  (1000.0 / 60.0)
//  An error shows on the game screens this long.
#define UI_NOTICE_US        6000000
//  A point is called out this long.
#define UI_POINT_US         1200000
//  The field stays up this long after the match ends, last point shown.
#define UI_LAST_POINT_US    2500000
//  Looking for a server this long: say none answers, offer to quit.
#define UI_UNREACHABLE_MS   10000
//  "Keep trying" hides that question this long.
#define UI_KEEP_TRYING_MS   30000
//  A watched match that left the list is still shown this long.
#define UI_WATCH_LINGER_US  4000000

typedef enum {
    UI_SCREEN_NAME,
    UI_SCREEN_WAITING,
    UI_SCREEN_MATCH,
    UI_SCREEN_END
} ui_screen_t;

//  What the Esc menu offers.
typedef enum {
    UI_ITEM_RESUME,
    UI_ITEM_LEAVE,          //  leave the match (a forfeit)
    UI_ITEM_BACK,           //  back to the name screen
    UI_ITEM_AGAIN,          //  play again
    UI_ITEM_QUIT
} ui_item_t;

#define UI_MENU_MAX 4

//  Keys held that move the paddle, as indices into held[].
enum { UI_HELD_UP, UI_HELD_DOWN, UI_HELD_W, UI_HELD_S, UI_HELD_COUNT };

//  Two states of a match to draw between, from a player's or a
//  spectator's session.
typedef struct {
    bool have_state, have_prev;
    rally_msg_state_t prev, last;
    int64_t prev_ms, last_ms;
    int side;                           //  own side, -1 for a spectator
    uint32_t spectators;                //  watching, from the last crowd
    uint32_t grace_ms;                  //  grace left, as heard
    int64_t grace_heard_ms;             //  when
} ui_states_t;

struct _ui_t {
    rally_cluster_t cluster;            //  its brokers: where sessions start
    sound_t *sound;                     //  the caller's, never NULL
    rally_client_t *client;             //  the session, NULL at name entry
    rally_watch_t *watch;               //  spectating, else NULL
    rally_watch_t *board;               //  fetching the leaderboard, or NULL
    bool board_shown;                   //  name screen: the board is open
    uint32_t board_match;               //  end screen: asked after this match
    ui_screen_t screen;                 //  what is shown
    rally_view_t shown;                 //  the session's view as drawn
    char name[RALLY_NAME_BUF];          //  the name typed so far
    char error[RALLY_REASON_BUF];       //  why the last join failed
    char hint[RALLY_REASON_BUF];        //  why the last key was refused
    char note[RALLY_REASON_BUF];        //  what the name screen reports
    char notice[RALLY_REASON_BUF];      //  last error while in a session
    int64_t notice_us;                  //  when notice arrived
    bool held[UI_HELD_COUNT];           //  movement keys down
    int last_dir;                       //  direction pressed last, -1 or +1
    int intent;                         //  intent the server was given
    bool overlay;                       //  F1 details shown
    bool quit;                          //  the player asked to leave
    bool autoplay;                      //  the paddle follows the ball
    bool menu;                          //  the Esc menu is open
    int menu_at;                        //  its item selected
    int64_t keep_trying_ms;             //  unreachable question hidden
                                        //  until then
    //  Timing what is shown.
    rally_client_status_t status;       //  status last seen
    int64_t status_us;                  //  since when
    bool reconnecting;                  //  last seen
    int64_t reconnecting_us;            //  since when
    bool dirty;                         //  draw the next frame
    int64_t redraw_us;                  //  draw again by then at the latest
    //  The match being drawn.
    bool pred_valid;                    //  pred_y has been set
    double pred_y;                      //  own paddle, predicted
    int64_t frame_us;                   //  when the last frame was drawn
    double tick_ms;                     //  estimated tick period
    uint32_t seen_tick;                 //  last state's tick, for tick_ms
    bool resync;                        //  reconnected: the next spacing
                                        //  of states is the pause, not
                                        //  the tick
    int point_side;                     //  who scored last, -1 none
    int64_t point_us;                   //  when
    uint32_t cue_match, cue_tick;       //  state the last cues came from
    int32_t cue_vx, cue_vy;             //  its ball velocity
    //  The last match's end.
    bool have_end;                      //  end_* are valid
    int64_t end_us;                     //  when it was heard
    int32_t end_winner;                 //  side, -1 if none
    uint32_t end_score[2];
    uint32_t end_points;                //  points to win
    char end_names[2][RALLY_NAME_BUF];
    bool end_lost;                      //  ended while we were away
    //  Spectating.
    ui_states_t watched;                //  the match shown, as drawn
    int64_t watch_gone_us;              //  it left the list then, or 0
};

static const render_color_t s_bg = { 12, 13, 18, 255 };
static const render_color_t s_field = { 22, 26, 36, 255 };
static const render_color_t s_net = { 70, 78, 96, 255 };
static const render_color_t s_white = { 236, 236, 236, 255 };
static const render_color_t s_dim = { 160, 166, 180, 255 };
static const render_color_t s_accent = { 255, 200, 60, 255 };
static const render_color_t s_red = { 255, 110, 90, 255 };
static const render_color_t s_shade = { 0, 0, 0, 200 };
static const render_color_t s_box = { 34, 38, 52, 255 };
static const render_color_t s_select = { 60, 66, 90, 255 };

static void s_join (ui_t *self);

ui_t *ui_new (const rally_cluster_t *cluster, const char *name, bool join,
              bool watch, sound_t *sound)
{
    assert (cluster && cluster->broker_count > 0 && sound);
    ui_t *self = (ui_t *) zmalloc (sizeof (ui_t));
    self->cluster = *cluster;
    self->sound = sound;
    self->point_side = -1;
    self->dirty = true;
    if (name)
        snprintf (self->name, sizeof self->name, "%s", name);
    self->tick_ms = UI_TICK_MS_DEFAULT;
    if (watch) {
        self->watch = rally_watch_new (cluster, zclock_mono ());
        if (!self->watch)
            self->quit = true;
        zsys_info ("viewer: watching through %s", cluster->brokers[0]);
    }
    else
    if (join)
        s_join (self);
    return self;
}

void ui_set_autoplay (ui_t *self, bool on)
{
    assert (self);
    self->autoplay = on;
}

//  The paddle goes where the ball is when it comes our way, back to the
//  middle when it goes away; a quarter paddle either side is near enough.
static int s_autoplay_intent (ui_t *self)
{
    const rally_view_t *view = &self->shown;
    if (!view->have_state || view->side < 0 || view->side > 1)
        return 0;
    const rally_msg_state_t *s = &view->last;
    bool coming = (view->side == 0) == (s->ball[2] < 0);
    int32_t target = coming? s->ball[1]: PONG_FIELD_H / 2;
    int32_t off = target - s->paddles[view->side];
    return off > PONG_PADDLE_H / 4? 1: off < -PONG_PADDLE_H / 4? -1: 0;
}

void ui_destroy (ui_t **self_p)
{
    assert (self_p);
    ui_t *self = *self_p;
    if (!self)
        return;
    rally_client_destroy (&self->client);
    rally_watch_destroy (&self->watch);
    rally_watch_destroy (&self->board);
    free (self);
    *self_p = NULL;
}

//  Starts a session under the typed name (trailing spaces dropped), or
//  says why it cannot.
static void s_join (ui_t *self)
{
    size_t len = strlen (self->name);
    while (len > 0 && self->name[len - 1] == ' ')
        self->name[--len] = 0;
    char reason[RALLY_REASON_BUF];
    if (!rally_msg_name_valid (self->name, reason, sizeof reason)) {
        snprintf (self->error, sizeof self->error, "%s", reason);
        zsys_debug ("viewer: name refused here: %s", reason);
        return;
    }
    rally_client_config_t cfg;
    rally_client_config_defaults (&cfg, &self->cluster, self->name);
    self->client = rally_client_new (&cfg, zclock_mono ());
    if (!self->client) {
        snprintf (self->error, sizeof self->error, "cannot reach %s",
                  self->cluster.brokers[0]);
        return;
    }
    self->error[0] = 0;
    self->hint[0] = 0;
    self->note[0] = 0;
    self->notice[0] = 0;
    self->intent = 0;
    self->have_end = false;
    self->pred_valid = false;
    self->menu = false;
    self->keep_trying_ms = 0;
    self->shown = *rally_client_view (self->client);
    self->status = self->shown.status;
    self->status_us = zclock_usecs ();
    self->screen = UI_SCREEN_WAITING;
    zsys_info ("viewer: joining as '%s' through %s (%zu broker%s)",
               self->name, self->cluster.brokers[0], self->cluster.broker_count,
               self->cluster.broker_count == 1? "": "s");
}

//  Leaves the session for the name screen, saying why there.
static void s_leave (ui_t *self, const char *note)
{
    rally_watch_destroy (&self->board);
    self->board_match = 0;
    zsys_info ("viewer: leaving the session: %s", note);
    rally_client_destroy (&self->client);
    snprintf (self->note, sizeof self->note, "%s", note);
    self->menu = false;
    self->have_end = false;
    self->screen = UI_SCREEN_NAME;
}

static ui_screen_t s_screen (ui_t *self)
{
    return self->client? self->screen: UI_SCREEN_NAME;
}

//  The screen the session's status calls for; while it reconnects, the
//  one shown before; just after a match ends, still the match.
static ui_screen_t s_screen_for (ui_t *self, const rally_view_t *view)
{
    if (view->reconnecting && view->status != RALLY_CLIENT_FAILED)
        return self->screen;
    switch (view->status) {
        case RALLY_CLIENT_PLAYING: return UI_SCREEN_MATCH;
        case RALLY_CLIENT_FAILED:  return UI_SCREEN_NAME;
        case RALLY_CLIENT_ENDED:
            if (self->have_end && !self->end_lost && view->have_state
            &&  zclock_usecs () - self->end_us < UI_LAST_POINT_US)
                return UI_SCREEN_MATCH;
            return UI_SCREEN_END;
        default:                   return UI_SCREEN_WAITING;
    }
}

static void s_keep_states (rally_view_t *view, const rally_view_t *from)
{
    view->have_state = from->have_state;
    view->have_prev = from->have_prev;
    view->prev = from->prev;
    view->last = from->last;
    view->prev_ms = from->prev_ms;
    view->last_ms = from->last_ms;
}

//  Takes the session's view to draw, except a state of the same match
//  older than the one shown: the picture waits where it is until the
//  match passes it again. A new match (even under an id used before: a
//  node that restarted empty) starts afresh, since the session forgets
//  the old one's states first.
static void s_take_view (ui_t *self, const rally_view_t *view)
{
    rally_view_t was = self->shown;
    self->shown = *view;
    if (!was.have_state || !view->have_state
    ||  view->last.match != was.last.match)
        return;
    bool same = view->last.tick == was.last.tick
             && view->last_ms == was.last_ms;
    if (same || view->last.tick < was.last.tick) {
        s_keep_states (&self->shown, &was);
        return;
    }
    //  A state ahead, but the one before it is behind what was shown:
    //  glide from what was shown instead.
    if (view->have_prev && view->prev.match == was.last.match
    &&  view->prev.tick < was.last.tick) {
        self->shown.prev = was.last;
        self->shown.prev_ms = was.last_ms;
    }
}

//  Gives the session the intent the held keys ask for (it sends only
//  changes). Outside a match, or with the menu open, the paddle is still,
//  and the session must know it too.
static int s_autoplay_intent (ui_t *self);

static void s_sync_intent (ui_t *self)
{
    bool up = self->held[UI_HELD_UP] || self->held[UI_HELD_W];
    bool down = self->held[UI_HELD_DOWN] || self->held[UI_HELD_S];
    int intent = up && down? self->last_dir: up? -1: down? 1: 0;
    if (self->autoplay)
        intent = s_autoplay_intent (self);
    if (s_screen (self) != UI_SCREEN_MATCH || self->menu)
        intent = 0;
    self->intent = intent;
    if (self->client)
        rally_client_set_intent (self->client, intent);
}

static void s_hold (ui_t *self, int which, int dir, bool down)
{
    self->held[which] = down;
    if (down)
        self->last_dir = dir;
}

//  --------------------------------------------------------------------------
//  The name box: it refuses, as they are typed, the characters the server
//  would refuse, and says why until the next key.

//  Removes the last UTF-8 character of the typed name.
static void s_backspace (ui_t *self)
{
    size_t len = strlen (self->name);
    while (len > 0 && ((unsigned char) self->name[len - 1] & 0xC0) == 0x80)
        len--;
    if (len > 0)
        len--;
    self->name[len] = 0;
}

static size_t s_chars (const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char) *s & 0xC0) != 0x80;
    return n;
}

//  The UTF-8 of cp in out (4 bytes); returns its length.
static size_t s_utf8 (uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char) cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char) (0xC0 | (cp >> 6));
        out[1] = (char) (0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char) (0xE0 | (cp >> 12));
        out[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char) (0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char) (0xF0 | (cp >> 18));
    out[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char) (0x80 | (cp & 0x3F));
    return 4;
}

//  Why the server would refuse the name with cp added, or NULL. A space
//  at the end is let through while typing (the next word may follow);
//  Enter drops it.
static const char *s_name_refusal (ui_t *self, uint32_t cp, char *why,
                                   size_t size)
{
    char next[RALLY_NAME_BUF + 4];
    size_t len = strlen (self->name);
    char utf8[4];
    size_t n = s_utf8 (cp, utf8);
    if (len + n > RALLY_NAME_MAX) {
        snprintf (why, size, "A name is at most %d bytes of UTF-8; that"
                  " character takes %zu more", RALLY_NAME_MAX, n);
        return why;
    }
    memcpy (next, self->name, len);
    memcpy (next + len, utf8, n);
    next[len + n] = 0;
    if (s_chars (next) > RALLY_NAME_MAX_CHARS) {
        snprintf (why, size, "A name is at most %d characters",
                  RALLY_NAME_MAX_CHARS);
        return why;
    }
    if (next[0] == ' ') {
        snprintf (why, size, "A name cannot start with a space");
        return why;
    }
    size_t total = len + n;
    while (total > 0 && next[total - 1] == ' ')
        next[--total] = 0;
    char reason[RALLY_REASON_BUF];
    if (!rally_msg_name_valid (next, reason, sizeof reason)) {
        snprintf (why, size, "Not allowed: %.140s", reason);
        return why;
    }
    return NULL;
}

void ui_char (ui_t *self, uint32_t cp)
{
    assert (self);
    if (s_screen (self) != UI_SCREEN_NAME || self->watch || cp > 0x10FFFF)
        return;
    self->dirty = true;
    char why[RALLY_REASON_BUF];
    if (s_name_refusal (self, cp, why, sizeof why)) {
        snprintf (self->hint, sizeof self->hint, "%s", why);
        return;
    }
    size_t len = strlen (self->name);
    len += s_utf8 (cp, self->name + len);
    self->name[len] = 0;
    self->hint[0] = 0;
    self->error[0] = 0;         //  the last refusal was of another name
    self->note[0] = 0;
}

//  --------------------------------------------------------------------------
//  The Esc menu

static int s_menu_items (ui_t *self, ui_item_t *items)
{
    switch (s_screen (self)) {
        case UI_SCREEN_MATCH:
            items[0] = UI_ITEM_RESUME;
            items[1] = UI_ITEM_LEAVE;
            items[2] = UI_ITEM_QUIT;
            return 3;
        case UI_SCREEN_END:
            items[0] = UI_ITEM_AGAIN;
            items[1] = UI_ITEM_BACK;
            items[2] = UI_ITEM_QUIT;
            return 3;
        default:
            items[0] = UI_ITEM_RESUME;
            items[1] = UI_ITEM_BACK;
            items[2] = UI_ITEM_QUIT;
            return 3;
    }
}

static const char *s_item_label (ui_t *self, ui_item_t item)
{
    bool playing = s_screen (self) == UI_SCREEN_MATCH;
    switch (item) {
        case UI_ITEM_RESUME: return playing? "Resume the match": "Resume";
        case UI_ITEM_LEAVE:  return "Leave the match (you forfeit it)";
        case UI_ITEM_BACK:   return "Back to the name screen";
        case UI_ITEM_AGAIN:  return "Play again";
        case UI_ITEM_QUIT:   return playing? "Quit Rally (you forfeit the match)"
                                           : "Quit Rally";
    }
    return "?";
}

static void s_play_again (ui_t *self)
{
    zsys_info ("viewer: playing again");
    self->menu = false;
    self->have_end = false;
    rally_client_play_again (self->client);
}

static void s_choose (ui_t *self, ui_item_t item)
{
    char note[RALLY_REASON_BUF];
    self->menu = false;
    switch (item) {
        case UI_ITEM_RESUME:
            break;
        case UI_ITEM_LEAVE:
            snprintf (note, sizeof note, "You left match %u: it counts as"
                      " a forfeit", self->shown.match);
            s_leave (self, note);
            break;
        case UI_ITEM_BACK:
            s_leave (self, s_screen (self) == UI_SCREEN_END? "":
                     "You left the queue");
            break;
        case UI_ITEM_AGAIN:
            s_play_again (self);
            break;
        case UI_ITEM_QUIT:
            self->quit = true;
            break;
    }
}

//  A key while the menu is open: it takes them all.
static void s_menu_key (ui_t *self, ui_key_t key)
{
    ui_item_t items[UI_MENU_MAX];
    int count = s_menu_items (self, items);
    if (key == UI_KEY_ESCAPE)
        self->menu = false;
    else
    if (key == UI_KEY_UP || key == UI_KEY_W)
        self->menu_at = (self->menu_at + count - 1) % count;
    else
    if (key == UI_KEY_DOWN || key == UI_KEY_S)
        self->menu_at = (self->menu_at + 1) % count;
    else
    if (key == UI_KEY_ENTER || key == UI_KEY_SPACE)
        s_choose (self, items[self->menu_at % count]);
}

//  --------------------------------------------------------------------------
//  Keys

//  True while no server has answered for UI_UNREACHABLE_MS and the player
//  has not asked to keep trying lately.
static bool s_unreachable (ui_t *self, int64_t now_ms)
{
    if (!self->client)
        return false;
    const rally_view_t *view = &self->shown;
    bool looking = view->status == RALLY_CLIENT_FINDING || view->reconnecting;
    return looking && view->searching_ms
        && now_ms - view->searching_ms >= UI_UNREACHABLE_MS
        && now_ms >= self->keep_trying_ms;
}

static void s_watch_key (ui_t *self, ui_key_t key);

static void s_session_key (ui_t *self, ui_key_t key)
{
    ui_screen_t screen = s_screen (self);
    if (self->menu) {
        s_menu_key (self, key);
        return;
    }
    if (s_unreachable (self, zclock_mono ()) && key == UI_KEY_ENTER) {
        self->keep_trying_ms = zclock_mono () + UI_KEEP_TRYING_MS;
        zsys_info ("viewer: keeps trying");
    }
    else
    if (s_unreachable (self, zclock_mono ()) && key == UI_KEY_Q)
        self->quit = true;
    else
    if (key == UI_KEY_ESCAPE) {
        self->menu = true;
        self->menu_at = 0;
        zsys_info ("viewer: menu open");
    }
    else
    if (key == UI_KEY_M)
        sound_set_muted (self->sound, !sound_muted (self->sound));
    else
    if (screen == UI_SCREEN_END
    && (key == UI_KEY_ENTER || key == UI_KEY_SPACE))
        s_play_again (self);
}

//  Asks for the leaderboard and name's record, opening a session for it
//  if there is none yet.
static void s_ask_board (ui_t *self, const char *name)
{
    if (!self->board)
        self->board = rally_watch_new (&self->cluster, zclock_mono ());
    if (self->board)
        rally_watch_ask_board (self->board, name);
}

static void s_name_key (ui_t *self, ui_key_t key)
{
    if (key == UI_KEY_TAB) {
        self->board_shown = !self->board_shown;
        if (self->board_shown)
            s_ask_board (self, self->name);
        else
            rally_watch_destroy (&self->board);
    }
    else
    if (self->board_shown && key == UI_KEY_ESCAPE) {
        self->board_shown = false;
        rally_watch_destroy (&self->board);
    }
    else
    if (key == UI_KEY_ESCAPE)
        self->quit = true;
    else
    if (key == UI_KEY_BACKSPACE) {
        s_backspace (self);
        self->hint[0] = 0;
        self->error[0] = 0;
    }
    else
    if (key == UI_KEY_ENTER) {
        self->board_shown = false;
        rally_watch_destroy (&self->board);
        s_join (self);
    }
}

void ui_key (ui_t *self, ui_key_t key, bool down)
{
    assert (self);
    switch (key) {
        case UI_KEY_UP:   s_hold (self, UI_HELD_UP, -1, down); break;
        case UI_KEY_DOWN: s_hold (self, UI_HELD_DOWN, 1, down); break;
        case UI_KEY_W:    s_hold (self, UI_HELD_W, -1, down); break;
        case UI_KEY_S:    s_hold (self, UI_HELD_S, 1, down); break;
        default:          break;
    }
    if (down) {
        self->dirty = true;
        if (key == UI_KEY_F1)
            self->overlay = !self->overlay;
        else
        if (self->watch)
            s_watch_key (self, key);
        else
        if (s_screen (self) == UI_SCREEN_NAME)
            s_name_key (self, key);
        else
            s_session_key (self, key);
    }
    s_sync_intent (self);
}

//  --------------------------------------------------------------------------
//  The session

static void s_log_event (const rally_event_t *ev)
{
    switch (ev->type) {
        case RALLY_EVENT_JOINED:
            zsys_debug ("viewer: joined as '%s'", ev->name);
            break;
        case RALLY_EVENT_QUEUED:
            zsys_debug ("viewer: queued at %u", ev->position);
            break;
        case RALLY_EVENT_MATCH_START:
            zsys_info ("viewer: match %u on side %d against '%s'",
                       ev->match, ev->side, ev->opponent);
            break;
        case RALLY_EVENT_STATE:
            break;              //  sixty a second: too many to log
        case RALLY_EVENT_POINT:
            zsys_debug ("viewer: point at tick %u, %u-%u", ev->tick,
                        ev->score[0], ev->score[1]);
            break;
        case RALLY_EVENT_MATCH_END:
            zsys_info ("viewer: match %u over, %u-%u, winner '%s'",
                       ev->match, ev->score[0], ev->score[1],
                       ev->winner_name);
            break;
        case RALLY_EVENT_RECONNECT:
            zsys_info ("viewer: resumed after %" PRId64 " ms, node %u -> %u,"
                       " term %" PRIu64, ev->gap_ms, ev->from_node,
                       ev->to_node, ev->term);
            break;
        case RALLY_EVENT_ERROR:
            zsys_info ("viewer: error %s: %s", ev->code, ev->reason);
            break;
    }
}

//  Words for an error the session reports, for the player.
static void s_explain (ui_t *self, const rally_event_t *ev)
{
    if (streq (ev->code, "match_lost"))
        snprintf (self->notice, sizeof self->notice, "Match %u ended while"
                  " you were away, and you were not back in time", ev->match);
    else
    if (streq (ev->code, "session_lost"))
        snprintf (self->notice, sizeof self->notice, "The server restarted"
                  " and lost match %u; you are in the queue again",
                  ev->match);
    else
        snprintf (self->notice, sizeof self->notice, "%s", ev->reason);
    self->notice_us = zclock_usecs ();
}

static void s_handle_event (ui_t *self, const rally_event_t *ev)
{
    s_log_event (ev);
    if (ev->type == RALLY_EVENT_MATCH_START) {
        self->pred_valid = false;
        self->have_end = false;
        self->seen_tick = 0;
        self->point_side = -1;
        self->menu = false;
        self->shown.have_state = false;
        self->shown.have_prev = false;
    }
    else
    if (ev->type == RALLY_EVENT_POINT) {
        const rally_view_t *view = &self->shown;
        int side = view->have_state && ev->score[0] > view->last.score[0]? 0:
                   view->have_state && ev->score[1] > view->last.score[1]? 1:
                   self->point_side;
        self->point_side = side;
        self->point_us = zclock_usecs ();
        sound_play (self->sound, SOUND_POINT);
    }
    else
    if (ev->type == RALLY_EVENT_MATCH_END) {
        const rally_view_t *view = rally_client_view (self->client);
        self->have_end = true;
        self->end_us = zclock_usecs ();
        self->end_winner = ev->winner;
        self->end_score[0] = ev->score[0];
        self->end_score[1] = ev->score[1];
        self->end_points = view->last.points;
        self->end_lost = false;
        memcpy (self->end_names, view->last.names, sizeof self->end_names);
        if (ev->winner >= 0)
            sound_play (self->sound, ev->winner == ev->side? SOUND_WIN
                                                          : SOUND_LOSE);
    }
    else
    if (ev->type == RALLY_EVENT_RECONNECT)
        self->resync = true;
    else
    if (ev->type == RALLY_EVENT_ERROR) {
        s_explain (self, ev);
        if (streq (ev->code, "match_lost")) {
            self->have_end = true;
            self->end_lost = true;
            self->end_us = zclock_usecs ();
            self->end_winner = -1;
        }
    }
}

//  Learns the tick period from the spacing of states, for interpolation.
static void s_learn_tick (ui_t *self, const ui_states_t *st)
{
    if (!st->have_state || !st->have_prev || st->last.tick == self->seen_tick)
        return;
    self->seen_tick = st->last.tick;
    bool resync = self->resync;
    self->resync = false;
    if (resync || st->last.tick <= st->prev.tick || st->last_ms <= st->prev_ms)
        return;
    double sample = (double) (st->last_ms - st->prev_ms)
                  / (double) (st->last.tick - st->prev.tick);
    double ms = self->tick_ms * 0.9 + sample * 0.1;
    self->tick_ms = fmax (1000.0 / PONG_TICK_HZ_MAX,
                          fmin (1000.0 / PONG_TICK_HZ_MIN, ms));
}

static int s_sign (int32_t v)
{
    return (v > 0) - (v < 0);
}

//  The hit and wall cues, from the ball's velocity turning between two
//  states of a match in play.
static void s_cues (ui_t *self, const ui_states_t *st)
{
    if (!st->have_state)
        return;
    const rally_msg_state_t *s = &st->last;
    bool next = s->match == self->cue_match && s->tick > self->cue_tick;
    if (next && s->phase == RALLY_PHASE_PLAY) {
        if (s_sign (s->ball[2]) && s_sign (self->cue_vx)
        &&  s_sign (s->ball[2]) != s_sign (self->cue_vx))
            sound_play (self->sound, SOUND_HIT);
        else
        if (s_sign (s->ball[3]) && s_sign (self->cue_vy)
        &&  s_sign (s->ball[3]) != s_sign (self->cue_vy))
            sound_play (self->sound, SOUND_WALL);
    }
    if (s->match != self->cue_match || s->tick > self->cue_tick) {
        self->cue_match = s->match;
        self->cue_tick = s->tick;
        self->cue_vx = s->ball[2];
        self->cue_vy = s->ball[3];
    }
}

static ui_states_t s_states_of (const rally_view_t *view)
{
    return (ui_states_t) {
        view->have_state, view->have_prev, view->prev, view->last,
        view->prev_ms, view->last_ms, view->side, view->spectators,
        view->grace_ms, view->grace_heard_ms
    };
}

//  What, of the session, shows on a static screen: when it changes, the
//  screen is drawn again.
static bool s_view_changed (const rally_view_t *a, const rally_view_t *b)
{
    return a->status != b->status || a->reconnecting != b->reconnecting
        || a->position != b->position || a->node != b->node
        || a->tries != b->tries || a->match != b->match
        || a->have_state != b->have_state
        || (a->have_state && a->last.tick != b->last.tick);
}

//  Waits on sockets for at most timeout_ms, or sleeps when there are none.
static void s_poll (zmq_pollitem_t *items, int count, int timeout_ms)
{
    if (count == 0) {
        if (timeout_ms > 0)
            zclock_sleep (timeout_ms);
        return;
    }
    if (zmq_poll (items, count, timeout_ms) == -1 && zmq_errno () != EINTR)
        zsys_warning ("viewer: poll failed: %s", zmq_strerror (zmq_errno ()));
}

static void s_update_watch (ui_t *self, int timeout_ms);

void ui_update (ui_t *self, int timeout_ms)
{
    assert (self);
    if (self->watch) {
        s_update_watch (self, timeout_ms);
        return;
    }
    zmq_pollitem_t items[12];
    int count = 0;
    if (self->client) {
        count = rally_client_pollitems (self->client, items, 8);
        int64_t due = rally_client_timeout (self->client, zclock_mono ());
        if (timeout_ms > due)
            timeout_ms = (int) due;
    }
    if (self->board) {
        count += rally_watch_pollitems (self->board, items + count, 4);
        int64_t due = rally_watch_timeout (self->board, zclock_mono ());
        if (timeout_ms > due)
            timeout_ms = (int) due;
    }
    s_poll (items, count, timeout_ms);
    if (self->board) {
        bool had = rally_watch_view (self->board)->have_board;
        rally_watch_pump (self->board, zclock_mono ());
        const rally_watch_view_t *bv = rally_watch_view (self->board);
        if (bv->have_board && !had) {
            self->dirty = true;
            zsys_info ("viewer: leaderboard: %u players, %s: %u-%u-%u",
                       bv->board.players, bv->board.own.name,
                       bv->board.own.wins, bv->board.own.losses,
                       bv->board.own.forfeits);
        }
    }
    if (!self->client)
        return;
    rally_client_pump (self->client, zclock_mono ());

    rally_event_t ev;
    while (rally_client_next_event (self->client, &ev)) {
        s_handle_event (self, &ev);
        self->dirty = true;
    }
    const rally_view_t *view = rally_client_view (self->client);
    if (s_view_changed (view, &self->shown))
        self->dirty = true;
    int64_t now_us = zclock_usecs ();
    if (view->status != self->status) {
        self->status = view->status;
        self->status_us = now_us;
    }
    if (view->reconnecting != self->reconnecting) {
        self->reconnecting = view->reconnecting;
        self->reconnecting_us = now_us;
    }
    s_take_view (self, view);
    ui_screen_t screen = s_screen_for (self, view);
    if (screen != self->screen) {
        self->menu = false;
        self->dirty = true;
    }
    //  The end screen shows the leaderboard with the match just stored.
    if (screen == UI_SCREEN_END && self->have_end && !self->end_lost
    &&  self->board_match != view->match) {
        self->board_match = view->match;
        s_ask_board (self, self->name);
    }
    if (screen != UI_SCREEN_END && screen != UI_SCREEN_NAME)
        rally_watch_destroy (&self->board);
    self->screen = screen;
    ui_states_t st = s_states_of (&self->shown);
    s_learn_tick (self, &st);
    s_cues (self, &st);
    if (view->status == RALLY_CLIENT_FAILED) {
        snprintf (self->error, sizeof self->error, "%s",
                  view->error[0]? view->error: "the server refused the name");
        zsys_info ("viewer: session failed: %s", self->error);
        rally_client_destroy (&self->client);
    }
    s_sync_intent (self);
}

//  The view as drawn if it has a state of a match we play, else NULL.
static const rally_view_t *s_match_view (ui_t *self)
{
    if (s_screen (self) != UI_SCREEN_MATCH)
        return NULL;
    const rally_view_t *view = &self->shown;
    if (!view->have_state || view->side < 0 || view->side > 1)
        return NULL;
    return view;
}

//  --------------------------------------------------------------------------
//  Spectating

//  The index of the match shown in the list, or -1.
static int s_watch_index (ui_t *self)
{
    const rally_watch_view_t *view = rally_watch_view (self->watch);
    for (uint32_t i = 0; i < view->count; i++)
        if (view->matches[i].match == view->match)
            return (int) i;
    return -1;
}

static void s_watch_step (ui_t *self, int step)
{
    const rally_watch_view_t *view = rally_watch_view (self->watch);
    if (view->count == 0)
        return;
    int at = s_watch_index (self);
    at = at < 0? 0: (at + step + (int) view->count) % (int) view->count;
    zsys_info ("viewer: watching match %u", view->matches[at].match);
    rally_watch_show (self->watch, view->matches[at].match);
    self->watched = (ui_states_t) { .side = -1 };
    self->watch_gone_us = 0;
    self->seen_tick = 0;
}

static void s_watch_key (ui_t *self, ui_key_t key)
{
    if (key == UI_KEY_ESCAPE || key == UI_KEY_Q)
        self->quit = true;
    else
    if (key == UI_KEY_LEFT || key == UI_KEY_UP)
        s_watch_step (self, -1);
    else
    if (key == UI_KEY_RIGHT || key == UI_KEY_DOWN)
        s_watch_step (self, 1);
    else
    if (key == UI_KEY_M)
        sound_set_muted (self->sound, !sound_muted (self->sound));
}

//  Shows the first match when there is none, and moves on from one that
//  left the list after UI_WATCH_LINGER_US (its end stays up that long).
static void s_watch_follow (ui_t *self, int64_t now_us)
{
    const rally_watch_view_t *view = rally_watch_view (self->watch);
    if (!view->connected)
        return;
    if (view->match == 0 || s_watch_index (self) >= 0) {
        self->watch_gone_us = 0;
        if (view->match == 0 && view->count)
            s_watch_step (self, 0);
        return;
    }
    if (!self->watch_gone_us)
        self->watch_gone_us = now_us;
    else
    if (now_us - self->watch_gone_us > UI_WATCH_LINGER_US) {
        rally_watch_show (self->watch, 0);
        s_watch_step (self, 0);
        self->dirty = true;
    }
}

static void s_update_watch (ui_t *self, int timeout_ms)
{
    zmq_pollitem_t items[4];
    int count = rally_watch_pollitems (self->watch, items, 4);
    int64_t due = rally_watch_timeout (self->watch, zclock_mono ());
    if (timeout_ms > due)
        timeout_ms = (int) due;
    s_poll (items, count, timeout_ms);
    const rally_watch_view_t *view = rally_watch_view (self->watch);
    uint32_t was_count = view->count, was_tries = view->tries;
    bool was_connected = view->connected;
    rally_watch_pump (self->watch, zclock_mono ());
    if (view->count != was_count || view->tries != was_tries
    ||  view->connected != was_connected)
        self->dirty = true;
    s_watch_follow (self, zclock_usecs ());
    ui_states_t st = {
        view->have_state, view->have_prev, view->prev, view->last,
        view->prev_ms, view->last_ms, -1, view->spectators, view->grace_ms,
        view->grace_heard_ms
    };
    //  Never back: a state behind the one shown is not taken.
    if (!self->watched.have_state || !st.have_state
    ||  st.last.match != self->watched.last.match
    ||  st.last.tick > self->watched.last.tick) {
        if (st.have_state && (!self->watched.have_state
            || st.last.tick != self->watched.last.tick))
            self->dirty = true;
        self->watched = st;
    }
    s_learn_tick (self, &self->watched);
    s_cues (self, &self->watched);
}

bool ui_showing_match (ui_t *self)
{
    assert (self);
    const rally_view_t *view = s_match_view (self);
    if (!view || self->menu)
        return false;
    const rally_msg_state_t *s = &view->last;
    return (s->phase == RALLY_PHASE_SERVE || s->phase == RALLY_PHASE_PLAY)
        && s->names[0][0] && s->names[1][0];
}

const char *ui_showing (ui_t *self)
{
    assert (self);
    if (self->watch)
        return self->watched.have_state? "watch": "watch-list";
    if (self->menu)
        return "menu";
    if (s_unreachable (self, zclock_mono ()))
        return "unreachable";
    const rally_view_t *view = &self->shown;
    switch (s_screen (self)) {
        case UI_SCREEN_NAME:
            if (!self->board_shown)
                return "name";
            return self->board && rally_watch_view (self->board)->have_board
                 ? "board": "board-wait";
        case UI_SCREEN_END:
            if (view->reconnecting)
                return "reconnecting";
            return self->board && rally_watch_view (self->board)->have_board
                 ? "end": "end-wait";
        case UI_SCREEN_MATCH:
            if (view->reconnecting)
                return "reconnecting";
            if (view->have_state && view->last.phase == RALLY_PHASE_PAUSED)
                return view->grace_ms? "paused": "paused-wait";
            return view->have_state
                && view->last.phase == RALLY_PHASE_OVER? "last-point": "match";
        case UI_SCREEN_WAITING:
            if (view->reconnecting)
                return "reconnecting";
            return view->status == RALLY_CLIENT_FINDING? "finding":
                   view->status == RALLY_CLIENT_QUEUED? "queued": "joining";
    }
    return "?";
}

bool ui_quit (ui_t *self)
{
    assert (self);
    return self->quit;
}

//  --------------------------------------------------------------------------
//  Drawing. Sizes scale with the window: u is one "unit", the window's
//  size over 320 x 240 (whichever is tighter), 3 in the default 960 x 720
//  window. Text sizes are in units with a floor in pixels, so text reads
//  at the smallest window, and lines too wide for it shrink to fit.

typedef struct {
    render_t *r;
    float w, h;                 //  framebuffer size
    float u;                    //  layout unit
    int64_t now_us;
    int64_t next_us;            //  what is drawn changes by then
} ui_frame_t;

#define UI_TITLE(f)     fmaxf (28, 30 * (f)->u)
#define UI_BIG(f)       fmaxf (18, 15 * (f)->u)
#define UI_BODY(f)      fmaxf (13, 9 * (f)->u)
#define UI_SMALL(f)     fmaxf (11, 7 * (f)->u)
#define UI_PX_MIN       9       //  no line shrinks below this

//  Asks for a frame again at at_us (what is shown changes then).
static void s_redraw_at (ui_frame_t *f, int64_t at_us)
{
    if (at_us > f->now_us && at_us < f->next_us)
        f->next_us = at_us;
}

//  Asks for a frame when a counter started at since_us next ticks over a
//  whole second; returns the whole seconds elapsed.
static int64_t s_seconds_since (ui_frame_t *f, int64_t since_us)
{
    int64_t elapsed = f->now_us - since_us;
    if (elapsed < 0)
        elapsed = 0;
    s_redraw_at (f, since_us + (elapsed / 1000000 + 1) * 1000000);
    return elapsed / 1000000;
}

//  The px that makes text fit in max_w pixels, px at most.
static float s_fit (ui_frame_t *f, const char *text, float px, float max_w)
{
    float w = render_text_width (f->r, text, px);
    if (w > max_w && w > 0)
        px = fmaxf (UI_PX_MIN, floorf (px * max_w / w));
    return px;
}

static void s_text_at (ui_frame_t *f, float x, float y, float px,
                       render_color_t c, const char *text)
{
    render_text (f->r, floorf (x), floorf (y), px, c, text);
}

//  Text centred on cx, its top at y, shrunk to fit the window; returns the
//  height it took.
static float s_centre (ui_frame_t *f, float cx, float y, float px,
                       render_color_t c, const char *text)
{
    px = s_fit (f, text, px, f->w - 4 * f->u);
    float w = render_text_width (f->r, text, px);
    s_text_at (f, cx - w / 2, y, px, c, text);
    return render_text_height (f->r, text, px);
}

//  Lines of text centred at cx, cy on a shaded box.
static void s_banner (ui_frame_t *f, float cx, float cy, float px,
                      render_color_t c, const char *text)
{
    float pad = 4 * f->u;
    px = s_fit (f, text, px, f->w - 2 * pad - 4 * f->u);
    float tw = render_text_width (f->r, text, px);
    float th = render_text_height (f->r, text, px);
    float x = floorf (cx - tw / 2), y = floorf (cy - th / 2);
    render_rect (f->r, x - pad, y - pad, tw + 2 * pad, th + 2 * pad, s_shade);
    const char *line = text;
    while (true) {
        char one[256];
        const char *end = strchr (line, '\n');
        size_t n = end? (size_t) (end - line): strlen (line);
        snprintf (one, sizeof one, "%.*s", (int) n, line);
        float lw = render_text_width (f->r, one, px);
        s_text_at (f, cx - lw / 2, y, px, c, one);
        if (!end)
            break;
        y += render_text_height (f->r, "M", px);
        line = end + 1;
    }
}

static void s_title (ui_frame_t *f, render_color_t c, const char *text)
{
    s_centre (f, f->w / 2, f->h * 0.08f, UI_TITLE (f), c, text);
}

//  The key help at the bottom.
static void s_footer (ui_frame_t *f, const char *text)
{
    float px = UI_SMALL (f);
    s_centre (f, f->w / 2, f->h - render_text_height (f->r, "M", px)
              - 3 * f->u, px, s_dim, text);
}

static void s_notice (ui_t *self, ui_frame_t *f, float y)
{
    if (!self->notice[0])
        return;
    if (f->now_us - self->notice_us >= UI_NOTICE_US)
        return;
    s_redraw_at (f, self->notice_us + UI_NOTICE_US);
    s_banner (f, f->w / 2, y, UI_SMALL (f), s_red, self->notice);
}

//  "tcp://127.0.0.1:5600" or "tcp://127.0.0.1:5600 and 2 more"
static void s_brokers (ui_t *self, char *out, size_t size)
{
    size_t others = self->cluster.broker_count - 1;
    if (others)
        snprintf (out, size, "%s and %zu more", self->cluster.brokers[0],
                  others);
    else
        snprintf (out, size, "%s", self->cluster.brokers[0]);
}

static void s_draw_menu (ui_t *self, ui_frame_t *f)
{
    ui_item_t items[UI_MENU_MAX];
    int count = s_menu_items (self, items);
    float px = UI_BODY (f), pad = 5 * f->u;
    float line = render_text_height (f->r, "M", px) + 3 * f->u;
    float w = render_text_width (f->r, "Quit Rally (you forfeit the match)",
                                 px) + 2 * pad;
    if (w > f->w - 4 * f->u) {
        px = s_fit (f, "Quit Rally (you forfeit the match)", px,
                    f->w - 4 * f->u - 2 * pad);
        w = f->w - 4 * f->u;
        line = render_text_height (f->r, "M", px) + 3 * f->u;
    }
    const char *note = s_screen (self) == UI_SCREEN_MATCH
                     ? "The match goes on while this menu is open": "Menu";
    float small = s_fit (f, note, UI_SMALL (f), w - 2 * pad);
    float h = (float) count * line + 2 * pad
            + render_text_height (f->r, note, small) + 2 * f->u;
    float x = floorf ((f->w - w) / 2), y = floorf ((f->h - h) / 2);
    render_rect (f->r, 0, 0, f->w, f->h, (render_color_t) { 0, 0, 0, 170 });
    render_rect (f->r, x, y, w, h, s_box);
    s_text_at (f, x + pad, y + pad, small, s_dim, note);
    float iy = y + pad + render_text_height (f->r, note, small) + 2 * f->u;
    for (int i = 0; i < count; i++) {
        bool at = i == self->menu_at % count;
        if (at)
            render_rect (f->r, x + pad / 2, iy, w - pad, line, s_select);
        s_text_at (f, x + pad, iy + 1.5f * f->u, px, at? s_accent: s_white,
                   s_item_label (self, items[i]));
        iy += line;
    }
}

//  The question asked when no server has answered for a while.
static void s_draw_unreachable (ui_t *self, ui_frame_t *f)
{
    const rally_view_t *view = &self->shown;
    char text[512], where[RALLY_ENDPOINT_BUF + 32];
    s_brokers (self, where, sizeof where);
    int64_t secs = s_seconds_since (f, view->searching_ms * 1000);
    snprintf (text, sizeof text,
              "No game server has answered for %" PRId64 " s.\n"
              "Asked %s %u times.\n"
              "Enter: keep trying    Q: quit", secs, where, view->tries);
    s_banner (f, f->w / 2, f->h * 0.5f, UI_BODY (f), s_white, text);
}

//  The leaderboard from y down to bottom: the player's record, then as
//  many of the best as fit, the player's own line highlighted.
static void s_draw_board (ui_t *self, ui_frame_t *f, float y, float bottom)
{
    float u = f->u, px = UI_SMALL (f);
    float line = render_text_height (f->r, "M", px) + u;
    const rally_watch_view_t *view = self->board? rally_watch_view (self->board)
                                                : NULL;
    char text[160];
    if (!view || !view->have_board) {
        if (view && view->searching_ms)
            snprintf (text, sizeof text, "Fetching the leaderboard: no"
                      " server has answered yet (try %u)", view->tries);
        else
            snprintf (text, sizeof text, "Fetching the leaderboard...");
        s_centre (f, f->w / 2, y, px, s_dim, text);
        s_redraw_at (f, f->now_us + 1000000);
        return;
    }
    const rally_msg_board_t *b = &view->board;
    if (b->own.name[0]) {
        snprintf (text, sizeof text, "Your record: %u win%s, %u loss%s"
                  " (%u by forfeit)", b->own.wins, b->own.wins == 1? "": "s",
                  b->own.losses, b->own.losses == 1? "": "es",
                  b->own.forfeits);
        y += s_centre (f, f->w / 2, y, UI_BODY (f), s_accent, text) + 2 * u;
    }
    float w = fminf (f->w - 8 * u, render_text_width (f->r,
                     "00  MMMMMMMMMMMMMMMM   wins  losses  forfeits", px));
    float x = floorf ((f->w - w) / 2);
    float cols[3] = { x + w * 0.62f, x + w * 0.76f, x + w };
    const char *heads[3] = { "wins", "losses", "forfeits" };
    snprintf (text, sizeof text, "Top of %u player%s", b->players,
              b->players == 1? "": "s");
    s_text_at (f, x, y, px, s_dim, text);
    for (int c = 0; c < 3; c++)
        s_text_at (f, cols[c] - render_text_width (f->r, heads[c], px), y, px,
                   s_dim, heads[c]);
    y += line;
    for (uint32_t i = 0; i < b->count && y + line <= bottom; i++) {
        const rally_record_t *r = &b->top[i];
        bool own = streq (r->name, b->own.name);
        render_color_t c = own? s_accent: s_white;
        snprintf (text, sizeof text, "%u  %s", i + 1, r->name);
        float npx = s_fit (f, text, px, cols[0] - x - w * 0.1f);
        s_text_at (f, x, y, npx, c, text);
        uint32_t v[3] = { r->wins, r->losses, r->forfeits };
        for (int k = 0; k < 3; k++) {
            snprintf (text, sizeof text, "%u", v[k]);
            s_text_at (f, cols[k] - render_text_width (f->r, text, px), y,
                       px, c, text);
        }
        y += line;
    }
}

static void s_draw_name (ui_t *self, ui_frame_t *f)
{
    float u = f->u;
    s_title (f, s_accent, "RALLY");
    if (self->board_shown) {
        float small = UI_SMALL (f);
        s_draw_board (self, f, f->h * 0.28f, f->h - 2 * render_text_height
                      (f->r, "M", small) - 4 * u);
        s_footer (f, "Tab or Esc: back to your name");
        return;
    }
    float y = f->h * 0.34f;
    y += s_centre (f, f->w / 2, y, UI_BODY (f), s_dim, "Type your name");
    float px = UI_BODY (f);
    float box_w = fminf (f->w - 8 * u,
                         render_text_width (f->r, "MMMMMMMMMMMMMMMM", px)
                         + 8 * u);
    float box_h = render_text_height (f->r, "M", px) + 6 * u;
    float bx = floorf ((f->w - box_w) / 2), by = floorf (y + 4 * u);
    render_rect (f->r, bx, by, box_w, box_h, s_box);
    //  The caret blinks: a frame each half second.
    bool caret = (f->now_us / 500000) % 2 == 0;
    s_redraw_at (f, (f->now_us / 500000 + 1) * 500000);
    char shown[RALLY_NAME_BUF + 4];
    snprintf (shown, sizeof shown, "%s%s", self->name, caret? "|": "");
    float npx = s_fit (f, shown, px, box_w - 8 * u);
    s_text_at (f, bx + 4 * u, by + (box_h - render_text_height (f->r, "M",
               npx)) / 2, npx, s_white, shown);

    char count[64];
    snprintf (count, sizeof count, "%zu/%d characters, %zu/%d bytes",
              s_chars (self->name), RALLY_NAME_MAX_CHARS, strlen (self->name),
              RALLY_NAME_MAX);
    y = by + box_h + 2 * u;
    y += s_centre (f, f->w / 2, y, UI_SMALL (f), s_dim, count) + 2 * u;
    const char *problem = self->hint[0]? self->hint: self->error;
    if (problem[0])
        s_centre (f, f->w / 2, y, UI_SMALL (f), s_red, problem);
    else
    if (self->note[0])
        s_centre (f, f->w / 2, y, UI_SMALL (f), s_accent, self->note);

    char where[RALLY_ENDPOINT_BUF + 48], line[RALLY_ENDPOINT_BUF + 64];
    s_brokers (self, where, sizeof where);
    snprintf (line, sizeof line, "Server: %s", where);
    float small = UI_SMALL (f);
    s_centre (f, f->w / 2, f->h - 2 * render_text_height (f->r, "M", small)
              - 5 * u, small, s_dim, line);
    s_footer (f, "Enter: join    Tab: leaderboard    Esc: quit");
}

static void s_draw_overlay (ui_t *self, ui_frame_t *f, float x, float y,
                            bool from_bottom, bool right,
                            const rally_view_t *view);

//  The line under "Looking for the game server": where, how often, how
//  long.
static void s_finding_detail (ui_t *self, ui_frame_t *f,
                              const rally_view_t *view, char *out,
                              size_t size)
{
    char where[RALLY_ENDPOINT_BUF + 32];
    s_brokers (self, where, sizeof where);
    int64_t secs = view->searching_ms
                 ? s_seconds_since (f, view->searching_ms * 1000): 0;
    snprintf (out, size, "Asking %s: try %u, %" PRId64 " s", where,
              view->tries, secs);
}

static void s_draw_reconnecting (ui_t *self, ui_frame_t *f,
                                 const rally_view_t *view, float cy)
{
    char text[256];
    int64_t secs = s_seconds_since (f, self->reconnecting_us);
    if (view->lost_node)
        snprintf (text, sizeof text, "RECONNECTING: node %u went quiet %"
                  PRId64 " s ago\nlooking for the next leader, try %u",
                  view->lost_node, secs, view->tries);
    else
        snprintf (text, sizeof text, "RECONNECTING for %" PRId64 " s,"
                  " try %u", secs, view->tries);
    s_banner (f, f->w / 2, cy, UI_BODY (f), s_red, text);
}

static void s_draw_waiting (ui_t *self, ui_frame_t *f, const rally_view_t *view)
{
    float u = f->u;
    char line[RALLY_ENDPOINT_BUF + 128];
    s_title (f, s_accent, "RALLY");
    int dots = (int) ((f->now_us / 400000) % 4);
    s_redraw_at (f, (f->now_us / 400000 + 1) * 400000);
    const char *what = "Waiting for an opponent";
    if (view->status == RALLY_CLIENT_FINDING)
        what = "Looking for the game server";
    else
    if (view->status == RALLY_CLIENT_JOINING)
        what = "Joining";
    else
    if (view->status == RALLY_CLIENT_PLAYING)
        what = "Match starting";
    //  Centred without the dots, so that they do not shake the line.
    float px = UI_BODY (f);
    float x = f->w / 2 - render_text_width (f->r, what, px) / 2;
    snprintf (line, sizeof line, "%s%.*s", what, dots, "...");
    float y = f->h * 0.34f;
    s_text_at (f, x, y, px, s_white, line);
    y += render_text_height (f->r, line, px) + 3 * u;
    float small = UI_SMALL (f);
    if (view->status == RALLY_CLIENT_FINDING) {
        s_finding_detail (self, f, view, line, sizeof line);
        y += s_centre (f, f->w / 2, y, small, s_dim, line) + 2 * u;
    }
    else
    if (view->status == RALLY_CLIENT_JOINING && view->node) {
        snprintf (line, sizeof line, "Node %u answered; taking your name",
                  view->node);
        y += s_centre (f, f->w / 2, y, small, s_dim, line) + 2 * u;
    }
    else
    if (view->status == RALLY_CLIENT_QUEUED) {
        int64_t secs = s_seconds_since (f, self->status_us);
        if (view->position > 1)
            snprintf (line, sizeof line, "Place in the queue: %u, waiting %"
                      PRId64 " s", view->position, secs);
        else
            snprintf (line, sizeof line, "You are next: paired as soon as"
                      " another player joins (%" PRId64 " s)", secs);
        y += s_centre (f, f->w / 2, y, small, s_dim, line) + 2 * u;
    }
    snprintf (line, sizeof line, "Playing as %s", self->name);
    s_centre (f, f->w / 2, y + 2 * u, px, s_accent, line);
    if (view->reconnecting)
        s_draw_reconnecting (self, f, view, f->h * 0.68f);
    s_footer (f, "Esc: menu (back to the name screen, quit)    M: mute");
    if (self->overlay)      //  in a corner, clear of the text
        s_draw_overlay (self, f, 3 * u, f->h - 3 * u, true, false, view);
    s_notice (self, f, f->h * 0.82f);
}

//  Where the field sits in the window, and how big a field unit is.
typedef struct {
    float x, y, w, h;           //  pixels
    float k;                    //  pixels per field unit
} ui_field_t;

//  The header's height: names (and "YOU") beside the score.
static float s_header_h (ui_frame_t *f)
{
    float names = render_text_height (f->r, "M", UI_BODY (f))
                + render_text_height (f->r, "M", UI_SMALL (f));
    float score = render_text_height (f->r, "0", UI_BIG (f))
                + render_text_height (f->r, "M", UI_SMALL (f));
    return 3 * f->u + fmaxf (names, score) + 2 * f->u;
}

static ui_field_t s_field_layout (ui_frame_t *f, float bottom)
{
    float u = f->u;
    float top = s_header_h (f), margin = 4 * u;
    float avail_w = f->w - 2 * margin, avail_h = f->h - top - margin - bottom;
    float k = fminf (avail_w / PONG_FIELD_W, avail_h / PONG_FIELD_H);
    ui_field_t field = { .k = k };
    field.w = PONG_FIELD_W * k;
    field.h = PONG_FIELD_H * k;
    field.x = floorf ((f->w - field.w) / 2);
    field.y = floorf (top + (avail_h - field.h) / 2);
    return field;
}

//  A rectangle given by its centre and size in field units.
static void s_field_rect (ui_frame_t *f, const ui_field_t *field, double cx,
                          double cy, double w, double h, render_color_t c)
{
    float x0 = roundf (field->x + (float) (cx - w / 2) * field->k);
    float y0 = roundf (field->y + (float) (cy - h / 2) * field->k);
    float x1 = roundf (field->x + (float) (cx + w / 2) * field->k);
    float y1 = roundf (field->y + (float) (cy + h / 2) * field->k);
    render_rect (f->r, x0, y0, x1 - x0, y1 - y0, c);
}

static double s_clamp (double v, double lo, double hi)
{
    return v < lo? lo: v > hi? hi: v;
}

static double s_lerp (int32_t a, int32_t b, double t)
{
    return a + (b - a) * t;
}

//  Ball and paddles one tick in the past, between prev and last.
static void s_interpolate (ui_t *self, const ui_states_t *st, double now_ms,
                           double *bx, double *by, double paddles[2])
{
    const rally_msg_state_t *a = &st->prev, *b = &st->last;
    double t = 1;
    if (st->have_prev && a->match == b->match && st->last_ms > st->prev_ms)
        t = s_clamp ((now_ms - self->tick_ms - (double) st->prev_ms)
                     / (double) (st->last_ms - st->prev_ms), 0, 1);
    else
        a = b;
    paddles[0] = s_lerp (a->paddles[0], b->paddles[0], t);
    paddles[1] = s_lerp (a->paddles[1], b->paddles[1], t);
    //  After a point the ball jumps back to the centre: it must not be
    //  seen sliding there.
    bool jump = a->score[0] != b->score[0] || a->score[1] != b->score[1]
             || abs (a->ball[0] - b->ball[0]) > PONG_FIELD_W / 4;
    double tb = jump? 1: t;
    double half = PONG_BALL_SIZE / 2.0;
    *bx = s_clamp (s_lerp (a->ball[0], b->ball[0], tb), half,
                   PONG_FIELD_W - half);
    *by = s_clamp (s_lerp (a->ball[1], b->ball[1], tb), half,
                   PONG_FIELD_H - half);
}

//  Moves the own paddle's prediction on by dt seconds: it follows the
//  keys at once, and is pulled towards where the server has it (carried
//  forward by the server's intent to now).
static void s_predict (ui_t *self, const rally_view_t *view, double now_ms,
                       double dt)
{
    const rally_msg_state_t *s = &view->last;
    int side = view->side;
    double lo = PONG_PADDLE_H / 2.0, hi = PONG_FIELD_H - PONG_PADDLE_H / 2.0;
    bool moving = s->phase == RALLY_PHASE_SERVE || s->phase == RALLY_PHASE_PLAY;
    double server = s->paddles[side];
    if (moving) {
        double ahead = s_clamp (now_ms - (double) view->last_ms, 0,
                                UI_EXTRAPOLATE_MS) / 1000.0;
        double speed = (double) PONG_PADDLE_SPEED;
        server = s_clamp (server + s->intents[side] * speed * ahead, lo, hi);
    }
    if (!self->pred_valid) {
        self->pred_y = server;
        self->pred_valid = true;
    }
    if (moving)
        self->pred_y += self->intent * (double) PONG_PADDLE_SPEED * dt;
    self->pred_y += (server - self->pred_y) * (1 - exp (-dt / UI_PREDICT_TAU_S));
    self->pred_y = s_clamp (self->pred_y, server - UI_PREDICT_DRIFT,
                            server + UI_PREDICT_DRIFT);
    self->pred_y = s_clamp (self->pred_y, lo, hi);
}

//  Seconds (rounded up) that ticks take at the learnt tick period.
static int s_tick_seconds (ui_t *self, uint32_t ticks)
{
    return (int) ceil ((double) ticks * self->tick_ms / 1000.0);
}

//  Names, scores, whose side is whose, spectators, and the serve
//  countdown, all above the field (the field below holds only the game).
static void s_draw_header (ui_t *self, ui_frame_t *f, const ui_field_t *field,
                           const ui_states_t *st)
{
    const rally_msg_state_t *s = &st->last;
    float u = f->u, body = UI_BODY (f), small = UI_SMALL (f), big = UI_BIG (f);
    char text[96];
    float score_w = render_text_width (f->r, "00", big) + 10 * u;
    float name_w = fmaxf (field->w / 2 - score_w, 20 * u);
    for (int side = 0; side < 2; side++) {
        bool own = side == st->side;
        render_color_t c = own? s_accent: s_white;
        const char *name = s->names[side];
        float px = s_fit (f, name, body, name_w);
        float nw = render_text_width (f->r, name, px);
        float nx = side == 0? field->x: field->x + field->w - nw;
        s_text_at (f, nx, 3 * u, px, c, name);
        float below = 3 * u + render_text_height (f->r, name, px);
        const char *tag = own? "YOU": st->side < 0? (side? "right": "left"): "";
        float tw = render_text_width (f->r, tag, small);
        float tx = side == 0? field->x: field->x + field->w - tw;
        s_text_at (f, tx, below, small, own? s_accent: s_dim, tag);
        snprintf (text, sizeof text, "%u", s->score[side]);
        float sw = render_text_width (f->r, text, big);
        float sx = side == 0? f->w / 2 - 5 * u - sw: f->w / 2 + 5 * u;
        s_text_at (f, sx, 2 * u, big, c, text);
    }
    float y = 2 * u + render_text_height (f->r, "0", big);
    text[0] = 0;
    if (s->phase == RALLY_PHASE_SERVE && s->countdown > 0) {
        int secs = s_tick_seconds (self, s->countdown);
        if (s->serve == (uint32_t) st->side)
            snprintf (text, sizeof text, "You serve in %d", secs);
        else
            snprintf (text, sizeof text, "%s serves in %d",
                      s->names[s->serve & 1], secs);
    }
    else
    if (st->spectators)
        snprintf (text, sizeof text, "%u watching", st->spectators);
    if (text[0]) {
        float px = s_fit (f, text, small, 2 * score_w + 20 * u);
        float tw = render_text_width (f->r, text, px);
        s_text_at (f, f->w / 2 - tw / 2, y, px, s_dim, text);
    }
}

static void s_draw_net (ui_frame_t *f, const ui_field_t *field)
{
    //  Dashes, clipped to the field, with a gap at the very centre where
    //  the ball waits for a serve.
    double dash = 1600, width = 300, mid = PONG_FIELD_H / 2.0;
    for (double d = dash; d < mid; d += 2 * dash) {
        double end = fmin (d + dash, mid);
        s_field_rect (f, field, PONG_FIELD_W / 2.0, mid - (d + end) / 2,
                      width, end - d, s_net);
        s_field_rect (f, field, PONG_FIELD_W / 2.0, mid + (d + end) / 2,
                      width, end - d, s_net);
    }
}

//  The F1 details, in a box with its top-left corner at (x, y) (its
//  bottom when from_bottom, its right edge when right): the node serving
//  us and its term ("?" until a node says), or the one we left while
//  reconnecting; the match's tick only while there is a match.
static void s_draw_overlay (ui_t *self, ui_frame_t *f, float x, float y,
                            bool from_bottom, bool right,
                            const rally_view_t *view)
{
    char text[320];
    char serving[16] = "?", term[32] = "?", node[64], rtt[32];
    if (view->node) {
        snprintf (serving, sizeof serving, "%u", view->node);
        snprintf (term, sizeof term, "%" PRIu64, view->term);
    }
    if (view->reconnecting)
        snprintf (node, sizeof node, "%s (reconnecting, left %u)", serving,
                  view->lost_node);
    else
        snprintf (node, sizeof node, "%s", serving);
    if (view->rtt_ms >= 0)
        snprintf (rtt, sizeof rtt, "%" PRId64 " ms", view->rtt_ms);
    else
        snprintf (rtt, sizeof rtt, "?");
    int n = snprintf (text, sizeof text, "node %s\nterm %s\nrtt %s", node,
                      term, rtt);
    if (s_screen (self) == UI_SCREEN_MATCH && view->have_state && n > 0)
        snprintf (text + n, sizeof text - (size_t) n,
                  "\nmatch %u, tick %u\ntick period %.1f ms", view->match,
                  view->last.tick, self->tick_ms);
    s_redraw_at (f, f->now_us + 500000);    //  rtt changes
    float px = UI_SMALL (f);
    float pad = 3 * f->u;
    float w = render_text_width (f->r, text, px) + 2 * pad;
    float h = render_text_height (f->r, text, px) + 2 * pad;
    if (from_bottom)
        y -= h;
    if (right)
        x -= w;
    render_rect (f->r, x, y, w, h, s_shade);
    s_text_at (f, x + pad, y + pad, px, s_dim, text);
}

//  The field with the paddles and ball of st at now.
static void s_draw_field (ui_t *self, ui_frame_t *f, const ui_field_t *field,
                          const ui_states_t *st, double own_y)
{
    const rally_msg_state_t *s = &st->last;
    double now_ms = (double) f->now_us / 1000.0;
    double bx, by, paddles[2];
    s_interpolate (self, st, now_ms, &bx, &by, paddles);
    if (st->side >= 0 && own_y >= 0)
        paddles[st->side] = own_y;
    render_rect (f->r, field->x, field->y, field->w, field->h, s_field);
    s_draw_net (f, field);
    for (int side = 0; side < 2; side++) {
        double px = side == 0? PONG_PADDLE_X: PONG_FIELD_W - PONG_PADDLE_X;
        s_field_rect (f, field, px, paddles[side], PONG_PADDLE_W,
                      PONG_PADDLE_H, side == st->side? s_accent: s_white);
    }
    if (s->phase != RALLY_PHASE_OVER)
        s_field_rect (f, field, bx, by, PONG_BALL_SIZE, PONG_BALL_SIZE,
                      s_white);
    s_draw_header (self, f, field, st);
    //  Moving things are drawn every frame; a frozen match only as it
    //  changes.
    if (s->phase == RALLY_PHASE_PLAY || s->phase == RALLY_PHASE_SERVE)
        f->next_us = f->now_us;
}

//  Words over the field: the pause and its grace, a point, the end.
static void s_draw_field_words (ui_t *self, ui_frame_t *f,
                                const ui_field_t *field, const ui_states_t *st)
{
    const rally_msg_state_t *s = &st->last;
    float cx = field->x + field->w / 2, cy = field->y + field->h / 2;
    char text[256];
    if (s->phase == RALLY_PHASE_PAUSED) {
        const char *who = (s->lost & 1) && (s->lost & 2)? "Both players":
                          (s->lost & 1)? s->names[0]:
                          (s->lost & 2)? s->names[1]: "A player";
        int64_t left_ms = (int64_t) st->grace_ms
                        - ((int64_t) f->now_us / 1000 - st->grace_heard_ms);
        int secs = (int) ((left_ms > 0? left_ms: 0) + 999) / 1000;
        s_redraw_at (f, f->now_us + 250000);
        if (st->grace_ms)
            snprintf (text, sizeof text, "PAUSED: %s lost the connection\n"
                      "Seat kept %d s more, then the match is forfeited",
                      who, secs);
        else
            snprintf (text, sizeof text, "PAUSED: %s lost the connection\n"
                      "The seat is kept for the grace period", who);
        s_banner (f, cx, cy - 12 * f->u, UI_BODY (f), s_accent, text);
    }
    else
    if (s->phase == RALLY_PHASE_OVER && s->winner >= 0 && s->winner <= 1) {
        snprintf (text, sizeof text, "%s wins %u - %u",
                  s->names[s->winner], s->score[0], s->score[1]);
        s_banner (f, cx, cy, UI_BIG (f), s_accent, text);
    }
    else
    if (self->point_side >= 0 && f->now_us - self->point_us < UI_POINT_US
    &&  st->side >= 0) {
        s_redraw_at (f, self->point_us + UI_POINT_US);
        snprintf (text, sizeof text, "Point: %s",
                  s->names[self->point_side]);
        s_banner (f, cx, field->y + field->h * 0.25f, UI_BODY (f),
                  self->point_side == st->side? s_accent: s_white, text);
    }
}

static void s_draw_match (ui_t *self, ui_frame_t *f)
{
    ui_field_t field = s_field_layout (f, 0);
    const rally_view_t *view = s_match_view (self);
    if (!view) {
        s_draw_waiting (self, f, &self->shown);
        return;
    }
    ui_states_t st = s_states_of (view);
    s_draw_field (self, f, &field, &st, self->pred_valid? self->pred_y: -1);
    s_draw_field_words (self, f, &field, &st);
    if (view->reconnecting)
        s_draw_reconnecting (self, f, view, field.y + field.h * 0.75f);
    if (self->overlay)      //  on the opponent's half, clear of our paddle
        s_draw_overlay (self, f, view->side == 0? field.x + field.w - 3 * f->u:
                        field.x + 3 * f->u, field.y + field.h - 3 * f->u,
                        true, view->side == 0, view);
    s_notice (self, f, field.y + field.h * 0.85f);
}

//  Why the match ended, in words: by points, by a forfeit (whose), or
//  while we were away.
static void s_end_words (ui_t *self, const rally_view_t *view, char *out,
                         size_t size)
{
    int winner = self->end_winner, side = view->side;
    uint32_t top = self->end_score[0] > self->end_score[1]
                 ? self->end_score[0]: self->end_score[1];
    bool forfeit = winner >= 0 && self->end_points && top < self->end_points;
    const char *other = side == 0 || side == 1? self->end_names[side ^ 1]: "";
    if (self->end_lost)
        snprintf (out, size, "Match %u ended while you were away;\nyou did"
                  " not come back within the grace period", view->match);
    else
    if (forfeit && winner == side)
        snprintf (out, size, "%s left and did not come back in time:\nyou"
                  " win by forfeit", other);
    else
    if (forfeit)
        snprintf (out, size, "You were away longer than the grace period:\n"
                  "%s wins by forfeit", other);
    else
    if (winner >= 0 && winner <= 1)
        snprintf (out, size, "%s wins, first to %u points",
                  self->end_names[winner], self->end_points);
    else
        snprintf (out, size, "The match is over");
}

static void s_draw_end (ui_t *self, ui_frame_t *f, const rally_view_t *view)
{
    float u = f->u;
    char line[320];
    int winner = self->have_end? self->end_winner: -1;
    const char *title = winner < 0? "MATCH OVER":
                        winner == view->side? "YOU WIN": "YOU LOSE";
    s_title (f, winner == view->side? s_accent: s_white, title);
    float y = f->h * 0.34f;
    if (self->have_end) {
        s_end_words (self, view, line, sizeof line);
        float px = UI_BODY (f);
        const char *l = line;
        char one[200];
        while (l) {
            const char *end = strchr (l, '\n');
            snprintf (one, sizeof one, "%.*s",
                      (int) (end? (size_t) (end - l): strlen (l)), l);
            y += s_centre (f, f->w / 2, y, px, s_white, one) + u;
            l = end? end + 1: NULL;
        }
        if (!self->end_lost) {
            snprintf (line, sizeof line, "%s  %u - %u  %s",
                      self->end_names[0], self->end_score[0],
                      self->end_score[1], self->end_names[1]);
            y += s_centre (f, f->w / 2, y + 3 * u, UI_BODY (f), s_dim,
                           line) + 3 * u;
        }
    }
    float small = UI_SMALL (f);
    if (self->board)
        s_draw_board (self, f, y + 4 * u, f->h - 2 * render_text_height
                      (f->r, "M", small) - 4 * u);
    s_footer (f, "Enter or Space: play again    Esc: menu (name screen,"
              " quit)");
    if (view->reconnecting)
        s_draw_reconnecting (self, f, view, f->h * 0.72f);
    if (self->overlay)      //  in a corner, clear of the title
        s_draw_overlay (self, f, 3 * u, f->h - 3 * u, true, false, view);
    s_notice (self, f, f->h * 0.80f);
}

//  --------------------------------------------------------------------------
//  Spectating: the match shown above, the list of matches below.

#define UI_WATCH_LINES 4        //  matches listed at most

static void s_watch_line (ui_t *self, const rally_watch_view_t *view,
                          const rally_match_info_t *m, char *out, size_t size)
{
    uint32_t secs = (uint32_t) ((double) m->tick * self->tick_ms / 1000.0);
    snprintf (out, size, "match %u   %s  %u - %u  %s   %u:%02u%s", m->match,
              m->names[0], m->score[0], m->score[1], m->names[1], secs / 60,
              secs % 60, m->phase == RALLY_PHASE_PAUSED? "  (paused)": "");
}

static float s_draw_watch_list (ui_t *self, ui_frame_t *f, bool measure)
{
    const rally_watch_view_t *view = rally_watch_view (self->watch);
    float px = UI_SMALL (f), line = render_text_height (f->r, "M", px);
    uint32_t shown = view->count < UI_WATCH_LINES? view->count: UI_WATCH_LINES;
    float h = (float) (shown + 1) * line + 6 * f->u;
    if (measure)
        return h;
    int at = s_watch_index (self);
    //  A window of the list around the match shown.
    int first = at - (int) shown / 2;
    if (first + (int) shown > (int) view->count)
        first = (int) view->count - (int) shown;
    if (first < 0)
        first = 0;
    float y = f->h - h;
    char text[200];
    for (int i = first; i < first + (int) shown; i++) {
        s_watch_line (self, view, &view->matches[i], text, sizeof text);
        if (i == at)
            render_rect (f->r, 0, y, f->w, line, s_select);
        s_centre (f, f->w / 2, y, px, i == at? s_accent: s_white, text);
        y += line;
    }
    snprintf (text, sizeof text, "%u match%s under way, %u waiting    Left/Right:"
              " switch    Esc: quit", view->count, view->count == 1? "": "es",
              view->waiting);
    s_centre (f, f->w / 2, y + 2 * f->u, px, s_dim, text);
    return h;
}

static void s_draw_watch (ui_t *self, ui_frame_t *f)
{
    const rally_watch_view_t *view = rally_watch_view (self->watch);
    char text[RALLY_ENDPOINT_BUF + 128];
    if (!view->connected) {
        s_title (f, s_accent, "WATCHING");
        char where[RALLY_ENDPOINT_BUF + 32];
        s_brokers (self, where, sizeof where);
        int64_t secs = view->searching_ms
                     ? s_seconds_since (f, view->searching_ms * 1000): 0;
        snprintf (text, sizeof text, "Looking for the game server: asking"
                  " %s, try %u, %" PRId64 " s", where, view->tries, secs);
        s_centre (f, f->w / 2, f->h * 0.4f, UI_BODY (f), s_white, text);
        s_footer (f, "Esc: quit");
        return;
    }
    if (!self->watched.have_state) {
        s_title (f, s_accent, "WATCHING");
        snprintf (text, sizeof text, view->count? "Tuning in to match %u":
                  "No match under way; %u waiting for an opponent",
                  view->count? view->match: view->waiting);
        s_centre (f, f->w / 2, f->h * 0.4f, UI_BODY (f), s_white, text);
        s_redraw_at (f, f->now_us + 1000000);
        s_draw_watch_list (self, f, false);
        return;
    }
    ui_field_t field = s_field_layout (f, s_draw_watch_list (self, f, true));
    s_draw_field (self, f, &field, &self->watched, -1);
    s_draw_field_words (self, f, &field, &self->watched);
    s_draw_watch_list (self, f, false);
}

//  --------------------------------------------------------------------------
//  Frames

void ui_step (ui_t *self, int64_t now_us)
{
    assert (self);
    //  A clamped frame time: a window dragged or hidden for a second must
    //  not fling the paddle.
    double dt = self->frame_us? (double) (now_us - self->frame_us) / 1e6: 0;
    dt = s_clamp (dt, 0, 0.1);
    self->frame_us = now_us;
    const rally_view_t *view = s_match_view (self);
    if (view)
        s_predict (self, view, (double) now_us / 1000.0, dt);
}

bool ui_redraw_due (ui_t *self, int64_t now_us)
{
    assert (self);
    return self->dirty || now_us >= self->redraw_us;
}

void ui_invalidate (ui_t *self)
{
    assert (self);
    self->dirty = true;
}

void ui_draw (ui_t *self, render_t *render, int width, int height,
              int64_t now_us)
{
    assert (self && render);
    ui_frame_t f = { .r = render, .w = (float) width, .h = (float) height,
                     .now_us = now_us, .next_us = now_us + 5000000 };
    f.u = fmaxf (1, fminf (f.h / 240, f.w / 320));
    render_begin (render, width, height, s_bg);
    const rally_view_t *view = &self->shown;
    if (self->watch)
        s_draw_watch (self, &f);
    else
    switch (s_screen (self)) {
        case UI_SCREEN_NAME:    s_draw_name (self, &f); break;
        case UI_SCREEN_WAITING: s_draw_waiting (self, &f, view); break;
        case UI_SCREEN_MATCH:   s_draw_match (self, &f); break;
        case UI_SCREEN_END:     s_draw_end (self, &f, view); break;
    }
    if (!self->watch && s_unreachable (self, now_us / 1000))
        s_draw_unreachable (self, &f);
    if (self->menu)
        s_draw_menu (self, &f);
    render_end (render);
    //  The screen after a match's last point changes by itself.
    if (self->have_end && now_us - self->end_us < UI_LAST_POINT_US)
        s_redraw_at (&f, self->end_us + UI_LAST_POINT_US);
    if (self->client && self->shown.searching_ms)
        s_redraw_at (&f, (self->shown.searching_ms + UI_UNREACHABLE_MS) * 1000);
    self->dirty = false;
    self->redraw_us = f.next_us;
}
