"""faults - what Rally's fault tests share: a private network, lossy and
delayed links that can be cut one way, kill and freeze schedules, and the
checks every fault run ends with.

A fault test runs in a network namespace of its own (private_netns: the
script runs itself again under `unshare --net`), so its iptables rules
touch nothing else on the machine: it needs root, unshare and iptables,
and exits 77 (CTest's skip) saying why when it has them not.

Links. A ProxiedCluster sends every link a node opens (to each broker's
peer endpoint, to each peer's heartbeat PUB and peer ROUTER) through one
delayproxy process (tests/delayproxy.py), on a port of its own: each node
gets a cluster file of its own naming those ports. So one link, in one
direction, can be delayed, cut or made lossy without touching the others:

    cluster.proxy.cut(cluster.link(2, "broker", 0), "up")   # node 2 -> broker 0
    Net.loss(cluster.link(1, "hb", 3), 0.01)                # real loss, iptables

Players reach brokers and nodes directly (the bots read the plain cluster
file): a fault test is about the cluster's own links.

Checks, on top of rallytest's: every match's history as its players saw
it (monotonic, points kept, one winner for both), no stall beyond a budget,
and the leader spans disjoint (rallytest.check_one_leader).
"""

import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time

import rallytest
from rallytest import check

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))


def skip(why):
    print("SKIP: %s" % why)
    sys.exit(SKIP)


def private_netns():
    """Runs this script again in a network namespace of its own, with
    loopback up, and exits with its status; returns in that child. Skips
    (exit 77) without root, unshare or iptables."""
    if os.environ.get("RALLY_FAULTS_NETNS") == str(os.getpid()):
        #  Stopped (CTest's timeout), it still stops what it started: the
        #  finally blocks run on SystemExit, not on a bare SIGTERM.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        return
    if os.geteuid() != 0:
        skip("fault tests need root, for a network namespace and iptables")
    for tool in ("unshare", "iptables", "ip"):
        if not shutil.which(tool):
            skip("fault tests need %s" % tool)
    probe = subprocess.run(["unshare", "--net", "sh", "-c",
                            "ip link set lo up && iptables -S >/dev/null"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        skip("cannot make a network namespace with iptables here: %s"
             % probe.stderr.strip())
    # exec keeps the pid: the child knows itself by it.
    script = ("ip link set lo up && export RALLY_FAULTS_NETNS=$$"
              " && exec \"$0\" \"$@\"")
    proc = subprocess.Popen(["unshare", "--net", "sh", "-c", script, sys.executable,
                             *sys.argv])
    #  unshare execs sh, which execs the child: a signal to this pid is
    #  the child's own.
    signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGTERM))
    sys.exit(proc.wait())


class Net:
    """iptables on loopback, in the private namespace. A port's 'up'
    direction is towards it (the connecting side's requests), 'down' from
    it (the answers)."""

    @staticmethod
    def _rule(op, port, direction, *action):
        key = "--dport" if direction == "up" else "--sport"
        subprocess.run(["iptables", op, "OUTPUT", "-o", "lo", "-p", "tcp", key, str(port),
                        *action], check=True)

    @classmethod
    def cut(cls, port, direction="both"):
        """Drops every packet of the link one way (or both): TCP retransmits
        until the cut heals, or a ZMTP heartbeat gives up on the link."""
        for d in ("up", "down") if direction == "both" else (direction,):
            cls._rule("-A", port, d, "-j", "DROP")

    @classmethod
    def loss(cls, port, probability, direction="both"):
        """Real packet loss: the kernel's own retransmission timeout."""
        for d in ("up", "down") if direction == "both" else (direction,):
            cls._rule("-A", port, d, "-m", "statistic", "--mode", "random",
                      "--probability", str(probability), "-j", "DROP")

    @staticmethod
    def clear():
        subprocess.run(["iptables", "-F", "OUTPUT"], check=True)


class Proxy:
    """A delayproxy process; commands on its stdin, answers on its stdout."""

    def __init__(self, cluster, links, delay_ms=0, jitter_ms=0, loss=0.0, seed=1):
        argv = [sys.executable, os.path.join(HERE, "delayproxy.py"),
                "--delay-ms", str(delay_ms), "--jitter-ms", str(jitter_ms),
                "--loss", str(loss), "--seed", str(seed)]
        argv += ["%d:127.0.0.1:%d" % (listen, target) for listen, target in links]
        log = open(os.path.join(cluster.dir, "proxy.log"), "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=log, text=True)
        self.proc.rally_group = False
        cluster.procs.append(("proxy", self.proc))
        ready = self.proc.stdout.readline()
        check(ready.startswith("ready"), "delayproxy did not start: %r" % ready)

    def command(self, line, timeout=5):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        check(ready, "delayproxy did not answer %r within %d s" % (line, timeout))
        answer = self.proc.stdout.readline().strip()
        check(answer.startswith("ok"), "delayproxy: %s -> %r" % (line, answer))

    def cut(self, port, direction="both"):
        self.command("cut %d %s" % (port, direction))

    def heal(self, port):
        self.command("heal %d" % port)

    def reset(self, port):
        self.command("reset %d" % port)

    def set(self, delay_ms, jitter_ms, loss):
        self.command("set %g %g %g" % (delay_ms, jitter_ms, loss))


def _endpoint_port(endpoint):
    return int(endpoint.rsplit(":", 1)[1])


class ProxiedCluster(rallytest.Cluster):
    """A Cluster whose nodes reach brokers and each other through one
    delayproxy, each link on a port of its own (see the module's comment).
    proxy_args go to Proxy (delay_ms, jitter_ms, loss, seed)."""

    def __init__(self, name, nodes=3, brokers=3, points=None, **proxy_args):
        super().__init__(name, nodes=nodes, brokers=brokers, points=points)
        self.links = {}         # (node, kind, index or peer) -> proxy port
        wanted = [(n, "broker", b) for n in self.nodes for b in range(len(self.brokers))]
        wanted += [(n, kind, m) for n in self.nodes for m in self.nodes if m != n
                   for kind in ("hb", "peer")]
        ports = rallytest.free_ports(len(wanted))
        self.links = dict(zip(wanted, ports))
        pairs = []
        for (n, kind, x), port in self.links.items():
            target = (self.broker_peers[x] if kind == "broker"
                      else self.nodes[x]["heartbeat" if kind == "hb" else "peer"])
            pairs.append((port, _endpoint_port(target)))
        self.proxy = Proxy(self, pairs, **proxy_args)
        for n in self.nodes:
            self._write_node_config(n)

    def link(self, node, kind, other):
        """The proxy port of node's link to broker index other ("broker"),
        or to node other's heartbeat PUB ("hb") or peer ROUTER ("peer")."""
        return self.links[(node, kind, other)]

    def node_config(self, node_id):
        return os.path.join(self.dir, "node%d.cfg" % node_id)

    def _write_node_config(self, n):
        local = lambda port: "tcp://127.0.0.1:%d" % port
        with open(self.config) as f:
            out = f.read()
        # A node reaches brokers at their peer endpoints, the only ones
        # it uses; the keys directory is the cluster file's own.
        out = out.replace('keys = "public"', 'keys = "%s"' % self.keys)
        for b, peer in enumerate(self.broker_peers):
            out = out.replace('"%s"' % peer, '"%s"' % local(self.link(n, "broker", b)))
        for m, eps in self.nodes.items():
            if m == n:
                continue
            out = out.replace('"%s"' % eps["heartbeat"], '"%s"' % local(self.link(n, "hb", m)))
            out = out.replace('"%s"' % eps["peer"], '"%s"' % local(self.link(n, "peer", m)))
        with open(self.node_config(n), "w") as f:
            f.write(out)


class Schedule:
    """Kills and freezes, chosen by a seeded random generator so that a
    failing run can be replayed; every act is logged to faults.log with
    the monotonic time. Brokers count: label "broker", "broker1", ..."""

    def __init__(self, cluster, seed):
        self.cluster = cluster
        self.rng = random.Random(seed)
        self.acts = []
        self.seed = seed

    def note(self, what):
        at = int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1000)
        self.acts.append((at, what))
        with open(os.path.join(self.cluster.dir, "faults.log"), "a") as f:
            f.write("mono %d: %s\n" % (at, what))

    def kill(self, label):
        """SIGKILL; returns when the process is gone."""
        self.note("SIGKILL %s" % label)
        self.cluster.kill(label)

    def restart(self, label):
        self.note("start %s" % label)
        if label.startswith("broker"):
            index = int(label[6:] or 0)
            return self.cluster.start_broker(index)
        return self.cluster.start_node(int(label[4:]))

    def freeze(self, label, seconds):
        """SIGSTOP for seconds (the fault's length, not a wait for an
        event), then SIGCONT."""
        proc = self.cluster.proc(label)
        self.note("SIGSTOP %s for %.2f s" % (label, seconds))
        proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            proc.send_signal(signal.SIGCONT)
            self.note("SIGCONT %s" % label)

    def pick(self, labels):
        return self.rng.choice(sorted(labels))


def broker_label(index):
    return "broker" if index == 0 else "broker%d" % index


def check_histories(events, where):
    """Every match as its players saw it: ticks, scores and phase never go
    back, every point seen is in the final score, and both players of a
    match saw the same end (score and winner). Returns the matches ended."""
    rallytest.check_monotonic(events, where)
    rallytest.check_points_kept(events, where)
    ends = {}
    for e in events:
        if e.get("event") == "match_end":
            ends.setdefault(e["match"], []).append(e)
    for match, seen in ends.items():
        view = {(tuple(e["score"]), e["winner"]) for e in seen}
        check(len(view) == 1, "%s: the players of match %s saw different ends: %s"
              % (where, match, seen))
    return len(ends)


def max_stall(events):
    """The longest a player in a match went without a state: (ms, client,
    match), from the bot's --trace tick events."""
    last, worst = {}, (0, None, None)
    for e in events:
        kind, c = e.get("event"), e.get("client")
        if kind in ("match_start", "match_end"):
            last.pop(c, None)
        elif kind == "tick":
            prev = last.get(c)
            if prev and prev[0] == e["match"] and e["t_ms"] - prev[1] > worst[0]:
                worst = (e["t_ms"] - prev[1], c, e["match"])
            last[c] = (e["match"], e["t_ms"])
    return worst


def check_stall(events, budget_ms, where):
    gap, client, match = max_stall(events)
    check(gap <= budget_ms, "%s: client %s went %d ms without a state in match %s "
          "(budget %d ms)" % (where, client, gap, match, budget_ms))
    return gap


def leader_changes(cluster):
    """Leadership spans so far, from the nodes' logs: one per term led."""
    return len(cluster.leadership())


def run(test, cluster_class=ProxiedCluster, **cluster_args):
    """rallytest.run for a fault test: in a private network namespace, with
    a ProxiedCluster unless told otherwise."""
    private_netns()
    rallytest.run(test, cluster_class=cluster_class, **cluster_args)
