"""Three replicas: the leader dies mid-match, then the next one; the match
goes on to its end on the last node, and both dead nodes come back as
followers and catch up, on the game and on the finished match they missed.
Then the whole cluster is stopped and started
again: the finished match is still stored, and the next match gets a new
id.

Checks the invariants of DESIGN.md from what the players saw and what the
servers logged: no tick, score or phase goes backwards for any player, no
point a player saw is lost, one leader at a time (leases never overlap), and
a restarted node converges on the leader's state.
"""

from rallytest import (check, check_monotonic, check_one_leader,
                       check_points_kept, count, run)


def ticks_since(n, after_ms):
    """Each client has seen n ticks later than its own t_ms after_ms[c]."""
    def predicate(events):
        seen = {0: 0, 1: 0}
        for e in events:
            if e["event"] == "tick" and e["t_ms"] > after_ms[e["client"]]:
                seen[e["client"]] += 1
        return min(seen.values()) >= n
    return predicate


def reconnected(k):
    return lambda events: min(
        len([e for e in events if e["event"] == "reconnect" and e["client"] == c])
        for c in (0, 1)) >= k


def kill_leader(cluster, bots, k):
    """Kills the current leader while both players are in the match; waits
    until both have reconnected to the next one and seen it tick."""
    st = cluster.wait_leader()
    leader, term = st["leader"], st["term"]
    cluster.kill("node%d" % leader)
    bots.wait_for(reconnected(k), 15, "both players to reconnect (kill %d)" % k)
    last = {c: bots.of("reconnect", c)[-1]["t_ms"] for c in (0, 1)}
    bots.wait_for(ticks_since(30, last), 15, "play to go on after kill %d" % k)
    for c in (0, 1):
        r = bots.of("reconnect", c)[-1]
        check(r["from_node"] == leader and r["to_node"] != leader and r["term"] > term,
              "client %d reconnected oddly after node %d died: %s" % (c, leader, r))
    return leader


def test(cluster):
    cluster.start_all()
    bots = cluster.start_bot("bots", "--clients", "2", "--matches", "1",
                             "--trace", "--timeout", "100")
    bots.wait_for(lambda ev: count(ev, "point") >= 2,
                  40, "a point in the match")

    first = kill_leader(cluster, bots, 1)
    second = kill_leader(cluster, bots, 2)
    bots.wait_for(lambda ev: count(ev, "match_end") == 2,
                  90, "the match to end on the last node")

    ends = bots.of("match_end")
    check(len({e["match"] for e in ends}) == 1 and ends[0]["score"] == ends[1]["score"]
          and max(ends[0]["score"]) == 3,
          "both players should see the same match end 3 to something: %s" % ends)
    check(check_monotonic(bots.events, "failover") == 2, "expected ticks from both")
    check_points_kept(bots.events, "failover")
    gaps = [e["gap_ms"] for e in bots.of("reconnect")]
    print("reconnect gaps (ms): %s" % gaps)

    # Both dead nodes come back once the survivor has dropped the finished
    # match, so that no snapshot holds it: they load a snapshot, keep up,
    # and must fetch the match from the leader's results.
    match = ends[0]["match"]
    survivor = ({1, 2, 3} - {first, second}).pop()
    cluster.wait_log("node%d" % survivor, lambda text: "match %d dropped" % match in text,
                     15, "node %d to drop match %d" % (survivor, match))
    for node_id in (first, second):
        mark = len(cluster.log("node%d" % node_id))
        cluster.start_node(node_id)
        cluster.wait_synced(node_id, mark)
    check(check_one_leader(cluster, "failover") == 3, "expected three leaders in turn")
    bots.proc.wait(timeout=10)
    check(bots.proc.returncode == 0, "bots exited with %d" % bots.proc.returncode)

    # The survivor stored the match as it ended; so does every node that
    # held it when it was decided.
    stored = cluster.results(survivor).get(match)
    check(stored and [stored["left_score"], stored["right_score"]] == ends[0]["score"],
          "node %d did not store match %d as it ended: %s" % (survivor, match, stored))

    # The nodes that were away when it ended caught up on it from the leader.
    for node_id in (first, second):
        cluster.poll(lambda: True if cluster.results(node_id).get(match) == stored
                      else None, 10, "node %d to store match %d" % (node_id, match))

    # A full cluster restart: no finished match is lost, no id reused.
    for node_id in (1, 2, 3):
        proc = cluster.proc("node%d" % node_id)
        proc.terminate()
        proc.wait(timeout=10)
        check(proc.returncode == 0, "node %d exited with %d" % (node_id, proc.returncode))
    for node_id in (1, 2, 3):
        cluster.start_node(node_id)
    cluster.wait_leader()
    again = cluster.start_bot("again", "--clients", "2", "--matches", "1",
                              "--name", "next", "--timeout", "60")
    again.wait_for(lambda ev: count(ev, "match_start") == 2,
                   30, "a match after the restart")
    check(again.of("match_start")[0]["match"] > match,
          "the match after a full restart reused an id: %s" % again.of("match_start"))
    check(cluster.results(survivor).get(match) == stored,
          "node %d lost match %d in the restart" % (survivor, match))


run(test, nodes=3, points=3)
