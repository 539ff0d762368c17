"""A thousand junk joins from one source leave real players able to play.

The junk comes from 127.0.0.2 (a loopback address of its own, so that the
node sees one source that is not the bots'): a thousand connections, each
joining under a name of its own and pinging to stay heard, as an attacker
would to hold its seats. The node holds 66 players. Without a limit per
source the junk took every seat and a bot was told `full` and quit; with
it, the node takes 64 from that source and answers the rest `busy` with a
time to retry, and:

1. a rally-bot's two players join and play a match to the end;
2. another bot, told `full` while the node is full, retries when it is
   told to, and once seats come free (the first bot leaves, the junk
   goes), joins and plays its match too.

It prints the node's resident memory before the junk, with it, and after
it went: most of what the connections took must be back (the node kept
30 MB of it before it trimmed its heap). Its log must name refusals only
at a bounded rate.
"""

import os
import re
import resource
import subprocess
import time

import msgpack
import zmq

from rallytest import BIN, check, count, run

JUNK = 1000
MAX_PLAYERS = 66
PER_SOURCE = 64         # the default max_per_source


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def sanitized():
    """True if the node is built with AddressSanitizer (RALLY_SANITIZE)."""
    out = subprocess.run(["ldd", os.path.join(BIN, "rally-gamenode")],
                         capture_output=True, text=True)
    return "libasan" in out.stdout


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


class Junk:
    """JUNK connections from 127.0.0.2, each joining once."""

    def __init__(self, endpoint, server_key):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        self.ctx = zmq.Context()
        self.ctx.setsockopt(zmq.MAX_SOCKETS, JUNK + 64)
        port = endpoint.rsplit(":", 1)[1]
        self.socks = []
        key = zmq.curve_keypair()
        for i in range(JUNK):
            s = self.ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            # A player's CURVE: any key of its own, the node's public one.
            s.curve_publickey, s.curve_secretkey = key
            s.curve_serverkey = server_key
            s.connect("tcp://127.0.0.2:0;127.0.0.1:%s" % port)
            self.socks.append(s)
        self.answers = {}
        self.sent = {}
        for s in self.socks:
            self.join(s)
        self.poller = zmq.Poller()
        for s in self.socks:
            self.poller.register(s, zmq.POLLIN)

    def read(self, timeout_ms=50):
        for s, _ in self.poller.poll(timeout_ms):
            while s.poll(0):
                msg = msgpack.unpackb(s.recv(), raw=False)
                kind = msg.get("type")
                if kind == "error" and msg.get("code") == "not_leader":
                    # The node lost its lease under the flood, for a
                    # moment: ask again, as an attacker would.
                    self.join(s)
                elif kind == "error" and msg.get("code") == "name_taken":
                    # Joined, but the answer went with a lease lost before
                    # it was sent: the seat is held all the same.
                    self.answers.setdefault(s, {"type": "joined"})
                elif kind in ("joined", "busy", "error") and s not in self.answers:
                    self.answers[s] = msg

    def join(self, s):
        s.send(pack({"v": 1, "type": "join", "name": "junk%d" % self.socks.index(s)}))
        self.sent[s] = time.monotonic()

    def ask_again(self, after):
        """Joins again from each connection unanswered for after seconds."""
        now = time.monotonic()
        for s in self.socks:
            if s not in self.answers and now - self.sent[s] > after:
                self.join(s)

    def ping(self):
        for s in self.socks:
            s.send(pack({"v": 1, "type": "ping", "nonce": 1}))

    def close(self):
        for s in self.socks:
            s.close()
        self.ctx.term()


def test(cluster):
    cluster.start_broker()
    node = cluster.start_node(1, "--points-to-win", "3", "--max-players",
                              str(MAX_PLAYERS), "--grace-ms", "1000")
    cluster.wait_leader()
    before = rss_kb(node.pid)
    junk = Junk(cluster.nodes[1]["game"], cluster.public_key("node1"))
    try:
        pinged = [time.monotonic()]

        def answered():
            junk.read()
            if time.monotonic() - pinged[0] > 0.3:
                junk.ping()         # hold the seats taken so far
                junk.ask_again(3)
                pinged[0] = time.monotonic()
            return True if len(junk.answers) == JUNK else None
        cluster.poll(answered, 60, "an answer to every junk join")
        kinds = [m["type"] for m in junk.answers.values()]
        joined = kinds.count("joined")
        busy = [m for m in junk.answers.values() if m["type"] == "busy"]
        # On a loaded machine a junk player may go unheard past its grace
        # before the pings reach it, and its seat is given to the next:
        # what counts is how many the node held at once.
        dropped = len(re.findall(r"player junk\d+ dropped", cluster.log("node1")))
        check(joined >= PER_SOURCE and joined - dropped <= PER_SOURCE,
              "the node took %d junk players and dropped %d: it held more "
              "than %d" % (joined, dropped, PER_SOURCE))
        check(len(busy) == JUNK - joined and
              all(m["code"] == "busy" and 1 <= m["retry_ms"] <= 60000 for m in busy),
              "junk refusals: %s, e.g. %s" % ({k: kinds.count(k) for k in set(kinds)},
                                               [m for m in junk.answers.values()
                                                if m["type"] == "error"][:1]))
        with_junk = rss_kb(node.pid)

        def pinging(bot, predicate, timeout, what):
            """Waits on bot while the junk pings to keep its seats."""
            deadline = time.monotonic() + timeout
            while not predicate(bot.events):
                junk.ping()
                junk.read(0)
                left = deadline - time.monotonic()
                check(left > 0, "timed out waiting for " + what)
                t0 = time.monotonic()
                bot.wait_for(lambda ev: predicate(ev) or time.monotonic() - t0 > 0.3,
                             left, what)

        # A real player: two bot players join and start a match.
        bot = cluster.start_bot("bots", "--clients", "2", "--matches", "1")
        pinging(bot, lambda ev: count(ev, "match_start") == 2, 30, "the bots' match")

        # The node is full: another bot is told so, and waits.
        late = cluster.start_bot("late", "--clients", "2", "--matches", "1",
                                 "--name", "late")
        pinging(late, lambda ev: count(ev, "error") >= 2, 30, "the late bot refused")
        for e in late.of("error"):
            check(e["code"] == "full" and "joining again in" in e["reason"],
                  "the late bot was told %s" % e)
        check(late.proc.poll() is None, "the late bot quit when told full")

        pinging(bot, lambda ev: count(ev, "match_end") == 2, 60, "the bots' match to end")
        check(not bot.of("error"), "the bot was refused: %s" % bot.of("error"))
        bot.proc.wait(timeout=10)
        check(bot.proc.returncode == 0, "bot exited with %d" % bot.proc.returncode)
    finally:
        junk.close()

    # The bots left, and the junk goes (its seats come free after the grace
    # period): the late bot, retrying, gets in and plays.
    late.wait_for(lambda ev: count(ev, "match_end") == 2, 60, "the late bot's match")
    late.proc.wait(timeout=10)
    check(late.proc.returncode == 0, "late bot exited with %d" % late.proc.returncode)
    after = rss_kb(node.pid)
    print("node resident memory: %d KB before the junk, %d KB with %d junk "
          "connections (%.1f KB each), %d KB after they went"
          % (before, with_junk, JUNK, (with_junk - before) / JUNK, after))
    if sanitized():
        print("(under AddressSanitizer, whose allocator keeps what is freed: "
              "memory not checked)")
    else:
        check(after - before < (with_junk - before) / 4,
              "the node kept %d KB of the %d KB the junk connections took"
              % (after - before, with_junk - before))
    log = cluster.log("node1")
    refusals = log.count("refused join from")
    check(0 < refusals < 100, "the node logged %d refused joins, not a "
          "rate-limited few" % refusals)


run(test)
