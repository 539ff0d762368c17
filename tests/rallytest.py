"""Shared harness for Rally's integration tests: real processes on loopback.

Every process a test starts is recorded by pid and ended in stop_all(), which
the tests call from a finally block. Waiting is always on an event with a
deadline (a line from a bot or a log, an answer from rallyctl), never a fixed
sleep. Servers bind port * and the harness reads the ports they got from
their logs, so tests never guess a free port and can run side by side.
"""

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("RALLY_BIN", os.path.join(os.getcwd(), "bin"))
LISTENING = re.compile(r"rally-broker: listening on (tcp://\S+:\d+)")


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


class Cluster:
    """Starts broker, nodes and bots on free loopback ports; stops them all."""

    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix="rally-%s-" % name)
        self.procs = []
        self.broker = None
        self.nodes = {}

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
        with open(os.path.join(self.dir, label + ".log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def _log_size(self, label):
        path = os.path.join(self.dir, label + ".log")
        return len(self.log(label)) if os.path.exists(path) else 0

    def start_broker(self, *extra):
        """Starts the broker on a port it picks itself, and learns it."""
        proc = self._start("broker", [os.path.join(BIN, "rally-broker"),
                                      "--broker", "tcp://127.0.0.1:*", *extra])
        text = self.wait_log("broker", LISTENING.search, 15, "the broker to listen",
                             proc=proc)
        self.broker = LISTENING.search(text).group(1)
        return proc

    def start_node(self, node_id=1, *extra):
        """Starts node node_id on ports it picks itself, and learns them; a
        node that ran before (a restart) gets its old ports again."""
        eps = self.nodes.get(node_id) or dict.fromkeys(
            ("heartbeat", "game", "state"), "tcp://127.0.0.1:*")
        label = "node%d" % node_id
        mark = self._log_size(label)
        proc = self._start(label, [
            os.path.join(BIN, "rally-gamenode"), "--id", str(node_id),
            "--broker", self.broker, "--heartbeat", eps["heartbeat"],
            "--game", eps["game"], "--state", eps["state"], *extra])
        leads = re.compile(r"node %d leads term \d+; game (\S+), state (\S+), "
                           r"heartbeat (\S+)" % node_id)
        text = self.wait_log(label, leads.search, 15, "node %d to start" % node_id,
                             start=mark, proc=proc)
        game, state, heartbeat = leads.search(text).groups()
        self.nodes[node_id] = {"game": game, "state": state, "heartbeat": heartbeat}
        return proc

    def start_bot(self, label, *args):
        proc = self._start(label, [os.path.join(BIN, "rally-bot"),
                                   "--broker", self.broker, *args],
                           stdout=subprocess.PIPE)
        return Bot(proc)

    def start_group(self, label, argv):
        return self._start(label, argv, group=True)

    def status(self, timeout_ms=1000):
        """rallyctl status --json, or None if the cluster did not answer."""
        out = subprocess.run([os.path.join(BIN, "rallyctl"), "status", "--json",
                              "--broker", self.broker, "--timeout", str(timeout_ms)],
                             capture_output=True, timeout=timeout_ms / 1000 + 10)
        if out.returncode != 0:
            return None
        return json.loads(out.stdout)

    def _poll(self, probe, timeout, what):
        """Calls probe() until it returns something other than None, and
        returns that; at most every 50 ms, so a quick "no" does not spin."""
        deadline = time.monotonic() + timeout
        while True:
            asked = time.monotonic()
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
        return self._poll(probe, timeout, what)

    def wait_status(self, predicate, timeout, what):
        """Asks rallyctl until predicate(status) holds; returns that status."""
        def probe():
            st = self.status(timeout_ms=500)
            return st if st and predicate(st) else None
        return self._poll(probe, timeout, "rallyctl to report " + what)

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


def run(test):
    """Runs test(cluster) and reports in CTest's terms; leaves logs on failure."""
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    cluster = Cluster(name)
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
    print("PASS: %s" % name)
