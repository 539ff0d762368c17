"""Hostile and malformed requests while a match is played.

An independent client (pyzmq and the msgpack package, not Rally's own codec)
sends the node and the broker garbage, hostile MessagePack headers, unknown
types and versions, bad names and forged tokens. Each must get an `error`
reply with a code and a reason, the node must log it, and the match in
progress must finish with every tick seen in order and none lost.
"""

import os

import msgpack
import zmq

from rallytest import check, check_monotonic, count, run

FORGED = bytes(range(16))

BAD_FRAMES = [
    ("empty frame", b""),
    ("not msgpack", b"\xc1\xc1\xc1"),
    ("hostile array header", b"\xdd\xff\xff\xff\xff"),
    ("hostile map header", b"\xdf\xff\xff\xff\xff"),
    ("hostile str header", b"\xdb\xff\xff\xff\xff"),
    ("random bytes", bytes((i * 37 + 11) % 256 for i in range(64))),
    ("not a map", msgpack.packb([1, 2, 3])),
    ("unknown type", msgpack.packb({"v": 1, "type": "teleport"})),
    ("wrong version", msgpack.packb({"v": 99, "type": "ping", "nonce": 1})),
    ("missing field", msgpack.packb({"v": 1, "type": "join"})),
    ("extra field", msgpack.packb({"v": 1, "type": "ping", "nonce": 1, "x": 2})),
    ("wrong type", msgpack.packb({"v": 1, "type": "ping", "nonce": "one"})),
    ("trailing bytes", msgpack.packb({"v": 1, "type": "ping", "nonce": 1}) + b"\x00"),
    ("bad name", msgpack.packb({"v": 1, "type": "join", "name": "bad\x01name"})),
    ("long name", msgpack.packb({"v": 1, "type": "join", "name": "x" * 40})),
    ("forged token", msgpack.packb({"v": 1, "type": "input", "token": FORGED, "intent": 1},
                                   use_bin_type=True)),
    ("intent out of range", msgpack.packb({"v": 1, "type": "input", "token": FORGED,
                                           "intent": 7}, use_bin_type=True)),
]


def ask(sock, frame):
    """Sends one frame; returns the decoded reply, or None after 2 s."""
    sock.send(frame)
    if not sock.poll(2000):
        return None
    return msgpack.unpackb(sock.recv(), raw=False)


def hammer(cluster, endpoint, server, where):
    ctx = zmq.Context.instance()
    sock = cluster.player_socket(ctx, zmq.DEALER, server)
    sock.connect(endpoint)
    try:
        for label, frame in BAD_FRAMES:
            reply = ask(sock, frame)
            check(reply is not None, "%s: no reply to %s" % (where, label))
            check(reply.get("type") == "error", "%s: %s got %s, not an error" % (where, label, reply))
            check(reply.get("code") and reply.get("reason"),
                  "%s: %s: error without code or reason: %s" % (where, label, reply))
        # A good request still works on the same connection afterwards.
        reply = ask(sock, msgpack.packb({"v": 1, "type": "ping", "nonce": 42}))
        check(reply and reply.get("type") == "pong" and reply.get("nonce") == 42,
              "%s: ping after the bad frames got %s" % (where, reply))
    finally:
        sock.close()


def test(cluster):
    cluster.start_broker()
    cluster.start_node(1, "--points-to-win", "3")
    cluster.wait_leader()
    bot = cluster.start_bot("bots", "--clients", "2", "--matches", "1",
                            "--skill", "0.6", "--trace", "--name", "fair")
    bot.wait_for(lambda ev: any(e["event"] == "match_start" for e in ev), 15, "match start")

    hammer(cluster, cluster.nodes[1]["game"], "node1", "node")
    hammer(cluster, cluster.broker, "broker1", "broker")

    bot.wait_for(lambda ev: count(ev, "match_end") == 2,
                 45, "the match to finish")
    ends = bot.of("match_end")
    check(ends[0]["score"] == ends[1]["score"], "clients disagree: %s" % ends)
    check_monotonic(bot.events, "bad_input")
    for client in (0, 1):
        ticks = [e["tick"] for e in bot.of("tick", client)]
        gaps = [(a, b) for a, b in zip(ticks, ticks[1:]) if b > a + 1]
        check(not gaps, "client %d lost ticks: %s" % (client, gaps[:5]))
    check(not any(e["event"] == "error" for e in bot.events),
          "a fair client got an error: %s" % bot.of("error"))

    bot.proc.wait(timeout=10)
    check(bot.proc.returncode == 0, "bot exited with %d" % bot.proc.returncode)

    node_log = cluster.log("node1")
    check(node_log.count("hostile") + node_log.count("bad") >= 5,
          "node logged too few bad-message lines")


run(test)
