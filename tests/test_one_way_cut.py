"""A one-way cut of the leader's stream, then the leader's crash, takes
back nothing a player saw.

Node 1 leads. Nodes 2 and 3 reach node 1's PUB (heartbeats and diffs)
through a small TCP proxy on loopback (their cluster file names the proxy
as node 1's heartbeat endpoint); everything else is direct. Two bots play
with --trace. Mid-match the proxy stops passing what node 1 sends (what
the followers send, their subscriptions and ZMTP pings, still passes): the
followers hear nothing of the leader, while the leader and the broker
still hear them. rallyctl must report their real lag (it said 0), and the
leader must not show ticks that no follower has (it used to, after 100 ms
without an ack). Node 3 is restarted, its link whole, while node 1 waits:
it gets its snapshot and acks, so players see further than node 2 has.
Then node 1 is killed: a follower leads from the last
tick it acked, and the match plays out. Every tick, score and phase each
player saw must only go forwards, every point seen must be kept, and both
players must agree on the winner.

The old code failed: with the cut, rallyctl showed both followers at lag
0, and (with that check skipped) the players saw ticks after the cut that
the next leader took back.
"""

import os
import re
import selectors
import socket
import threading

from rallytest import (BIN, check, check_monotonic, check_one_leader,
                       check_points_kept, count, free_ports, run)

POINTS = 3
STALL = re.compile(r"node 1: no follower acked seq (\d+) or later; the game waits")
ACKED = re.compile(r"node 3 acked seq (\d+); the game goes on")


class CutProxy(threading.Thread):
    """Forwards TCP connections from a port of its own to target_port;
    while cut, what comes back from the target is read and dropped."""

    def __init__(self, port, target_port):
        super().__init__(daemon=True)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(16)
        self.target_port = target_port
        self.cut = threading.Event()
        self.stopping = threading.Event()
        self.dropped = 0
        self.error = None

    def run(self):
        sel = selectors.DefaultSelector()
        sel.register(self.listener, selectors.EVENT_READ, None)
        try:
            while not self.stopping.is_set():
                for key, _ in sel.select(0.1):
                    if key.data is None:
                        self._accept(sel)
                    else:
                        self._pump(sel, key.fileobj, *key.data)
        except Exception as e:      # reported by the test
            self.error = e
        finally:
            for key in list(sel.get_map().values()):
                key.fileobj.close()
            sel.close()

    def _accept(self, sel):
        client, _ = self.listener.accept()
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
        except OSError:         # node 1 is gone: so is this connection
            client.close()
            return
        sel.register(client, selectors.EVENT_READ, (upstream, False))
        sel.register(upstream, selectors.EVENT_READ, (client, True))

    def _pump(self, sel, src, dst, from_target):
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        if not data:
            for s in (src, dst):
                try:
                    sel.unregister(s)
                except (KeyError, ValueError):
                    pass
                s.close()
            return
        if from_target and self.cut.is_set():
            self.dropped += len(data)
            return
        try:
            dst.sendall(data)
        except OSError:
            pass

    def stop(self):
        self.stopping.set()
        self.join(timeout=10)
        check(not self.is_alive(), "the proxy did not stop")


def start_node_with(cluster, node_id, config):
    label = "node%d" % node_id
    proc = cluster._start(label, [os.path.join(BIN, "rally-gamenode"), "--config", config,
                                  "--id", str(node_id), "--data", cluster.data_dir(node_id)])
    up = "node %d up as a follower" % node_id
    cluster.wait_log(label, lambda text: up in text, 15, "node %d to start" % node_id,
                     proc=proc)


def follower_lags(st):
    return {n["id"]: n.get("lag", 0) for n in st.get("nodes", []) if n["id"] != 1}


def test(cluster):
    real = cluster.nodes[1]["heartbeat"]
    target_port = int(real.rsplit(":", 1)[1])
    proxy_port = free_ports(1)[0]
    proxy = CutProxy(proxy_port, target_port)
    proxy.start()
    cut_config = os.path.join(cluster.dir, "cluster-cut.cfg")
    with open(cluster.config) as f:
        text = f.read()
    with open(cut_config, "w") as f:
        f.write(text.replace('"%s"' % real, '"tcp://127.0.0.1:%d"' % proxy_port))
    try:
        cluster.start_broker()
        cluster.start_node(1)
        cluster.wait_status(lambda s: s.get("leader") == 1, 15, "node 1 leading")
        for n in (2, 3):
            start_node_with(cluster, n, cut_config)
            cluster.wait_synced(n, 0)

        bots = cluster.start_bot("bots", "--clients", "2", "--matches", "1",
                                 "--trace", "--timeout", "120")
        bots.wait_for(lambda ev: count(ev, "point") >= 2, 60, "a point in the match")
        mark = len(cluster.log("node1"))
        proxy.cut.set()
        print("cut node 1's stream to nodes 2 and 3")
        st = cluster.wait_status(lambda s: len(follower_lags(s)) == 2
                                 and min(follower_lags(s).values()) >= 15, 15,
                                 "both followers' real lag (15 ticks or more)")
        print("rallyctl: follower lags %s" % follower_lags(st))
        cluster.wait_log("node1", STALL.search, 10, "node 1 to wait for an ack",
                         start=mark)
        # Node 3 comes back, its link to node 1 whole, while node 1 waits:
        # it gets its snapshot and acks, and node 1 shows that far. It is
        # then the most up to date, and must be electable at once (a node
        # just started used to ask for no term for 500 ms, and the broker
        # elected node 2, behind what players had seen: 143 -> 127).
        mark = len(cluster.log("node1"))
        cluster.kill("node3")
        start_node_with(cluster, 3, cluster.config)
        text = cluster.wait_log("node1", ACKED.search, 15, "node 3 to ack",
                                start=mark)
        print("node 3 restarted during the wait and acked seq %s"
              % ACKED.search(text).group(1))
        seen = {c: max([e["tick"] for e in bots.of("tick", c)] or [0]) for c in (0, 1)}
        print("players saw up to ticks %s when node 1 is killed" % seen)
        cluster.kill("node1")
        bots.wait_for(lambda ev: count(ev, "match_end") == 2, 90,
                      "the match to end on the next leader")
        check(proxy.dropped > 0, "the proxy dropped nothing")
    finally:
        proxy.stop()
    check(proxy.error is None, "the proxy failed: %r" % proxy.error)

    ends = bots.of("match_end")
    check(len({e["match"] for e in ends}) == 1 and ends[0]["score"] == ends[1]["score"]
          and ends[0]["winner"] == ends[1]["winner"] and max(ends[0]["score"]) == POINTS,
          "the players saw different ends: %s" % ends)
    check(check_monotonic(bots.events, "one_way_cut") == 2, "expected ticks from both")
    check_points_kept(bots.events, "one_way_cut")
    check_one_leader(cluster, "one_way_cut")
    gaps = [e["gap_ms"] for e in bots.of("reconnect")]
    print("reconnect gaps (ms): %s; winner %s" % (gaps, ends[0]["winner"]))


run(test, nodes=3, points=POINTS)
