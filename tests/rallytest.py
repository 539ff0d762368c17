"""Shared harness for Rally's integration tests: real processes on loopback.

Every process a test starts is recorded by pid and ended in stop_all(), which
the tests call from a finally block. Waiting is always on an event with a
deadline (a line from a bot or a log, an answer from rallyctl), never a fixed
sleep.

Nodes must know each other's endpoints before they start, so a Cluster
writes a cluster file with ports the kernel just handed out (bound to port 0
and released) and gives every program --config. A restarted node reads the
same file and gets its old ports back.

Every link is CURVE: a Cluster makes the cluster's keys (rallyctl keys)
into its directory, public ones in public/, each member's own in its
directory (node1/, broker1/, operator/), as a real cluster keeps them.
"""

import json
import os
import re
import selectors
import shutil
import socket
import sqlite3
import signal
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("RALLY_BIN", os.path.join(os.getcwd(), "bin"))
LISTENING = re.compile(r"rally-broker: listening on (tcp://\S+:\d+)")
LEADS = re.compile(r"node (\d+) leads term (\d+) from mono (\d+) \(lease until mono (\d+)\)")
STOPS = re.compile(r"node (\d+) stops leading term (\d+) at mono (\d+): .* \(lease until mono (\d+)")
GRANTED = re.compile(r"lease term (\d+) granted to node (\d+) at mono (\d+)")
LAPSED = re.compile(r"lease term (\d+) of node (\d+) lapsed at mono (\d+)")


NODE_ENDPOINTS = ("heartbeat", "game", "state", "peer")


def free_ports(count):
    """count distinct loopback ports that were free a moment ago."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class TestFailure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise TestFailure(message)


class Bot:
    """A rally-bot process whose stdout is read as JSON event lines."""

    def __init__(self, proc):
        self.proc = proc
        self.events = []
        self._buf = b""
        os.set_blocking(proc.stdout.fileno(), False)

    def _drain(self):
        while True:
            try:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
            except BlockingIOError:
                return
            if not chunk:
                return
            self._buf += chunk
            while b"\n" in self._buf:
                line, self._buf = self._buf.split(b"\n", 1)
                if line.strip():
                    try:
                        self.events.append(json.loads(line))
                    except ValueError:
                        raise TestFailure("bot printed a line that is not JSON: %r" % line)

    def wait_for(self, predicate, timeout, what):
        """Reads events until predicate(events) is true or the deadline passes."""
        deadline = time.monotonic() + timeout
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        try:
            while True:
                self._drain()
                if predicate(self.events):
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TestFailure("timed out after %.0f s waiting for %s" % (timeout, what))
                if self.proc.poll() is not None:
                    self._drain()
                    if predicate(self.events):
                        return
                    raise TestFailure("bot exited with %s before %s" % (self.proc.returncode, what))
                sel.select(min(left, 0.5))
        finally:
            sel.close()

    def of(self, kind, client=None):
        return [e for e in self.events
                if e.get("event") == kind and (client is None or e.get("client") == client)]


def count(events, kind):
    """How many of events are of this kind."""
    return sum(1 for e in events if e.get("event") == kind)


def at_least(kind, n):
    """A wait_for predicate: at least n events of this kind."""
    return lambda events: count(events, kind) >= n


class Cluster:
    """Writes a cluster file for brokers and nodes on free loopback ports,
    starts them and bots; stops them all."""

    def __init__(self, name, nodes=1, brokers=1, points=None):
        self._begin(name)
        ports = free_ports(2 * brokers + 4 * nodes)
        self.brokers = ["tcp://127.0.0.1:%d" % p for p in ports[:brokers]]
        self.broker_peers = ["tcp://127.0.0.1:%d" % p for p in ports[brokers:2 * brokers]]
        self.broker = self.brokers[0]
        self.nodes = {}
        for i in range(nodes):
            p = ports[2 * brokers + 4 * i:2 * brokers + 4 * i + 4]
            self.nodes[i + 1] = {k: "tcp://127.0.0.1:%d" % v
                                 for k, v in zip(NODE_ENDPOINTS, p)}
        self.config = os.path.join(self.dir, "cluster.cfg")
        with open(self.config, "w") as f:
            f.write('rally\n    keys = "public"\n')
            for b, peer in zip(self.brokers, self.broker_peers):
                f.write('    broker = "%s"\n        peer = "%s"\n' % (b, peer))
            if points:
                f.write("    game\n        points_to_win = %d\n" % points)
            for node_id, eps in sorted(self.nodes.items()):
                f.write("    node\n        id = %d\n" % node_id)
                for key in NODE_ENDPOINTS:
                    f.write('        %s = "%s"\n' % (key, eps[key]))
        self.make_keys()

    def make_keys(self):
        """The cluster's certificates, as rallyctl keys makes them."""
        out = subprocess.run([os.path.join(BIN, "rallyctl"), "keys", "--config", self.config],
                             capture_output=True, timeout=30)
        check(out.returncode == 0, "rallyctl keys failed: %s" % out.stderr.decode())
        self.keys = os.path.join(self.dir, "public")

    def member_keys(self, name):
        """(public, secret) of member name ("node1", "operator"), as bytes
        for python3-zmq's curve options."""
        import zmq.auth
        return zmq.auth.load_certificate(os.path.join(self.dir, name, "rally.cert_secret"))

    def public_key(self, name):
        import zmq.auth
        return zmq.auth.load_certificate(os.path.join(self.keys, name + ".cert"))[0]

    def player_socket(self, ctx, kind, server, key=None):
        """A pyzmq socket of kind that reaches member server ("node1",
        "broker1") as a player does: CURVE, with key (public, secret), or a
        fresh one. Not connected yet."""
        import zmq
        sock = ctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        public, secret = key or zmq.curve_keypair()
        sock.curve_publickey = public
        sock.curve_secretkey = secret
        sock.curve_serverkey = self.public_key(server)
        return sock

    def _begin(self, name):
        """What every run keeps, whoever writes its cluster file: a
        directory for logs and data, the processes started, the bots."""
        self.dir = tempfile.mkdtemp(prefix="rally-%s-" % name)
        self.procs = []
        self.bots = []

    def _start(self, label, argv, stdout=None, group=False):
        """group: the process leads a new process group (xvfb-run and its
        children), and is stopped as a group."""
        log = open(os.path.join(self.dir, label + ".log"), "ab")
        proc = subprocess.Popen(argv, stdout=stdout or log, stderr=log,
                                stdin=subprocess.DEVNULL, start_new_session=group)
        proc.rally_group = group
        self.procs.append((label, proc))
        return proc

    def log(self, label):
        path = os.path.join(self.dir, label + ".log")
        if not os.path.exists(path):
            return ""
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def _log_size(self, label):
        return len(self.log(label))

    def start_broker(self, index=0, *extra):
        """Starts broker index of the cluster file; waits until it listens."""
        label = "broker" if index == 0 else "broker%d" % index
        mark = self._log_size(label)
        proc = self._start(label, [os.path.join(BIN, "rally-broker"),
                                   "--config", self.config,
                                   "--broker", self.brokers[index], *extra])
        self.wait_log(label, LISTENING.search, 15, "broker %d to listen" % index,
                      start=mark, proc=proc)
        return proc

    def start_all(self, *node_args, timeout=15):
        """Starts every broker and node of the cluster file (the nodes with
        node_args) and waits, up to timeout s, for a leader; returns
        rallyctl's status."""
        for index in range(len(self.brokers)):
            self.start_broker(index)
        for node_id in sorted(self.nodes):
            self.start_node(node_id, *node_args)
        return self.wait_leader(timeout)

    def start_node(self, node_id=1, *extra):
        """Starts node node_id of the cluster file (again, for a restart);
        waits until it is up. It leads or follows once the brokers say."""
        label = "node%d" % node_id
        mark = self._log_size(label)
        proc = self._start(label, [
            os.path.join(BIN, "rally-gamenode"), "--config", self.node_config(node_id),
            "--id", str(node_id), "--data", self.data_dir(node_id), *extra])
        up = "node %d up as a follower" % node_id
        self.wait_log(label, lambda text: up in text, 15,
                      "node %d to start" % node_id, start=mark, proc=proc)
        return proc

    def node_config(self, node_id):
        """The cluster file node_id reads: the one file, unless a subclass
        gives each node its own (tests/faults.py routes links so)."""
        return self.config

    def _broker_lines(self, pattern):
        out = []
        for index in range(len(self.brokers)):
            label = "broker" if index == 0 else "broker%d" % index
            out += [tuple(int(g) for g in m.groups())
                    for m in pattern.finditer(self.log(label))]
        return out

    def _lapse_bound(self, term):
        """When a majority of the brokers had let term's lease lapse: a
        killed leader's lease ended by then, by its own clock too."""
        times = sorted(at for t, _, at in self._broker_lines(LAPSED) if t == term)
        need = len(self.brokers) // 2 + 1
        return times[-need] if len(times) >= need else None

    def data_dir(self, node_id):
        return os.path.join(self.dir, "node%d" % node_id)

    def results(self, node_id):
        """The finished matches node_id has stored: {match: (names, score)}."""
        path = os.path.join(self.data_dir(node_id), "results.db")
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        try:
            cols = [r[1] for r in db.execute("PRAGMA table_info(matches)")]
            rows = db.execute("SELECT * FROM matches").fetchall()
        finally:
            db.close()
        return {row[0]: dict(zip(cols, row)) for row in rows}

    def leadership(self):
        """Every span in which a node acted as leader, from the nodes' logs:
        (node, term, from_mono, lease_end_mono). A node that stopped says
        when its lease ended; for one that was killed, the brokers' lapse
        bounds it; None for the leader still going."""
        spans = self._leader_spans()
        return [(n, t, a, end if end is not None else self._lapse_bound(t))
                for n, t, a, end in spans]

    def _leader_spans(self):
        spans = []
        for node_id in self.nodes:
            text = self.log("node%d" % node_id)
            events = [(int(m.start()), "lead", m) for m in LEADS.finditer(text)]
            events += [(int(m.start()), "stop", m) for m in STOPS.finditer(text)]
            current = None
            for _, kind, m in sorted(events, key=lambda e: e[0]):
                if kind == "lead":
                    if current:
                        spans.append(current + (None,))
                    current = (node_id, int(m.group(2)), int(m.group(3)))
                elif current:
                    spans.append(current + (int(m.group(4)),))
                    current = None
            if current:
                spans.append(current + (None,))
        return spans

    def proc(self, label):
        """The last process started under label."""
        return [proc for lab, proc in self.procs if lab == label][-1]

    def kill(self, label, sig=signal.SIGKILL):
        proc = self.proc(label)
        proc.send_signal(sig)
        if sig == signal.SIGKILL:
            proc.wait(timeout=10)

    def wait_new_leader(self, old_leader, old_term, timeout=15):
        """Waits until rallyctl names a leader other than old_leader in a
        higher term; returns the status."""
        return self.wait_status(
            lambda st: st.get("leader") not in (None, old_leader)
            and st.get("term", 0) > old_term, timeout,
            "a new leader after node %s" % old_leader)

    def wait_synced(self, node_id, mark, timeout=15):
        """Waits until node_id logs that it loaded a snapshot (after mark
        characters of its log) and rallyctl shows it following the leader's
        term within a few ticks. A diff is applied only if the state after
        it hashes to the leader's hash, so a follower that keeps up holds
        the leader's state."""
        synced = re.compile(r"node %d synced to node \d+ by snapshot" % node_id)
        self.wait_log("node%d" % node_id, synced.search, timeout,
                      "node %d to load a snapshot" % node_id, start=mark)

        def following(st):
            leader = st.get("leader")
            me = [n for n in st.get("nodes", []) if n["id"] == node_id]
            return (leader not in (None, node_id) and me and me[0]["role"] == "follower"
                    and me[0]["term"] == st["term"] and me[0].get("lag", 0) <= 10)
        return self.wait_status(following, timeout,
                                "node %d following within 10 ticks" % node_id)

    def grants(self):
        """(term, node, mono) of every lease a broker granted, from its log."""
        return self._broker_lines(GRANTED)

    def start_bot(self, label, *args):
        proc = self._start(label, [os.path.join(BIN, "rally-bot"),
                                   "--config", self.config, *args],
                           stdout=subprocess.PIPE)
        bot = Bot(proc)
        self.bots.append(bot)
        return bot

    def start_group(self, label, argv):
        return self._start(label, argv, group=True)

    def status(self, timeout_ms=1000):
        """rallyctl status --json, or None if the cluster did not answer."""
        out = subprocess.run([os.path.join(BIN, "rallyctl"), "status", "--json",
                              "--config", self.config, "--timeout", str(timeout_ms)],
                             capture_output=True, timeout=timeout_ms / 1000 + 10)
        if out.returncode != 0:
            return None
        return json.loads(out.stdout)

    def poll(self, probe, timeout, what):
        """Calls probe() until it returns something other than None, and
        returns that; at most every 50 ms, so a quick "no" does not spin.
        Meanwhile it reads what the bots print: a bot blocked on a full
        pipe would stop playing, and look to the test like a stalled
        server."""
        deadline = time.monotonic() + timeout
        while True:
            asked = time.monotonic()
            for bot in self.bots:
                bot._drain()
            found = probe()
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise TestFailure("timed out after %.0f s waiting for %s" % (timeout, what))
            time.sleep(max(0, 0.05 - (time.monotonic() - asked)))

    def wait_log(self, label, predicate, timeout, what, start=0, proc=None):
        """Reads label's log from character start until predicate(text)
        holds; returns the text. Gives up early if proc, the process writing
        the log, exits."""
        def probe():
            text = self.log(label)[start:]
            if predicate(text):
                return text
            if proc is not None and proc.poll() is not None:
                raise TestFailure("%s exited with %d before %s"
                                  % (label, proc.returncode, what))
            return None
        return self.poll(probe, timeout, what)

    def wait_status(self, predicate, timeout, what):
        """Asks rallyctl until predicate(status) holds; returns that status."""
        def probe():
            st = self.status(timeout_ms=500)
            return st if st and predicate(st) else None
        return self.poll(probe, timeout, "rallyctl to report " + what)

    def wait_leader(self, timeout=15):
        return self.wait_status(lambda st: st.get("leader") is not None, timeout,
                                "a leader")

    def _wait_draining(self, proc, deadline):
        """Waits for proc to exit, reading and dropping what every process
        still writes to a pipe of ours: a bot blocked on a full stdout
        could not see its SIGTERM."""
        while proc.poll() is None:
            if time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(proc.args, 0)
            for _, other in self.procs:
                if other.stdout and not other.stdout.closed:
                    try:
                        os.read(other.stdout.fileno(), 1 << 20)
                    except (BlockingIOError, OSError):
                        pass
            time.sleep(0.02)

    def stop_all(self):
        """Stops every process; returns those that did not exit cleanly on
        SIGTERM (a crash, a sanitizer report, a hang), as 'label: why'."""
        unclean = []
        running = [(label, proc) for label, proc in self.procs if proc.poll() is None]
        for _, proc in self.procs:
            _signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for label, proc in self.procs:
            try:
                self._wait_draining(proc, deadline)
            except subprocess.TimeoutExpired:
                print("%s (pid %d) ignored SIGTERM; killing" % (label, proc.pid))
                unclean.append("%s: ignored SIGTERM" % label)
                _signal(proc, signal.SIGKILL)
                proc.wait()
            else:
                if (label, proc) in running and not proc.rally_group and proc.returncode != 0:
                    unclean.append("%s: exit status %d on SIGTERM" % (label, proc.returncode))
            if proc.rally_group:
                _signal(proc, signal.SIGKILL)   # what the leader left behind
            if proc.stdout:
                proc.stdout.close()
        return unclean


def _signal(proc, sig):
    try:
        if proc.rally_group:
            os.killpg(proc.pid, sig)
        elif proc.poll() is None:
            proc.send_signal(sig)
    except ProcessLookupError:
        pass


def check_monotonic(events, where):
    """No tick, score or phase a client saw ever goes backwards in a match.
    A match is a client's span from one match_start to the next (a node that
    restarts empty may hand out a match id again). Returns how many matches
    had ticks."""
    last = {}
    epoch = {}
    for e in events:
        if e.get("event") == "match_start":
            epoch[e["client"]] = epoch.get(e["client"], 0) + 1
        if e.get("event") != "tick":
            continue
        key = (e["client"], epoch.get(e["client"], 0), e["match"])
        prev = last.get(key)
        if prev:
            check(e["tick"] >= prev["tick"],
                  "%s: client %s match %s tick went back %d -> %d"
                  % (where, key[0], key[2], prev["tick"], e["tick"]))
            for i in (0, 1):
                check(e["score"][i] >= prev["score"][i],
                      "%s: score went back %s -> %s" % (where, prev["score"], e["score"]))
            check(not (prev["phase"] == "over" and e["phase"] != "over"),
                  "%s: phase left 'over' at tick %d" % (where, e["tick"]))
        last[key] = e
    return len(last)


def check_one_leader(cluster, where):
    """Invariant 1, from the logs: the spans in which nodes acted as leader
    (from taking a lease to the end of its last lease) never overlap, each
    term has one leader, and every lease a broker granted began after the
    previous leader's lease had ended by that leader's own clock. Returns
    the number of leaders in turn: terms led (a leader suspended and resumed
    leads one term in two spans)."""
    spans = sorted(cluster.leadership(), key=lambda s: s[2])
    #  A leader whose lease ran out and was renewed (suspended, then
    #  resumed) leads its term in two spans; no other node may lead it.
    leaders = {}
    for node, term, _, _ in spans:
        check(leaders.setdefault(term, node) == node,
              "%s: term %d was led by nodes %d and %d: %s"
              % (where, term, leaders[term], node, spans))
    for prev, nxt in zip(spans, spans[1:]):
        check(prev[3] is not None and prev[3] <= nxt[2],
              "%s: node %d led term %d from mono %d while node %d's lease of term %d "
              "ran to %s" % (where, nxt[0], nxt[1], nxt[2], prev[0], prev[1], prev[3]))
    ends = {s[1]: s[3] for s in spans}
    #  With one broker a grant is the leadership; with several, one broker's
    #  grant alone is not, and the spans above are the check.
    for term, node, at in cluster.grants() if len(cluster.brokers) == 1 else []:
        earlier = [t for t in ends if t < term and ends[t] is not None]
        if earlier:
            last = max(earlier)
            check(ends[last] <= at, "%s: term %d was granted to node %d at mono %d, "
                  "before term %d's lease ended (mono %d)"
                  % (where, term, node, at, last, ends[last]))
    return len(leaders)


def check_points_kept(events, where):
    """Invariant 3: every point a client saw scored is in the final score of
    its match."""
    final = {}
    for e in events:
        if e.get("event") == "match_end":
            final[(e["client"], e["match"])] = e["score"]
    for e in events:
        if e.get("event") != "point":
            continue
        end = final.get((e["client"], e["match"]))
        check(end is None or all(end[i] >= e["score"][i] for i in (0, 1)),
              "%s: client %s saw %s in match %s but it ended %s"
              % (where, e["client"], e["score"], e["match"], end))


def run(test, cluster_class=None, **cluster_args):
    """Runs test(cluster) and reports in CTest's terms; leaves logs on failure.
    cluster_args go to Cluster, or cluster_class (nodes, brokers, points)."""
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    cluster = (cluster_class or Cluster)(name, **cluster_args)
    try:
        test(cluster)
        unclean = cluster.stop_all()
        check(not unclean, "programs did not stop cleanly: %s" % "; ".join(unclean))
    except TestFailure as failure:
        print("FAIL: %s" % failure)
        cluster.stop_all()
        for label in dict.fromkeys(label for label, _ in cluster.procs):
            print("---- %s log (last 40 lines) ----" % label)
            print("\n".join(cluster.log(label).splitlines()[-40:]))
        print("logs kept in %s" % cluster.dir)
        sys.exit(1)
    finally:
        cluster.stop_all()
    shutil.rmtree(cluster.dir, ignore_errors=True)     # logs are kept on failure only
    print("PASS: %s" % name)
