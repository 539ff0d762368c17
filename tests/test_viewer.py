"""The real viewer, in a real window under Xvfb with Mesa's software OpenGL,
plays a bot through a broker and a node, and writes a screenshot of the first
frame of the match; rally-frame-check must find in its pixels two paddles, a
ball, and text where the names (left, right) and the score (middle) go.
"""

import os
import shutil

from rallytest import BIN, check, run


def test(cluster):
    check(shutil.which("xvfb-run"), "xvfb-run is not installed (scripts/install-deps)")
    cluster.start_broker()
    cluster.start_node(1)
    cluster.wait_leader()
    bot = cluster.start_bot("bot", "--clients", "1", "--matches", "1", "--skill", "1",
                            "--name", "robot")
    bot.wait_for(lambda ev: any(e["event"] == "queued" for e in ev), 15, "the bot to queue")

    shot = os.path.join(cluster.dir, "match.png")
    # Mesa's drivers keep allocations to exit; under RALLY_SANITIZE they
    # would read as the viewer's leaks.
    env_argv = ["env", "LIBGL_ALWAYS_SOFTWARE=1", "ASAN_OPTIONS=detect_leaks=0",
                "xvfb-run", "-a", "-s", "-screen 0 1280x800x24",
                os.path.join(BIN, "rally-viewer"), "--config", cluster.config,
                "--broker", cluster.broker,
                "--name", "alice", "--screenshot", shot, "--timeout", "40"]
    viewer = cluster.start_group("viewer", env_argv)
    viewer.wait(timeout=60)
    check(viewer.returncode == 0, "viewer exited with %d" % viewer.returncode)
    check(os.path.exists(shot), "viewer wrote no screenshot")

    bot.wait_for(lambda ev: any(e["event"] == "match_start" for e in ev), 5,
                 "the bot to be paired with the viewer")
    opponent = bot.of("match_start")[0]["opponent"]
    check(opponent == "alice", "the bot played %r, not the viewer" % opponent)

    frame = cluster.start_group("frame-check", [os.path.join(BIN, "rally-frame-check"), shot])
    frame.wait(timeout=30)
    print(cluster.log("frame-check"))
    check(frame.returncode == 0, "rally-frame-check found no match in the screenshot")
    if os.environ.get("RALLY_SCREENSHOT_OUT"):
        shutil.copy(shot, os.environ["RALLY_SCREENSHOT_OUT"])


run(test)
