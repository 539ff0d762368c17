#!/usr/bin/python3
"""bench/failover.py - what a player sees when the leader dies under play.

Starts a broker and three game nodes on loopback (through tests/rallytest.py,
real processes, as the tests do) and a rally-bot process with P players
(P/2 matches, played for ever). Then, K times: waits for steady play, SIGKILLs
the leader, waits until every player is back and playing on the next one,
restarts the killed node and waits until it has synced. It prints, per round
and in total:
  - the gap each player saw (the bot's reconnect gap_ms: from the last state
    before the silence to the first after it), p50, p95 and max;
  - ticks replayed (a state at or below a tick the player had already seen
    in that match; must be 0) and ticks skipped across the failover (the jump
    in tick number from the last state before to the first after, minus 1);
  - the time from the kill to the broker's grant of the next lease (its log's
    "granted ... at mono X" against the kill, both CLOCK_MONOTONIC ms).

    bench/failover.py [--kills K] [--players P] [--bin DIR] [--json]

Run it after a build (it uses build/bin, or $RALLY_BIN, or --bin). Each wait
has a deadline and the bot a --timeout, so a run is bounded; every process
is stopped by pid at the end, and the logs are kept in the directory printed
last, with the bot's events in bots.jsonl. Figures are from one run on a
shared machine.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True      # leave no __pycache__ in tests/
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
import rallytest  # noqa: E402

STEADY_TICKS = 30       # states each player sees before a kill, and after it
WAIT_S = 20             # deadline of each wait


def now_ms():
    return time.clock_gettime(time.CLOCK_MONOTONIC) * 1000


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))] if values else None


def summary(values):
    return {"n": len(values), "p50": percentile(values, 50),
            "p95": percentile(values, 95), "max": max(values) if values else None}


def ticks_after(count, marks):
    """Every client c has seen count states after event index marks[c]."""
    def predicate(events):
        return all(sum(1 for e in events[mark:] if e["event"] == "tick" and e["client"] == c)
                   >= count for c, mark in marks.items())
    return predicate


def reconnected(players, mark):
    """Every player has a reconnect after event index mark."""
    return lambda events: {e["client"] for e in events[mark:]
                           if e["event"] == "reconnect"} >= set(range(players))


class Ticks:
    """Follows each player's states through the bot's events: counts replays
    and, across a reconnect, the ticks skipped. A match is a player's span
    from one match_start to the next (as in rallytest.check_monotonic)."""

    def __init__(self):
        self.read = 0           # events read so far
        self.epoch, self.top, self.last = {}, {}, {}
        self.away = {}          # client -> (match key, tick) before its reconnect

    def feed(self, events):
        """Reads the events not read yet; returns (replayed, [skipped])."""
        replayed, skipped = 0, []
        for e in events[self.read:]:
            c, kind = e["client"], e["event"]
            if kind == "match_start":
                self.epoch[c] = self.epoch.get(c, 0) + 1
            elif kind == "reconnect" and c in self.last:
                self.away[c] = self.last[c]
            elif kind == "tick":
                key = (c, self.epoch.get(c, 0), e["match"])
                replayed += key in self.top and e["tick"] <= self.top[key]
                self.top[key] = max(e["tick"], self.top.get(key, 0))
                before = self.away.pop(c, None)
                if before and before[0] == key:
                    skipped.append(e["tick"] - before[1] - 1)
                self.last[c] = (key, e["tick"])
        self.read = len(events)
        return replayed, skipped


def kill_round(cluster, bots, players, ticks):
    """One failover; returns its figures."""
    st = cluster.wait_leader(WAIT_S)
    leader, term = st["leader"], st["term"]
    bots.wait_for(ticks_after(STEADY_TICKS, {c: len(bots.events) for c in range(players)}),
                  WAIT_S, "steady play before killing node %d" % leader)
    mark = len(bots.events)
    killed_at = now_ms()
    cluster.kill("node%d" % leader)
    bots.wait_for(reconnected(players, mark), WAIT_S, "every player to reconnect")
    back = {}
    for i, e in enumerate(bots.events[mark:], mark):
        if e["event"] == "reconnect":
            back[e["client"]] = i + 1
    bots.wait_for(ticks_after(STEADY_TICKS, back), WAIT_S, "play to go on")
    cluster.poll(lambda: True if any(g[0] > term for g in cluster.grants()) else None,
                 WAIT_S, "a lease after term %d" % term)
    new_term, new_leader, granted = min(g for g in cluster.grants() if g[0] > term)

    log_mark = len(cluster.log("node%d" % leader))
    cluster.start_node(leader)
    cluster.wait_synced(leader, log_mark, WAIT_S)
    replayed, skipped = ticks.feed(bots.events)
    events = bots.events[mark:]
    return {"killed": leader, "term": term, "leader": new_leader, "new_term": new_term,
            "grant_ms": round(granted - killed_at),
            "gaps_ms": [e["gap_ms"] for e in events if e["event"] == "reconnect"],
            "replayed": replayed, "skipped": skipped,
            "errors": [e for e in events if e["event"] == "error"]}


def fmt(s, unit=""):
    if not s["n"]:
        return "none"
    return "p50 %g, p95 %g, max %g%s" % (s["p50"], s["p95"], s["max"], unit)


def print_round(k, r):
    print("round %2d: node %d (term %d) killed, node %d granted term %d after %d ms; "
          "gap %s (%d reconnects); skipped %s; replayed %d%s"
          % (k, r["killed"], r["term"], r["leader"], r["new_term"], r["grant_ms"],
             fmt(summary(r["gaps_ms"]), " ms"), len(r["gaps_ms"]), r["skipped"],
             r["replayed"], "; %d errors" % len(r["errors"]) if r["errors"] else ""))


def totals(rounds):
    gaps = [g for r in rounds for g in r["gaps_ms"]]
    skipped = [s for r in rounds for s in r["skipped"]]
    grants = [r["grant_ms"] for r in rounds]
    return {"rounds": len(rounds), "gap_ms": summary(gaps), "skipped": summary(skipped),
            "skipped_sum": sum(skipped), "replayed": sum(r["replayed"] for r in rounds),
            "grant_ms": summary(grants), "errors": sum(len(r["errors"]) for r in rounds)}


def main():
    ap = argparse.ArgumentParser(description="leader kills under play, seen by the players")
    ap.add_argument("--kills", type=int, default=20, help="leader kills, 1..200 (20)")
    ap.add_argument("--players", type=int, default=4, help="players, even, 2..64 (4)")
    ap.add_argument("--brokers", type=int, default=3, help="brokers, 1..5 (3)")
    ap.add_argument("--bin", default=os.environ.get("RALLY_BIN",
                                                    os.path.join(HERE, "..", "build", "bin")),
                    help="where the programs are (build/bin, or $RALLY_BIN)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = ap.parse_args()
    if not 1 <= args.kills <= 200 or not 2 <= args.players <= 64 or args.players % 2:
        ap.error("--kills 1..200, --players even 2..64")
    rallytest.BIN = os.path.abspath(args.bin)
    for program in ("rally-broker", "rally-gamenode", "rally-bot", "rallyctl"):
        if not os.access(os.path.join(rallytest.BIN, program), os.X_OK):
            ap.error("no %s in %s: build first, or give --bin" % (program, rallytest.BIN))

    cluster = rallytest.Cluster("bench-failover", nodes=3, brokers=args.brokers)
    rounds, failure, bots = [], None, None
    try:
        cluster.start_all(timeout=WAIT_S)
        bots = cluster.start_bot("bots", "--clients", str(args.players), "--matches", "0",
                                 "--trace", "--name", "fail",
                                 "--timeout", str(60 + 30 * args.kills))
        ticks = Ticks()
        for k in range(1, args.kills + 1):
            rounds.append(kill_round(cluster, bots, args.players, ticks))
            if not args.json:
                print_round(k, rounds[-1])
        rallytest.check_one_leader(cluster, "bench-failover")
    except rallytest.TestFailure as e:
        failure = "%s: %s" % ("round %d" % (len(rounds) + 1) if len(rounds) < args.kills
                              else "after the rounds", e)
    finally:
        unclean = cluster.stop_all()
        if bots:
            with open(os.path.join(cluster.dir, "bots.jsonl"), "w") as f:
                f.writelines(json.dumps(e) + "\n" for e in bots.events)

    total = totals(rounds)
    if args.json:
        print(json.dumps({"players": args.players, "kills": args.kills, "rounds": rounds,
                          "total": total, "failure": failure, "unclean": unclean,
                          "logs": cluster.dir}))
    else:
        print("%d players, %d of %d kills done" % (args.players, len(rounds), args.kills))
        print("gap seen by the players: %s (%d reconnects)"
              % (fmt(total["gap_ms"], " ms"), total["gap_ms"]["n"]))
        print("ticks skipped across a failover: %s (sum %d); replayed: %d"
              % (fmt(total["skipped"]), total["skipped_sum"], total["replayed"]))
        if rounds:
            print("kill to next lease granted: p50 %.0f ms, max %.0f ms"
                  % (total["grant_ms"]["p50"], total["grant_ms"]["max"]))
        for what in ([failure] if failure else []) + unclean:
            print("FAILED: " + what)
        print("logs in %s" % cluster.dir)
    sys.exit(1 if failure or unclean else 0)


if __name__ == "__main__":
    main()
