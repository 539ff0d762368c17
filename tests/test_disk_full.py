"""A store that fails for want of space is tried again until it is in.

Three nodes; one follower keeps its data directory on a tmpfs of 2 MiB
(we mount it: root only, else the test is skipped). A file fills that
tmpfs before a match ends, so the follower's store fails (SQLITE_FULL):
it must log the match it could not store, keep following, and store it
once the file is gone, with no restart; the log says so, and every node
ends with the same row. The old code lost the match on that node for good.
"""

import os
import subprocess
import sys

from rallytest import (check, count, run)

COULD_NOT = "node %d could not store match %d"
AT_LAST = "node %d stored match %d at last"


def fill(path):
    """Writes to path until the file system is full; returns bytes written."""
    written = 0
    with open(path, "wb", buffering=0) as f:    # nothing left to flush at close
        try:
            while True:
                written += f.write(b"\0" * 65536)
        except OSError:
            pass
    return written


def test(cluster):
    # The follower is the node that will not lead: started last.
    victim = 3
    mount = cluster.data_dir(victim)
    os.makedirs(mount, exist_ok=True)
    kept = {}                   # what the harness put there (keys): kept
    for name in os.listdir(mount):
        with open(os.path.join(mount, name), "rb") as f:
            kept[name] = (f.read(), os.stat(os.path.join(mount, name)).st_mode)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mount]).returncode:
        print("SKIP: cannot mount a tmpfs")
        sys.exit(77)
    for name, (data, mode) in kept.items():
        with open(os.path.join(mount, name), "wb") as f:
            f.write(data)
        os.chmod(os.path.join(mount, name), mode & 0o7777)
    try:
        cluster.start_broker()
        for n in (1, 2):
            cluster.start_node(n)
        st = cluster.wait_status(lambda s: s.get("leader") in (1, 2), 15, "a leader")
        cluster.start_node(victim)
        cluster.wait_synced(victim, 0)
        filler = os.path.join(mount, "filler")
        size = fill(filler)
        print("filled node %d's tmpfs with %d bytes" % (victim, size))
        bots = cluster.start_bot("bots", "--clients", "2", "--matches", "1",
                                 "--timeout", "60")
        bots.wait_for(lambda ev: count(ev, "match_end") == 2, 60, "the match to end")
        match = bots.of("match_end")[0]["match"]
        cluster.wait_log("node%d" % victim, lambda t: COULD_NOT % (victim, match) in t,
                         10, "node %d to say it could not store match %d" % (victim, match))
        check(match not in cluster.results(victim), "the full node stored the match")
        os.unlink(filler)
        cluster.wait_log("node%d" % victim, lambda t: AT_LAST % (victim, match) in t,
                         10, "node %d to store match %d once there is room" % (victim, match))
        rows = [cluster.results(n).get(match) for n in sorted(cluster.nodes)]
        check(rows[0] and all(r == rows[0] for r in rows), "the nodes hold %s" % rows)
        check(cluster.proc("node%d" % victim).poll() is None, "node %d stopped" % victim)
        print("node %d stored match %d once there was room; leader was node %d"
              % (victim, match, st["leader"]))
        unclean = cluster.stop_all()
        check(not unclean, "programs did not stop cleanly: %s" % "; ".join(unclean))
    finally:
        cluster.stop_all()
        subprocess.run(["umount", "-l", mount])


if os.geteuid() != 0:
    print("SKIP: mounting a tmpfs needs root")
    sys.exit(77)
run(test, nodes=3, points=2)
