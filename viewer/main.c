/*  rally-viewer - the player's window.

    main only wires: it parses the flags, opens a GLFW window with an
    OpenGL 3.3 core context, hands keys to ui, and runs the frame loop:
    read the network without waiting, draw if ui says the frame would
    change, swap, then wait on the network until the frame's time is up,
    however many messages wake it meanwhile, so that a swap that does not
    wait for vsync (as under Xvfb) never runs faster than the cap, and a
    static screen costs a frame only when something on it changes.

    With --screenshot the viewer saves the first frame that shows what
    --when names (a match under way by default) and exits: that is how
    scripts and tests see the real window.
*/
#include "rally_args.h"
#include "rally_client.h"
#include "rally_cluster.h"
#include "render.h"
#include "sound.h"
#include "ui.h"

#include <GLFW/glfw3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGRAM             "rally-viewer"
#define VIEWER_FRAME_US     (1000000 / 120)     //  at most 120 frames/s
#define VIEWER_HIDDEN_MS    50                  //  wait when minimised
#define VIEWER_MIN_W        320                 //  the smallest window
#define VIEWER_MIN_H        240                 //  that still reads

typedef struct {
    rally_cluster_t cluster;            //  its brokers: where to ask for
                                        //  the leader
    const char *name;                   //  --name, or NULL
    const char *screenshot;             //  --screenshot FILE, or NULL
    const char *when;                   //  --when: the screen to save
    bool watch;                         //  --watch: spectate
    bool mute;                          //  --mute
    bool autoplay;                      //  --autoplay
    uint32_t timeout_s;                 //  give up on the screenshot after
    bool timeout_set;                   //  --timeout was given
    bool plaintext;                     //  --insecure-plaintext
    uint32_t width, height;             //  window size
} viewer_args_t;

static void s_usage (FILE *out)
{
    fprintf (out,
        "usage: rally-viewer [flags]\n"
        "\n"
        "The player's window: type a name, wait for an opponent, play.\n"
        "The brokers come from the defaults, then the cluster file, then\n"
        "RALLY_BROKER, then --broker. Every one is asked for the leader.\n"
        "\n"
        "  --broker ENDPOINT   a broker to ask for the leader; repeat for\n"
        "                      several, up to %d"
        " (default tcp://127.0.0.1:5600)\n"
        "  --broker-key KEY    the brokers' public key (Z85, or a certificate\n"
        "                      file), where the cluster file's key\n"
        "                      directory has none ($RALLY_BROKER_KEY)\n"
        "  --insecure-plaintext  no CURVE, for a cluster run so\n"
        "  --config FILE       cluster file: its brokers are used (default\n"
        "                      $RALLY_CONFIG)\n"
        "  --name NAME         fill in the username and join at once\n"
        "  --watch             spectate: the matches under way, one shown\n"
        "  --mute              start with the sound off (M toggles it)\n"
        "  --autoplay          the paddle follows the ball by itself (for\n"
        "                      a demo without a player)\n"
        "  --screenshot FILE   save the first frame of a match as PNG, exit\n"
        "  --when SCREEN       with --screenshot: save the first frame of\n"
        "                      this screen instead: name, finding, joining,\n"
        "                      queued, match, paused, reconnecting,\n"
        "                      unreachable, menu, last-point, end (with\n"
        "                      the leaderboard), end-wait, board (Tab at\n"
        "                      the name screen), watch, watch-list\n"
        "  --timeout SECONDS   with --screenshot: exit 3 if none by then"
        " (default 60)\n"
        "  --width PIXELS      window width, 320 or more (default 960)\n"
        "  --height PIXELS     window height, 240 or more (default 720)\n"
        "  -h, --help          this text\n"
        "Keys: W/S or Up/Down move, Esc menu, M mute, F1 details;\n"
        "watching, Left/Right switch match.\n"
        "Exit status: 0 closed (or screenshot saved), 1 no window or the\n"
        "file cannot be written, 2 a bad command line, 3 no match to\n"
        "screenshot in time.\n", RALLY_CLUSTER_BROKERS_MAX);
}

static bool s_screen_known (const char *name)
{
    const char *screens[] = { "name", "finding", "joining", "queued", "match",
                              "paused", "paused-wait", "reconnecting", "unreachable", "menu",
                              "last-point", "end", "end-wait", "board",
                              "board-wait", "watch", "watch-list" };
    for (size_t i = 0; i < sizeof (screens) / sizeof (screens[0]); i++)
        if (streq (name, screens[i]))
            return true;
    return false;
}

//  Parses argv into args. Returns -1 to run, else the exit code (0 when
//  --help was answered).
static int s_parse (int argc, char **argv, viewer_args_t *args)
{
    *args = (viewer_args_t) { .timeout_s = 60, .width = 960, .height = 720 };
    const char *config = NULL;
    rally_args_list_t brokers = { .count = 0 };
    const char *broker_key = NULL;
    bool help = false;
    const rally_arg_t table[] = {
        RALLY_ARGS_LIST ("--broker", &brokers),
        RALLY_ARGS_STRING ("--config", &config),
        RALLY_ARGS_STRING ("--name", &args->name),
        RALLY_ARGS_STRING ("--screenshot", &args->screenshot),
        RALLY_ARGS_STRING ("--when", &args->when),
        RALLY_ARGS_SWITCH ("--watch", NULL, &args->watch),
        RALLY_ARGS_SWITCH ("--mute", NULL, &args->mute),
        RALLY_ARGS_SWITCH ("--autoplay", NULL, &args->autoplay),
        RALLY_ARGS_UINT ("--timeout", &args->timeout_s,
                         1, 86400, &args->timeout_set),
        RALLY_ARGS_UINT ("--width", &args->width, VIEWER_MIN_W, 16384, NULL),
        RALLY_ARGS_UINT ("--height", &args->height, VIEWER_MIN_H, 16384, NULL),
        RALLY_ARGS_STRING ("--broker-key", &broker_key),
        RALLY_ARGS_SWITCH ("--insecure-plaintext", NULL, &args->plaintext),
        RALLY_ARGS_SWITCH ("--help", "-h", &help),
    };
    int rc = rally_args_parse (PROGRAM, table,
                               sizeof (table) / sizeof (table[0]), argc, argv,
                               NULL, 0);
    if (rc)
        return rc;
    if (help) {
        s_usage (stdout);
        return 0;
    }
    char reason[RALLY_REASON_BUF];
    if (args->name && !rally_msg_name_valid (args->name, reason, sizeof reason))
        return rally_args_fail (PROGRAM, "bad name '%s': %s", args->name, reason);
    if (args->timeout_set && !args->screenshot)
        return rally_args_fail (PROGRAM, "--timeout needs --screenshot");
    if (args->when && !args->screenshot)
        return rally_args_fail (PROGRAM, "--when needs --screenshot");
    if (args->when && !s_screen_known (args->when))
        return rally_args_fail (PROGRAM, "--when: no screen is called '%s'",
                                args->when);
    if (args->autoplay && args->watch)
        return rally_args_fail (PROGRAM, "--autoplay and --watch: a"
                                " spectator has no paddle");
    if (args->watch && args->name)
        return rally_args_fail (PROGRAM, "--watch and --name: a spectator"
                                " does not play");
    //  The client library reads it for brokers whose key the file lacks.
    if (broker_key)
        setenv ("RALLY_BROKER_KEY", broker_key, 1);
    if (rally_cluster_configure (&args->cluster, config, brokers.items,
                                 brokers.count, reason, sizeof reason))
        return rally_args_fail (PROGRAM, "%s", reason);
    return -1;
}

static void s_glfw_error (int code, const char *description)
{
    zsys_error ("viewer: GLFW error 0x%x: %s", code, description);
}

static void s_on_key (GLFWwindow *window, int key, int scancode, int action,
                      int mods)
{
    ui_t *ui = (ui_t *) glfwGetWindowUserPointer (window);
    ui_key_t which;
    switch (key) {
        case GLFW_KEY_ENTER:
        case GLFW_KEY_KP_ENTER:  which = UI_KEY_ENTER; break;
        case GLFW_KEY_BACKSPACE: which = UI_KEY_BACKSPACE; break;
        case GLFW_KEY_ESCAPE:    which = UI_KEY_ESCAPE; break;
        case GLFW_KEY_SPACE:     which = UI_KEY_SPACE; break;
        case GLFW_KEY_UP:        which = UI_KEY_UP; break;
        case GLFW_KEY_DOWN:      which = UI_KEY_DOWN; break;
        case GLFW_KEY_W:         which = UI_KEY_W; break;
        case GLFW_KEY_S:         which = UI_KEY_S; break;
        case GLFW_KEY_F1:        which = UI_KEY_F1; break;
        case GLFW_KEY_LEFT:      which = UI_KEY_LEFT; break;
        case GLFW_KEY_RIGHT:     which = UI_KEY_RIGHT; break;
        case GLFW_KEY_Q:         which = UI_KEY_Q; break;
        case GLFW_KEY_M:         which = UI_KEY_M; break;
        case GLFW_KEY_TAB:       which = UI_KEY_TAB; break;
        default:                 return;
    }
    //  A held key repeats; only Backspace wants that, and ui treats a
    //  repeat of a movement key as the same key still down.
    if (action == GLFW_REPEAT && which != UI_KEY_BACKSPACE)
        return;
    ui_key (ui, which, action != GLFW_RELEASE);
}

static void s_on_char (GLFWwindow *window, unsigned int codepoint)
{
    ui_t *ui = (ui_t *) glfwGetWindowUserPointer (window);
    ui_char (ui, codepoint);
}

//  The window was uncovered or resized: what it shows must be drawn again.
static void s_on_refresh (GLFWwindow *window)
{
    ui_invalidate ((ui_t *) glfwGetWindowUserPointer (window));
}

static void s_on_resize (GLFWwindow *window, int width, int height)
{
    ui_invalidate ((ui_t *) glfwGetWindowUserPointer (window));
}

static GLFWwindow *s_open_window (const viewer_args_t *args)
{
    glfwWindowHint (GLFW_CONTEXT_VERSION_MAJOR, 3);
    glfwWindowHint (GLFW_CONTEXT_VERSION_MINOR, 3);
    glfwWindowHint (GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
    glfwWindowHint (GLFW_OPENGL_FORWARD_COMPAT, GLFW_TRUE);
    glfwWindowHint (GLFW_RESIZABLE, GLFW_TRUE);
    GLFWwindow *window = glfwCreateWindow ((int) args->width,
                                           (int) args->height, "Rally",
                                           NULL, NULL);
    if (!window)
        return NULL;
    glfwSetWindowSizeLimits (window, VIEWER_MIN_W, VIEWER_MIN_H, GLFW_DONT_CARE,
                             GLFW_DONT_CARE);
    glfwMakeContextCurrent (window);
    glfwSwapInterval (1);
    return window;
}

//  True if the frame just drawn is the one --screenshot wants.
static bool s_wanted (ui_t *ui, const viewer_args_t *args)
{
    if (!args->when || streq (args->when, "match"))
        return ui_showing_match (ui);
    return streq (ui_showing (ui), args->when);
}

//  Waits on the network until the frame that began at frame_start is
//  over: a message wakes the wait, is read, and the wait goes on.
static void s_wait_frame (ui_t *ui, int64_t frame_start)
{
    while (true) {
        int64_t left_us = VIEWER_FRAME_US - (zclock_usecs () - frame_start);
        if (left_us < 1000 || zsys_interrupted)
            break;
        ui_update (ui, (int) (left_us / 1000));
    }
}

//  Runs frames until the player quits, the window closes, or the
//  screenshot is saved. Returns the exit code.
static int s_run (GLFWwindow *window, render_t *render, ui_t *ui,
                  const viewer_args_t *args)
{
    int64_t deadline = zclock_mono () + (int64_t) args->timeout_s * 1000;
    while (!glfwWindowShouldClose (window) && !ui_quit (ui)
    &&     !zsys_interrupted) {
        int64_t frame_start = zclock_usecs ();
        glfwPollEvents ();
        ui_update (ui, 0);
        if (args->screenshot && zclock_mono () > deadline) {
            zsys_error ("viewer: no %s screen to screenshot after %u s",
                        args->when? args->when: "match", args->timeout_s);
            return 3;
        }
        if (glfwGetWindowAttrib (window, GLFW_ICONIFIED)) {
            ui_update (ui, VIEWER_HIDDEN_MS);
            continue;
        }
        int64_t now_us = zclock_usecs ();
        ui_step (ui, now_us);
        if (ui_redraw_due (ui, now_us)) {
            int width, height;
            glfwGetFramebufferSize (window, &width, &height);
            ui_draw (ui, render, width, height, now_us);
            if (args->screenshot && s_wanted (ui, args)) {
                //  The back buffer, before the swap, holds the frame just
                //  drawn.
                if (render_screenshot (render, args->screenshot)) {
                    zsys_error ("viewer: cannot write %s", args->screenshot);
                    return 1;
                }
                zsys_info ("viewer: saved %s (%dx%d, %s)", args->screenshot,
                           width, height, ui_showing (ui));
                return 0;
            }
            glfwSwapBuffers (window);
        }
        s_wait_frame (ui, frame_start);
    }
    return 0;
}

int main (int argc, char **argv)
{
    viewer_args_t args;
    int rc = s_parse (argc, argv, &args);
    if (rc >= 0)
        return rc;
    zsys_init ();
    zsys_set_logident (PROGRAM);
    rally_keys_t *keys = args.plaintext ? rally_keys_plaintext_new (PROGRAM)
                                        : rally_keys_player_new (NULL);
    rally_client_set_keys (keys);

    glfwSetErrorCallback (s_glfw_error);
    if (!glfwInit ()) {
        zsys_error ("viewer: cannot start GLFW (is there a display?)");
        return 1;
    }
    GLFWwindow *window = s_open_window (&args);
    render_t *render = window? render_new ((render_loader_t) glfwGetProcAddress): NULL;
    if (!render) {
        zsys_error ("viewer: cannot open an OpenGL 3.3 core window");
        if (window)
            glfwDestroyWindow (window);
        glfwTerminate ();
        return 1;
    }
    sound_t *sound = sound_new (args.mute);
    ui_t *ui = ui_new (&args.cluster, args.name, args.name != NULL,
                       args.watch, sound);
    ui_set_autoplay (ui, args.autoplay);
    glfwSetWindowUserPointer (window, ui);
    glfwSetKeyCallback (window, s_on_key);
    glfwSetCharCallback (window, s_on_char);
    glfwSetWindowRefreshCallback (window, s_on_refresh);
    glfwSetFramebufferSizeCallback (window, s_on_resize);

    rc = s_run (window, render, ui, &args);
    zsys_debug ("viewer: leaving with exit code %d", rc);

    ui_destroy (&ui);
    sound_destroy (&sound);
    render_destroy (&render);
    glfwDestroyWindow (window);
    glfwTerminate ();
    rally_keys_destroy (&keys);
    return rc;
}
