"""The leader is frozen (SIGSTOP) for a second, then thawed (SIGCONT).

While it is frozen its lease runs out and another node is granted one; when
it wakes it must find its lease over by its own clock and stop acting as
leader before doing anything else: no tick, no state, no answer as leader.
From the logs: it stopped leading by the end of its lease, the next lease
was granted only after that, and no two nodes' leadership spans overlap.
The players see a pause and nothing going backwards, and the thawed node
follows the new leader.
"""

import signal
import time

from rallytest import (check, check_monotonic, check_one_leader,
                       check_points_kept, count, run)


def test(cluster):
    st = cluster.start_all()
    leader, term = st["leader"], st["term"]
    bots = cluster.start_bot("bots", "--clients", "2", "--matches", "1",
                             "--trace", "--timeout", "100")
    bots.wait_for(lambda ev: count(ev, "tick") >= 100,
                  30, "the match under way")

    label = "node%d" % leader
    mark = len(cluster.log(label))
    frozen = cluster.proc(label)
    frozen.send_signal(signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        cluster.wait_new_leader(leader, term)
        # The fault lasts a second from the SIGSTOP: this is its length, not
        # a wait for an event.
        time.sleep(max(0.0, 1.0 - (time.monotonic() - stopped)))
    finally:
        frozen.send_signal(signal.SIGCONT)
    text = cluster.wait_log(label, lambda t: "stops leading term %d" % term in t, 10,
                            "the thawed node to step down", start=mark)
    check("its lease ran out" in text,
          "the thawed node stepped down for another reason: %s" % text)
    cluster.wait_synced(leader, mark)

    bots.wait_for(lambda ev: count(ev, "match_end") == 2,
                  90, "the match to end")
    check(check_monotonic(bots.events, "pause") == 2, "expected ticks from both")
    check_points_kept(bots.events, "pause")
    bots.proc.wait(timeout=10)      # done: it leaves and exits by itself
    check(bots.proc.returncode == 0, "bots exited with %d" % bots.proc.returncode)
    check(check_one_leader(cluster, "pause") == 2, "expected two leaders in turn")


run(test, nodes=3, points=2)
