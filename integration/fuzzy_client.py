#!/usr/bin/env python3
"""Plain fuzzy datagrams for integration/fuzzy_store.sh.

  fuzzy_client.py hostile PORT          hostile datagrams to one storage
  fuzzy_client.py shared PORT_A PORT_B  adds on one storage, checks on the other

Prints one line per case: NAME and what came back (`none`, or
`value=V flag=F prob=P len=N`). Commands are built here from the layout in
proto/src/fuzzy/command.rs, independently of sluice's encoder.
"""
import os
import socket
import struct
import sys

MODE = sys.argv[1]
PORT = int(sys.argv[2])


def ask(data, src="127.0.0.1", timeout=0.5, port=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.settimeout(timeout)
    s.sendto(data, ("127.0.0.1", port or PORT))
    try:
        reply = s.recv(4096)
    except socket.timeout:
        return "none"
    finally:
        s.close()
    if len(reply) < 16:
        return "short"
    value, flag, tag, prob = struct.unpack("<iIIf", reply[:16])
    return "value=%d flag=%d prob=%.2f len=%d" % (value, flag, prob, len(reply))


def cmd(op, digest, flag=1, value=10, tag=77, version=4, shingles=None):
    count = 32 if shingles else 0
    head = struct.pack("<BBBBiI", version, op, count, flag, value, tag) + digest
    return head + (struct.pack("<32Q", *shingles) if shingles else b"")


def shared(port_a, port_b):
    """A hash added on A is found on B (and one added on B on A), also by
    its shingles under another digest: both storages read one Redis."""
    import time
    shingles = [int.from_bytes(os.urandom(8), "little") for _ in range(32)]
    x, y, z = os.urandom(64), os.urandom(64), os.urandom(64)
    print("add_on_a", ask(cmd(1, x, flag=2, value=7, shingles=shingles), port=port_a))
    print("check_on_b", ask(cmd(0, x, flag=0, value=0), port=port_b))
    print("shingles_on_b", ask(cmd(0, z, flag=0, value=0, shingles=shingles), port=port_b))
    print("add_on_b", ask(cmd(1, y, flag=3, value=5), port=port_b))
    # Rspamd's storage applies adds at its next sync.
    for _ in range(20):
        got = ask(cmd(0, y, flag=0, value=0), port=port_a)
        if "value=5" in got:
            break
        time.sleep(0.5)
    print("check_on_a", got)


if MODE == "shared":
    shared(PORT, int(sys.argv[3]))
    sys.exit(0)


digest = os.urandom(64)
cases = [
    ("truncated", lambda: ask(cmd(0, digest)[:40])),
    ("oversized", lambda: ask(cmd(0, digest) + b"4\x7f\x00\x00\x01" * 300)),
    ("wrong_version", lambda: ask(cmd(0, digest, version=9))),
    ("bad_extension", lambda: ask(cmd(0, digest) + b"x")),
    ("bad_encryption", lambda: ask(b"rsfe" + os.urandom(80 + 76))),
    ("garbage", lambda: ask(os.urandom(500))),
    ("update_not_allowed", lambda: ask(cmd(1, digest), src="127.0.0.2")),
    ("check_after", lambda: ask(cmd(0, digest))),
    ("stat", lambda: ask(cmd(3, bytes(64), flag=0, value=0))),
]
for name, run in cases:
    print(name, run())
