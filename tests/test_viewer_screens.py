"""Every screen of the real viewer, in real windows on one Xvfb display
(Mesa's software OpenGL), played as a player would: keys go through X
(xdotool), the cluster is real, and each screen is saved with --screenshot
--when and then looked at.

What each screen must hold is checked from its pixels: rally-frame-check
finds the paddles and ball of a match, and with --lines the lines of text,
which must be there in number, tall enough to read (7 px and up, at the
smallest window) and not cut off by the window's edge. Names are typed as
"Zoë 日本": the viewer must draw it with a face that has the characters
(its log names the fallback face, and no character lacks one), on both
players' screens. There is no audio device here, so every viewer must say
it plays silently, and nothing from OpenAL or ALSA may reach stderr.

Screens: the name screen (3 sizes) and names typed through X (what the
server would refuse is refused as typed), looking for a server and the
unreachable question, the leaderboard (Tab), a reconnection, a match (3 sizes, two viewers), the Esc menu
(which must not forfeit), a paused match with its grace countdown, the end
screen with the leaderboard (which must agree with the stored results),
and --watch at two sizes, whose spectator the players' crowd messages
count.
"""

import json
import os
import shutil
import signal
import subprocess
import time

import zmq
import msgpack

from rallytest import BIN, TestFailure, check, free_ports, run

SIZES = [(320, 240), (960, 720), (1920, 1080)]
NAME = "Zoë 日本"
LINE_MIN_PX = 7


class Screens:
    """One Xvfb for the whole test, and the viewers run on it."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.runs = 0
        number = self._start_xvfb()
        self.env = dict(os.environ, DISPLAY=":%d" % number, LIBGL_ALWAYS_SOFTWARE="1",
                        ASAN_OPTIONS="detect_leaks=0")
        self.env.pop("XDG_RUNTIME_DIR", None)   # no sound server: no device

    def _start_xvfb(self):
        """Xvfb on the first display number free from 140 on; returns it
        once its socket is there."""
        log = open(os.path.join(self.cluster.dir, "xvfb.log"), "ab")
        for number in range(140, 240):
            if (os.path.exists("/tmp/.X%d-lock" % number)
                    or os.path.exists("/tmp/.X11-unix/X%d" % number)):
                continue
            proc = subprocess.Popen(
                ["Xvfb", ":%d" % number, "-screen", "0", "2000x1200x24",
                 "-nolisten", "tcp"], stdout=log, stderr=log,
                stdin=subprocess.DEVNULL, start_new_session=True)
            proc.rally_group = True
            self.cluster.procs.append(("xvfb", proc))
            up = self.cluster.poll(
                lambda: True if os.path.exists("/tmp/.X11-unix/X%d" % number)
                else False if proc.poll() is not None else None,
                20, "Xvfb on display %d" % number)
            if up:
                return number
        raise TestFailure("no display number free for Xvfb")

    def start(self, label, args, size=(960, 720)):
        argv = [os.path.join(BIN, "rally-viewer"), "--width", str(size[0]),
                "--height", str(size[1]), *args]
        log = open(os.path.join(self.cluster.dir, label + ".log"), "ab")
        proc = subprocess.Popen(argv, stdout=log, stderr=log, env=self.env,
                                stdin=subprocess.DEVNULL)
        proc.rally_group = False
        self.cluster.procs.append((label, proc))
        return proc

    def shoot(self, label, when, args, size, timeout=40):
        """Runs a viewer until it saves the screen when; returns the PNG."""
        shot = os.path.join(self.cluster.dir, "%s.png" % label)
        proc = self.start(label, ["--screenshot", shot, "--when", when,
                                  "--timeout", str(timeout), *args], size)
        self.finish(label, proc, timeout + 20)
        return shot

    def finish(self, label, proc, timeout):
        proc.wait(timeout=timeout)
        check(proc.returncode == 0, "%s: viewer exited with %d" % (label, proc.returncode))
        self.check_log(label)

    def check_log(self, label):
        log = self.cluster.log(label)
        check("sound: no audio device; playing silently" in log,
              "%s: the viewer did not say it plays silently" % label)
        for noise in ("AL lib", "ALSA lib"):
            check(noise not in log, "%s: %s wrote to stderr" % (label, noise))
        check("no face has" not in log, "%s: a character had no face" % label)

    def key(self, proc, *keys):
        """Types keys into proc's window, through X."""
        out = subprocess.run(["xdotool", "search", "--sync", "--pid", str(proc.pid),
                              "--name", "^Rally$", "windowfocus", "--sync",
                              *(["key", *keys] if keys else [])],
                             env=self.env, capture_output=True, timeout=20)
        # A key that closes the window (Return on "leave") may leave
        # xdotool talking to a window that is gone.
        gone = proc.poll() is not None or b"BadWindow" in out.stderr
        check(out.returncode == 0 or gone, "xdotool: %s" % out.stderr.decode().strip())


def lines(shot):
    check(os.path.exists(shot), "the viewer saved no %s" % os.path.basename(shot))
    out = subprocess.run([os.path.join(BIN, "rally-frame-check"), "--lines", shot],
                         capture_output=True, text=True, timeout=30)
    check(out.returncode == 0, "frame-check --lines %s failed" % shot)
    return json.loads(out.stdout)


def legible(shot, at_least, what):
    """At least at_least lines of text, each tall enough and inside."""
    found = lines(shot)
    w = found["width"]
    text = [l for l in found["lines"] if l[4] >= 3]
    check(len(text) >= at_least, "%s: %d lines of text, want %d or more (%s)"
          % (what, len(text), at_least, found["lines"]))
    for x0, y0, x1, y1, glyphs in text:
        check(y1 - y0 + 1 >= LINE_MIN_PX, "%s: a line only %d px tall at y %d"
              % (what, y1 - y0 + 1, y0))
        check(x0 > 0 and x1 < w - 1, "%s: a line cut off by the edge at y %d"
              % (what, y0))
    print("%s: %d lines of text, the smallest %d px" % (
        what, len(text), min(l[3] - l[1] + 1 for l in text)))


def frame(shot, what):
    out = subprocess.run([os.path.join(BIN, "rally-frame-check"), shot],
                         capture_output=True, text=True, timeout=30)
    check(out.returncode == 0, "%s: no match in the frame: %s" % (what, out.stdout))


def uses_cjk_face(cluster, label):
    log = cluster.log(label)
    check("font: face 1 is" in log, "%s: no fallback face loaded for %r" % (label, NAME))


def dead_broker():
    return "tcp://127.0.0.1:%d" % free_ports(1)[0]


def name_screens(screens):
    for size in SIZES:
        label = "name-%dx%d" % size
        shot = screens.shoot(label, "name", ["--broker", dead_broker()], size, 20)
        legible(shot, 5, label)


def looking_screens(screens):
    shot = screens.shoot("finding", "finding", ["--broker", dead_broker(), "--name", "ann"],
                         (320, 240), 20)
    legible(shot, 4, "finding")
    # No server for 10 s: the question, with the time and the tries.
    shot = screens.shoot("unreachable", "unreachable",
                         ["--broker", dead_broker(), "--name", "ann"], (320, 240), 30)
    legible(shot, 6, "unreachable")


def match_screens(screens, cluster, bot):
    for size in SIZES:
        label = "match-%dx%d" % size
        shot = screens.shoot(label, "match", ["--config", cluster.config, "--name", NAME],
                             size)
        frame(shot, label)
        legible(shot, 1, label)
        uses_cjk_face(cluster, label)


def two_players(screens, cluster):
    """Two players, one named in two scripts: each sees it as typed."""
    a = screens.start("two-a", ["--config", cluster.config, "--name", NAME,
                                "--screenshot", os.path.join(cluster.dir, "two-a.png"),
                                "--timeout", "40"])
    b = screens.start("two-b", ["--config", cluster.config, "--name", "ann",
                                "--screenshot", os.path.join(cluster.dir, "two-b.png"),
                                "--timeout", "40"])
    screens.finish("two-a", a, 60)
    screens.finish("two-b", b, 60)
    for label in ("two-a", "two-b"):
        frame(os.path.join(cluster.dir, label + ".png"), label)
        uses_cjk_face(cluster, label)
        check("against 'ann'" in cluster.log("two-a") and
              "against '%s'" % NAME in cluster.log("two-b"),
              "the two viewers were not paired with each other")


def menu_screen(screens, cluster, bot):
    """Esc in a match opens the menu, and the match goes on; leaving from
    the menu forfeits, and says so on the name screen."""
    shot = os.path.join(cluster.dir, "menu.png")
    proc = screens.start("menu", ["--config", cluster.config, "--name", "menu",
                                  "--screenshot", shot, "--when", "menu",
                                  "--timeout", "40"], (320, 240))
    cluster.wait_log("menu", lambda t: "viewer: match" in t, 30, "the menu viewer's match",
                     proc=proc)
    screens.key(proc, "Escape")
    screens.finish("menu", proc, 40)
    legible(shot, 4, "menu")

    shot = os.path.join(cluster.dir, "left.png")
    proc = screens.start("leave", ["--config", cluster.config, "--name", "leaver",
                                   "--screenshot", shot, "--when", "name",
                                   "--timeout", "60"], (320, 240))
    text = cluster.wait_log("leave", lambda t: "viewer: match" in t, 30,
                            "the leaving viewer's match", proc=proc)
    match = int(text.split("viewer: match")[1].split()[0])
    screens.key(proc, "Escape")
    cluster.wait_log("leave", lambda t: "viewer: menu open" in t, 20, "the menu", proc=proc)
    # The match goes on under the menu: the bot scores on the idle paddle.
    bot.wait_for(lambda ev: any(e["event"] == "point" and e["match"] == match
                                for e in ev), 20, "a point while the menu is open")
    check(not any(e["match"] == match for e in bot.of("match_end")),
          "the match ended while the menu was open")
    screens.key(proc, "Down", "Return")
    screens.finish("leave", proc, 30)
    check("You left match %d: it counts as a forfeit" % match in cluster.log("leave"),
          "the name screen does not say the match was forfeited")
    legible(shot, 6, "left")
    bot.wait_for(lambda ev: any(e["event"] == "match_end" and e["match"] == match
                                for e in ev), 20, "the forfeit")
    stored = cluster.poll(lambda: cluster.results(1).get(match), 10, "the forfeit stored")
    winner = (stored["left_name"], stored["right_name"])[stored["winner"]]
    check(stored["forfeit"] == 1 and winner == "robot", "leaving stored %s" % stored)


def paused_screen(screens, cluster, bot):
    """The opponent stops (SIGSTOP): the match pauses, with its grace."""
    shot = os.path.join(cluster.dir, "paused.png")
    proc = screens.start("paused", ["--config", cluster.config, "--name", "pauser",
                                    "--screenshot", shot, "--when", "paused",
                                    "--timeout", "40"], (960, 720))
    cluster.wait_log("paused", lambda t: "viewer: match" in t, 30, "the pauser's match",
                     proc=proc)
    os.kill(bot.proc.pid, signal.SIGSTOP)
    try:
        screens.finish("paused", proc, 40)
    finally:
        os.kill(bot.proc.pid, signal.SIGCONT)
    legible(shot, 3, "paused")


def typed_name(screens, cluster):
    """The name box as typed through X: leading spaces and the 17th
    character refused as they are typed. (xdotool types characters outside
    Xvfb's keymap by remapping keys on the fly, and drops some when the
    machine is busy, so "Zoë 日本" is given with --name instead.)"""
    for typed, joined in (("  abcdefghijklmnopq", "abcdefghijklmnop"),):
        label = "typed-%d" % len(joined)
        shot = os.path.join(cluster.dir, label + ".png")
        proc = screens.start(label, ["--config", cluster.config, "--screenshot", shot,
                                     "--when", "queued", "--timeout", "40"], (320, 240))
        cluster.wait_log(label, lambda t: "OpenGL" in t, 20, "the window", proc=proc)
        screens.key(proc)       # focus, no key
        out = subprocess.run(["xdotool", "type", "--delay", "20", typed], env=screens.env,
                             capture_output=True, timeout=30)
        check(out.returncode == 0, "xdotool type: %s" % out.stderr.decode().strip())
        screens.key(proc, "Return")
        screens.finish(label, proc, 40)
        check("joining as '%s'" % joined in cluster.log(label),
              "typed %r, joined as: %s" % (typed, cluster.log(label)[-300:]))
        legible(shot, 4, label)
    # Tab: the leaderboard, from the name screen.
    shot = os.path.join(cluster.dir, "board.png")
    proc = screens.start("board", ["--config", cluster.config, "--screenshot", shot,
                                   "--when", "board", "--timeout", "40"], (960, 720))
    cluster.wait_log("board", lambda t: "OpenGL" in t, 20, "the window", proc=proc)
    screens.key(proc, "Tab")
    screens.finish("board", proc, 40)
    legible(shot, 3, "board")


def reconnecting_screen(screens, cluster):
    """The node freezes under a match: the player is told, with a timer."""
    shot = os.path.join(cluster.dir, "reconnecting.png")
    proc = screens.start("reconnecting", ["--config", cluster.config, "--name", "recon",
                                          "--screenshot", shot, "--when", "reconnecting",
                                          "--timeout", "40"], (320, 240))
    cluster.wait_log("reconnecting", lambda t: "viewer: match" in t, 30, "a match",
                     proc=proc)
    node = cluster.proc("node1")
    os.kill(node.pid, signal.SIGSTOP)
    try:
        screens.finish("reconnecting", proc, 40)
    finally:
        os.kill(node.pid, signal.SIGCONT)
    legible(shot, 3, "reconnecting")
    cluster.wait_leader()


def end_screen(screens, cluster):
    """A match played out (--autoplay): the end screen and its leaderboard,
    which must be the stored results' own."""
    shot = screens.shoot("end", "end", ["--config", cluster.config, "--name", NAME,
                                        "--autoplay"], (960, 720), 90)
    legible(shot, 7, "end")
    out = subprocess.run([os.path.join(BIN, "rallyctl"), "leaderboard", "--json",
                          "--player", NAME, "--config", cluster.config],
                         capture_output=True, text=True, timeout=30)
    check(out.returncode == 0, "rallyctl leaderboard: %s" % out.stderr)
    board = json.loads(out.stdout)
    stored = {}
    for m in cluster.results(1).values():
        names = (m["left_name"], m["right_name"])
        winner, forfeit = m["winner"], m["forfeit"]
        for side in (0, 1):
            rec = stored.setdefault(names[side], [0, 0, 0])
            if winner == side:
                rec[0] += 1
            elif winner == 1 - side:
                rec[1] += 1
                rec[2] += 1 if forfeit else 0
    check(board["players"] == len(stored), "board: %d players, stored %d"
          % (board["players"], len(stored)))
    for rec in board["top"] + [board["player"]]:
        check(stored[rec["name"]] == [rec["wins"], rec["losses"], rec["forfeits"]],
              "board says %s, the store %s" % (rec, stored[rec["name"]]))
    mine = board["player"]
    check(mine and mine["wins"] >= 1, "the autoplayed match is not on the board")
    log = cluster.log("end")
    check("viewer: leaderboard: %d players, %s: %d-%d-%d" % (
        board["players"], NAME, mine["wins"], mine["losses"], mine["forfeits"]) in log,
        "the viewer's board differs from rallyctl's")


def crowd_spectators(cluster, match):
    """The spectators the leader's crowd messages count for match, 0 if
    none comes within 3 s."""
    node = cluster.nodes[1]["state"]
    ctx = zmq.Context.instance()
    sub = cluster.player_socket(ctx, zmq.SUB, "node1")     # CURVE, as a player
    sub.connect(node)
    sub.setsockopt(zmq.SUBSCRIBE, b"%08x" % match)
    deadline = time.monotonic() + 3
    try:
        while time.monotonic() < deadline:
            if sub.poll(200):
                topic, body = sub.recv_multipart()
                msg = msgpack.unpackb(body, raw=False)
                if msg.get("type") == "crowd" and msg["match"] == match:
                    return msg["spectators"]
        return 0
    finally:
        sub.close()


def watch_screens(screens, cluster, bot):
    for size in [(320, 240), (1920, 1080)]:
        label = "watch-%dx%d" % size
        shot = screens.shoot(label, "watch", ["--config", cluster.config, "--watch"], size)
        frame(shot, label)
        legible(shot, 3, label)
    # A spectator is counted for the match it shows, and only while there.
    proc = screens.start("spectator", ["--config", cluster.config, "--watch"], (320, 240))
    text = cluster.wait_log("spectator", lambda t: "viewer: watching match" in t, 20,
                            "the spectator to pick a match", proc=proc)
    match = int(text.split("viewer: watching match")[1].split()[0])
    cluster.poll(lambda: True if crowd_spectators(cluster, match) == 1 else None, 15,
                 "the crowd to count the spectator of match %d" % match)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    check(proc.returncode == 0, "the spectator did not stop cleanly")
    cluster.poll(lambda: True if crowd_spectators(cluster, match) == 0 else None, 15,
                 "the crowd to forget the spectator")


def test(cluster):
    for tool in ("Xvfb", "xdotool"):
        check(subprocess.run(["which", tool], capture_output=True).returncode == 0,
              "%s is not installed (scripts/install-deps)" % tool)
    screens = Screens(cluster)
    name_screens(screens)
    looking_screens(screens)
    cluster.start_broker()
    cluster.start_node(1)
    cluster.wait_leader()
    two_players(screens, cluster)
    typed_name(screens, cluster)
    bot = cluster.start_bot("bot", "--clients", "1", "--matches", "0", "--skill", "0.5",
                            "--name", "robot")
    bot.wait_for(lambda ev: any(e["event"] == "queued" for e in ev), 15, "the bot to queue")
    match_screens(screens, cluster, bot)
    menu_screen(screens, cluster, bot)
    paused_screen(screens, cluster, bot)
    reconnecting_screen(screens, cluster)
    end_screen(screens, cluster)
    pair = cluster.start_bot("pair", "--clients", "2", "--matches", "0", "--skill", "0.9")
    pair.wait_for(lambda ev: any(e["event"] == "match_start" for e in ev), 15,
                  "two bots to play")
    watch_screens(screens, cluster, bot)
    # To look at them: RALLY_SCREENS_OUT=DIR keeps every screenshot.
    out = os.environ.get("RALLY_SCREENS_OUT")
    if out:
        os.makedirs(out, exist_ok=True)
        for f in os.listdir(cluster.dir):
            if f.endswith(".png"):
                shutil.copy(os.path.join(cluster.dir, f), out)


run(test, points=3)
