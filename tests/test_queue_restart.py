"""A player waiting alone in the queue when the only node restarts empty.

Pings carry no token, so the restarted node answers them and the waiting
player hears no silence; the node's once-a-second place in the queue stops,
though, and the client must notice that, find it is unknown, join afresh,
and then play the next player who arrives.
"""

import signal

from rallytest import check, run


def test(cluster):
    args = ("--points-to-win", "1")
    cluster.start_broker()
    node = cluster.start_node(1, *args)
    cluster.wait_leader()
    lone = cluster.start_bot("lone", "--name", "lone", "--matches", "1")
    lone.wait_for(lambda ev: any(e["event"] == "queued" for e in ev), 15, "the bot to queue")

    mark = len(cluster.log("node1"))
    node.send_signal(signal.SIGKILL)
    node.wait(timeout=10)
    cluster.start_node(1, *args)
    cluster.wait_log("node1", lambda text: "player lone joined" in text, 15,
                     "the waiting bot to join the restarted node", start=mark)

    mate = cluster.start_bot("mate", "--name", "mate", "--matches", "1")
    for bot in (lone, mate):
        bot.wait_for(lambda ev: any(e["event"] == "match_end" for e in ev), 30,
                     "a match between the two")
        bot.proc.wait(timeout=10)
        check(bot.proc.returncode == 0, "a bot exited with %d" % bot.proc.returncode)
    check(lone.of("match_start")[0]["opponent"] == "mate", "lone did not play mate")
    check(not lone.of("error"), "nothing was lost, yet lone reported %s" % lone.of("error"))


run(test)
