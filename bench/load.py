#!/usr/bin/python3
"""bench/load.py - one game node under many players, measured from outside.

Starts a broker, one game node and a rally-bot process with N players on
loopback (real processes, as the tests do), lets them play for S seconds,
and prints:
  - the node's CPU use (from /proc) per match under way;
  - how evenly states arrive at the players: the gap between two states of
    the same match at one player, as p50, p99 and max, against the tick
    period. A node that falls behind shows up here first.

    bench/load.py [--clients N] [--seconds S] [--tick-hz HZ]

Run it after a build (it uses build/bin, or $RALLY_BIN). It is bounded in
players and time and talks only to loopback. Figures are from one run; the
machine is shared, so compare runs made together.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
os.environ.setdefault("RALLY_BIN", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                "..", "build", "bin"))
import rallytest  # noqa: E402


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def main():
    ap = argparse.ArgumentParser(description="one game node under many players")
    ap.add_argument("--clients", type=int, default=64, help="players, 2..256 (64)")
    ap.add_argument("--seconds", type=float, default=10, help="time measured, 1..120 (10)")
    ap.add_argument("--tick-hz", type=int, default=60, help="the node's tick rate (60)")
    args = ap.parse_args()
    if not 2 <= args.clients <= 256 or not 1 <= args.seconds <= 120:
        ap.error("--clients 2..256, --seconds 1..120")

    cluster = rallytest.Cluster("bench-load")
    try:
        cluster.start_broker()
        node = cluster.start_node(1, "--tick-hz", str(args.tick_hz), "--points-to-win", "99",
                                  "--max-players", str(args.clients + 2),
                                  "--max-per-source", "0")   # every bot is on loopback
        cluster.wait_leader()
        bots = cluster.start_bot("bots", "--clients", str(args.clients), "--matches", "1",
                                 "--skill", "1", "--trace", "--name", "load")
        bots.wait_for(lambda ev: sum(e["event"] == "match_start" for e in ev) == args.clients,
                      30, "every player in a match")
        start_cpu, start = cpu_seconds(node.pid), time.monotonic()
        mark = len(bots.events)
        bots.wait_for(lambda ev: time.monotonic() - start >= args.seconds, args.seconds + 5,
                      "the measured time")
        node_cpu = cpu_seconds(node.pid) - start_cpu
        elapsed = time.monotonic() - start
        gaps, last = [], {}
        for e in bots.events[mark:]:
            if e["event"] != "tick":
                continue
            key = (e["client"], e["match"])
            if key in last and e["tick"] > last[key][0]:
                gaps.append((e["t_ms"] - last[key][1]) / (e["tick"] - last[key][0]))
            last[key] = (e["tick"], e["t_ms"])
    finally:
        cluster.stop_all()

    matches = args.clients // 2
    period = 1000 / args.tick_hz
    print("%d players, %d matches, %d Hz (a tick every %.1f ms), %.1f s measured"
          % (args.clients, matches, args.tick_hz, period, elapsed))
    print("node CPU: %.1f%% of a core, %.3f%% per match"
          % (100 * node_cpu / elapsed, 100 * node_cpu / elapsed / matches))
    if gaps:
        print("state gaps at the players, ms per tick: p50 %.1f, p99 %.1f, max %.1f "
              "(%d gaps)" % (percentile(gaps, 50), percentile(gaps, 99), max(gaps), len(gaps)))
        print("ratio to the tick period: p50 %.2f, p99 %.2f"
              % (percentile(gaps, 50) / period, percentile(gaps, 99) / period))


if __name__ == "__main__":
    main()
