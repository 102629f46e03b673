"""A network namespace whose only way out is a trap: proof that no query
leaves loopback.

The lists stage runs inside a fresh network namespace (`unshare --net`, see
integration/lists.sh): loopback is up, and the default IPv4 and IPv6 routes
point at a TUN device this module holds open. Whatever any process of the
stage sends to an address that is not on loopback (a DNS query to a public
resolver, a map fetched over HTTP) is routed into the TUN device and read
here, instead of failing silently with "network unreachable". The stage
fails if the trap caught a single UDP or TCP packet; `self_test` first sends
one to prove the trap catches it.
"""

import fcntl
import ipaddress
import os
import select
import socket
import struct
import subprocess
import threading
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
DEVICE = "trap0"
# Routed into the trap: every address but loopback (documentation ranges as
# the trap's own addresses: nothing here is a real network).
TRAP_V4 = "192.0.2.254/32"
TRAP_V6 = "2001:db8:ffff::1/128"
PROBE = ("198.51.100.53", 53)


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def in_fresh_netns():
    """True in a namespace with loopback as its only interface (a fresh one)."""
    out = subprocess.run(["ip", "-o", "link", "show"], check=True, capture_output=True,
                         text=True).stdout
    return [line.split(":")[1].strip() for line in out.splitlines()] == ["lo"]


class Trap:
    def __init__(self):
        if not in_fresh_netns():
            raise RuntimeError("trap.py must run in its own network namespace (unshare --net)")
        run("ip", "link", "set", "lo", "up")
        self.fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(self.fd, TUNSETIFF, struct.pack("16sH", DEVICE.encode(), IFF_TUN | IFF_NO_PI))
        # No link-local address: the device itself sends no neighbour discovery.
        run("ip", "link", "set", DEVICE, "addrgenmode", "none")
        run("ip", "addr", "add", TRAP_V4, "dev", DEVICE)
        run("ip", "-6", "addr", "add", TRAP_V6, "dev", DEVICE, "nodad")
        run("ip", "link", "set", DEVICE, "up")
        run("ip", "route", "add", "default", "dev", DEVICE)
        run("ip", "-6", "route", "add", "default", "dev", DEVICE)
        self.caught = []  # (protocol, destination, port)
        self.lock = threading.Lock()
        self.closing = False
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        while not self.closing:
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if not ready:
                continue
            try:
                packet = os.read(self.fd, 65535)
            except OSError:
                return
            parsed = parse(packet)
            if parsed is not None:
                with self.lock:
                    self.caught.append(parsed)

    def packets(self):
        with self.lock:
            return list(self.caught)

    def self_test(self):
        """One UDP datagram to a non-loopback address must land in the trap."""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.sendto(b"trap self-test", PROBE)
        finally:
            s.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            got = self.packets()
            if ("udp", PROBE[0], PROBE[1]) in got:
                with self.lock:
                    self.caught.remove(("udp", PROBE[0], PROBE[1]))
                return True
            time.sleep(0.05)
        return False

    def close(self):
        self.closing = True
        self.thread.join(2)
        os.close(self.fd)


def parse(packet):
    """(protocol, destination, port) of a UDP or TCP packet; None for anything else
    (ICMPv6 neighbour or multicast-listener chatter of the kernel itself)."""
    if not packet:
        return None
    version = packet[0] >> 4
    if version == 4 and len(packet) >= 20:
        proto = packet[9]
        dst = str(ipaddress.IPv4Address(packet[16:20]))
        payload = packet[(packet[0] & 0x0F) * 4:]
    elif version == 6 and len(packet) >= 40:
        proto = packet[6]
        dst = str(ipaddress.IPv6Address(packet[24:40]))
        payload = packet[40:]
    else:
        return None
    names = {6: "tcp", 17: "udp"}
    if proto not in names or len(payload) < 4:
        return None
    return names[proto], dst, struct.unpack("!H", payload[2:4])[0]
