#!/usr/bin/env python3
"""Prints the fuzzy hashes an Rspamd fuzzy storage keeps in Redis.

Rspamd's Redis backend stores a hash as `PREFIX || digest` (64 raw bytes)
and each of a text's 32 shingles as `PREFIX_<index>_<value>` whose value is
the digest. One line per digest: hex digest, tab, the 32 shingles in order
(comma-separated) or nothing for a hash without shingles. A shingle key
names one digest, so where two digests share shingles (a text part and its
HTML twin) the keys of the last one written win: a digest left with some of
its keys gets a third column, `INDEX=VALUE` pairs of those.

Usage: redis_dump.py PORT [PREFIX]
"""
import re
import socket
import sys


def command(sock, reader, *args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    sock.sendall(out)
    return read_reply(reader)


def read_reply(reader):
    line = reader.readline()
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = reader.read(n + 2)
        return data[:-2]
    if kind == b"*":
        return [read_reply(reader) for _ in range(int(rest))]
    raise RuntimeError("bad reply %r" % line)


def main():
    port = int(sys.argv[1])
    prefix = (sys.argv[2] if len(sys.argv) > 2 else "fuzzy").encode()
    sock = socket.create_connection(("127.0.0.1", port))
    reader = sock.makefile("rb")
    keys = command(sock, reader, "KEYS", prefix + b"*")
    digests = {}
    shingle_re = re.compile(re.escape(prefix) + rb"_(\d+)_(\d+)$")
    for key in keys:
        m = shingle_re.match(key)
        if m:
            digest = command(sock, reader, "GET", key)
            if digest is not None:
                digests.setdefault(digest, {})[int(m.group(1))] = int(m.group(2))
        elif len(key) == len(prefix) + 64:
            digests.setdefault(key[len(prefix):], {})
    for digest, sh in sorted(digests.items()):
        if len(sh) == 32:
            print("%s\t%s" % (digest.hex(), ",".join(str(sh[i]) for i in range(32))))
        elif sh:
            partial = ",".join("%d=%d" % (i, v) for i, v in sorted(sh.items()))
            print("%s\t\t%s" % (digest.hex(), partial))
        else:
            print("%s\t" % digest.hex())


if __name__ == "__main__":
    main()
