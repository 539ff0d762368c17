"""A follower that is heard but never acks must not stall the game.

The leader shows a tick (publishes its states, answers its players) once a
follower has acked it, or at once when no follower is live. A follower whose
heartbeats arrive but whose acks do not (cut off one way, or stuck loading a
snapshot) is live, so before NODE_ACK_WAIT_MS every tick waited for it
forever and every player stalled. Now a tick waits at most 100 ms; then the
leader warns and shows ticks unacked until a follower catches up.

Node 1 runs for real. Node 2 is played from Python: an XPUB (a PUB that also
reports its subscribers) bound on node 2's heartbeat endpoint sends, every
50 ms, a node_hb saying node 2 follows node 1's term, and never acks. Two
bots then play a whole match: it must start, go on and end for both players
with no error, with the leader's warning in its log and no "bad heartbeat"
(the fake heartbeat is a valid node_hb, so node 1 really took it for a
follower). Last, the fake goes away and the real node 2 starts: node 1 logs
that it has caught up, and ticks wait for its acks again.
"""

import re
import threading
import time

import msgpack
import zmq

from rallytest import (check, check_monotonic, check_points_kept, count, run)

HB_PERIOD = 0.05        # the fake follower's heartbeat pacing, as a node's
POINTS = 3              # a short match, played out in full
PLAY_TICKS = 120        # ticks each player must see: 2 s of play at 60 Hz
WARNING = re.compile(r"node 1: no follower acked seq (\d+) within 100 ms; ticks are "
                     r"shown without waiting until one catches up")
CAUGHT_UP = re.compile(r"node 2 has caught up \(seq (\d+)\); ticks wait for a "
                       r"follower's ack again")


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
    leads = [int(t) for t in re.findall(r"node 1 leads term (\d+)", cluster.log("node1"))]
    check(leads and leads[-1] == term,
          "rallyctl says term %d, node 1's log says it leads %s" % (term, leads))
    print("%.2f s: node 1 leads term %d" % (since(), term))

    fake = FakeFollower(cluster.nodes[2], term, cluster.member_keys("node2"))
    fake.start()
    try:
        cluster.poll(lambda: True if fake.subscribed.is_set() or fake.error else None,
                     10, "node 1 to subscribe to the fake node 2's heartbeats")
        check(fake.error is None, "the fake follower failed: %r" % fake.error)
        # A few heartbeats on a live subscription: node 1 has heard node 2 as
        # a follower before any player arrives.
        cluster.poll(lambda: True if fake.sent_since_subscribed >= 3 else None,
                     5, "three fake heartbeats after node 1 subscribed")
        heard = since()
        print("%.2f s: node 1 hears the fake node 2" % heard)

        bots = cluster.start_bot("bots", "--clients", "2", "--matches", "1", "--trace")
        # Under the old rule nothing a tick decided reached a player (no
        # joined, no match_start, no state): this is where it stalled.
        bots.wait_for(lambda ev: count(ev, "match_start") == 2, 15,
                      "both players to start a match while node 2 is heard but never acks")
        bots.wait_for(lambda ev: all(sum(1 for e in ev if e.get("event") == "tick"
                                         and e["client"] == c) >= PLAY_TICKS
                                     for c in (0, 1)), 15,
                      "each player to see %d ticks of play" % PLAY_TICKS)
        print("%.2f s: both players have seen %d ticks" % (since(), PLAY_TICKS))

        cluster.wait_log("node1", WARNING.search, 5,
                         "node 1 to warn that no follower acked")
        bots.wait_for(lambda ev: count(ev, "match_end") == 2, 60,
                      "the match to end for both players")
        print("%.2f s: the match ended: %s" % (since(), bots.of("match_end")[0]["score"]))
        check(fake.is_alive() and fake.error is None,
              "the fake follower stopped during the match: %r" % fake.error)
    finally:
        fake.stop()

    log1 = cluster.log("node1")
    # The gate gives up once and stays open while no follower acks: one
    # warning for the whole match, not one a tick.
    warnings = WARNING.findall(log1)
    check(len(warnings) == 1, "node 1 warned %d times: seqs %s" % (len(warnings), warnings))
    check("bad heartbeat" not in log1 and "bad message from a peer" not in log1,
          "node 1 refused the fake heartbeats: %s"
          % [l for l in log1.splitlines() if "bad " in l][:3])

    # No player lost the match. The gate gave up waiting (100 ms) before the
    # players joined, and ticks are shown unacked from then on, so no
    # player should have heard a silence at all; a reconnect (a 150 ms
    # silence in play, a busy machine) resumes the same seat on node 1 and
    # loses nothing, so one per player is tolerated. Several, an error
    # (session_lost, match_lost) or a match that ends apart are the stall.
    check(not bots.of("error"), "players saw errors: %s" % bots.of("error"))
    ends = bots.of("match_end")
    check(len({e["match"] for e in ends}) == 1 and ends[0]["score"] == ends[1]["score"]
          and ends[0]["winner"] == ends[1]["winner"],
          "the players saw different ends: %s" % ends)
    check(max(ends[0]["score"]) == POINTS, "the match did not play out: %s" % ends[0])
    reconnects = bots.of("reconnect")
    for client in (0, 1):
        mine = bots.of("reconnect", client)
        check(len(mine) <= 1, "player %d reconnected %d times: %s" % (client, len(mine), mine))
    check(all(r["to_node"] == 1 for r in reconnects),
          "a player went elsewhere than node 1: %s" % reconnects)
    check(check_monotonic(bots.events, "silent_follower") == 2, "expected ticks from both")
    check_points_kept(bots.events, "silent_follower")
    bots.proc.wait(timeout=10)
    check(bots.proc.returncode == 0, "bots exited with %d" % bots.proc.returncode)
    ticks = [len(bots.of("tick", c)) for c in (0, 1)]
    print("%.2f s: ticks seen %s, reconnects %d" % (since(), ticks, len(reconnects)))

    # The fake is gone; the real node 2 binds its endpoint, loads a snapshot
    # and acks: node 1 waits for acks again.
    mark = len(cluster.log("node1"))
    cluster.start_node(2)
    caught = cluster.wait_log("node1", CAUGHT_UP.search, 15,
                              "node 1 to log that node 2 has caught up", start=mark)
    cluster.wait_synced(2, 0)
    print("%.2f s: node 2 has caught up at seq %s" % (since(), CAUGHT_UP.search(caught).group(1)))


run(test, nodes=2, points=POINTS)
