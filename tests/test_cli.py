"""Every program answers its command line the same way: --help on stdout
with exit 0; a bad flag, value, endpoint or cluster file said on stderr
with exit 2, before anything starts. Then what the command line and the
environment set in running programs: the node's id and the endpoints it
advertises, RALLY_CONFIG, and rallyctl health against live and dead ends.
"""

import json
import os
import shutil
import subprocess

import msgpack
import zmq
import zmq.auth

from rallytest import BIN, TestFailure, check, run

PROGRAMS = ["rally-broker", "rally-gamenode", "rally-bot", "rallyctl", "rally-viewer"]
COMMAND = {"rallyctl": ["status"]}     # what a program needs before its flags


def call(program, *args, env=None):
    """Runs program to its end; env adds to (or, with None, unsets in) ours."""
    full = dict(os.environ, DISPLAY="")
    for key, value in (env or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    try:
        return subprocess.run([os.path.join(BIN, program), *args], capture_output=True,
                              text=True, timeout=20, stdin=subprocess.DEVNULL, env=full)
    except subprocess.TimeoutExpired:
        # A command line that should be refused started a server instead.
        raise TestFailure("%s %s did not exit" % (program, " ".join(args)))


def refused(program, args, words, env=None):
    out = call(program, *args, env=env)
    check(out.returncode == 2, "%s %s: exit %d, not 2 (stderr: %s)"
          % (program, " ".join(args), out.returncode, out.stderr.strip()))
    for word in words + ["try --help"]:
        check(word in out.stderr, "%s %s: stderr lacks %r: %s"
              % (program, " ".join(args), word, out.stderr.strip()))


def test(cluster):
    for program in PROGRAMS:
        out = call(program, "--help")
        check(out.returncode == 0 and "usage" in out.stdout,
              "%s --help: exit %d, stdout %r" % (program, out.returncode, out.stdout[:80]))
        command = COMMAND.get(program, [])
        refused(program, command + ["--bogus"], ["unknown flag '--bogus'"])
        refused(program, command + ["--config", "/nonexistent/rally.cfg"],
                ["/nonexistent/rally.cfg"])
        refused(program, command + ["--broker", "localhost:5600"],
                ["--broker: 'localhost:5600' is not a tcp://"])
        refused(program, command + ["--broker", "tcp://127.0.0.1:99999"],
                ["the port must be 1..65535"])
        refused(program, command + ["--config"], ["--config needs a value"])

    refused("rally-gamenode", ["--tick-hz", "1000"], ["--tick-hz must be 10..240"])
    refused("rally-gamenode", ["--game", "tcp://256.0.0.1:5602"], ["--game:", "bad host"])
    refused("rally-gamenode", ["--points-to-win=0"], ["--points-to-win must be 1..99"])
    refused("rally-bot", ["--skill", "2"], ["--skill must be 0..1"])
    refused("rally-bot", ["--name", "bad\x01name"], ["bad name"])
    refused("rally-viewer", ["--timeout", "5"], ["--timeout needs --screenshot"])
    refused("rally-viewer", ["--when", "end"], ["--when needs --screenshot"])
    refused("rally-viewer", ["--screenshot", "x.png", "--when", "lobby"],
            ["no screen is called 'lobby'"])
    refused("rally-viewer", ["--watch", "--autoplay"], ["a spectator has no paddle"])
    refused("rally-viewer", ["--watch", "--name", "ann"], ["a spectator does not play"])
    refused("rally-viewer", ["--width", "200"], ["--width must be 320..16384"])
    refused("rally-viewer", ["--height", "100"], ["--height must be 240..16384"])
    refused("rallyctl", ["leaderboard", "--player", " ann"], ["--player ' ann'"])
    refused("rallyctl", ["status", "--player", "ann"], ["--player: only for results"])
    refused("rallyctl", ["frobnicate"], ["unknown command"])
    refused("rallyctl", [], ["no command"])

    # A well-formed command with nobody to answer is not a usage error.
    out = call("rallyctl", "status", "--broker", "tcp://127.0.0.1:9", "--timeout", "200",
               "--insecure-plaintext")
    check(out.returncode == 1 and "no answer" in out.stderr,
          "rallyctl with no broker: exit %d, %s" % (out.returncode, out.stderr.strip()))

    bad_files(cluster)
    refused_from_environment(cluster)
    advertised_endpoints(cluster)
    health(cluster)


def bad_files(cluster):
    """Cluster files that are not regular, too large, or inconsistent, and
    endpoints a program cannot bind: refused at once, with the reason."""
    fifo = os.path.join(cluster.dir, "fifo.cfg")
    os.mkfifo(fifo)
    big = os.path.join(cluster.dir, "big.cfg")
    with open(big, "w") as f:
        f.write("rally\n" + "    timing\n" * 40000)
    for program in PROGRAMS:
        command = COMMAND.get(program, [])
        refused(program, command + ["--config", fifo], ["not a regular file (a FIFO)"])
        refused(program, command + ["--config", cluster.dir], ["a directory"])
        refused(program, command + ["--config", big], ["larger than 65536 bytes"])
        refused(program, command, ["lease_ms 60 is too short for heartbeat_ms 50"],
                env={"RALLY_LEASE_MS": "60"})
    short = os.path.join(cluster.dir, "short.cfg")
    with open(short, "w") as f:
        f.write('rally\n    broker = "%s"\n    timing\n        liveness_ms = 100\n'
                % cluster.broker)
    refused("rally-broker", ["--config", short],
            [short, "liveness_ms 100 is shorter than lease_ms 200"])
    refused("rally-gamenode", ["--config", cluster.config, "--id", "9"],
            ["node 9 is not in %s (it lists 1, 2)" % cluster.config])
    refused("rally-gamenode", ["--config", cluster.config, "--id", "1", "--heartbeat-ms", "150"],
            ["lease_ms 200 is too short for heartbeat_ms 150"])
    refused("rally-gamenode", ["--game", "tcp://node1:5602"],
            ["tcp://node1:5602 names a host"])
    refused("rally-broker", ["--broker", "tcp://broker:5600"],
            ["tcp://broker:5600 names a host"])


def refused_from_environment(cluster):
    """A bad RALLY_ID or advertised endpoint is refused like a bad flag, and
    says which variable or flag (with no --id, the variable is the id). The
    cluster file keeps a node that wrongly starts off the default ports."""
    cfg = ["--config", cluster.config]
    for bad in ("0", "256", "x"):
        refused("rally-gamenode", cfg, ["RALLY_ID", "'%s'" % bad], env={"RALLY_ID": bad})
    refused("rally-gamenode", cfg + ["--advertise-game", "localhost:1"],
            ["--advertise-game: 'localhost:1' is not a tcp://"])
    refused("rally-gamenode", cfg + ["--advertise-state", "tcp://127.0.0.1:0"],
            ["--advertise-state:"])
    refused("rally-gamenode", cfg, ["RALLY_ADVERTISE_GAME:"],
            env={"RALLY_ADVERTISE_GAME": "tcp://127.0.0.1:99999"})
    refused("rally-gamenode", cfg, ["RALLY_ADVERTISE_STATE:"],
            env={"RALLY_ADVERTISE_STATE": "udp://127.0.0.1:1"})
    # A member without its key, or with a key that is not a member's,
    # does not start, and says what to run.
    for program, extra in (("rally-gamenode", ["--id", "1"]), ("rally-broker", [])):
        refused(program, cfg + extra + ["--key", os.path.join(cluster.dir, "none.cert")],
                ["no secret key", "rallyctl keys"])
    _, stranger = zmq.auth.create_certificates(cluster.dir, "stranger")
    refused("rally-gamenode", cfg + ["--id", "1", "--key", stranger[:-len("_secret")]],
            ["is not one of the members'"])
    # Each flag belongs to one command.
    refused("rallyctl", ["health", "--json"], ["--json: only for status"])
    refused("rallyctl", ["status", "--node", "1"], ["--node: only for health"])


def start_node_env(cluster, node_id, env, *args):
    """Starts a node of the cluster file with variables set (through env(1),
    which execs it, so the pid stopped is the node's) and no --id unless in
    args; waits until node node_id is up."""
    label = "node%d" % node_id
    proc = cluster._start(label, ["env", *("%s=%s" % kv for kv in env.items()),
                                  os.path.join(BIN, "rally-gamenode"),
                                  "--config", cluster.config,
                                  "--data", cluster.data_dir(node_id), *args])
    up = "node %d up as a follower" % node_id
    return cluster.wait_log(label, lambda text: up in text, 15,
                            "node %d to start" % node_id, proc=proc)


FAKE_GAME = "tcp://127.0.0.1:1"       # valid, and not where the node listens
FAKE_STATE = "tcp://127.0.0.1:2"


def advertised_endpoints(cluster):
    """Node 2 gets its id from RALLY_ID and tells players FAKE_GAME (from the
    environment); node 1 has --id and --advertise-state, which win over the
    variables. The brokers relay what the nodes tell, yet both serve on the
    endpoints of the cluster file."""
    cluster.start_broker()
    log = start_node_env(cluster, 2, {"RALLY_ID": "2", "RALLY_ADVERTISE_GAME": FAKE_GAME})
    check("node 2 tells players game %s, state %s" % (FAKE_GAME, cluster.nodes[2]["state"])
          in log, "node 2 does not say what it tells players:\n" + log)
    log = start_node_env(cluster, 1, {"RALLY_ID": "2", "RALLY_ADVERTISE_STATE": "tcp://127.0.0.1:3"},
                         "--id", "1", "--advertise-state", FAKE_STATE)
    check("node 1 tells players game %s, state %s" % (cluster.nodes[1]["game"], FAKE_STATE)
          in log, "node 1 does not say what it tells players:\n" + log)

    told = {1: (cluster.nodes[1]["game"], FAKE_STATE), 2: (FAKE_GAME, cluster.nodes[2]["state"])}
    shown = lambda st: {n["id"]: (n["game"], n["state"]) for n in st.get("nodes", [])}
    st = cluster.wait_status(lambda st: st.get("leader") and len(shown(st)) == 2, 15,
                             "a leader and both nodes")
    check(shown(st) == told, "rallyctl shows %s, not %s" % (shown(st), told))

    # What a player asking the broker is told: the leader's advertised pair.
    # and the leader's public key, from the broker's own key directory.
    reply = ask_broker(cluster, {"v": 1, "type": "where"})
    check(reply and reply.get("type") == "leader"
          and (reply["game"], reply["state"]) == told.get(reply.get("node")),
          "the broker told a player %s; the nodes tell %s" % (reply, told))
    check(reply["key"].encode() == cluster.public_key("node%d" % reply["node"]),
          "the broker's where names node %d with key %r, not its own"
          % (reply["node"], reply["key"]))

    # The advertised endpoints are not bound: the real ones answer.
    for node_id in (1, 2):
        out = call("rallyctl", "health", "--node", str(node_id), "--config", cluster.config)
        check(out.returncode == 0
              and out.stdout == "node %s: answers\n" % cluster.nodes[node_id]["peer"],
              "health --node %d: exit %d, %r %r" % (node_id, out.returncode, out.stdout,
                                                    out.stderr))


def ask_broker(cluster, request):
    sock = cluster.player_socket(zmq.Context.instance(), zmq.DEALER, "broker1")
    sock.connect(cluster.broker)
    try:
        sock.send(msgpack.packb(request))
        return msgpack.unpackb(sock.recv(), raw=False) if sock.poll(2000) else None
    finally:
        sock.close()


def health(cluster):
    """rallyctl health: exit 0 only when every broker asked answers; one line
    for each. The cluster's broker and node run (advertised_endpoints)."""
    out = call("rallyctl", "health", "--config", cluster.config)
    check(out.returncode == 0 and out.stdout == "broker %s: answers\n" % cluster.broker,
          "health: exit %d, %r %r" % (out.returncode, out.stdout, out.stderr))

    # One dead broker of two fails the check; the live one still says so.
    # The file comes from RALLY_CONFIG, as in a container.
    # Its keys: the cluster's, and any for the dead ones (never checked).
    dead = "tcp://127.0.0.1:9"
    mixed = os.path.join(cluster.dir, "mixed.cfg")
    keys = os.path.join(cluster.dir, "mixed-keys")
    shutil.copytree(cluster.keys, keys)
    shutil.copy(os.path.join(keys, "broker1.cert"), os.path.join(keys, "broker2.cert"))
    shutil.copy(os.path.join(keys, "node1.cert"), os.path.join(keys, "node5.cert"))
    with open(mixed, "w") as f:
        f.write('rally\n    keys = "mixed-keys"\n')
        f.write('    broker = "%s"\n        peer = "%s"\n    broker = "%s"\n'
                % (cluster.broker, cluster.broker_peers[0], dead))
        f.write('    node\n        id = 5\n        heartbeat = "%s"\n'
                '        game = "%s"\n        state = "%s"\n        peer = "%s"\n'
                % (dead, dead, dead, dead))
    out = call("rallyctl", "health", "--timeout", "300", env={"RALLY_CONFIG": mixed})
    check(out.returncode == 1 and out.stdout.splitlines() == [
              "broker %s: answers" % cluster.broker,
              "broker %s: no answer within 300 ms" % dead],
          "health, one broker dead: exit %d, %r %r" % (out.returncode, out.stdout, out.stderr))

    # A node that does not answer, and one the file does not list.
    out = call("rallyctl", "health", "--node", "5", "--config", mixed, "--timeout", "300")
    check(out.returncode == 1 and out.stdout == "node %s: no answer within 300 ms\n" % dead,
          "health --node 5 (dead): exit %d, %r %r" % (out.returncode, out.stdout, out.stderr))
    out = call("rallyctl", "health", "--node", "7", "--config", mixed)
    check(out.returncode == 1 and "node 7 is not in the cluster file" in out.stderr,
          "health --node 7: exit %d, %r" % (out.returncode, out.stderr))


run(test, nodes=2)
