#!/usr/bin/env python3
"""A counting TCP proxy in front of one redis-server, for bench/state-cost.sh.

Each daemon under test gets a listener of its own, so that what each one asks
Redis is counted apart even though both use the same server (INFO's counters
are per server, and Rspamd's controller also talks to Redis while it is idle).
Bytes are passed through unchanged; the client side is parsed as RESP
(arrays of bulk strings, or inline commands) to count:

  commands  every command, and per command name;
  batches   round trips: a read from the client that completes at least one
            command, i.e. a command or a pipeline written at once and then
            waited for (a read that completes a pipeline's rest counts again,
            which on loopback hardly happens).

  redis_count.py --upstream HOST:PORT --control PORT NAME=PORT...
  redis_count.py --stats PORT        # prints the counts as JSON
"""
import argparse
import asyncio
import collections
import json
import socket
import sys


class Tally:
    def __init__(self):
        self.commands = 0
        self.batches = 0
        self.connections = 0
        self.names = collections.Counter()

    def as_dict(self):
        return {
            "commands": self.commands,
            "batches": self.batches,
            "connections": self.connections,
            "by_command": dict(self.names),
        }


def parse(buf, start):
    """Complete commands in buf from start: (names, end of the last one)."""
    names = []
    pos = start
    n = len(buf)
    while pos < n:
        if buf[pos] != ord("*"):
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            words = bytes(buf[pos:eol]).split()
            if words:
                names.append(words[0].decode("latin-1").upper())
            pos = eol + 2
            continue
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            break
        count = int(buf[pos + 1 : eol])
        p = eol + 2
        first = None
        done = True
        for i in range(count):
            eol = buf.find(b"\r\n", p)
            if eol < 0 or buf[p] != ord("$"):
                done = False
                break
            size = int(buf[p + 1 : eol])
            end = eol + 2 + size + 2
            if end > n:
                done = False
                break
            if i == 0:
                first = bytes(buf[eol + 2 : eol + 2 + size]).decode("latin-1").upper()
            p = end
        if not done:
            break
        names.append(first or "")
        pos = p
    return names, pos


async def pipe_plain(reader, writer):
    try:
        while True:
            data = await reader.read(1 << 16)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def pipe_counted(reader, writer, tally):
    buf = bytearray()
    try:
        while True:
            data = await reader.read(1 << 16)
            if not data:
                break
            writer.write(data)
            buf += data
            names, end = parse(buf, 0)
            del buf[:end]
            if names:
                tally.batches += 1
                tally.commands += len(names)
                tally.names.update(names)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


def serve(upstream, tally):
    host, port = upstream

    async def client(reader, writer):
        tally.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.close()
            return
        for s in (writer, up_writer):
            sock = s.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(
            pipe_counted(reader, up_writer, tally), pipe_plain(up_reader, writer)
        )

    return client


async def main(args):
    host, port = args.upstream.rsplit(":", 1)
    tallies = {}
    servers = []
    for spec in args.listen:
        name, lport = spec.split("=", 1)
        tallies[name] = Tally()
        servers.append(
            await asyncio.start_server(serve((host, int(port)), tallies[name]), "127.0.0.1", int(lport))
        )

    async def control(reader, writer):
        writer.write(json.dumps({k: t.as_dict() for k, t in tallies.items()}).encode() + b"\n")
        await writer.drain()
        writer.close()

    servers.append(await asyncio.start_server(control, "127.0.0.1", args.control))
    await asyncio.gather(*(s.serve_forever() for s in servers))


def stats(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        data = b""
        while chunk := s.recv(1 << 16):
            data += chunk
    sys.stdout.write(data.decode())


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream")
    ap.add_argument("--control", type=int)
    ap.add_argument("--stats", type=int)
    ap.add_argument("listen", nargs="*", help="NAME=PORT")
    a = ap.parse_args()
    if a.stats:
        stats(a.stats)
    elif a.upstream and a.control and a.listen:
        asyncio.run(main(a))
    else:
        ap.error("--upstream, --control and NAME=PORT, or --stats PORT")
