#!/usr/bin/python3
"""delayproxy - a TCP relay that delays, jitters, stalls and cuts links.

This machine's kernel has no netem, so delay cannot come from the network.
One delayproxy process relays any number of links, each a port it listens
on and a target it connects to for every connection it accepts. Each
direction of each connection is a queue: a chunk read at time t is written
at max(t + delay +- jitter, the previous chunk's time), so bytes never
reorder, as on TCP.

Loss is emulated as TCP shows it to the application: with probability
--loss a chunk is held one retransmission timeout (RTO, 200 ms, Linux's
minimum), and everything behind it on that direction waits with it (head
of line). Real loss, with the kernel's own retransmissions, comes from
iptables in a private network namespace (tests/faults.py); the two can be
combined.

A direction can be cut (its bytes are held, not dropped: a TCP stream that
lost bytes would be corrupt, while a real cut makes TCP retransmit until
the link heals) and healed, and every connection of a link can be reset
(closed at once, as a crashed peer's kernel would). Commands come one a
line on stdin:

    cut PORT up|down|both       hold bytes (up: towards the target)
    heal PORT                   release them, in order
    reset PORT                  close every connection of the link now
    set DELAY_MS JITTER_MS LOSS change the defaults of every link
    quit

It prints "ready PORT..." once it listens on every port, and "ok CMD"
after each command, on stdout. Standard library only; it stops on SIGTERM
or when stdin closes.

    delayproxy.py [--delay-ms D] [--jitter-ms J] [--loss P] [--seed S]
                  LISTEN_PORT:HOST:PORT ...
"""

import argparse
import asyncio
import random
import signal
import socket
import struct
import sys

RTO_S = 0.2                 # Linux's minimum retransmission timeout
CHUNK = 65536


class Settings:
    def __init__(self, delay_ms, jitter_ms, loss, seed):
        self.delay = delay_ms / 1000
        self.jitter = jitter_ms / 1000
        self.loss = loss
        self.rng = random.Random(seed)

    def latency(self):
        """One chunk's delay, and whether it was 'lost' once."""
        d = self.delay + self.rng.uniform(-self.jitter, self.jitter)
        lost = self.loss > 0 and self.rng.random() < self.loss
        return max(0.0, d) + (RTO_S if lost else 0.0)


class Direction:
    """One direction of one connection: a reader, a queue, a writer."""

    def __init__(self, link, reader, writer, name):
        self.link, self.reader, self.writer, self.name = link, reader, writer, name
        self.queue = asyncio.Queue()
        self.last = 0.0                 # release time of the last chunk

    async def pump_in(self):
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await self.reader.read(CHUNK)
                if not data:
                    break
                at = max(loop.time() + self.link.settings.latency(), self.last)
                self.last = at
                self.queue.put_nowait((at, data))
        except (ConnectionError, OSError):
            pass
        self.queue.put_nowait((None, None))

    async def pump_out(self):
        loop = asyncio.get_running_loop()
        try:
            while True:
                at, data = await self.queue.get()
                if data is None:
                    break
                wait = at - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                while self.name in self.link.cut:
                    await self.link.healed.wait()
                self.writer.write(data)
                await self.writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self.writer.close()


class Link:
    def __init__(self, port, host, target_port, settings):
        self.port, self.host, self.target_port = port, host, target_port
        self.settings = settings
        self.cut = set()                # "up", "down"
        self.healed = asyncio.Event()
        self.conns = []                 # (client writer, target writer)

    async def accept(self, c_reader, c_writer):
        try:
            t_reader, t_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            c_writer.close()            # target down: the client sees a reset
            return
        pair = (c_writer, t_writer)
        self.conns.append(pair)
        up = Direction(self, c_reader, t_writer, "up")
        down = Direction(self, t_reader, c_writer, "down")
        try:
            await asyncio.gather(up.pump_in(), up.pump_out(),
                                 down.pump_in(), down.pump_out())
        finally:
            if pair in self.conns:
                self.conns.remove(pair)

    def set_cut(self, which):
        """Waiters await the event current when they began; it is replaced
        only once set, so none waits on one that is never set."""
        self.cut = set(which)
        if not self.cut:
            self.healed.set()
        elif self.healed.is_set():
            self.healed = asyncio.Event()

    def reset(self):
        for c_writer, t_writer in list(self.conns):
            for w in (c_writer, t_writer):
                sock = w.get_extra_info("socket")
                try:
                    if sock is not None:
                        # SO_LINGER 0: close with a reset, as a dead peer
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        struct.pack("ii", 1, 0))
                except OSError:
                    pass
                w.close()
        self.conns.clear()


async def control(links, settings, stop):
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            break
        words = line.decode().split()
        if not words:
            continue
        cmd, args = words[0], words[1:]
        try:
            if cmd == "quit":
                break
            elif cmd == "set":
                settings.delay = float(args[0]) / 1000
                settings.jitter = float(args[1]) / 1000
                settings.loss = float(args[2])
            elif cmd in ("cut", "heal", "reset"):
                link = links[int(args[0])]
                if cmd == "cut":
                    link.set_cut({"both": ("up", "down")}.get(args[1], (args[1],)))
                elif cmd == "heal":
                    link.set_cut(())
                else:
                    link.reset()
            else:
                raise ValueError("unknown command")
            print("ok " + " ".join(words), flush=True)
        except (ValueError, IndexError, KeyError) as e:
            print("error %s: %s" % (" ".join(words), e), flush=True)
    stop.set()


async def main():
    ap = argparse.ArgumentParser(description="a TCP relay with delay, jitter, loss and cuts")
    ap.add_argument("--delay-ms", type=float, default=0)
    ap.add_argument("--jitter-ms", type=float, default=0)
    ap.add_argument("--loss", type=float, default=0, help="chance a chunk waits one RTO")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("links", nargs="+", help="LISTEN_PORT:HOST:PORT")
    args = ap.parse_args()
    settings = Settings(args.delay_ms, args.jitter_ms, args.loss, args.seed)
    links, servers = {}, []
    for spec in args.links:
        port, host, target = spec.split(":")
        link = Link(int(port), host, int(target), settings)
        link.healed.set()
        links[int(port)] = link
        servers.append(await asyncio.start_server(link.accept, "127.0.0.1", int(port),
                                                  reuse_address=True))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print("ready " + " ".join(str(p) for p in links), flush=True)
    # Held here: the loop keeps only a weak reference to a task, and a
    # control task collected while it waits for a line stops all commands.
    commands = asyncio.ensure_future(control(links, settings, stop))
    await stop.wait()
    commands.cancel()
    for s in servers:
        s.close()


if __name__ == "__main__":
    asyncio.run(main())
