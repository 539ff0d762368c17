"""A connection refused for want of descriptors is logged, and the node
plays on.

ZeroMQ drops a connection it cannot accept without a word to the program,
so a node out of descriptors looked healthy while no one could join. The
node runs here under a hard limit of 64 descriptors (prlimit), which it
cannot raise; a client opens 200 connections to its game endpoint. The
node must say, rate-limited, that connections were refused and why; once
they close, a bot's two players join and play a match.
"""

import os
import time

import zmq

from rallytest import BIN, check, count, run

CONNECTIONS = 200


def test(cluster):
    cluster.start_broker()
    label = "node1"
    proc = cluster._start(label, [
        "prlimit", "--nofile=64:64", os.path.join(BIN, "rally-gamenode"),
        "--config", cluster.config, "--id", "1", "--points-to-win", "3",
        "--data", cluster.data_dir(1)])
    cluster.wait_log(label, lambda text: "node 1 up as a follower" in text, 15,
                     "node 1 to start", proc=proc)
    check("descriptor limit 64" in cluster.log(label),
          "the node does not say its descriptor limit")
    cluster.wait_leader()

    ctx = zmq.Context()
    ctx.setsockopt(zmq.MAX_SOCKETS, CONNECTIONS + 16)
    socks = []
    try:
        for _ in range(CONNECTIONS):
            s = cluster.player_socket(ctx, zmq.DEALER, "node1")    # as a player
            s.connect(cluster.nodes[1]["game"])
            socks.append(s)
        cluster.wait_log(label, lambda t: "was refused: Too many open files" in t,
                         20, "the node to log refused connections", proc=proc)
        # ZeroMQ redials each every 100 ms: far more than the 10 lines a
        # second the node lets through, and it says how many it held back.
        cluster.wait_log(label, lambda t: "more warnings held back" in t, 20,
                         "the node to hold back a flood of lines", proc=proc)
    finally:
        for s in socks:
            s.close()
        ctx.term()

    bot = cluster.start_bot("bots", "--clients", "2", "--matches", "1")
    bot.wait_for(lambda ev: count(ev, "match_end") == 2, 60, "the bots' match")
    bot.proc.wait(timeout=10)
    check(bot.proc.returncode == 0, "bot exited with %d" % bot.proc.returncode)


run(test)
