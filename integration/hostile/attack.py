#!/usr/bin/env python3
"""The combined attack of the hostile stage, against one running sluice.

`attack.py hold ...` opens, all at once, idle milter sessions, milter
senders of complete 5-byte packets at one byte a second, HTTP requests
stalled mid-body, zstd bombs and idle HTTP keep-alive connections, holds
them (a connection the daemon closes is opened again, a bounded number of
times), and meanwhile times normal messages sent by `attack.py probe` from
a separate process and samples the daemon's RSS and open files. It prints
one JSON object with what it saw.

`attack.py probe HOST:PORT` sends one normal message through the milter
and prints the milliseconds until its verdict (or `error: ...`).

Every loop is bounded in count and in time; everything is loopback.
"""
import argparse
import asyncio
import json
import os
import struct
import sys
import time

OPEN_CONCURRENCY = 256
CONNECT_TIMEOUT = 10.0
RECONNECTS = 5
RECONNECT_DELAY = 2.0


def frame(code, payload=b""):
    return struct.pack(">I", len(payload) + 1) + code.encode() + payload


OPTNEG = frame("O", struct.pack(">III", 6, 0x1FF, 0x1FFFFF))
ABORT = frame("A")
MESSAGE = b"".join(
    [
        frame("C", b"client.example\x004\x01\x02192.0.2.1\x00"),
        frame("H", b"helo.example\x00"),
        frame("D", b"Mi\x00PROBE1\x00"),
        frame("M", b"<alice@example.org>\x00"),
        frame("R", b"<bob@example.net>\x00"),
        frame("L", b"From\x00 Alice <alice@example.org>\x00"),
        frame("L", b"To\x00 bob@example.net\x00"),
        frame("L", b"Subject\x00 lunch tomorrow\x00"),
        frame("L", b"Message-ID\x00 <probe@example.org>\x00"),
        frame("N"),
        frame("B", b"Shall we meet at noon?\r\n"),
        frame("E"),
    ]
)
TERMINAL = set(b"artydc")


def hostport(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


async def read_frame(reader):
    head = await reader.readexactly(4)
    body = await reader.readexactly(struct.unpack(">I", head)[0])
    return body[0], body[1:]


class Tally:
    def __init__(self):
        self.n = {}
        self.held = {}

    def add(self, key, by=1):
        self.n[key] = self.n.get(key, 0) + by

    def hold(self, kind, by):
        self.held[kind] = self.held.get(kind, 0) + by
        self.n[kind + "_held_max"] = max(self.n.get(kind + "_held_max", 0), self.held[kind])


async def connect(addr, gate):
    async with gate:
        return await asyncio.wait_for(asyncio.open_connection(*addr), CONNECT_TIMEOUT)


async def held_until_closed(reader, deadline):
    """Reads (and drops) until the peer closes or the deadline; True if closed."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            data = await asyncio.wait_for(reader.read(65536), left)
        except asyncio.TimeoutError:
            return False
        except OSError:
            return True
        if not data:
            return True


async def one_client(kind, addr, gate, tally, deadline, open_and_hold):
    """Opens a connection and holds it; reopens it when the daemon closes it."""
    for _ in range(RECONNECTS + 1):
        if time.monotonic() >= deadline:
            return
        writer = None
        try:
            reader, writer = await connect(addr, gate)
            tally.add(kind + "_opened")
            tally.hold(kind, 1)
            try:
                closed = await open_and_hold(reader, writer, deadline)
            finally:
                tally.hold(kind, -1)
            if not closed:
                return
            tally.add(kind + "_closed_by_daemon")
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
            tally.add(kind + "_errors")
            tally.add(kind + "_error_" + type(e).__name__)
        finally:
            if writer is not None:
                writer.close()
        await asyncio.sleep(RECONNECT_DELAY)


async def idle_milter(reader, writer, deadline):
    writer.write(OPTNEG)
    await writer.drain()
    await asyncio.wait_for(read_frame(reader), CONNECT_TIMEOUT)
    return await held_until_closed(reader, deadline)


async def trickle_milter(reader, writer, deadline):
    writer.write(OPTNEG)
    await writer.drain()
    await asyncio.wait_for(read_frame(reader), CONNECT_TIMEOUT)
    while time.monotonic() < deadline:
        for b in ABORT:
            writer.write(bytes([b]))
            await writer.drain()
            if await held_until_closed(reader, min(deadline, time.monotonic() + 1.0)):
                return True
    return False


def stalled_body(reader, writer, deadline):
    head = b"POST /checkv2 HTTP/1.1\r\nHost: sluice\r\nContent-Length: 52428800\r\n\r\n"
    return send_and_hold(reader, writer, deadline, head + b"x" * (1 << 20))


def bomb(body):
    head = (
        b"POST /checkv2 HTTP/1.1\r\nHost: sluice\r\nCompression: zstd\r\n"
        b"Content-Encoding: zstd\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    return lambda r, w, d: send_and_hold(r, w, d, head + body)


def keepalive(reader, writer, deadline):
    return send_and_hold(reader, writer, deadline, b"GET /ping HTTP/1.1\r\nHost: sluice\r\n\r\n")


async def send_and_hold(reader, writer, deadline, data):
    writer.write(data)
    await writer.drain()
    return await held_until_closed(reader, deadline)


async def sample(pid, tally, deadline):
    """Peak RSS (kB) and open files of the daemon, twice a second."""
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/status") as f:
                rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
            fds = len(os.listdir(f"/proc/{pid}/fd"))
        except (OSError, StopIteration):
            tally.add("daemon_gone")
            return
        tally.n["rss_kb_max"] = max(tally.n.get("rss_kb_max", 0), rss)
        tally.n["fds_max"] = max(tally.n.get("fds_max", 0), fds)
        tally.n.setdefault("rss_kb_samples", []).append(rss)
        await asyncio.sleep(0.5)


async def probes(milter, count, every, tally, first_at):
    await asyncio.sleep(max(0.0, first_at - time.monotonic()))
    out = []
    for _ in range(count):
        p = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "probe", milter, stdout=asyncio.subprocess.PIPE
        )
        text, _ = await p.communicate()
        out.append(text.decode().strip())
        await asyncio.sleep(every)
    tally.n["probes"] = out


async def hold(args):
    milter, http = hostport(args.milter), hostport(args.http)
    with open(args.bomb, "rb") as f:
        bomb_body = f.read()
    tally = Tally()
    start = time.monotonic()
    deadline = start + args.duration
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)
    plan = [
        ("milter_idle", milter, idle_milter, args.idle),
        ("milter_trickle", milter, trickle_milter, args.trickle),
        ("http_stalled", http, stalled_body, args.stalled),
        ("http_bomb", http, bomb(bomb_body), args.bombs),
        ("http_keepalive", http, keepalive, args.keepalive),
    ]
    clients = []
    for kind, addr, fn, n in plan:
        clients += [one_client(kind, addr, gate, tally, deadline, fn) for _ in range(n)]
    # Probes start once every connection was opened once (the ramp), and
    # at the latest half-way through.
    tasks = [asyncio.ensure_future(c) for c in clients]
    sampler = asyncio.ensure_future(sample(args.pid, tally, deadline))
    ramp_end = start + args.duration / 2
    while time.monotonic() < ramp_end:
        opened = sum(tally.n.get(k + "_opened", 0) for k, *_ in plan)
        if opened >= len(clients):
            break
        await asyncio.sleep(0.5)
    tally.n["ramp_seconds"] = round(time.monotonic() - start, 1)
    tally.n["held_at_probe"] = dict(tally.held)
    every = max(0.5, (deadline - time.monotonic() - 2) / max(1, args.probes))
    await probes(args.milter, args.probes, every, tally, time.monotonic())
    await asyncio.gather(*tasks, return_exceptions=True)
    sampler.cancel()
    samples = tally.n.pop("rss_kb_samples", [])
    tally.n["rss_kb_last"] = samples[-1] if samples else 0
    print(json.dumps(tally.n, sort_keys=True))


async def probe(addr):
    start = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(*hostport(addr)), CONNECT_TIMEOUT
        )
        writer.write(OPTNEG)
        await writer.drain()
        await asyncio.wait_for(read_frame(reader), CONNECT_TIMEOUT)
        writer.write(MESSAGE)
        await writer.drain()
        while True:
            code, _ = await asyncio.wait_for(read_frame(reader), CONNECT_TIMEOUT)
            if code in TERMINAL:
                break
        ms = (time.monotonic() - start) * 1000
        writer.write(frame("Q"))
        writer.close()
        print(f"{ms:.1f} {chr(code)}")
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
        print(f"error: {type(e).__name__} {e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hold")
    h.add_argument("--milter", required=True)
    h.add_argument("--http", required=True)
    h.add_argument("--pid", type=int, required=True)
    h.add_argument("--bomb", required=True, help="file with a zstd body")
    h.add_argument("--duration", type=float, default=60)
    h.add_argument("--idle", type=int, default=10000)
    h.add_argument("--trickle", type=int, default=1000)
    h.add_argument("--stalled", type=int, default=20)
    h.add_argument("--bombs", type=int, default=20)
    h.add_argument("--keepalive", type=int, default=2000)
    h.add_argument("--probes", type=int, default=5)
    p = sub.add_parser("probe")
    p.add_argument("addr")
    args = ap.parse_args()
    if args.cmd == "probe":
        asyncio.run(probe(args.addr))
    else:
        asyncio.run(hold(args))


if __name__ == "__main__":
    main()
