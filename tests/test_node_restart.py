"""The only game node dies mid-match (SIGKILL) and comes back empty.

With one node nothing is replicated, so the match is lost; what must hold is
that the players notice, say so, and carry on. Twice: once the node comes
back at once (on the same ports, so the bots' sockets reach it again; it
leads once the broker's lease for the dead process has lapsed), once only
after the bots have given it up and are asking the broker for a leader.
Either way each bot learns that its session is gone (an `error` event, code
`session_lost`), joins afresh, and the two play a new match to the end,
although the new node may hand out a match id again. (With replicas the
match survives: see test_failover.)
"""

import re
import signal

from rallytest import at_least, check, check_monotonic, run


WHERE = re.compile(r"rally-broker: where from ([0-9a-f]+)")


def ticks_in_match(n):
    """At least 30 ticks seen by each client since its n-th match_start."""
    def predicate(events):
        seen = {0: 0, 1: 0}
        starts = {0: 0, 1: 0}
        for e in events:
            if e["event"] == "match_start":
                starts[e["client"]] += 1
            elif e["event"] == "tick" and starts[e["client"]] == n:
                seen[e["client"]] += 1
        return min(seen.values()) >= 30
    return predicate


def test(cluster):
    args = ("--points-to-win", "2")
    cluster.start_broker(0, "--verbose")
    node = cluster.start_node(1, *args)
    cluster.wait_leader()
    bots = cluster.start_bot("bots", "--clients", "2", "--matches", "4", "--skill", "0.6",
                             "--trace", "--name", "pair")

    # At once: the bots never go quiet long enough to look elsewhere.
    bots.wait_for(ticks_in_match(1), 20, "the first match under way")
    node.send_signal(signal.SIGKILL)
    node.wait(timeout=10)
    node = cluster.start_node(1, *args)
    bots.wait_for(at_least("error", 2), 20, "both bots to learn their session is lost")
    bots.wait_for(at_least("match_end", 2), 60, "the second match to end")

    # Slowly: both bots have given the node up and are asking the broker
    # where the leader is before it comes back.
    bots.wait_for(ticks_in_match(3), 20, "the third match under way")
    slow_from = len(bots.events)
    mark = len(cluster.log("broker"))
    node.send_signal(signal.SIGKILL)
    node.wait(timeout=10)
    cluster.wait_log("broker", lambda text: len(set(WHERE.findall(text))) >= 2, 10,
                     "both bots to ask the broker for a leader", start=mark)
    cluster.start_node(1, *args)
    bots.wait_for(at_least("match_end", 4), 60, "the fourth match to end")

    lost = bots.of("error")
    check(sorted(e["client"] for e in lost) == [0, 0, 1, 1] and
          all(e["code"] == "session_lost" for e in lost),
          "each bot should report its session lost once per restart: %s" % lost)
    slow = [e["client"] for e in bots.events[slow_from:] if e["event"] == "reconnect"]
    check(sorted(set(slow)) == [0, 1], "after the slow restart each bot should "
          "report a reconnect: %s" % bots.of("reconnect"))
    ends = sorted(bots.of("match_end"), key=lambda e: (e["client"], e["t_ms"]))
    for i in (0, 1):
        check(ends[i]["score"] == ends[i + 2]["score"] and max(ends[i]["score"]) == 2,
              "a new match was not played out alike: %s" % ends)
    check(check_monotonic(bots.events, "node_restart") == 8,
          "expected ticks from all four matches of both bots")
    bots.proc.wait(timeout=10)
    check(bots.proc.returncode == 0, "bots exited with %d" % bots.proc.returncode)


run(test)
