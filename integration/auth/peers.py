"""Loopback peers for the auth stage: nsd serving the generated zones, a DNS
forwarder in front of it that can stay silent, Rspamd 3.4 and sluice.

Every process started here is stopped by `Peers.close` (the stage calls it in
a `finally`). Nothing listens or asks anywhere but 127.0.0.1.
"""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.request

import dns.message
import dns.query

HERE = os.path.dirname(os.path.abspath(__file__))
IT_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(IT_DIR)


def free_port():
    """A loopback port free for both UDP and TCP at the time of asking."""
    while True:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            tcp.close()
            udp.close()


def wait_until(what, check, seconds, log=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    tail = ""
    if log and os.path.exists(log):
        with open(log, errors="replace") as f:
            tail = "".join(f.readlines()[-10:])
    raise RuntimeError(f"{what} not ready after {seconds} s\n{tail}")


def stop(proc, seconds=10):
    """SIGTERM, then SIGKILL: nsd and Rspamd reap their children on SIGTERM."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ------------------------------------------------------------------ nsd


class Nsd:
    def __init__(self, work, fixtures, port=None):
        self.dir = os.path.join(work, "nsd")
        os.makedirs(self.dir)
        self.port = port or free_port()
        self.zones = []
        zones = []
        with open(os.path.join(fixtures, "zones.list")) as f:
            for line in f:
                name, path = line.split()
                self.zones.append(name)
                zones.append(f"zone:\n  name: {name}\n  zonefile: \"{path}\"\n")
        # A zone whose master is a closed port never loads: nsd answers SERVFAIL.
        dead = free_port()
        with open(os.path.join(fixtures, "servfail.list")) as f:
            for name in f.read().split():
                zones.append(f"zone:\n  name: {name}\n  zonefile: \"{self.dir}/{name}.zone\"\n"
                             f"  request-xfr: 127.0.0.1@{dead} NOKEY\n")
        d = self.dir
        conf = (
            f"server:\n  ip-address: 127.0.0.1\n  port: {self.port}\n  username: \"\"\n"
            f"  chroot: \"\"\n  database: \"\"\n  pidfile: \"{d}/nsd.pid\"\n"
            f"  xfrdfile: \"{d}/xfrd.state\"\n  zonelistfile: \"{d}/zone.list\"\n"
            f"  xfrdir: \"{d}\"\n  logfile: \"{d}/nsd.log\"\n  server-count: 1\n"
            f"  verbosity: 1\nremote-control:\n  control-enable: no\n" + "".join(zones)
        )
        conf_path = os.path.join(d, "nsd.conf")
        with open(conf_path, "w") as f:
            f.write(conf)
        self.log = os.path.join(d, "nsd.log")
        self.proc = subprocess.Popen(["/usr/sbin/nsd", "-d", "-c", conf_path],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until("nsd", self.ready, 20, self.log)

    def ready(self):
        """nsd binds before it has loaded the zones: ask for the last one."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"nsd exited {self.proc.returncode}")
        try:
            q = dns.message.make_query(self.zones[-1], "SOA")
            r = dns.query.udp(q, "127.0.0.1", port=self.port, timeout=0.3)
            return len(r.answer) > 0
        except Exception:
            return False

    def close(self):
        stop(self.proc)


# ------------------------------------------------------------------ forwarder


class Forwarder:
    """UDP and TCP DNS forwarder to nsd that never answers queries for the
    silent domains (a name that times out), or for any name while `silent_all`
    is set (a nameserver that stopped answering mid-run)."""

    def __init__(self, upstream_port, silent_domains):
        self.upstream = ("127.0.0.1", upstream_port)
        self.set_silent(silent_domains)
        self.silent_all = False
        self.dropped = 0
        self.forwarded = 0
        self.lock = threading.Lock()
        self.closing = False
        self.udp, self.tcp = bind_udp_and_tcp()
        self.port = self.udp.getsockname()[1]
        self.udp.settimeout(0.2)
        self.tcp.settimeout(0.2)
        self.threads = [threading.Thread(target=self.serve_udp, daemon=True),
                        threading.Thread(target=self.serve_tcp, daemon=True)]
        for t in self.threads:
            t.start()

    def set_silent(self, domains):
        self.silent = [d.lower().rstrip(".") for d in domains]

    def drop(self, wire):
        if self.silent_all:
            return True
        try:
            name = dns.message.from_wire(wire).question[0].name.to_text().lower().rstrip(".")
        except Exception:
            return False
        return any(name == d or name.endswith("." + d) for d in self.silent)

    def count(self, dropped):
        with self.lock:
            if dropped:
                self.dropped += 1
            else:
                self.forwarded += 1

    def serve_udp(self):
        while not self.closing:
            try:
                wire, client = self.udp.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            dropped = self.drop(wire)
            self.count(dropped)
            if not dropped:
                threading.Thread(target=self.relay_udp, args=(wire, client), daemon=True).start()

    def relay_udp(self, wire, client):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        try:
            s.sendto(wire, self.upstream)
            answer = s.recv(65535)
            self.udp.sendto(answer, client)
        except OSError:
            pass  # nsd stopped: the client times out, as it would without us
        finally:
            s.close()

    def serve_tcp(self):
        while not self.closing:
            try:
                conn, _ = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self.relay_tcp, args=(conn,), daemon=True).start()

    def relay_tcp(self, conn):
        conn.settimeout(10)
        try:
            while True:
                wire = read_tcp_message(conn)
                if wire is None:
                    return
                dropped = self.drop(wire)
                self.count(dropped)
                if dropped:
                    continue
                with socket.create_connection(self.upstream, timeout=3) as up:
                    up.sendall(struct.pack("!H", len(wire)) + wire)
                    answer = read_tcp_message(up)
                if answer is not None:
                    conn.sendall(struct.pack("!H", len(answer)) + answer)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.closing = True
        for t in self.threads:
            t.join(2)
        self.udp.close()
        self.tcp.close()


def bind_udp_and_tcp():
    """A UDP and a listening TCP socket on one free loopback port."""
    for _ in range(100):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind(("127.0.0.1", udp.getsockname()[1]))
            tcp.listen(64)
            return udp, tcp
        except OSError:
            udp.close()
            tcp.close()
    raise RuntimeError("no loopback port free for both UDP and TCP")


def read_tcp_message(conn):
    head = read_exact(conn, 2)
    if head is None:
        return None
    return read_exact(conn, struct.unpack("!H", head)[0])


def read_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


# ------------------------------------------------------------------ scanners

# Module files both scanners read from LOCAL_CONFDIR/local.d (Rspamd's keys).
MODULES = {
    "spf.conf": "enabled = true;\n",
    "dkim.conf": "enabled = true;\n",
    "dmarc.conf": "enabled = true;\n",
    # Checking only: nothing here is relayed, so nothing is sealed.
    "arc.conf": "enabled = true;\nsign_inbound = false;\nsign_local = false;\n",
}


def dns_options(port, timeout):
    return (
        "# Only the stage's loopback DNS server, never /etc/resolv.conf.\n"
        f"dns {{\n  nameserver = [\"127.0.0.1:{port}\"];\n  timeout = {timeout};\n"
        "  retransmits = 1;\n}\n"
        "# TEST-NET-3 is local (fixtures.py's LOCAL_NET); the other test clients are not.\n"
        "local_addrs = [\"203.0.113.0/24\"];\n"
    )


class HttpScanner:
    """A scanner that takes Rspamd's /checkv2 with the envelope headers."""

    name = "?"
    url = None

    def scan(self, path, ip, helo, mail_from, user=None, timeout=30):
        with open(path, "rb") as f:
            body = f.read()
        headers = {"IP": ip, "Helo": helo, "From": mail_from if mail_from else "<>",
                   "Rcpt": "rcpt@example.test"}
        if user:
            headers["User"] = user
        req = urllib.request.Request(self.url + "/checkv2", data=body, headers=headers)
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())


class Rspamd(HttpScanner):
    name = "rspamd"

    def __init__(self, work, dns_port, dns_timeout="1s"):
        self.dir = os.path.join(work, "rspamd")
        local = os.path.join(self.dir, "local.d")
        os.makedirs(local)
        shutil.copy(os.path.join(HERE, "rspamd.conf"), self.dir)
        src = os.path.join(IT_DIR, "rspamd", "local.d")
        for f in os.listdir(src):
            if f.endswith(".conf") or f.endswith(".inc"):
                shutil.copy(os.path.join(src, f), local)
        for f, text in MODULES.items():
            write(os.path.join(local, f), text)
        self.port = free_port()
        write(os.path.join(local, "options.inc"),
              # The dkim C module is back among the filters (the tier's
              # options.inc leaves it out); fuzzy_check stays out.
              'filters = "chartable,dkim,regexp";\n'
              'cache_file = "$DBDIR/symbols.cache";\n'
              'control_socket = "$DBDIR/rspamd.sock mode=0600";\n'
              # Only the auth symbols are compared: skip the Hyperscan
              # compile (minutes on a busy box) for the regexp rules.
              'disable_hyperscan = true;\n'
              + dns_options(dns_port, dns_timeout))
        write(os.path.join(local, "worker-normal.inc"),
              f'bind_socket = "127.0.0.1:{self.port}";\ncount = 1;\n')
        subprocess.run(["chown", "-R", "_rspamd:_rspamd", self.dir], check=True)
        self.log = os.path.join(self.dir, "rspamd.log")
        d = self.dir
        self.proc = subprocess.Popen(
            ["rspamd", "-f", "-u", "_rspamd", "-g", "_rspamd", "-c", f"{d}/rspamd.conf",
             f"--var=LOCAL_CONFDIR={d}", f"--var=DBDIR={d}", f"--var=RUNDIR={d}",
             f"--var=LOGDIR={d}"],
            stdout=open(os.path.join(d, "stdout"), "w"), stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self):
        wait_until("rspamd", self.ready, 180, self.log)

    def ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"rspamd exited {self.proc.returncode}")
        try:
            with urllib.request.urlopen(self.url + "/ping", timeout=1) as r:
                return r.status == 200
        except Exception:
            return False

    def close(self):
        stop(self.proc)


class Sluice(HttpScanner):
    name = "sluice"

    def __init__(self, work, binary, dns_port, dns_timeout="1s", extra_options="", prefix=()):
        self.dir = os.path.join(work, "sluice")
        local = os.path.join(self.dir, "local.d")
        os.makedirs(local)
        for f, text in MODULES.items():
            write(os.path.join(local, f), text)
        write(os.path.join(local, "options.inc"), dns_options(dns_port, dns_timeout) + extra_options)
        self.log = os.path.join(self.dir, "sluice.log")
        self.proc = subprocess.Popen(
            [*prefix, binary, "run", "--milter", "inet:127.0.0.1:0", "--http", "127.0.0.1:0",
             "--controller", "127.0.0.1:0", "--var", f"LOCAL_CONFDIR={self.dir}",
             "--var", f"DBDIR={self.dir}"],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "w"))
        self.http = self.milter = None

    def wait_ready(self):
        wait_until("sluice", self.ready, 60, self.log)
        self.url = f"http://{self.http}"

    def ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"sluice exited {self.proc.returncode}")
        with open(self.log, errors="replace") as f:
            text = f.read()
        for line in text.splitlines():
            for what in ("http", "milter"):
                key = f"{what} listening on inet:"
                if key in line and getattr(self, what) is None:
                    setattr(self, what, line.split(key, 1)[1].split()[0])
        return self.http is not None and self.milter is not None

    def close(self):
        stop(self.proc)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


# ------------------------------------------------------------------ milter


def milter_frame(code, payload=b""):
    return struct.pack(">I", len(payload) + 1) + code + payload


def read_milter_frame(sock):
    head = read_exact(sock, 4)
    if head is None:
        raise ConnectionError("milter connection closed")
    body = read_exact(sock, struct.unpack(">I", head)[0])
    if body is None:
        raise ConnectionError("milter connection closed")
    return body[:1], body[1:]


def split_message(raw):
    """(headers as (name, value) with folding kept, body) of an RFC 5322 message."""
    head, _, body = raw.partition(b"\r\n\r\n")
    headers = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + b"\r\n" + line)
        else:
            name, _, value = line.partition(b":")
            headers.append((name, value[1:] if value.startswith(b" ") else value))
    return headers, body


class MilterSession:
    """One milter conversation as an MTA holds it: every command answered
    (no NR flags offered), the message sent after `connect`; `finish` waits
    for the final verdict after end-of-message."""

    FINAL = {b"a", b"c", b"r", b"t", b"y", b"d"}

    def __init__(self, addr, timeout=30):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.sendall(milter_frame(b"O", struct.pack(">III", 6, 0x1FF, 0)))
        code, _ = read_milter_frame(self.sock)
        assert code == b"O", code

    def command(self, code, payload=b""):
        self.sock.sendall(milter_frame(code, payload))
        reply, _ = read_milter_frame(self.sock)
        return reply

    def send_until_eom(self, path, ip, helo, mail_from):
        """Everything up to the body; then `finish` sends end-of-message."""
        with open(path, "rb") as f:
            headers, body = split_message(f.read())
        self.command(b"C", b"client.test\x004" + struct.pack(">H", 25) + ip.encode() + b"\x00")
        self.command(b"H", helo.encode() + b"\x00")
        self.command(b"M", b"<" + (mail_from or "").encode() + b">\x00")
        self.command(b"R", b"<rcpt@example.test>\x00")
        for name, value in headers:
            self.command(b"L", name + b"\x00" + value + b"\x00")
        self.command(b"N")
        self.command(b"B", body)

    def finish(self):
        """(final code, header actions) after end-of-message."""
        self.sock.sendall(milter_frame(b"E"))
        actions = []
        while True:
            code, payload = read_milter_frame(self.sock)
            if code in self.FINAL:
                return code, actions
            actions.append((code, payload))

    def close(self):
        try:
            self.sock.sendall(milter_frame(b"Q"))
        except OSError:
            pass
        self.sock.close()
