"""A node killed again and again converges on every finished match.

Three nodes; four bots play matches of two points without a break. For
KILL_SECONDS a node chosen at random (seeded; the leader too) is killed
with SIGKILL every 0.5 to 3 s and started again at once. Then the bots
finish their matches, and every node must come to store exactly the same
rows, among them every match a player saw end, with no row in conflict.

Under the old catch-up (ids above the node's own highest, asked only by a
follower after a snapshot) a node that missed a match below one it stored,
or that led when it came back, lacked it for good.
"""

import random
import time

from rallytest import (check, check_one_leader, count, run)

KILL_SECONDS = 20
SEED = 10


def test(cluster):
    rng = random.Random(SEED)
    cluster.start_all()
    bots = cluster.start_bot("bots", "--clients", "4", "--matches", "4",
                             "--timeout", "200")
    bots.wait_for(lambda ev: count(ev, "match_start") >= 2, 30, "the first matches")
    end = time.monotonic() + KILL_SECONDS
    kills = []
    while time.monotonic() < end:
        due = time.monotonic() + rng.uniform(0.5, 3.0)
        cluster.poll(lambda: True if time.monotonic() >= due else None, 5,
                     "the next kill")
        victim = rng.choice(sorted(cluster.nodes))
        cluster.kill("node%d" % victim)
        cluster.start_node(victim)
        kills.append(victim)
    print("killed %d times: %s" % (len(kills), kills))
    # A match lost to a restart counts as played: the bots' exit says
    # they are done.
    cluster.poll(lambda: bots.proc.poll(), 150, "the players to finish their matches")
    bots._drain()
    check(bots.proc.returncode == 0, "bots exited with %d" % bots.proc.returncode)
    ended = {e["match"] for e in bots.of("match_end")}

    def probe():
        rows = [cluster.results(n) for n in sorted(cluster.nodes)]
        if all(r == rows[0] for r in rows) and ended <= set(rows[0]):
            return rows[0]
        return None
    try:
        rows = cluster.poll(probe, 30, "every node to store every finished match")
    except Exception:
        for n in sorted(cluster.nodes):
            print("node %d stores %s" % (n, sorted(cluster.results(n))))
        print("players saw %s end" % sorted(ended))
        raise
    for n in sorted(cluster.nodes):
        bad = [l for l in cluster.log("node%d" % n).splitlines() if "ALARM" in l]
        check(not bad, "node %d: %s" % (n, bad[:2]))
    check_one_leader(cluster, "kill_repeatedly")
    print("every node stores the same %d matches (%d seen to end by players)"
          % (len(rows), len(ended)))


run(test, nodes=3, points=2)
