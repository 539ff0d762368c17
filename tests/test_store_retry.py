"""A store that fails is tried again until the match is in.

Three nodes. Another SQLite connection holds the write lock of the
leader's results.db and of a follower's (BEGIN EXCLUSIVE), so their stores
fail with "database is locked" when a match ends. Both must log the
match they could not store, and once the locks go, store it (the log
says so) without anything else happening: no restart, no new match. The
third node stores it at once. The leader's lock goes first; the follower
still locked must then say (log, rallyctl status) that it is one match
behind, and none once its lock goes. Every node ends with the same row.

The old code failed: the failed store was logged without the match, and
the match was missing on both nodes for good.
"""

import os
import sqlite3

from rallytest import (check, count, run)

COULD_NOT = "node %d could not store match %d"
AT_LAST = "node %d stored match %d at last"
BEHIND = "node %d is behind by 1 finished match"


def lock(cluster, node_id):
    db = sqlite3.connect(os.path.join(cluster.data_dir(node_id), "results.db"),
                         isolation_level=None, timeout=5)
    db.execute("BEGIN EXCLUSIVE")
    return db


def behind(st, node_id):
    me = [n for n in st.get("nodes", []) if n["id"] == node_id]
    return me[0].get("behind") if me else None


def test(cluster):
    st = cluster.start_all()
    leader = st["leader"]
    follower = min(n for n in cluster.nodes if n != leader)
    free = ({1, 2, 3} - {leader, follower}).pop()
    locks = {n: lock(cluster, n) for n in (leader, follower)}
    try:
        bots = cluster.start_bot("bots", "--clients", "2", "--matches", "1",
                                 "--timeout", "60")
        bots.wait_for(lambda ev: count(ev, "match_end") == 2, 60, "the match to end")
        match = bots.of("match_end")[0]["match"]
        for n in (leader, follower):
            cluster.wait_log("node%d" % n, lambda t, n=n: COULD_NOT % (n, match) in t,
                             10, "node %d to say it could not store match %d" % (n, match))
        print("nodes %d and %d could not store match %d" % (leader, follower, match))
        cluster.poll(lambda: True if match in cluster.results(free) else None, 10,
                     "node %d to store match %d" % (free, match))

        # The leader's lock goes first: it stores the match, and the
        # follower still locked says it is one match behind.
        locks.pop(leader).execute("ROLLBACK")
        cluster.wait_log("node%d" % leader, lambda t: AT_LAST % (leader, match) in t,
                         10, "node %d to store match %d once unlocked" % (leader, match))
        cluster.wait_status(lambda st: behind(st, follower) == 1, 15,
                            "node %d one match behind" % follower)
        cluster.wait_log("node%d" % follower, lambda t: BEHIND % follower in t, 5,
                         "node %d to log that it is behind" % follower)
        print("node %d stored it; node %d says it is 1 match behind" % (leader, follower))
    finally:
        for db in locks.values():
            db.execute("ROLLBACK")
            db.close()
    cluster.wait_log("node%d" % follower, lambda t: AT_LAST % (follower, match) in t, 10,
                     "node %d to store match %d once unlocked" % (follower, match))
    cluster.wait_status(lambda st: all(n.get("behind") == 0 for n in st["nodes"]), 15,
                        "no node behind")
    rows = [cluster.results(n).get(match) for n in sorted(cluster.nodes)]
    check(rows[0] and all(r == rows[0] for r in rows), "the nodes hold %s" % rows)
    print("every node stores match %d: %s" % (match, rows[0]))


run(test, nodes=3, points=2)
