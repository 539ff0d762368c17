/*  ui - the viewer's screens and the session behind them. See ui.h.

    Which screen shows is not a state of its own: it follows the session's
    status, so the window can never disagree with the client about where
    the player is. The one exception is a reconnection: the screen stays
    as it was (a match frozen under a banner) rather than flick through
    the waiting screens for the fraction of a second a failover takes.
    ui only adds what the client does not know: the name being typed, the
    keys held, the overlay, and the picture of the match between two
    states, which never steps back (a new leader may start a tick or two
    behind what was shown; the picture waits for it).

    Motion. States arrive at the tick rate; drawing them as they come would
    judder. Everything is drawn one tick in the past, interpolated between
    the two latest states by their receive times, so the ball glides and
    never runs ahead of what the server said. The own paddle is the
    exception: it answers the keys at once from a local prediction, which
    is pulled towards the server's paddle all the time and never strays
    from it by more than a paddle's half height.
*/
#include "ui.h"

#include "pong.h"
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
#define UI_NOTICE_US        4000000

typedef enum {
    UI_SCREEN_NAME,
    UI_SCREEN_WAITING,
    UI_SCREEN_MATCH,
    UI_SCREEN_END
} ui_screen_t;

//  Keys held that move the paddle, as indices into held[].
enum { UI_HELD_UP, UI_HELD_DOWN, UI_HELD_W, UI_HELD_S, UI_HELD_COUNT };

struct _ui_t {
    rally_cluster_t cluster;            //  its brokers: where sessions start
    rally_client_t *client;             //  the session, NULL at name entry
    ui_screen_t screen;                 //  what is shown
    rally_view_t shown;                 //  the session's view as drawn
    char name[RALLY_NAME_BUF];         //  the name typed so far
    char error[RALLY_REASON_BUF];      //  why the last join failed
    char notice[RALLY_REASON_BUF];     //  last error while in a session
    int64_t notice_us;                  //  when notice arrived
    bool held[UI_HELD_COUNT];          //  movement keys down
    int last_dir;                       //  direction pressed last, -1 or +1
    int intent;                         //  intent the server was given
    bool overlay;                       //  F1 details shown
    bool quit;                          //  the player asked to leave
    //  The match being drawn.
    bool pred_valid;                    //  pred_y has been set
    double pred_y;                      //  own paddle, predicted
    int64_t frame_us;                   //  when the last frame was drawn
    double tick_ms;                     //  estimated tick period
    uint32_t seen_tick;                 //  last state's tick, for tick_ms
    bool resync;                        //  reconnected: the next spacing
                                        //  of states is the pause, not
                                        //  the tick
    //  The last match's end.
    bool have_end;                      //  end_* are valid
    int32_t end_winner;                 //  side, -1 if none
    uint32_t end_score[2];
    char end_winner_name[RALLY_NAME_BUF];
};

static const render_color_t s_bg = { 12, 13, 18, 255 };
static const render_color_t s_field = { 22, 26, 36, 255 };
static const render_color_t s_net = { 70, 78, 96, 255 };
static const render_color_t s_white = { 236, 236, 236, 255 };
static const render_color_t s_dim = { 140, 146, 160, 255 };
static const render_color_t s_accent = { 255, 200, 60, 255 };
static const render_color_t s_red = { 255, 96, 80, 255 };
static const render_color_t s_shade = { 0, 0, 0, 190 };
static const render_color_t s_box = { 34, 38, 52, 255 };

static void s_join (ui_t *self);

ui_t *ui_new (const rally_cluster_t *cluster, const char *name, bool join)
{
    assert (cluster && cluster->broker_count > 0);
    ui_t *self = (ui_t *) zmalloc (sizeof (ui_t));
    self->cluster = *cluster;
    if (name)
        snprintf (self->name, sizeof self->name, "%s", name);
    self->tick_ms = UI_TICK_MS_DEFAULT;
    if (join)
        s_join (self);
    return self;
}

void ui_destroy (ui_t **self_p)
{
    assert (self_p);
    ui_t *self = *self_p;
    if (!self)
        return;
    rally_client_destroy (&self->client);
    free (self);
    *self_p = NULL;
}

//  Starts a session under the typed name, or says why it cannot.
static void s_join (ui_t *self)
{
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
    self->notice[0] = 0;
    self->intent = 0;
    self->have_end = false;
    self->pred_valid = false;
    self->shown = *rally_client_view (self->client);
    self->screen = UI_SCREEN_WAITING;
    zsys_info ("viewer: joining as '%s' through %s (%zu broker%s)",
               self->name, self->cluster.brokers[0], self->cluster.broker_count,
               self->cluster.broker_count == 1? "": "s");
}

static ui_screen_t s_screen (ui_t *self)
{
    return self->client? self->screen: UI_SCREEN_NAME;
}

//  The screen the session's status calls for; while it reconnects, the
//  one shown before.
static ui_screen_t s_screen_for (ui_t *self, const rally_view_t *view)
{
    if (view->reconnecting && view->status != RALLY_CLIENT_FAILED)
        return self->screen;
    switch (view->status) {
        case RALLY_CLIENT_PLAYING: return UI_SCREEN_MATCH;
        case RALLY_CLIENT_ENDED:   return UI_SCREEN_END;
        case RALLY_CLIENT_FAILED:  return UI_SCREEN_NAME;
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
//  changes). Outside a match the paddle is still, and the session must
//  know it too: it sends its intent again when the next match starts.
static void s_sync_intent (ui_t *self)
{
    bool up = self->held[UI_HELD_UP] || self->held[UI_HELD_W];
    bool down = self->held[UI_HELD_DOWN] || self->held[UI_HELD_S];
    int intent = up && down? self->last_dir: up? -1: down? 1: 0;
    if (s_screen (self) != UI_SCREEN_MATCH)
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
        ui_screen_t screen = s_screen (self);
        if (key == UI_KEY_ESCAPE)
            self->quit = true;
        else
        if (key == UI_KEY_F1)
            self->overlay = !self->overlay;
        else
        if (screen == UI_SCREEN_NAME && key == UI_KEY_BACKSPACE)
            s_backspace (self);
        else
        if (screen == UI_SCREEN_NAME && key == UI_KEY_ENTER)
            s_join (self);
        else
        if (screen == UI_SCREEN_END
        && (key == UI_KEY_ENTER || key == UI_KEY_SPACE)) {
            zsys_info ("viewer: playing again");
            rally_client_play_again (self->client);
        }
    }
    s_sync_intent (self);
}

void ui_char (ui_t *self, uint32_t cp)
{
    assert (self);
    if (s_screen (self) != UI_SCREEN_NAME || cp < 32 || cp > 0x10FFFF)
        return;
    char utf8[4];
    size_t n;
    if (cp < 0x80) {
        utf8[0] = (char) cp;
        n = 1;
    }
    else
    if (cp < 0x800) {
        utf8[0] = (char) (0xC0 | (cp >> 6));
        utf8[1] = (char) (0x80 | (cp & 0x3F));
        n = 2;
    }
    else
    if (cp < 0x10000) {
        utf8[0] = (char) (0xE0 | (cp >> 12));
        utf8[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
        utf8[2] = (char) (0x80 | (cp & 0x3F));
        n = 3;
    }
    else {
        utf8[0] = (char) (0xF0 | (cp >> 18));
        utf8[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
        utf8[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
        utf8[3] = (char) (0x80 | (cp & 0x3F));
        n = 4;
    }
    size_t len = strlen (self->name);
    if (len + n > RALLY_NAME_MAX)
        return;
    memcpy (self->name + len, utf8, n);
    self->name[len + n] = 0;
}

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
            zsys_debug ("viewer: match %u on side %d against '%s'",
                        ev->match, ev->side, ev->opponent);
            break;
        case RALLY_EVENT_STATE:
            break;              //  sixty a second: too many to log
        case RALLY_EVENT_POINT:
            zsys_debug ("viewer: point at tick %u, %u-%u", ev->tick,
                        ev->score[0], ev->score[1]);
            break;
        case RALLY_EVENT_MATCH_END:
            zsys_debug ("viewer: match %u over, %u-%u, winner '%s'",
                        ev->match, ev->score[0], ev->score[1],
                        ev->winner_name);
            break;
        case RALLY_EVENT_RECONNECT:
            zsys_debug ("viewer: resumed after %" PRId64 " ms, node %u -> %u,"
                        " term %" PRIu64, ev->gap_ms, ev->from_node,
                        ev->to_node, ev->term);
            break;
        case RALLY_EVENT_ERROR:
            zsys_debug ("viewer: error %s: %s", ev->code, ev->reason);
            break;
    }
}

static void s_handle_event (ui_t *self, const rally_event_t *ev)
{
    s_log_event (ev);
    if (ev->type == RALLY_EVENT_MATCH_START) {
        self->pred_valid = false;
        self->have_end = false;
        self->seen_tick = 0;
        self->shown.have_state = false;
        self->shown.have_prev = false;
    }
    else
    if (ev->type == RALLY_EVENT_MATCH_END) {
        self->have_end = true;
        self->end_winner = ev->winner;
        self->end_score[0] = ev->score[0];
        self->end_score[1] = ev->score[1];
        snprintf (self->end_winner_name, sizeof self->end_winner_name, "%s",
                  ev->winner_name);
    }
    else
    if (ev->type == RALLY_EVENT_RECONNECT)
        self->resync = true;
    else
    if (ev->type == RALLY_EVENT_ERROR) {
        snprintf (self->notice, sizeof self->notice, "%s", ev->reason);
        self->notice_us = zclock_usecs ();
    }
}

//  Learns the tick period from the spacing of states, for interpolation.
static void s_learn_tick (ui_t *self, const rally_view_t *view)
{
    if (!view->have_state || !view->have_prev
    ||  view->last.tick == self->seen_tick)
        return;
    self->seen_tick = view->last.tick;
    bool resync = self->resync;
    self->resync = false;
    if (resync || view->last.tick <= view->prev.tick
    ||  view->last_ms <= view->prev_ms)
        return;
    double sample = (double) (view->last_ms - view->prev_ms)
                  / (double) (view->last.tick - view->prev.tick);
    double ms = self->tick_ms * 0.9 + sample * 0.1;
    self->tick_ms = fmax (1000.0 / PONG_TICK_HZ_MAX,
                          fmin (1000.0 / PONG_TICK_HZ_MIN, ms));
}

void ui_update (ui_t *self, int timeout_ms)
{
    assert (self);
    if (!self->client) {
        if (timeout_ms > 0)
            zclock_sleep (timeout_ms);
        return;
    }
    zmq_pollitem_t items[8];
    int count = rally_client_pollitems (self->client, items, 8);
    int64_t due = rally_client_timeout (self->client, zclock_mono ());
    if (timeout_ms > due)
        timeout_ms = (int) due;
    if (zmq_poll (items, count, timeout_ms) == -1 && zmq_errno () != EINTR)
        zsys_warning ("viewer: poll failed: %s", zmq_strerror (zmq_errno ()));
    rally_client_pump (self->client, zclock_mono ());

    rally_event_t ev;
    while (rally_client_next_event (self->client, &ev))
        s_handle_event (self, &ev);
    const rally_view_t *view = rally_client_view (self->client);
    s_take_view (self, view);
    self->screen = s_screen_for (self, view);
    s_learn_tick (self, &self->shown);
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

bool ui_showing_match (ui_t *self)
{
    assert (self);
    const rally_view_t *view = s_match_view (self);
    if (!view)
        return false;
    const rally_msg_state_t *s = &view->last;
    return (s->phase == RALLY_PHASE_SERVE || s->phase == RALLY_PHASE_PLAY)
        && s->names[0][0] && s->names[1][0];
}

bool ui_quit (ui_t *self)
{
    assert (self);
    return self->quit;
}

//  --------------------------------------------------------------------------
//  Drawing. Sizes scale with the window: u is one "unit", 3 pixels in the
//  default 960 x 720 window.

typedef struct {
    render_t *r;
    float w, h;                 //  framebuffer size
    float u;                    //  layout unit
    int64_t now_us;
} ui_frame_t;

static void s_text_at (ui_frame_t *f, float x, float y, float scale,
                       render_color_t c, const char *text)
{
    render_text (f->r, floorf (x), floorf (y), scale, c, text);
}

static void s_text_centred (ui_frame_t *f, float cx, float y, float scale,
                            render_color_t c, const char *text)
{
    s_text_at (f, cx - render_text_width (text, scale) / 2, y, scale, c, text);
}

//  A line of text on a shaded box, centred at cx, cy.
static void s_banner (ui_frame_t *f, float cx, float cy, render_color_t c,
                      const char *text)
{
    float scale = f->u;
    float tw = render_text_width (text, scale);
    float th = render_text_height (text, scale);
    float pad = 4 * f->u;
    render_rect (f->r, cx - tw / 2 - pad, cy - th / 2 - pad, tw + 2 * pad,
                 th + 2 * pad, s_shade);
    s_text_at (f, cx - tw / 2, cy - th / 2, scale, c, text);
}

static void s_notice (ui_t *self, ui_frame_t *f)
{
    if (self->notice[0] && f->now_us - self->notice_us < UI_NOTICE_US)
        s_text_centred (f, f->w / 2, f->h - 10 * f->u, f->u * 2 / 3, s_red,
                        self->notice);
}

static void s_draw_name (ui_t *self, ui_frame_t *f)
{
    float u = f->u;
    s_text_centred (f, f->w / 2, f->h * 0.16f, 4 * u, s_accent, "RALLY");
    s_text_centred (f, f->w / 2, f->h * 0.42f, u, s_dim, "Your name");

    float box_w = render_text_width ("MMMMMMMMMMMMMMMM", u) + 8 * u;
    float box_h = render_text_height ("M", u) + 8 * u;
    float bx = (f->w - box_w) / 2, by = f->h * 0.42f + 12 * u;
    render_rect (f->r, bx, by, box_w, box_h, s_box);
    char shown[RALLY_NAME_BUF + 2];
    bool caret = (f->now_us / 500000) % 2 == 0;
    snprintf (shown, sizeof shown, "%s%s", self->name, caret? "_": " ");
    s_text_at (f, bx + 4 * u, by + 4 * u, u, s_white, shown);

    if (self->error[0])
        s_text_centred (f, f->w / 2, by + box_h + 8 * u, u * 2 / 3, s_red,
                        self->error);
    s_text_centred (f, f->w / 2, f->h - 24 * u, u * 2 / 3, s_dim,
                    "Enter: join    Esc: quit");
    char where[RALLY_ENDPOINT_BUF + 48];
    size_t others = self->cluster.broker_count - 1;
    if (others)
        snprintf (where, sizeof where, "broker %s and %zu more",
                  self->cluster.brokers[0], others);
    else
        snprintf (where, sizeof where, "broker %s", self->cluster.brokers[0]);
    s_text_centred (f, f->w / 2, f->h - 14 * u, u * 2 / 3, s_dim, where);
}

static void s_draw_overlay (ui_t *self, ui_frame_t *f, float x, float y,
                            bool from_bottom, const rally_view_t *view);

static void s_draw_waiting (ui_t *self, ui_frame_t *f, const rally_view_t *view)
{
    float u = f->u;
    char line[128];
    s_text_centred (f, f->w / 2, f->h * 0.16f, 4 * u, s_accent, "RALLY");
    int dots = (int) ((f->now_us / 400000) % 4);
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
    float x = f->w / 2 - render_text_width (what, u) / 2;
    snprintf (line, sizeof line, "%s%.*s", what, dots, "...");
    s_text_at (f, x, f->h * 0.42f, u, s_white, line);
    snprintf (line, sizeof line, "Playing as %s", self->name);
    s_text_centred (f, f->w / 2, f->h * 0.42f + 14 * u, u, s_accent, line);
    if (view->status == RALLY_CLIENT_QUEUED && view->position > 0) {
        snprintf (line, sizeof line, "Place in the queue: %u", view->position);
        s_text_centred (f, f->w / 2, f->h * 0.42f + 28 * u, u, s_dim, line);
    }
    if (view->reconnecting)
        s_banner (f, f->w / 2, f->h * 0.72f, s_accent, "RECONNECTING");
    s_text_centred (f, f->w / 2, f->h - 24 * u, u * 2 / 3, s_dim, "Esc: quit");
    if (self->overlay)      //  in a corner, clear of the text
        s_draw_overlay (self, f, 3 * u, f->h - 3 * u, true, view);
    s_notice (self, f);
}

//  Where the field sits in the window, and how big a field unit is.
typedef struct {
    float x, y, w, h;           //  pixels
    float k;                    //  pixels per field unit
} ui_field_t;

static ui_field_t s_field_layout (ui_frame_t *f)
{
    float u = f->u;
    float top = 30 * u, margin = 4 * u;
    float avail_w = f->w - 2 * margin, avail_h = f->h - top - margin;
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
static void s_interpolate (ui_t *self, const rally_view_t *view,
                           double now_ms, double *bx, double *by,
                           double paddles[2])
{
    const rally_msg_state_t *a = &view->prev, *b = &view->last;
    double t = 1;
    if (view->have_prev && a->match == b->match && view->last_ms > view->prev_ms)
        t = s_clamp ((now_ms - self->tick_ms - (double) view->prev_ms)
                     / (double) (view->last_ms - view->prev_ms), 0, 1);
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

//  The own paddle: moved by the keys at once, pulled towards where the
//  server has it (carried forward by the server's intent to now).
//  Moves the own paddle's prediction on by dt seconds: it follows the
//  keys at once, and is pulled towards where the server has it.
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

static void s_draw_header (ui_t *self, ui_frame_t *f, const ui_field_t *field,
                           const rally_view_t *view)
{
    const rally_msg_state_t *s = &view->last;
    float u = f->u;
    char score[16];
    for (int side = 0; side < 2; side++) {
        bool own = side == view->side;
        render_color_t c = own? s_accent: s_white;
        const char *name = s->names[side];
        float nw = render_text_width (name, u);
        float nx = side == 0? field->x: field->x + field->w - nw;
        s_text_at (f, nx, 6 * u, u, c, name);
        if (own) {
            float tw = render_text_width ("YOU", u * 2 / 3);
            float tx = side == 0? field->x: field->x + field->w - tw;
            s_text_at (f, tx, 16 * u, u * 2 / 3, s_accent, "YOU");
        }
        snprintf (score, sizeof score, "%u", s->score[side]);
        float sw = render_text_width (score, 2 * u);
        float sx = side == 0? f->w / 2 - 10 * u - sw: f->w / 2 + 10 * u;
        s_text_at (f, sx, 4 * u, 2 * u, c, score);
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

//  The F1 details, in a box with its top-left corner at (x, y), or its
//  bottom-left corner there when from_bottom: the node serving us and its
//  term ("?" until a node says), or the one we left while reconnecting.
static void s_draw_overlay (ui_t *self, ui_frame_t *f, float x, float y,
                            bool from_bottom, const rally_view_t *view)
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
    snprintf (text, sizeof text,
              "node  %s\nterm  %s\nrtt   %s\ntick  %u\nmatch %u\n"
              "tick period %.1f ms",
              node, term, rtt, view->have_state? view->last.tick: 0,
              view->match, self->tick_ms);
    float scale = f->u * 2 / 3;
    float pad = 3 * f->u;
    float w = render_text_width (text, scale) + 2 * pad;
    float h = render_text_height (text, scale) + 2 * pad;
    if (from_bottom)
        y -= h;
    render_rect (f->r, x, y, w, h, s_shade);
    s_text_at (f, x + pad, y + pad, scale, s_dim, text);
}

static void s_draw_match (ui_t *self, ui_frame_t *f)
{
    ui_field_t field = s_field_layout (f);
    const rally_view_t *view = s_match_view (self);
    if (!view) {
        s_draw_waiting (self, f, &self->shown);
        return;
    }
    const rally_msg_state_t *s = &view->last;
    double now_ms = (double) f->now_us / 1000.0;
    double bx, by, paddles[2];
    s_interpolate (self, view, now_ms, &bx, &by, paddles);
    if (self->pred_valid)
        paddles[view->side] = self->pred_y;

    render_rect (f->r, field.x, field.y, field.w, field.h, s_field);
    s_draw_net (f, &field);
    for (int side = 0; side < 2; side++) {
        double px = side == 0? PONG_PADDLE_X: PONG_FIELD_W - PONG_PADDLE_X;
        s_field_rect (f, &field, px, paddles[side], PONG_PADDLE_W,
                      PONG_PADDLE_H, side == view->side? s_accent: s_white);
    }
    if (s->phase != RALLY_PHASE_OVER)
        s_field_rect (f, &field, bx, by, PONG_BALL_SIZE, PONG_BALL_SIZE,
                      s_white);
    s_draw_header (self, f, &field, view);

    float cx = field.x + field.w / 2, cy = field.y + field.h / 2;
    if (s->phase == RALLY_PHASE_PAUSED) {
        char text[128];
        const char *who = (s->lost & 1) && (s->lost & 2)? "both players":
                          (s->lost & 1)? s->names[0]:
                          (s->lost & 2)? s->names[1]: "a player";
        snprintf (text, sizeof text, "PAUSED: waiting for %s", who);
        s_banner (f, cx, cy - 20 * f->u, s_accent, text);
    }
    if (view->reconnecting)
        s_banner (f, cx, cy + 20 * f->u, s_red, "RECONNECTING");
    if (self->overlay)
        s_draw_overlay (self, f, field.x + 3 * f->u, field.y + 3 * f->u,
                        false, view);
    s_notice (self, f);
}

static void s_draw_end (ui_t *self, ui_frame_t *f, const rally_view_t *view)
{
    float u = f->u;
    char line[160];
    const rally_msg_state_t *s = &view->last;
    uint32_t score[2] = { s->score[0], s->score[1] };
    int32_t winner = view->have_state? s->winner: -1;
    const char *winner_name = winner >= 0 && winner < 2? s->names[winner]: "";
    if (self->have_end) {
        score[0] = self->end_score[0];
        score[1] = self->end_score[1];
        winner = self->end_winner;
        winner_name = self->end_winner_name;
    }
    const char *title = winner < 0? "MATCH OVER":
                        winner == view->side? "YOU WIN": "YOU LOSE";
    s_text_centred (f, f->w / 2, f->h * 0.16f, 4 * u,
                    winner == view->side? s_accent: s_white, title);
    if (winner_name[0]) {
        snprintf (line, sizeof line, "%s wins", winner_name);
        s_text_centred (f, f->w / 2, f->h * 0.40f, u, s_white, line);
    }
    if (view->have_state) {
        snprintf (line, sizeof line, "%s  %u - %u  %s", s->names[0],
                  score[0], score[1], s->names[1]);
        s_text_centred (f, f->w / 2, f->h * 0.40f + 16 * u, u, s_dim, line);
    }
    s_text_centred (f, f->w / 2, f->h * 0.72f, u * 2 / 3, s_white,
                    "Enter or Space: play again, Esc: quit");
    if (view->reconnecting)
        s_banner (f, f->w / 2, f->h * 0.84f, s_red, "RECONNECTING");
    if (self->overlay)      //  in a corner, clear of the title
        s_draw_overlay (self, f, 3 * u, f->h - 3 * u, true, view);
    s_notice (self, f);
}

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

void ui_draw (ui_t *self, render_t *render, int width, int height,
              int64_t now_us)
{
    assert (self && render);
    ui_frame_t f = { .r = render, .w = (float) width, .h = (float) height,
                     .now_us = now_us };
    f.u = fmaxf (1, floorf (fminf (f.h / 240, f.w / 320)));
    render_begin (render, width, height, s_bg);
    const rally_view_t *view = &self->shown;
    switch (s_screen (self)) {
        case UI_SCREEN_NAME:    s_draw_name (self, &f); break;
        case UI_SCREEN_WAITING: s_draw_waiting (self, &f, view); break;
        case UI_SCREEN_MATCH:   s_draw_match (self, &f); break;
        case UI_SCREEN_END:     s_draw_end (self, &f, view); break;
    }
    render_end (render);
}
