#!/usr/bin/python3
"""bench/stability.py - does leadership hold when nothing fails?

Runs three brokers and three game nodes (through tests/faults.py: a network
namespace of its own, every link between the cluster's processes through
tests/delayproxy.py) and four bot players playing for ever, for a number of
minutes under each condition asked for:

  clean   no delay, no loss, an idle machine
  loss    20 +- 5 ms each way on every link, 1 % of the packets of every
          link dropped by iptables (real loss: the kernel recovers, by a tail
          loss probe or its retransmission timeout), and 1 % of the proxy's
          chunks held one 200 ms RTO with everything behind them (what loss
          costs TCP at worst)
  load    no delay, no loss, and --hogs busy processes (8 by default: a
          load of 8 on two cores) at the cluster's own priority

Nothing is killed, so every change of leader is spurious. It prints, per
condition: the changes of leader (a new term) per minute, the suspensions
(a leader whose lease ran out, held for it by the brokers, that went on in
its own term) per minute, the players' reconnects and their longest wait
for a state. Next to them, bench/failover.py gives the gap a real crash
costs.

    bench/stability.py [--minutes M] [--conditions clean,loss,load]
                       [--hogs N] [--bin DIR] [--json]

Needs root (a network namespace and iptables); every process it starts is
stopped by pid, and the logs are kept in the directories it prints.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
import faults  # noqa: E402
import rallytest  # noqa: E402


def run_condition(name, minutes, hogs):
    delay = dict(delay_ms=20, jitter_ms=5, loss=0.01) if name == "loss" else {}
    cluster = faults.ProxiedCluster("bench-stability-%s" % name, nodes=3, brokers=3, **delay)
    hogs_procs = []
    result = {"condition": name, "minutes": minutes, "logs": cluster.dir}
    try:
        cluster.start_all(timeout=30)
        if name == "loss":
            for port in cluster.links.values():
                faults.Net.loss(port, 0.01)
        bots = cluster.start_bot("bots", "--clients", "4", "--matches", "0",
                                 "--trace", "--skill", "0.7", "--name", name)
        bots.wait_for(lambda ev: rallytest.count(ev, "match_start") == 4, 30,
                      "two matches under way")
        if name == "load":
            for _ in range(hogs):
                hogs_procs.append(subprocess.Popen(
                    [sys.executable, "-c", "while True: pass"]))
        first = {s[1] for s in cluster.leadership()}
        start = time.monotonic()
        # The run's length: a measurement, not a wait for an event; the
        # bots' pipe is drained meanwhile.
        cluster.poll(lambda: True if time.monotonic() - start >= minutes * 60 else None,
                     minutes * 60 + 5, "the run to end")
        spans = cluster.leadership()
        terms = {s[1] for s in spans} - first
        suspended = len(spans) - len({s[1] for s in spans})
        bots._drain()
        stall = faults.max_stall(bots.events)
        result.update({
            "leader_changes": len(terms),
            "changes_per_min": round(len(terms) / minutes, 2),
            "suspensions": suspended,
            "suspensions_per_min": round(suspended / minutes, 2),
            "reconnects": rallytest.count(bots.events, "reconnect"),
            "longest_stall_ms": stall[0],
            "matches_ended": rallytest.count(bots.events, "match_end") // 2,
        })
        faults.check_histories(bots.events, "stability-%s" % name)
        rallytest.check_one_leader(cluster, "stability-%s" % name)
    except rallytest.TestFailure as e:
        result["failure"] = str(e)
    finally:
        for p in hogs_procs:
            p.kill()
            p.wait()
        if name == "loss":
            faults.Net.clear()
        result["unclean"] = cluster.stop_all()
    return result


def main():
    ap = argparse.ArgumentParser(description="spurious failovers under loss and load")
    ap.add_argument("--minutes", type=float, default=2, help="per condition (2)")
    ap.add_argument("--conditions", default="clean,loss,load")
    ap.add_argument("--hogs", type=int, default=8, help="busy processes under load (8)")
    ap.add_argument("--bin", default=os.environ.get("RALLY_BIN",
                                                    os.path.join(HERE, "..", "build", "bin")))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    conditions = args.conditions.split(",")
    if not set(conditions) <= {"clean", "loss", "load"} or not 0 < args.minutes <= 60:
        ap.error("--conditions from clean,loss,load; --minutes 0..60")
    rallytest.BIN = os.path.abspath(args.bin)
    faults.private_netns()
    results = [run_condition(c, args.minutes, args.hogs) for c in conditions]
    if args.json:
        print(json.dumps(results))
    else:
        for r in results:
            if "leader_changes" in r:
                print("%-5s %4.1f min: %d leader changes (%.2f/min), %d suspensions "
                      "(%.2f/min), %d reconnects, longest stall %d ms, %d matches"
                      % (r["condition"], r["minutes"], r["leader_changes"],
                         r["changes_per_min"], r["suspensions"], r["suspensions_per_min"],
                         r["reconnects"], r["longest_stall_ms"], r["matches_ended"]))
            for what in ([r["failure"]] if "failure" in r else []) + r["unclean"]:
                print("%-5s FAILED: %s" % (r["condition"], what))
            print("%-5s logs in %s" % (r["condition"], r["logs"]))
    sys.exit(1 if any("failure" in r or r["unclean"] for r in results) else 0)


if __name__ == "__main__":
    main()
