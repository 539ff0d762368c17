"""A member that sends values out of range changes nothing, and is logged.

A key proves who sent a message, not that it is right. This test plays node
2 of the cluster file itself (pyzmq and msgpack, from schema/README.md),
speaking the protocol as a member would:

1. It asks the broker for a lease and gets term 1; then node 1 starts and
   follows it, and asks it for a snapshot. It answers with forged ones
   whose hashes are right: next match id 2^32-1 (the next match would
   wrap), then a player seated in a match that does not exist. Node 1 must
   refuse both before applying them, and say why.
2. It stops; node 1 is granted the next term and leads.
3. It heartbeats to the broker with terms 2^64-1, 2^63 and one a step too
   far: each is refused with `bad_term` and logged, and the broker's terms
   and leader do not move.
4. It publishes heartbeats and a diff with those terms on its heartbeat PUB,
   which node 1 subscribes to: node 1 logs them refused and leads on in
   the same term.
5. Two bots play two matches on node 1: their ids are 1 and 2, stored
   as such, and node 1 exits cleanly.
"""

import os
import struct
import time

import msgpack
import zmq

from rallytest import check, count, run

TERM_STEP = 65536           # RALLY_TERM_STEP, schema/rally_term.h
FNV_OFFSET = 0xcbf29ce484222325
FNV_PRIME = 0x100000001b3
MASK = (1 << 64) - 1


def fnv(h, data):
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & MASK
    return h


def mix(z):
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & MASK
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & MASK
    return z ^ (z >> 31)


def globals_hash(ticks, next_match, next_ticket):
    h = fnv(FNV_OFFSET, bytes([3]))
    h = fnv(h, struct.pack("<QIQ", ticks, next_match, next_ticket))
    return mix(h)


def player_hash(token, name, state, match, side, ticket):
    h = fnv(FNV_OFFSET, bytes([2]))
    raw = name.encode()
    h = fnv(h, token + bytes([len(raw)]) + raw)
    h = fnv(h, struct.pack("<IIiQ", state, match, side, ticket))
    return mix(h)


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def repl(kind, term, seq, next_match, players=(), base_hash=0):
    """A diff or snapshot from node 2 whose hash is right for what it says."""
    ticks, next_ticket = seq, 0
    h = globals_hash(ticks, next_match, next_ticket)
    for p in players:
        h = (h + player_hash(*p)) & MASK
    return pack({"v": 1, "type": kind, "term": term, "node": 2, "seq": seq,
                 "base_hash": base_hash, "hash": h, "ticks": ticks,
                 "next_match": next_match, "next_ticket": next_ticket,
                 "matches": [], "players": [list(p) for p in players],
                 "gone_matches": [], "gone_players": []})


FORGED = [
    ("next match id", repl("snapshot", 1, 100, 2 ** 32 - 1)),
    ("which is not here", repl("snapshot", 1, 100, 6,
                               [(b"\x07" * 16, "mallory", 1, 5, 0, 0)])),
]


class Member:
    """Node 2 of the cluster file, as a process speaking the protocol."""

    def __init__(self, cluster):
        ctx = zmq.Context.instance()
        eps = cluster.nodes[2]
        keys = cluster.member_keys("node2")     # a member: node 2's own key
        self.broker = ctx.socket(zmq.DEALER)
        self.broker.setsockopt(zmq.LINGER, 0)
        self.broker.curve_publickey, self.broker.curve_secretkey = keys
        self.broker.curve_serverkey = cluster.public_key("broker1")
        self.broker.connect(cluster.broker_peers[0])
        self.pub = ctx.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.curve_publickey, self.pub.curve_secretkey = keys
        self.pub.curve_server = True
        self.pub.bind(eps["heartbeat"])
        # Followers' syncs come to a node's peer ROUTER.
        self.game = ctx.socket(zmq.ROUTER)
        self.game.setsockopt(zmq.LINGER, 0)
        self.game.curve_publickey, self.game.curve_secretkey = keys
        self.game.curve_server = True
        self.game.bind(eps["peer"])
        self.eps = eps
        self.term, self.role, self.nonce = 0, 0, 0
        self.syncs = 0

    def close(self):
        for s in (self.broker, self.pub, self.game):
            s.close()

    def hb(self, term, want, role=None):
        self.nonce += 1
        return pack({"v": 1, "type": "node_hb", "term": term, "node": 2,
                     "role": self.role if role is None else role, "seq": 100,
                     "matches": 0, "players": 0, "game": self.eps["game"],
                     "state": self.eps["state"], "want": want,
                     "nonce": self.nonce, "lag": 0, "behind": 0})

    def beat(self):
        """One heartbeat as a node that leads its lease's term, or asks
        for term 1; takes the broker's answers."""
        want = self.term if self.role else 1
        frame = self.hb(self.term, want)
        self.broker.send(frame)
        self.pub.send_multipart([b"hb", frame])
        while self.broker.poll(0):
            reply = msgpack.unpackb(self.broker.recv(), raw=False)
            if reply.get("type") == "lease" and reply["holder"] == 2 and reply["ms"]:
                self.term, self.role = reply["lease_term"], 1

    def serve_syncs(self):
        """Answers each sync with the next forged snapshot, in turn."""
        while self.game.poll(0):
            route, body = self.game.recv_multipart()
            msg = msgpack.unpackb(body, raw=False)
            if msg.get("type") == "sync":
                self.game.send_multipart([route, FORGED[self.syncs % len(FORGED)][1]])
                self.syncs += 1

    def ask(self, frame):
        """Sends one frame to the broker as node 2; returns the answer."""
        while self.broker.poll(0):
            self.broker.recv()
        self.broker.send(frame)
        check(self.broker.poll(3000), "the broker did not answer a heartbeat")
        return msgpack.unpackb(self.broker.recv(), raw=False)


def lead_as_member(cluster, member):
    """The member asks for a lease and gets it, as any node of the file."""
    def probe():
        member.beat()
        return True if member.role else None
    cluster.poll(probe, 10, "the member to be granted a lease")
    check(member.term == 1, "the member was granted term %s" % member.term)


def test(cluster):
    cluster.start_broker()
    member = Member(cluster)
    try:
        lead_as_member(cluster, member)
        cluster.start_node(1, "--points-to-win", "3")
        for what, _ in FORGED:
            def refused(text, what=what):
                return "cannot load the snapshot" in text and what in text

            def probe(what=what):
                member.beat()
                member.serve_syncs()
                return True if refused(cluster.log("node1")) else None
            cluster.poll(probe, 15, "node 1 to refuse a snapshot (%s)" % what)

        # The member goes quiet; node 1 is granted the next term.
        st = cluster.wait_status(lambda s: s.get("leader") == 1, 15, "node 1 leading")
        term = st["term"]
        check(term == 2, "node 1 leads term %s, not 2" % term)

        # Terms the broker cannot believe: refused whole, logged.
        for bad in (2 ** 64 - 1, 2 ** 63, term + TERM_STEP + 1):
            for role, t, want in ((0, bad, bad), (1, bad, bad), (0, 1, bad)):
                reply = member.ask(member.hb(t, want, role))
                check(reply.get("type") == "error" and reply.get("code") == "bad_term",
                      "term %d want %d got %s, not bad_term" % (t, want, reply))
        cluster.wait_log("broker", lambda text: text.count("refused: term") >= 3, 5,
                         "the broker to log refused terms")
        st = cluster.status()
        check(st and st["leader"] == 1 and st["term"] == term
              and st["brokers"][0]["lease_term"] == term,
              "the broker moved: %s" % st)

        # The same terms on the member's heartbeat PUB, which node 1 hears.
        bads = [2 ** 64 - 1, 2 ** 63]
        frames = [[b"hb", member.hb(b, b, 1)] for b in bads]
        frames.append([b"diff", repl("diff", 2 ** 63, 5, 1)])

        def heard():
            for f in frames:
                member.pub.send_multipart(f)
            text = cluster.log("node1")
            done = all("a heartbeat of term %d refused" % b in text for b in bads)
            return True if done and "a diff of term %d refused" % 2 ** 63 in text else None
        cluster.poll(heard, 10, "node 1 to refuse the terms it heard")
        st = cluster.status()
        check(st and st["leader"] == 1 and st["term"] == term,
              "node 1 no longer leads term %d: %s" % (term, st))
        node1 = [n for n in st["nodes"] if n["id"] == 1]
        check(node1 and node1[0]["term"] == term, "node 1's term moved: %s" % st)
    finally:
        member.close()

    # Ids stay in range: the next matches are 1 and 2.
    bot = cluster.start_bot("bots", "--clients", "2", "--matches", "2")
    bot.wait_for(lambda ev: count(ev, "match_end") == 4, 60, "two matches")
    ids = sorted({e["match"] for e in bot.of("match_end")})
    check(ids == [1, 2], "matches were numbered %s" % ids)
    bot.proc.wait(timeout=10)
    check(bot.proc.returncode == 0, "bot exited with %d" % bot.proc.returncode)
    stored = cluster.results(1)
    check(sorted(stored) == [1, 2], "node 1 stored matches %s" % sorted(stored))


run(test, nodes=2)
