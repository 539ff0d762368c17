"""--insecure-plaintext: a whole cluster without CURVE still plays, and
every line each program logs says it runs so.

A broker, a node and two bots, each with --insecure-plaintext; the bots
play one match. Then every log line of the broker and the node carries
INSECURE-PLAINTEXT, and each said once why that is unsafe.
"""

from rallytest import check, count, run

FLAG = "--insecure-plaintext"


def test(cluster):
    cluster.start_broker(0, FLAG)
    cluster.start_node(1, FLAG)
    bots = cluster.start_bot("bots", FLAG, "--clients", "2", "--matches", "1")
    bots.wait_for(lambda ev: count(ev, "match_end") == 2, 60, "the match to end")
    bots.proc.wait(timeout=10)
    check(bots.proc.returncode == 0, "bots exited with %d" % bots.proc.returncode)
    for label in ("broker", "node1"):
        lines = [l for l in cluster.log(label).splitlines() if l.strip()]
        check(lines, "%s logged nothing" % label)
        unmarked = [l for l in lines if "INSECURE-PLAINTEXT" not in l]
        check(not unmarked, "%s logged lines that do not say so: %s" % (label, unmarked[:3]))
        check("anyone who reaches a port can read and forge" in cluster.log(label),
              "%s did not say why plain text is unsafe" % label)


run(test, points=1)
