"""Three brokers on a delayed network (20 +- 5 ms on every link between the
cluster's processes), under play by four players, through a schedule of
faults:
  - KILLS leader kills (SIGKILL), each followed by a restart of the node:
    each time a new leader is granted within two lease periods (plus the
    network's delay) and holds, and each kill costs one term, not a storm;
  - a broker killed and started again: the leader keeps its term;
  - the leader frozen (SIGSTOP) for less than the brokers hold a silent
    leader's lease: it resumes its own term, no other node leads;
  - the leader's link to one broker cut one way (iptables): it keeps its
    majority and its term;
  - the leader's links to every broker reset (the brokers see them close,
    as for a dead node) and cut, while it lives: another node leads, only
    once the cut leader has stopped by its own lease, and the cut leader
    follows again when healed.
Then the checks every fault run ends with: every match as its players saw
it is monotonic, keeps its points and has one winner for both players;
leader spans are disjoint; no player waited longer than STALL_BUDGET_MS for
a state (the longest pause is the last fault's: the cut leader's lease, the
five leases it waits to be renewed, an election, a reconnect).
"""

import time

import faults
from rallytest import check, count

KILLS = 8
LEASE_MS = 200
DELAY_MS = 25                   # the proxy's delay at most, each way
STALL_BUDGET_MS = 2000


def leader_now(cluster):
    st = cluster.wait_leader()
    return st["leader"], st["term"]


def leads_after(cluster, term):
    """(node, term, from_mono) of the first span of a term above term."""
    later = [s for s in cluster.leadership() if s[1] > term]
    return min(later, key=lambda s: s[2]) if later else None


def play_on(cluster, bots, players=4, states=30):
    """Every player sees states more after now."""
    mark = len(bots.events)
    bots.wait_for(lambda ev: all(
        sum(1 for e in ev[mark:] if e["event"] == "tick" and e["client"] == c) >= states
        for c in range(players)), 20, "every player to play on")


def kill_leader(cluster, bots, sched, k):
    leader, term = leader_now(cluster)
    play_on(cluster, bots)
    killed = time.clock_gettime(time.CLOCK_MONOTONIC) * 1000
    sched.kill("node%d" % leader)
    span = cluster.poll(lambda: leads_after(cluster, term), 15,
                        "a leader after term %d (kill %d)" % (term, k))
    took = span[2] - killed
    check(took <= 2 * LEASE_MS + 2 * DELAY_MS,
          "kill %d: node %d led term %d %.0f ms after node %d was killed (more than "
          "two leases)" % (k, span[0], span[1], took, leader))
    mark = len(cluster.log("node%d" % leader))
    sched.restart("node%d" % leader)
    cluster.wait_synced(leader, mark)
    # It held: the same term leads once the restarted node has caught up.
    now_leader, now_term = leader_now(cluster)
    check((now_leader, now_term) == (span[0], span[1]),
          "kill %d: the leader of term %d did not hold: node %d leads term %d"
          % (k, span[1], now_leader, now_term))
    return took


def keeps_term(cluster, what, term, leader):
    got = leader_now(cluster)
    check(got == (leader, term), "%s: node %d term %d led before, node %d term %d after"
          % (what, leader, term, got[0], got[1]))


def test(cluster):
    sched = faults.Schedule(cluster, seed=10)
    cluster.start_all()
    bots = cluster.start_bot("bots", "--clients", "4", "--matches", "0",
                             "--trace", "--skill", "0.7")
    bots.wait_for(lambda ev: count(ev, "match_start") == 4, 20, "two matches under way")
    _, first_term = leader_now(cluster)

    took = [kill_leader(cluster, bots, sched, k + 1) for k in range(KILLS)]
    leader, term = leader_now(cluster)
    check(term <= first_term + KILLS + 1, "terms climbed: term %d after %d kills from %d"
          % (term, KILLS, first_term))

    # A broker dies and comes back: nobody notices.
    sched.kill(faults.broker_label(1))
    play_on(cluster, bots)
    sched.restart(faults.broker_label(1))
    play_on(cluster, bots)
    keeps_term(cluster, "a broker killed and restarted", term, leader)

    # The leader freezes for half the time the brokers hold its lease.
    sched.freeze("node%d" % leader, 0.5)
    play_on(cluster, bots)
    keeps_term(cluster, "the leader frozen 0.5 s", term, leader)

    # Its link to broker 0 is cut one way, then healed.
    port = cluster.link(leader, "broker", 0)
    sched.note("cut node%d -> broker up" % leader)
    faults.Net.cut(port, "up")
    play_on(cluster, bots)
    play_on(cluster, bots)
    faults.Net.clear()
    sched.note("healed")
    play_on(cluster, bots)
    keeps_term(cluster, "the leader's link to a broker cut one way", term, leader)

    # A live leader whose connections to the brokers close and stay cut.
    ports = [cluster.link(leader, "broker", b) for b in range(len(cluster.brokers))]
    sched.note("reset and cut node%d's links to every broker" % leader)
    for port in ports:
        faults.Net.cut(port, "both")
        cluster.proxy.reset(port)
    taken = cluster.wait_new_leader(leader, term)
    mark = len(cluster.log("node%d" % leader))
    faults.Net.clear()
    sched.note("healed")
    cluster.wait_synced(leader, mark)
    check(taken["term"] > term, "no new term after the leader was cut: %s" % taken)

    bots.proc.terminate()
    bots.wait_for(lambda ev: bots.proc.poll() is not None, 10, "the bots to stop")
    matches = faults.check_histories(bots.events, "faults")
    stall = faults.check_stall(bots.events, STALL_BUDGET_MS, "faults")
    faults.rallytest.check_one_leader(cluster, "faults")
    print("%d kills: kill to next leader %s ms; %d matches ended; longest stall %d ms"
          % (KILLS, sorted(round(t) for t in took), matches, stall))


faults.run(test, nodes=3, brokers=3, points=3, delay_ms=20, jitter_ms=5)
