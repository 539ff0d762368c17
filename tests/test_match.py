"""A broker, one game node and two bots play a real match to 3 points.

Both bots must report the same final score and winner, the winner must have
3 points, every point a bot saw must add up to that score, and no bot may
see a tick, score or phase go backwards.
"""

from rallytest import check, check_monotonic, count, run


def test(cluster):
    cluster.start_broker()
    cluster.start_node(1, "--points-to-win", "3")
    cluster.wait_leader()

    bot = cluster.start_bot("bots", "--clients", "2", "--matches", "1",
                            "--skill", "0.6", "--trace", "--name", "it")
    bot.wait_for(lambda ev: count(ev, "match_end") == 2,
                 30, "both clients' match_end")

    starts = sorted(bot.of("match_start"), key=lambda e: e["client"])
    check(len(starts) == 2, "expected 2 match_start events, got %d" % len(starts))
    check(starts[0]["match"] == starts[1]["match"], "clients were put in different matches")
    check({s["side"] for s in starts} == {"left", "right"}, "sides were not left and right")
    check(starts[0]["opponent"] == "it-1" and starts[1]["opponent"] == "it-0",
          "each client should see the other's name: %s" % starts)

    ends = sorted(bot.of("match_end"), key=lambda e: e["client"])
    check(ends[0]["score"] == ends[1]["score"],
          "clients disagree on the score: %s vs %s" % (ends[0]["score"], ends[1]["score"]))
    check(ends[0]["winner"] == ends[1]["winner"], "clients disagree on the winner")
    check(max(ends[0]["score"]) == 3, "winner should have 3 points: %s" % ends[0]["score"])
    winner_side = 0 if ends[0]["score"][0] == 3 else 1
    check(ends[0]["winner_side"] == ("left", "right")[winner_side], "winner side mismatch")

    for client in (0, 1):
        points = bot.of("point", client)
        check(len(points) == sum(ends[0]["score"]),
              "client %d saw %d points for a score of %s" % (client, len(points), ends[0]["score"]))

    check(check_monotonic(bot.events, "match") == 2, "expected trace ticks from both clients")
    bot.proc.wait(timeout=10)
    check(bot.proc.returncode == 0, "bot exited with %d" % bot.proc.returncode)


run(test)
