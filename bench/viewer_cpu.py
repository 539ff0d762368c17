#!/usr/bin/python3
"""bench/viewer_cpu.py - what each screen of the viewer costs in CPU.

Runs the real viewer in an Xvfb window (Mesa's software OpenGL, where a
swap never waits for vsync, so nothing but the viewer's own pacing holds
it back) against a broker, a node and a bot on loopback, and reads its CPU
time from /proc over S seconds on each screen:

  name      the name screen, nothing typed (static but for the caret)
  queued    waiting for an opponent (static but for a counter and dots)
  match     playing the bot (the ball moves: every frame is drawn)

    bench/viewer_cpu.py [--seconds S] [--viewer PATH] [--size WxH]

--viewer compares another build's viewer (say, one from before a change).
Figures are from one run on a shared machine: compare runs made together.
"""

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
os.environ.setdefault("RALLY_BIN", os.path.join(HERE, "..", "build", "bin"))
import rallytest  # noqa: E402


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def xvfb(cluster):
    for number in range(150, 250):
        if os.path.exists("/tmp/.X11-unix/X%d" % number) or \
           os.path.exists("/tmp/.X%d-lock" % number):
            continue
        proc = cluster.start_group("xvfb", ["Xvfb", ":%d" % number, "-screen", "0",
                                            "2000x1200x24", "-nolisten", "tcp"])
        up = cluster.poll(lambda: True if os.path.exists("/tmp/.X11-unix/X%d" % number)
                          else False if proc.poll() is not None else None, 20, "Xvfb")
        if up:
            return number
    raise rallytest.TestFailure("no display free")


def measure(cluster, display, viewer, args, size, seconds, ready):
    env = dict(os.environ, DISPLAY=":%d" % display, LIBGL_ALWAYS_SOFTWARE="1")
    env.pop("XDG_RUNTIME_DIR", None)
    w, h = size
    label = "viewer-%d" % len(cluster.procs)
    log = open(os.path.join(cluster.dir, label + ".log"), "ab")
    proc = subprocess.Popen([viewer, "--config", cluster.config, "--width", str(w),
                             "--height", str(h), *args], stdout=log, stderr=log,
                            env=env, stdin=subprocess.DEVNULL)
    proc.rally_group = False
    cluster.procs.append((label, proc))
    cluster.poll(lambda: True if ready(cluster.log(label)) else None, 30,
                 "the viewer's screen")
    time.sleep(1)       # past the window's first frames
    c0, t0 = cpu_seconds(proc.pid), time.monotonic()
    time.sleep(seconds)
    c1, t1 = cpu_seconds(proc.pid), time.monotonic()
    proc.terminate()
    proc.wait(timeout=10)
    return 100 * (c1 - c0) / (t1 - t0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--viewer", default=os.path.join(rallytest.BIN, "rally-viewer"))
    parser.add_argument("--size", default="960x720")
    opts = parser.parse_args()
    size = tuple(int(v) for v in opts.size.split("x"))
    cluster = rallytest.Cluster("viewer-cpu")
    try:
        display = xvfb(cluster)
        cluster.start_broker()
        cluster.start_node(1)
        cluster.wait_leader()
        rows = []
        rows.append(("name", measure(cluster, display, opts.viewer, [], size, opts.seconds,
                                     lambda log: "OpenGL" in log)))
        rows.append(("queued", measure(cluster, display, opts.viewer, ["--name", "alone"],
                                       size, opts.seconds,
                                       lambda log: "queued at" in log or "joined" in log)))
        bot = cluster.start_bot("bot", "--clients", "1", "--matches", "0", "--name", "robot")
        bot.wait_for(lambda ev: any(e["event"] == "queued" for e in ev), 15, "the bot")
        rows.append(("match", measure(cluster, display, opts.viewer, ["--name", "player"],
                                      size, opts.seconds, lambda log: "match" in log)))
        print("viewer %s, %dx%d, %.0f s a screen" % (opts.viewer, size[0], size[1],
                                                    opts.seconds))
        print("| screen | CPU, % of a core |")
        print("| --- | ---: |")
        for screen, pct in rows:
            print("| %s | %.1f |" % (screen, pct))
    finally:
        cluster.stop_all()


if __name__ == "__main__":
    main()
