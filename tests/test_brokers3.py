"""Three brokers: a node leads only with grants from a majority of them.
One broker dies in the middle of a match, and nobody notices: the leader
keeps its majority, no player reconnects, the match ends as usual.
"""

from rallytest import (check, check_monotonic, check_one_leader,
                       check_points_kept, count, run)


def test(cluster):
    cluster.start_all()
    bots = cluster.start_bot("bots", "--clients", "2", "--matches", "1",
                             "--trace", "--timeout", "100")
    bots.wait_for(lambda ev: count(ev, "point") >= 2,
                  40, "a point in the match")
    before = cluster.wait_leader()
    cluster.kill("broker1")
    bots.wait_for(lambda ev: count(ev, "match_end") == 2,
                  90, "the match to end")
    check(not bots.of("reconnect"), "a player noticed the broker's death: %s"
          % bots.of("reconnect"))
    check(check_monotonic(bots.events, "brokers3") == 2, "expected ticks from both")
    check_points_kept(bots.events, "brokers3")
    bots.proc.wait(timeout=10)      # done: it leaves and exits by itself
    check(bots.proc.returncode == 0, "bots exited with %d" % bots.proc.returncode)
    after = cluster.wait_leader()
    check((after["leader"], after["term"]) == (before["leader"], before["term"]),
          "the leader changed: term %d node %d, then term %d node %d"
          % (before["term"], before["leader"], after["term"], after["leader"]))
    check_one_leader(cluster, "brokers3")


run(test, nodes=3, brokers=3, points=2)
