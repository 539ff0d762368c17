"""Every program answers its command line the same way: --help on stdout
with exit 0; a bad flag, value, endpoint or cluster file said on stderr
with exit 2, before anything starts.
"""

import os
import subprocess

from rallytest import BIN, check, run

PROGRAMS = ["rally-broker", "rally-gamenode", "rally-bot", "rallyctl", "rally-viewer"]
COMMAND = {"rallyctl": ["status"]}     # what a program needs before its flags


def call(program, *args):
    return subprocess.run([os.path.join(BIN, program), *args], capture_output=True,
                          text=True, timeout=20, stdin=subprocess.DEVNULL,
                          env=dict(os.environ, DISPLAY=""))


def refused(program, args, words):
    out = call(program, *args)
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
    refused("rallyctl", ["frobnicate"], ["unknown command"])
    refused("rallyctl", [], ["no command"])

    # A well-formed command with nobody to answer is not a usage error.
    out = call("rallyctl", "status", "--broker", "tcp://127.0.0.1:9", "--timeout", "200")
    check(out.returncode == 1 and "no answer" in out.stderr,
          "rallyctl with no broker: exit %d, %s" % (out.returncode, out.stderr.strip()))


run(test)
