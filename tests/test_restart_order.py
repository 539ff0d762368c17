"""Full restarts in adversarial orders lose and overwrite no finished match.

Round 1: a follower is killed, two matches end without it, a third match
starts, and the whole cluster (broker too) is killed with it under way. The
node that missed the matches starts first and leads; the others start
after it. It must open no match under an id that is taken (stored on the
other nodes, or the unfinished match's), no stored row may change, and
every node must end with every finished match (it lacks two: the
followers send them to it).

Round 2: the leader and a follower are killed, the last node leads alone
and a match ends on it; the whole cluster is killed, and the two that
missed the failover and the match start first. No term may be led twice
(every node's log is kept across the restarts), no id reused, and again every node ends with every match.

The old code failed round 1: the laggard numbered the next match from its
own highest id, and its result replaced the stored one on every node.
"""

import signal
import time

from rallytest import (LEADS, TestFailure, check, count, run)

ALARM = "ALARM"


def start_node(cluster, node_id):
    """Starts a node again. A node down for long may find its port taken
    for a while as the local end of someone's connection (the ports are
    ephemeral ones, on a shared machine): it tries again, a few times."""
    for attempt in range(10):
        mark = len(cluster.log("node%d" % node_id))
        try:
            return cluster.start_node(node_id)
        except TestFailure:
            if "Address already in use" not in cluster.log("node%d" % node_id)[mark:]:
                raise
            print("node %d: its port is in use; starting it again" % node_id)
            due = time.monotonic() + 0.5
            cluster.poll(lambda: True if time.monotonic() >= due else None, 5,
                         "the time to try again")
    raise TestFailure("node %d could not bind its ports" % node_id)


def kill_all(cluster):
    for label, proc in cluster.procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)


def play(cluster, label, matches, name):
    """Two bots play matches to the end; returns their match ids."""
    bots = cluster.start_bot(label, "--clients", "2", "--matches", str(matches),
                             "--name", name, "--timeout", "120")
    bots.wait_for(lambda ev: count(ev, "match_end") == 2 * matches, 120,
                  "%d matches to end (%s)" % (matches, label))
    bots.proc.wait(timeout=10)
    check(not bots.of("error"), "%s saw errors: %s" % (label, bots.of("error")))
    return sorted({e["match"] for e in bots.of("match_end")})


def start_one_match(cluster, label, name):
    """Two bots start a match and stay in it; returns its id."""
    bots = cluster.start_bot(label, "--clients", "2", "--matches", "1",
                             "--name", name)
    bots.wait_for(lambda ev: count(ev, "match_start") == 2, 30,
                  "a match to start (%s)" % label)
    return bots.of("match_start")[0]["match"]


def converged(cluster, expect_ids):
    """Waits until every node stores exactly the same rows, with these ids;
    returns the rows."""
    def probe():
        rows = [cluster.results(n) for n in sorted(cluster.nodes)]
        if all(r == rows[0] for r in rows) and set(rows[0]) == set(expect_ids):
            return rows[0]
        return None
    try:
        return cluster.poll(probe, 30, "every node to store matches %s"
                            % sorted(expect_ids))
    except Exception:
        for n in sorted(cluster.nodes):
            print("node %d stores %s" % (n, sorted(cluster.results(n))))
        raise


def no_alarm(cluster):
    for n in sorted(cluster.nodes):
        bad = [l for l in cluster.log("node%d" % n).splitlines() if ALARM in l]
        check(not bad, "node %d: %s" % (n, bad[:2]))


def test(cluster):
    st = cluster.start_all()
    leader = st["leader"]
    laggard = max(n for n in cluster.nodes if n != leader)
    cluster.kill("node%d" % laggard)
    first = play(cluster, "round1", 2, "r1")
    unfinished = start_one_match(cluster, "unfinished1", "u1")
    before = cluster.results(leader)
    check(set(first) <= set(before), "node %d lacks %s" % (leader, first))
    check(unfinished not in before, "the unfinished match was stored")
    kill_all(cluster)
    print("round 1: matches %s stored, %d under way; node %d missed them"
          % (first, unfinished, laggard))

    # The laggard first: it leads before the others are even up.
    cluster.start_broker()
    start_node(cluster, laggard)
    cluster.wait_status(lambda s: s.get("leader") == laggard, 15,
                        "node %d leading alone" % laggard)
    for n in sorted(cluster.nodes):
        if n != laggard:
            start_node(cluster, n)
    second = play(cluster, "after1", 2, "a1")
    taken = set(before) | {unfinished}
    check(not set(second) & taken,
          "after the restart, matches %s reused ids of %s" % (second, sorted(taken)))
    rows = converged(cluster, set(before) | set(second))
    for m, row in before.items():
        check(rows[m] == row, "match %d changed: %s -> %s" % (m, row, rows[m]))
    no_alarm(cluster)
    print("round 1: the next matches got %s; every node stores %d matches"
          % (second, len(rows)))

    # Round 2: a failover and a match that two nodes miss, then those two
    # start first.
    st = cluster.wait_leader()
    old_leader = st["leader"]
    follower = min(n for n in cluster.nodes if n != old_leader)
    cluster.kill("node%d" % follower)
    cluster.kill("node%d" % old_leader)
    last = ({1, 2, 3} - {follower, old_leader}).pop()
    cluster.wait_status(lambda s: s.get("leader") == last, 15,
                        "node %d leading after the failover" % last)
    third = play(cluster, "round2", 1, "r2")
    before = cluster.results(last)
    kill_all(cluster)
    print("round 2: node %d alone stored %s" % (last, third))

    cluster.start_broker()
    for n in (follower, old_leader, last):
        start_node(cluster, n)
    fourth = play(cluster, "after2", 1, "a2")
    check(not set(fourth) & set(before),
          "after the second restart, match %s reused an id of %s" % (fourth, sorted(before)))
    rows = converged(cluster, set(before) | set(fourth))
    for m, row in before.items():
        check(rows[m] == row, "match %d changed: %s -> %s" % (m, row, rows[m]))
    no_alarm(cluster)
    # The logs run on across the restarts. (check_one_leader cannot bound
    # the spans of leaders killed with their broker, which logged no lapse.)
    # A leader whose lease lapsed and came back (suspended) logs its term
    # again in the same process: that is one leadership. Across processes
    # (a restart) or nodes, a term must never come back.
    led = []
    for n in sorted(cluster.nodes):
        for run_no, text in enumerate(cluster.log("node%d" % n).split(
                "node %d up as a follower" % n)):
            led += sorted({(int(m.group(2)), n, run_no) for m in LEADS.finditer(text)})
    terms = [t for t, _, _ in led]
    check(len(terms) == len(set(terms)), "a term was led twice: %s" % led)
    led = terms
    print("round 2: next match %s; every node stores %d matches; terms led %s, "
          "none twice" % (fourth, len(rows), sorted(led)))


run(test, nodes=3, points=1)
