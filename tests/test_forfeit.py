"""A player vanishes mid-match (SIGKILL: no leave, no goodbye).

The node must keep the seat for the grace period with the match paused,
then end it as a forfeit won by the player who stayed; that player queues
again (play-again), is paired with a newcomer and plays a full match.
"""

import signal
import time

from rallytest import at_least, check, check_monotonic, run

GRACE_MS = 1500


def test(cluster):
    cluster.start_broker()
    cluster.start_node(1, "--points-to-win", "1", "--grace-ms", str(GRACE_MS))
    cluster.wait_leader()

    stayer = cluster.start_bot("stayer", "--name", "stayer", "--matches", "2",
                               "--skill", "0.6", "--trace")
    stayer.wait_for(at_least("queued", 1), 15, "the first bot to queue")
    leaver = cluster.start_bot("leaver", "--name", "leaver", "--matches", "1")
    leaver.wait_for(at_least("match_start", 1), 15, "the second bot's match")
    stayer.wait_for(at_least("match_start", 1), 5, "the first bot's match")
    first = stayer.of("match_start")[0]["match"]

    leaver.proc.send_signal(signal.SIGKILL)
    leaver.proc.wait(timeout=10)
    killed_at = time.monotonic()

    stayer.wait_for(lambda ev: any(e["event"] == "match_end" and e["match"] == first
                                   for e in ev), GRACE_MS / 1000 + 10, "the forfeit")
    waited = time.monotonic() - killed_at
    end = [e for e in stayer.of("match_end") if e["match"] == first][0]
    check(end["winner"] == "stayer", "the player who stayed did not win: %s" % end)
    check(max(end["score"]) < 1, "the match was decided by points, not forfeit: %s" % end)
    check(waited >= GRACE_MS / 1000 - 0.2,
          "the seat was not kept for the grace period: forfeit after %.2f s" % waited)
    phases = [e["phase"] for e in stayer.of("tick") if e["match"] == first]
    check("paused" in phases, "the match never paused for the lost player")

    # Play again: the stayer queues by itself and meets a newcomer.
    stayer.wait_for(at_least("queued", 2), 10, "the first bot to queue again")
    newcomer = cluster.start_bot("newcomer", "--name", "newcomer", "--matches", "1",
                                 "--skill", "0.6")
    stayer.wait_for(at_least("match_end", 2), 40, "the second match")
    second = stayer.of("match_start")[1]
    check(second["match"] != first and second["opponent"] == "newcomer",
          "the second match is not a new one against the newcomer: %s" % second)
    check(max(stayer.of("match_end")[1]["score"]) == 1, "the second match was not played out")
    check_monotonic(stayer.events, "forfeit")

    for bot in (stayer, newcomer):
        bot.proc.wait(timeout=10)
        check(bot.proc.returncode == 0, "a bot exited with %d" % bot.proc.returncode)
    check("forfeit" in cluster.log("node1"), "the node did not log the forfeit")


run(test)
