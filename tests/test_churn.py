"""Twenty leader kills in a row, each followed by a restart of the killed
node, while players play on without a break. Afterwards, zero violations of
DESIGN.md's invariants: no player saw a tick, score or phase go backwards,
no point a player saw was lost, no finished match was lost (every node
stores each one), one leader at a time, and every node that came back
caught up with the leader.
"""

from rallytest import (check, check_monotonic, check_one_leader,
                       check_points_kept, count, run)

KILLS = 20


def test(cluster):
    cluster.start_all()
    bots = cluster.start_bot("bots", "--clients", "4", "--matches", "0",
                             "--trace", "--skill", "0.7")
    bots.wait_for(lambda ev: count(ev, "match_start") == 4,
                  20, "two matches under way")
    for k in range(KILLS):
        st = cluster.wait_leader()
        leader, term = st["leader"], st["term"]
        ticks = len(bots.of("tick"))
        cluster.kill("node%d" % leader)
        cluster.wait_new_leader(leader, term)
        mark = len(cluster.log("node%d" % leader))
        cluster.start_node(leader)
        cluster.wait_synced(leader, mark)
        # Play went on: every player has seen more ticks since the kill.
        bots.wait_for(lambda ev: count(ev, "tick")
                      >= ticks + 4 * 30, 15, "play to go on after kill %d" % (k + 1))

    spans = check_one_leader(cluster, "churn")
    check(spans == KILLS + 1, "expected %d leaders in turn, saw %d" % (KILLS + 1, spans))
    check(check_monotonic(bots.events, "churn") >= 4, "expected ticks from all four")
    check_points_kept(bots.events, "churn")
    # No finished match is lost: every match a player saw end is stored, with
    # its score, by every node (those that were down caught up on it).
    ended = {e["match"]: e["score"] for e in bots.of("match_end")}
    check(ended, "no match ended during the churn: nothing to check")
    for node_id in (1, 2, 3):
        def stored_all():
            held = cluster.results(node_id)
            return True if all(m in held and [held[m]["left_score"], held[m]["right_score"]]
                               == score for m, score in ended.items()) else None
        cluster.poll(stored_all, 10, "node %d to store all %d finished matches"
                     % (node_id, len(ended)))
    errors = bots.of("error")
    check(not errors, "players saw errors: %s" % errors[:5])
    print("%d kills; %d reconnects; %d matches ended" % (
        KILLS, len(bots.of("reconnect")), len(bots.of("match_end"))))


run(test, nodes=3, points=2)
