"""A store that fails is tried again until the match is in.

Three nodes. Another SQLite connection holds the write lock of the
leader's results.db and of a follower's (BEGIN EXCLUSIVE), so their stores
fail with "database is locked" when a match ends. Both must log the
match they could not store, and once the locks go, store it (the log
says so) without anything else happening: no restart, no new match. The
third node stores it at once. Every node ends with the same row.

The old code failed: the failed store was logged without the match, and
the match was missing on both nodes for good.
"""

import os
import sqlite3

from rallytest import (check, count, run)

COULD_NOT = "node %d could not store match %d"
AT_LAST = "node %d stored match %d at last"


def lock(cluster, node_id):
    db = sqlite3.connect(os.path.join(cluster.data_dir(node_id), "results.db"),
                         isolation_level=None, timeout=5)
    db.execute("BEGIN EXCLUSIVE")
    return db


def test(cluster):
    st = cluster.start_all()
    leader = st["leader"]
    follower = min(n for n in cluster.nodes if n != leader)
    free = ({1, 2, 3} - {leader, follower}).pop()
    locks = [lock(cluster, n) for n in (leader, follower)]
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
    finally:
        for db in locks:
            db.execute("ROLLBACK")
            db.close()
    for n in (leader, follower):
        cluster.wait_log("node%d" % n, lambda t, n=n: AT_LAST % (n, match) in t, 10,
                         "node %d to store match %d once unlocked" % (n, match))
    rows = [cluster.results(n).get(match) for n in sorted(cluster.nodes)]
    check(rows[0] and all(r == rows[0] for r in rows), "the nodes hold %s" % rows)
    print("every node stores match %d: %s" % (match, rows[0]))


run(test, nodes=3, points=2)
