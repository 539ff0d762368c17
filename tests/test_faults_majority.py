"""Three brokers, and what no majority does:
  - two of the three brokers die: no node can lead (play stops, as it
    must), but no term is spent while that lasts, and each node says so
    about once a second, not every heartbeat; one broker back, and a node
    leads again for one term more;
  - `kill broker2 node1`, then both started again: the restarted broker
    joins the sitting leader's term, and no term storm follows (before the
    fix it granted node 1 a new term every heartbeat, for ever).
Nothing a player saw goes back, and leader spans stay disjoint.
"""

import re
import time

import faults
from rallytest import check, check_one_leader, count, run

OUTAGE_S = 3.0


def terms_granted(cluster):
    return {t for t, _, _ in cluster.grants()}


def max_term(cluster):
    """The highest term any node logged leading, or any broker granted."""
    spans = [s[1] for s in cluster.leadership()]
    return max(spans + list(terms_granted(cluster)) + [0])


def no_lease_lines(cluster, marks):
    pattern = re.compile(r"node \d+ asks for no lease")
    return {n: len(pattern.findall(cluster.log("node%d" % n)[marks[n]:]))
            for n in cluster.nodes}


def test(cluster):
    sched = faults.Schedule(cluster, seed=11)
    cluster.start_all()
    bots = cluster.start_bot("bots", "--clients", "2", "--matches", "0",
                             "--trace", "--skill", "0.7")
    bots.wait_for(lambda ev: count(ev, "tick") >= 100, 20, "a match under way")

    # Two brokers of three die.
    before = max_term(cluster)
    marks = {n: len(cluster.log("node%d" % n)) for n in cluster.nodes}
    sched.kill(faults.broker_label(1))
    sched.kill(faults.broker_label(2))
    # The outage's length, not a wait for an event.
    time.sleep(OUTAGE_S)
    during = max_term(cluster)
    check(during == before, "terms climbed while no majority could form: %d -> %d"
          % (before, during))
    lines = no_lease_lines(cluster, marks)
    check(all(1 <= k <= OUTAGE_S + 2 for k in lines.values()),
          "each node should say it asks for no lease about once a second over %.0f s: %s"
          % (OUTAGE_S, lines))

    # One comes back, and play goes on. The nodes start campaigns as each
    # hears the broker again, and the broker that never died grants the
    # first to ask while the one just started is still quiet: their grants
    # may split once, and a second campaign settles it. One term, or two;
    # never a climb.
    sched.restart(faults.broker_label(1))
    st = cluster.wait_leader()
    check(st["term"] <= before + 2, "term %d after the outage, %d before" % (st["term"], before))
    ticks = count(bots.events, "tick")
    bots.wait_for(lambda ev: count(ev, "tick") >= ticks + 60, 20, "play to go on")

    # kill broker2 node1, then start both.
    sched.restart(faults.broker_label(2))
    st = cluster.wait_leader()
    leader, term = st["leader"], st["term"]
    victim = 1 if leader != 1 else 2
    sched.kill(faults.broker_label(2))
    sched.kill("node%d" % victim)
    mark = len(cluster.log("broker2"))
    sched.restart(faults.broker_label(2))
    sched.restart("node%d" % victim)
    time.sleep(OUTAGE_S)            # how long a storm would have to show
    granted = len(faults.rallytest.GRANTED.findall(cluster.log("broker2")[mark:]))
    after = cluster.wait_leader()
    check((after["leader"], after["term"]) == (leader, term),
          "node %d led term %d; after broker 2 and node %d restarted, node %d term %d"
          % (leader, term, victim, after["leader"], after["term"]))
    check(granted <= 2, "the restarted broker granted %d leases in %.0f s (a term storm)"
          % (granted, OUTAGE_S))

    faults.check_histories(bots.events, "majority")
    check_one_leader(cluster, "majority")
    print("no-lease lines per node over %.0f s: %s; terms %d -> %d" %
          (OUTAGE_S, lines, before, after["term"]))


run(test, nodes=3, brokers=3, points=3)
