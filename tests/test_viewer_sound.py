"""The viewer's sounds, heard. OpenAL Soft's wave writer stands in for a
sound card (ALSOFT_DRIVERS=wave, its file named in an ALSOFT_CONF file),
so what the viewer plays lands in a WAV file: a match played out with
--autoplay must leave sound in it (the hits, walls, points and the win or
loss, synthesised at start), the log must name each kind of cue, and the
same match with --mute must leave only silence. The machine has no sound
card: that the viewer then plays silently, without a word on stderr, is
checked by viewer_screens for every screen.
"""

import array
import os
import struct

from rallytest import BIN, check, run


def wav_peak(path):
    """The loudest sample of a WAV file, 0..1 (or 0..32767 for 16-bit)."""
    data = open(path, "rb").read()
    check(data[:4] == b"RIFF" and data[8:12] == b"WAVE", "%s is not a WAV file" % path)
    at, fmt, samples = 12, None, None
    while at + 8 <= len(data):
        cid, size = data[at:at + 4], struct.unpack("<I", data[at + 4:at + 8])[0]
        body = data[at + 8:at + 8 + size]
        if cid == b"fmt ":
            fmt = body
        elif cid == b"data":
            samples = body
            break
        at += 8 + size + (size & 1)
    check(fmt and samples is not None, "%s has no fmt or data" % path)
    tag, _, _, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
    kind = struct.unpack("<H", fmt[24:26])[0] if tag == 0xFFFE else tag
    a = array.array("f" if kind == 3 else "h" if bits == 16 else "i")
    a.frombytes(samples[:len(samples) // a.itemsize * a.itemsize])
    return max((abs(x) for x in a), default=0), len(a)


def play(cluster, label, *extra):
    wav = os.path.join(cluster.dir, label + ".wav")
    conf = os.path.join(cluster.dir, label + ".conf")
    with open(conf, "w") as f:
        f.write("[general]\ndrivers = wave\n[wave]\nfile = %s\n" % wav)
    shot = os.path.join(cluster.dir, label + ".png")
    viewer = cluster.start_group(label, [
        "env", "LIBGL_ALWAYS_SOFTWARE=1", "ASAN_OPTIONS=detect_leaks=0",
        "ALSOFT_DRIVERS=wave", "ALSOFT_CONF=" + conf,
        "xvfb-run", "-a", "-s", "-screen 0 1280x800x24",
        os.path.join(BIN, "rally-viewer"), "--config", cluster.config,
        "--name", label, "--autoplay", "--screenshot", shot, "--when", "end",
        "--timeout", "90", *extra])
    viewer.wait(timeout=120)
    check(viewer.returncode == 0, "%s: viewer exited with %d" % (label, viewer.returncode))
    check(os.path.exists(wav), "%s: OpenAL wrote no %s" % (label, wav))
    return wav


def test(cluster):
    cluster.start_broker()
    cluster.start_node(1)
    cluster.wait_leader()
    bot = cluster.start_bot("bot", "--clients", "1", "--matches", "0", "--skill", "0.6",
                            "--name", "robot")
    bot.wait_for(lambda ev: any(e["event"] == "queued" for e in ev), 15, "the bot to queue")

    wav = play(cluster, "loud")
    log = cluster.log("loud")
    check("sound: playing through" in log, "the viewer opened no device: %s" % log[-500:])
    for cue in ("hit", "point"):
        check("sound: %s\n" % cue in log, "no %s cue in the log" % cue)
    check("sound: win\n" in log or "sound: lose\n" in log, "no win or lose cue")
    peak, n = wav_peak(wav)
    print("loud: %d samples, peak %.3f" % (n, peak))
    check(peak > 0.05 if isinstance(peak, float) else peak > 1500,
          "the match left no sound in %s (peak %s)" % (wav, peak))

    wav = play(cluster, "muted", "--mute")
    check("sound: hit (muted)" in cluster.log("muted"), "muted cues are not logged as such")
    peak, n = wav_peak(wav)
    print("muted: %d samples, peak %s" % (n, peak))
    check(n > 0 and peak == 0, "--mute still made sound (peak %s)" % peak)


run(test, points=2)
