"""A follower that is heard but never acks stalls what players see.

The leader shows a tick (publishes its states, answers its players) once a
follower has acked it, or at once when no follower is live. A follower whose
heartbeats arrive but whose acks do not (cut off one way, or stuck loading a
snapshot) is live: the brokers could elect it, with a state older than the
leader's, so a tick it has not acked must not be shown. For a while the
leader showed ticks unacked after 100 ms, and a one-way cut followed by a
leader crash took back what players had seen (one_way_cut shows that end to
end). Now the game stalls instead, for as long as such a follower is heard.

Node 1 runs for real. Node 2 is played from Python: an XPUB (a PUB that also
reports its subscribers) bound on node 2's heartbeat endpoint sends, every
50 ms, a node_hb saying node 2 follows node 1's term, and never acks. Two
bots join: the leader takes them, but it has run as many ticks as it may
ahead of its followers' acks and waits (it says so), and no player hears
anything (no joined, no match, no tick) while node 1's seq stands still.
A real node 3 then starts: node 1, waiting, must still send it a snapshot,
and once node 3 acks, the game goes on and the match plays out with
nothing going back. Last, the fake goes and the real node 2 starts,
syncs and acks.
"""

import re
import threading
import time

import msgpack
import zmq

from rallytest import (check, check_monotonic, check_points_kept, count, run)

HB_PERIOD = 0.05        # the fake follower's heartbeat pacing, as a node's
POINTS = 3              # a short match, played out in full
STALL = re.compile(r"node 1: no follower acked seq (\d+) or later; the game waits "
                   r"until one does")
OBSERVE = 20            # rallyctl answers over which nothing may move
ACKED = re.compile(r"node 3 acked seq (\d+); the game goes on")


class FakeFollower(threading.Thread):
    """Node 2 as node 1 hears it: heartbeats as a follower of term, no acks.
    The socket lives in this thread only; pacing is by deadline, waiting on
    the socket for node 1's subscriptions in between."""

    def __init__(self, endpoints, term, keys):
        super().__init__(daemon=True)
        self.endpoints = endpoints
        self.keys = keys            # node 2's own: it is a member
        self.term = term
        self.stopping = threading.Event()
        self.subscribed = threading.Event()     # node 1's SUB asked for "hb"
        self.sent_since_subscribed = 0
        self.error = None

    def heartbeat(self, nonce):
        # schema/README.md, node_hb: v, type, then every field, all required.
        return msgpack.packb({
            "v": 1, "type": "node_hb",
            "term": self.term, "node": 2,
            "role": 0,                  # follower
            "seq": 0,                   # never applied a tick: it never acks
            "matches": 0, "players": 0,
            "game": self.endpoints["game"], "state": self.endpoints["state"],
            "want": 0,                  # asks the broker nothing (it has none)
            "nonce": nonce,
            "lag": 0,
            "behind": 0,
        }, use_bin_type=True)

    def run(self):
        ctx = zmq.Context()
        try:
            sock = ctx.socket(zmq.XPUB)
            sock.setsockopt(zmq.LINGER, 0)
            sock.curve_publickey, sock.curve_secretkey = self.keys
            sock.curve_server = True
            sock.bind(self.endpoints["heartbeat"])
            nonce = 0
            due = time.monotonic()
            while not self.stopping.is_set():
                left = due - time.monotonic()
                if left > 0:
                    if sock.poll(int(left * 1000) + 1, zmq.POLLIN):
                        if sock.recv() == b"\x01hb":
                            self.subscribed.set()
                    continue
                nonce += 1
                sock.send_multipart([b"hb", self.heartbeat(nonce)])
                if self.subscribed.is_set():
                    self.sent_since_subscribed += 1
                due += HB_PERIOD
            sock.close()
        except Exception as e:     # reported by the test, not lost in the thread
            self.error = e
        finally:
            ctx.term()             # the port is free again once this returns

    def stop(self):
        self.stopping.set()
        self.join(timeout=10)
        check(not self.is_alive(), "the fake follower did not stop")
        check(self.error is None, "the fake follower failed: %r" % self.error)


def test(cluster):
    t0 = time.monotonic()

    def since():
        return time.monotonic() - t0

    cluster.start_broker()
    cluster.start_node(1)
    st = cluster.wait_status(lambda st: st.get("leader") == 1, 15, "node 1 leading")
    term = st["term"]
    print("%.2f s: node 1 leads term %d" % (since(), term))

    fake = FakeFollower(cluster.nodes[2], term, cluster.member_keys("node2"))
    fake.start()
    try:
        cluster.poll(lambda: True if fake.subscribed.is_set() or fake.error else None,
                     10, "node 1 to subscribe to the fake node 2's heartbeats")
        check(fake.error is None, "the fake follower failed: %r" % fake.error)
        cluster.poll(lambda: True if fake.sent_since_subscribed >= 3 else None,
                     5, "three fake heartbeats after node 1 subscribed")
        print("%.2f s: node 1 hears the fake node 2" % since())

        mark = len(cluster.log("node1"))
        bots = cluster.start_bot("bots", "--clients", "2", "--matches", "1", "--trace")
        cluster.wait_log("node1", lambda t: "player bot-0 joined" in t
                         and "player bot-1 joined" in t, 15,
                         "node 1 to take both players", start=mark)
        cluster.wait_log("node1", STALL.search, 5, "node 1 to say it waits")
        # Node 1 has run NODE_PENDING ticks that no follower acked, and
        # waits; over the next answers of rallyctl it must not tick on, and
        # no player may hear anything (old code: ticks shown after 100 ms).
        seqs = []
        for _ in range(OBSERVE):
            st = cluster.status(timeout_ms=500) or {}
            seqs += [n["seq"] for n in st.get("nodes", []) if n["id"] == 1]
        check(len(seqs) >= OBSERVE // 2 and len(set(seqs)) == 1,
              "node 1 ticked on while no follower acked: seqs %s" % sorted(set(seqs)))
        for bot in cluster.bots:
            bot._drain()
        shown = [e for e in bots.events
                 if e.get("event") in ("joined", "match_start", "tick", "point")]
        check(not shown, "players saw what no follower had acked: %s" % shown[:3])
        print("%.2f s: node 1 waits at seq %d, players see nothing" % (since(), seqs[0]))

        # A real follower joins while node 1 waits: it must get its snapshot
        # (sent after a tick, and a leader that ran no tick while it waited
        # never sent one: nobody could ever ack again), ack, and the game
        # goes on for the players, the fake still heard.
        mark = len(cluster.log("node1"))
        cluster.start_node(3)
        text = cluster.wait_log("node1", ACKED.search, 15,
                                "node 1 to hear node 3 ack", start=mark)
        bots.wait_for(lambda ev: count(ev, "match_start") == 2, 15,
                      "the players' match to start once node 3 acks")
        print("%.2f s: node 3 acked seq %s; the match started"
              % (since(), ACKED.search(text).group(1)))
        check(fake.is_alive() and fake.error is None,
              "the fake follower stopped: %r" % fake.error)
    finally:
        fake.stop()

    bots.wait_for(lambda ev: count(ev, "match_end") == 2, 60,
                  "the match to end for both players")
    print("%.2f s: the match ended: %s" % (since(), bots.of("match_end")[0]["score"]))
    log1 = cluster.log("node1")
    check("bad heartbeat" not in log1 and "bad message from a peer" not in log1,
          "node 1 refused the fake heartbeats: %s"
          % [l for l in log1.splitlines() if "bad " in l][:3])
    ends = bots.of("match_end")
    check(len({e["match"] for e in ends}) == 1 and ends[0]["score"] == ends[1]["score"]
          and ends[0]["winner"] == ends[1]["winner"],
          "the players saw different ends: %s" % ends)
    check(max(ends[0]["score"]) == POINTS, "the match did not play out: %s" % ends[0])
    check(check_monotonic(bots.events, "silent_follower") == 2, "expected ticks from both")
    check_points_kept(bots.events, "silent_follower")
    bots.proc.wait(timeout=10)
    check(bots.proc.returncode == 0, "bots exited with %d" % bots.proc.returncode)

    # The real node 2 binds the fake's endpoint, loads a snapshot and acks.
    cluster.start_node(2)
    cluster.wait_synced(2, 0)
    print("%.2f s: node 2 follows" % since())


run(test, nodes=3, points=POINTS)
