"""The two planes, tried as a stranger would (issue 9).

A broker and two game nodes run with CURVE on every link. A client written
here from schema/README.md alone (pyzmq and msgpack, not Rally's code)
plays three parts:

- a stranger with a key of its own on the peer plane (a node's heartbeat
  PUB and peer ROUTER, the broker's peer ROUTER): it receives nothing, and
  nothing it sends (heartbeat with term 2^64-1, sync, ack, fetch, status)
  is acted on: the term, the leader and what the broker tells players stay
  as they were. A member's key on the same sockets does get answers: the
  control that shows the sockets were open to be tried.
- the same messages on the player plane, where any key may connect: each is
  refused with an error, and changes nothing.
- an impostor on the endpoints of node 3, a member that is not running,
  publishing heartbeats of a higher term as a leader, and diffs: the nodes
  connect there expecting node 3's key, so the handshake fails and nothing
  of it is followed.
- two players and a spy: the spy reads everything a player can (every state
  topic of both nodes, the broker's where, errors) while the players are in
  a match, and no session token is in any of it. Members do not hold the
  tokens either, only each one bound to its player's key (gamenode/node.c);
  a member reading the leader's diff stream finds those: the scan works.
- a thief with a player's token and a key of its own: its input, resume
  and leave are refused (unknown_token) and logged, and the player keeps
  its seat, which it resumes from a new connection with its own key.
"""

import hashlib

import time

import msgpack
import zmq
import zmq.utils.z85

from rallytest import check, run

U64_MAX = 2 ** 64 - 1


def bind(token, public_z85):
    """The lobby's form of a token: SHA-1 of it and the player's key."""
    return hashlib.sha1(token + zmq.utils.z85.decode(public_z85)).digest()[:16]


def pack(msg):
    return msgpack.packb(dict({"v": 1}, **msg), use_bin_type=True)


def unpack(frame):
    return msgpack.unpackb(frame, raw=False)


def collect(socks, seconds, enough=None, longest=15.0):
    """Every frame any of socks receives: {sock: [frames]}. For seconds,
    and, with enough (a predicate on what was got), on until it holds or
    longest seconds have passed: a loaded machine is slow to connect."""
    poller = zmq.Poller()
    for s in socks:
        poller.register(s, zmq.POLLIN)
    got = {s: [] for s in socks}
    start = time.monotonic()
    while True:
        now = time.monotonic()
        if now - start >= seconds and (enough is None or enough(got)
                                       or now - start >= longest):
            return got
        for s, _ in poller.poll(100):
            got[s] += s.recv_multipart()


def ask(sock, msg, timeout=5.0):
    """Sends msg on a DEALER; the decoded answer, or None."""
    sock.send(pack(msg))
    if not sock.poll(int(timeout * 1000)):
        return None
    return unpack(sock.recv())


class Player:
    """A player as schema/README.md describes one: where, then join on the
    leader's game ROUTER, with a key of its own."""

    def __init__(self, cluster, ctx, name):
        self.key = zmq.curve_keypair()
        broker = cluster.player_socket(ctx, zmq.DEALER, "broker1", self.key)
        broker.connect(cluster.broker)
        where = ask(broker, {"type": "where"})
        broker.close()
        check(where and where["type"] == "leader", "%s: where got %s" % (name, where))
        self.leader = where
        self.game = ctx.socket(zmq.DEALER)
        self.game.setsockopt(zmq.LINGER, 0)
        self.game.curve_publickey, self.game.curve_secretkey = self.key
        self.game.curve_serverkey = where["key"].encode()
        self.game.connect(where["game"])
        self.inbox = []
        joined = self.request({"type": "join", "name": name}, "joined")
        self.token = joined["token"]

    def request(self, msg, want, timeout=10.0):
        """Sends msg; returns the first answer of type want (or error)."""
        self.game.send(pack(msg))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.game.poll(100):
                reply = unpack(self.game.recv())
                self.inbox.append(reply)
                if reply["type"] in (want, "error"):
                    return reply
        check(False, "no %s in answer to %s" % (want, msg["type"]))


def stranger_on_peer_plane(cluster, ctx, st):
    leader, term = st["leader"], st["term"]
    other = [n for n in cluster.nodes if n != leader][0]
    stranger = zmq.curve_keypair()

    # The heartbeat PUB: a member's SUB hears heartbeats and diffs; the
    # stranger's hears nothing.
    subs = []
    for key in (stranger, cluster.member_keys("node%d" % other)):
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.curve_publickey, sub.curve_secretkey = key
        sub.curve_serverkey = cluster.public_key("node%d" % leader)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(cluster.nodes[leader]["heartbeat"])
        subs.append(sub)
    got = collect(subs, 1.5, lambda got: len(got[subs[1]]) >= 10)
    check(len(got[subs[1]]) >= 10, "a member heard only %d frames on node %d's heartbeat PUB"
          % (len(got[subs[1]]), leader))
    check(not got[subs[0]], "a stranger heard %d frames on node %d's heartbeat PUB"
          % (len(got[subs[0]]), leader))
    for sub in subs:
        sub.close()

    # The leader's peer ROUTER: the stranger's sync, ack, fetch and status
    # get nothing; an operator's status gets the matches.
    forged = [
        {"type": "sync", "term": term, "node": other, "seq": 0},
        {"type": "ack", "term": term, "node": other, "seq": U64_MAX},
        {"type": "fetch", "term": term, "node": other, "after": 0},
        {"type": "status"},
    ]
    peer = cluster.player_socket(ctx, zmq.DEALER, "node%d" % leader, stranger)
    peer.connect(cluster.nodes[leader]["peer"])
    for msg in forged:
        peer.send(pack(msg))
    got = collect([peer], 1.5)
    check(not got[peer], "a stranger got %d frames from node %d's peer ROUTER"
          % (len(got[peer]), leader))
    peer.close()
    op = cluster.player_socket(ctx, zmq.DEALER, "node%d" % leader, cluster.member_keys("operator"))
    op.connect(cluster.nodes[leader]["peer"])
    reply = ask(op, {"type": "status"})
    check(reply and reply["type"] == "matches", "the operator's status got %s" % reply)
    op.close()

    # The broker's peer ROUTER: a heartbeat of the highest term, claiming
    # the lead, from the stranger, gets no lease and changes nothing.
    hb = {"type": "node_hb", "term": U64_MAX, "node": leader, "role": 1, "seq": U64_MAX,
          "matches": 0, "players": 0, "game": "tcp://127.0.0.1:1",
          "state": "tcp://127.0.0.1:2", "want": U64_MAX, "nonce": 1, "lag": 0}
    peer = cluster.player_socket(ctx, zmq.DEALER, "broker1", stranger)
    peer.connect(cluster.broker_peers[0])
    for nonce in range(20):
        peer.send(pack(dict(hb, nonce=nonce)))
    got = collect([peer], 1.0)
    check(not got[peer], "a stranger got %d frames from the broker's peer ROUTER" % len(got[peer]))
    peer.close()
    return hb, forged


def player_plane_refuses(cluster, ctx, st, hb, forged):
    """The members' messages on the player endpoints, with any key: each is
    refused, none acted on."""
    leader = st["leader"]
    game = cluster.player_socket(ctx, zmq.DEALER, "node%d" % leader)
    game.connect(cluster.nodes[leader]["game"])
    for msg in forged + [hb]:
        reply = ask(game, msg)
        check(reply and reply["type"] == "error" and reply["code"] == "bad_message",
              "node %d's game ROUTER answered %s with %s" % (leader, msg["type"], reply))
    game.close()
    broker = cluster.player_socket(ctx, zmq.DEALER, "broker1")
    broker.connect(cluster.broker)
    for msg in (hb, {"type": "status"}):
        reply = ask(broker, msg)
        check(reply and reply["type"] == "error" and reply["code"] == "bad_message",
              "the broker's player ROUTER answered %s with %s" % (msg["type"], reply))
    broker.close()


def impostor(cluster, ctx, st):
    """Binds node 3's heartbeat and peer endpoints with a key of its own and
    publishes what a leader of a higher term would."""
    key = zmq.curve_keypair()
    eps = cluster.nodes[3]
    pub = ctx.socket(zmq.XPUB)
    router = ctx.socket(zmq.ROUTER)
    for sock in (pub, router):
        sock.setsockopt(zmq.LINGER, 0)
        sock.curve_publickey, sock.curve_secretkey = key
        sock.curve_server = True
    pub.bind(eps["heartbeat"])
    router.bind(eps["peer"])
    term = st["term"] + 1
    hb = {"type": "node_hb", "term": term, "node": 3, "role": 1, "seq": U64_MAX,
          "matches": 0, "players": 0, "game": "tcp://127.0.0.1:1",
          "state": "tcp://127.0.0.1:2", "want": term, "nonce": 1, "lag": 0}
    heard = []
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        pub.send_multipart([b"hb", pack(hb)])
        pub.send_multipart([b"diff", b"\x80"])
        for sock in (pub, router):
            while sock.poll(0):
                heard.append(sock.recv_multipart())
        time.sleep(0.05)
    pub.close()
    router.close()
    check(not heard, "the impostor on node 3's endpoints heard %s" % heard[:3])
    for node_id in (1, 2):
        log = cluster.log("node%d" % node_id)
        check("follows node 3" not in log,
              "node %d took the impostor for node 3:\n%s" % (node_id, log[-1500:]))


def nothing_changed(cluster, st):
    now = cluster.status()
    check(now and now["leader"] == st["leader"] and now["term"] == st["term"],
          "the cluster changed: was leader %s term %s, now %s"
          % (st["leader"], st["term"], now and (now["leader"], now["term"])))
    for n in now["nodes"]:
        check(n["game"] == cluster.nodes[n["id"]]["game"],
              "the broker tells players node %d is at %s" % (n["id"], n["game"]))


def no_token_where_players_read(cluster, ctx, st):
    leader = st["leader"]
    alice = Player(cluster, ctx, "alice")
    bob = Player(cluster, ctx, "bob")
    tokens = [alice.token, bob.token]
    check(len(set(tokens)) == 2 and all(len(t) == 16 for t in tokens),
          "tokens: %s" % tokens)
    bob.request({"type": "ping", "nonce": 1}, "match")

    # What a spy can read: every state topic of both nodes, where, errors.
    spy_key = zmq.curve_keypair()
    socks = []
    for node_id in cluster.nodes:
        sub = cluster.player_socket(ctx, zmq.SUB, "node%d" % node_id, spy_key)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(cluster.nodes[node_id]["state"])
        socks.append(sub)
    game = cluster.player_socket(ctx, zmq.DEALER, "node%d" % leader, spy_key)
    game.connect(cluster.nodes[leader]["game"])
    broker = cluster.player_socket(ctx, zmq.DEALER, "broker1", spy_key)
    broker.connect(cluster.broker)
    member = ctx.socket(zmq.SUB)
    member.setsockopt(zmq.LINGER, 0)
    other = [n for n in cluster.nodes if n != leader][0]
    member.curve_publickey, member.curve_secretkey = cluster.member_keys("node%d" % other)
    member.curve_serverkey = cluster.public_key("node%d" % leader)
    member.setsockopt(zmq.SUBSCRIBE, b"diff")
    member.connect(cluster.nodes[leader]["heartbeat"])
    time.sleep(0.3)     # subscriptions travel before anything is sent
    for msg in ({"type": "where"}, {"type": "ping", "nonce": 7}):
        broker.send(pack(msg))
    for msg in ({"type": "ping", "nonce": 8}, {"type": "status"},
                {"type": "resume", "token": b"\0" * 16},
                {"type": "join", "name": "alice"}, {"type": "sync", "term": 1, "node": 1, "seq": 0}):
        game.send(pack(msg))
    # The players keep their seats (a ping a second is enough) meanwhile.
    alice.game.send(pack({"type": "ping", "nonce": 2}))
    bob.game.send(pack({"type": "ping", "nonce": 3}))
    got = collect(socks + [game, broker, member], 2.0,
                  lambda got: sum(len(got[s]) for s in socks) > 20 and got[member])
    seen = b"".join(b"".join(f) for s, f in got.items() if s is not member)
    states = sum(len(got[s]) for s in socks) // 2     # [topic][body]
    check(states > 10, "the spy saw only %d state frames" % states)
    check(got[broker] and got[game], "the spy got no answers: %s %s" % (got[broker], got[game]))
    for t in tokens:
        check(t not in seen, "a token is in what a player can read")
    # Nor do the members hold them: the leader's diffs carry each token
    # bound to its player's key, which the scan does find.
    diffs = b"".join(got[member])
    for t in tokens:
        check(t not in diffs, "a token is in the leader's diffs")
    bound = [bind(p.token, p.key[0]) for p in (alice, bob)]
    check(any(b in diffs for b in bound),
          "no bound token in %d bytes of diffs: the scan would find nothing" % len(diffs))
    for s in socks + [game, broker, member]:
        s.close()
    return alice, bob


def stolen_token(cluster, ctx, st, alice):
    """Alice's token, from another key: refused, logged, and Alice keeps
    her seat, which she picks up again from a new connection."""
    leader = st["leader"]
    thief = cluster.player_socket(ctx, zmq.DEALER, "node%d" % leader)
    thief.connect(cluster.nodes[leader]["game"])
    for msg in ({"type": "input", "token": alice.token, "intent": 1},
                {"type": "resume", "token": alice.token},
                {"type": "leave", "token": alice.token}):
        reply = ask(thief, msg)
        check(reply and reply["type"] == "error" and reply["code"] == "unknown_token",
              "a stolen token's %s got %s" % (msg["type"], reply))
    thief.close()
    match = [m for m in alice.inbox if m["type"] == "match"]
    back = cluster.player_socket(ctx, zmq.DEALER, "node%d" % leader, alice.key)
    back.connect(cluster.nodes[leader]["game"])
    reply = ask(back, {"type": "resume", "token": alice.token})
    check(reply and reply["type"] == "joined" and reply["token"] == alice.token
          and reply["match"] != 0 and (not match or reply["match"] == match[0]["match"]),
          "alice's own resume got %s" % reply)
    back.close()
    log = cluster.log("node%d" % leader)
    check("unknown_token" in log, "the stolen token's requests were not logged")


def test(cluster):
    cluster.start_broker()
    cluster.start_node(1)
    cluster.start_node(2)       # node 3 is in the file, and never runs
    st = cluster.wait_leader()
    ctx = zmq.Context.instance()
    hb, forged = stranger_on_peer_plane(cluster, ctx, st)
    player_plane_refuses(cluster, ctx, st, hb, forged)
    nothing_changed(cluster, st)
    impostor(cluster, ctx, st)
    nothing_changed(cluster, st)
    alice, _ = no_token_where_players_read(cluster, ctx, st)
    stolen_token(cluster, ctx, st, alice)
    nothing_changed(cluster, st)
    log = cluster.log("node%d" % st["leader"]) + cluster.log("broker")
    check("refused" in log and "peer plane" in log,
          "no refusal logged on the peer plane:\n" + log[-2000:])


run(test, nodes=3)
