#!/usr/bin/python3
"""bench/elections.py - after a leader kill, how soon does a leader hold?

Runs B brokers (3) and three game nodes on loopback, no players, and K times:
SIGKILLs the leader, waits for the next one, starts the killed node again
and waits until it follows (so that two followers campaign at every kill,
as in a real cluster). From the nodes' and brokers' logs (CLOCK_MONOTONIC,
as the bench's own clock) it counts, per kill:
  - stable_ms: from the kill to the start of the first leadership that then
    held, no other term led, until the next kill;
  - terms: terms granted by any broker between the kill and then (1 is a
    clean election; more is a split or a storm).
It prints p50, p99 and max of stable_ms, how many kills reached a stable
leader within two lease periods (400 ms at the default lease), and the
terms per kill.

    bench/elections.py [--kills K] [--brokers B] [--bin DIR] [--json]
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
import rallytest  # noqa: E402

LEASE_MS = 200
WAIT_S = 20


def now_ms():
    return time.clock_gettime(time.CLOCK_MONOTONIC) * 1000


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))] if values else None


class Logs:
    """Reads only what each log gained since the last look."""

    def __init__(self, cluster):
        self.cluster, self.pos, self.spans, self.grants = cluster, {}, [], []
        self.open = {}

    def update(self):
        for node_id in self.cluster.nodes:
            label = "node%d" % node_id
            text = self._new(label)
            events = [(m.start(), "lead", m) for m in rallytest.LEADS.finditer(text)]
            events += [(m.start(), "stop", m) for m in rallytest.STOPS.finditer(text)]
            for _, kind, m in sorted(events, key=lambda e: e[0]):
                if kind == "lead":
                    self.spans.append((node_id, int(m.group(2)), int(m.group(3))))
        for index in range(len(self.cluster.brokers)):
            label = "broker" if index == 0 else "broker%d" % index
            text = self._new(label)
            self.grants += [(int(t), int(n), int(at)) for t, n, at in
                            rallytest.GRANTED.findall(text)]

    def _new(self, label):
        text = self.cluster.log(label)
        start = self.pos.get(label, 0)
        self.pos[label] = len(text)
        return text[start:]


def kill_round(cluster, logs):
    st = cluster.wait_leader(WAIT_S)
    leader = st["leader"]
    killed = now_ms()
    cluster.kill("node%d" % leader)
    cluster.wait_new_leader(leader, st["term"], WAIT_S)
    mark = len(cluster.log("node%d" % leader))
    cluster.start_node(leader)
    cluster.wait_synced(leader, mark, WAIT_S)
    logs.update()
    after = [s for s in logs.spans if s[2] >= killed - 1 and s[1] > st["term"]]
    terms_led = sorted({s[1] for s in after})
    last = max(terms_led)
    stable = min(s[2] for s in after if s[1] == last)
    granted = {t for t, _, at in logs.grants if at >= killed - 1}
    return {"killed": leader, "term": st["term"], "stable_ms": round(stable - killed),
            "terms": len(granted), "led": terms_led}


def main():
    ap = argparse.ArgumentParser(description="leader kills: time to a stable leader")
    ap.add_argument("--kills", type=int, default=100, help="1..2000 (100)")
    ap.add_argument("--brokers", type=int, default=3)
    ap.add_argument("--bin", default=os.environ.get("RALLY_BIN",
                                                    os.path.join(HERE, "..", "build", "bin")))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not 1 <= args.kills <= 2000:
        ap.error("--kills 1..2000")
    rallytest.BIN = os.path.abspath(args.bin)
    cluster = rallytest.Cluster("bench-elections", nodes=3, brokers=args.brokers)
    rounds, failure = [], None
    try:
        cluster.start_all(timeout=WAIT_S)
        logs = Logs(cluster)
        for k in range(args.kills):
            rounds.append(kill_round(cluster, logs))
            if not args.json and (k + 1) % 50 == 0:
                print("%d kills..." % (k + 1), flush=True)
        rallytest.check_one_leader(cluster, "bench-elections")
    except rallytest.TestFailure as e:
        failure = "round %d: %s" % (len(rounds) + 1, e)
    finally:
        unclean = cluster.stop_all()
    stable = [r["stable_ms"] for r in rounds]
    within = sum(1 for s in stable if s <= 2 * LEASE_MS)
    extra = [r for r in rounds if r["terms"] != 1]
    summary = {"kills": len(rounds), "within_two_leases": within,
               "stable_ms": {"p50": percentile(stable, 50), "p99": percentile(stable, 99),
                             "max": max(stable) if stable else None},
               "kills_with_more_than_one_term": len(extra), "failure": failure,
               "unclean": unclean, "logs": cluster.dir}
    if args.json:
        print(json.dumps({"summary": summary, "rounds": rounds}))
    else:
        print("%d brokers: a stable leader within %d ms (two leases) after %d of %d kills"
              % (args.brokers, 2 * LEASE_MS, within, len(rounds)))
        print("kill to stable leader: p50 %s ms, p99 %s ms, max %s ms"
              % (summary["stable_ms"]["p50"], summary["stable_ms"]["p99"],
                 summary["stable_ms"]["max"]))
        print("kills that cost more than one term: %d %s"
              % (len(extra), [(r["term"], r["led"], r["terms"]) for r in extra[:10]]))
        for what in ([failure] if failure else []) + unclean:
            print("FAILED: " + what)
        print("logs in %s" % cluster.dir)
    sys.exit(1 if failure or unclean else 0)


if __name__ == "__main__":
    main()
