#!/usr/bin/env python3
"""Scan corpus messages through two Rspamd-protocol servers with the same
envelope and compare the hfilter symbols they report (bench/hfilter-vs-rspamd.sh
starts the servers).

usage: hfilter-vs-rspamd.py SLUICE_ADDR RSPAMD_ADDR OUT_DIR DIR...
PER_DIR=N takes the first N files of each DIR only.

The envelope of a message is what the MX that received it saw: HELO,
reverse name and address from its topmost Received header that names a
public client address (else DEFAULT_IP with a well-formed name), the sender
from Return-Path, the recipient from Delivered-To (else To). Every 5th message gets its HELO, reverse name or
sender replaced by one of SYNTHETIC, so that every class of name occurs.
"""
import ipaddress
import json
import os
import re
import sys
import http.client

# hfilter symbols that need DNS: not part of this comparison.
DNS_SUFFIXES = ("_NORES_A_OR_MX", "_NORESOLVE_MX", "_IP_A")

RECEIVED = re.compile(
    r"^\s*from\s+(\S+)\s+\((?:([^\s\[\]()]+)\s+)?\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]", re.I)

# The client of a message without a public one in its Received headers.
DEFAULT_IP = "198.51.100.7"

# (field, value): HELO and reverse-name shapes of every class, literals,
# and senders that make bounces or unqualified domains.
SYNTHETIC = [
    ("helo", "COMPUTER"),
    ("helo", "[192.168.1.1]"),
    ("helo", "[203.0.113.9]"),
    ("helo", "[8.8.8.8]"),
    ("helo", "8-8-8-8"),
    ("helo", "1-2-3-4.dynamic.example.net"),
    ("helo", "host-1-2.example.net"),
    ("helo", "pool-1-2-3.isp.example"),
    ("helo", "cable-9.example.net"),
    ("helo", "user-7.example.net"),
    ("helo", "speedtouch.lan"),
    ("helo", "mail_1.example.org"),
    ("helo", "x.y"),
    ("helo", "[IPv6:2001:db8::1]"),
    ("helo", "adsl-7.example.net"),
    ("hostname", "ppp-1-2.isp.example"),
    ("hostname", "customer-1.example.net"),
    ("hostname", "1-2-3-4.kabel.example.net"),
    ("hostname", "host-1-2.example.net"),
    ("hostname", "dsl-line-4.example.net"),
    ("hostname", None),
    ("from", None),
    ("from", "someone@localhost"),
    ("from", "postmaster@example.org"),
]


def header_block(raw):
    end = re.search(rb"\r?\n\r?\n", raw)
    text = raw[: end.start() if end else len(raw)].decode("latin-1")
    lines = []
    for line in re.split(r"\r?\n", text):
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    return lines


def header_values(lines, name):
    out = []
    for line in lines:
        n, _, v = line.partition(":")
        if n.strip().lower() == name:
            out.append(v.strip())
    return out


def address(value):
    m = re.search(r"<([^<>]*)>", value)
    a = m.group(1) if m else value.split()[0] if value.split() else ""
    return a.strip()


def is_public(ip):
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return a.is_global


def envelope(raw):
    lines = header_block(raw)
    env = None
    for value in header_values(lines, "received"):
        m = RECEIVED.match(value)
        if m and is_public(m.group(3)):
            rdns = m.group(2)
            if rdns and (rdns.lower() == "unknown" or rdns.startswith("[")):
                rdns = None
            env = {"ip": m.group(3), "helo": m.group(1), "hostname": rdns}
            break
    if env is None:
        # No public client on record: a well-named one.
        env = {"ip": DEFAULT_IP, "helo": "mail.example.net", "hostname": "mail.example.net"}
    rp = header_values(lines, "return-path")
    env["from"] = address(rp[0]) if rp else None
    if env["from"] == "":
        env["from"] = None  # no usable sender: the bounce case
    rcpt = header_values(lines, "delivered-to") or header_values(lines, "to")
    env["rcpt"] = [address(rcpt[0])] if rcpt and "@" in rcpt[0] else []
    return env


def scan(addr, raw, env):
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.putrequest("POST", "/checkv2")
    headers = [("IP", env["ip"]), ("Helo", env["helo"]), ("Content-Length", str(len(raw)))]
    if env["hostname"]:
        headers.append(("Hostname", env["hostname"]))
    if env["from"] is not None:
        headers.append(("From", env["from"]))
    headers += [("Rcpt", r) for r in env["rcpt"]]
    for name, value in headers:
        conn.putheader(name, value)
    conn.endheaders(raw)
    reply = json.load(conn.getresponse())
    conn.close()
    return {
        name: sorted(str(o) for o in (s.get("options") or []))
        for name, s in reply.get("symbols", {}).items()
        if name.startswith("HFILTER_") and not name.endswith(DNS_SUFFIXES)
    }


def main():
    sluice, rspamd, out_dir = sys.argv[1:4]
    dirs = sys.argv[4:]
    n = agree = opt_agree = 0
    by_symbol = {}
    diffs = []
    limit = int(os.environ.get("PER_DIR", "0")) or None
    for d in dirs:
        for name in sorted(os.listdir(d))[:limit]:
            path = os.path.join(d, name)
            with open(path, "rb") as f:
                raw = f.read()
            env = envelope(raw)
            if n % 5 == 0:
                field, value = SYNTHETIC[(n // 5) % len(SYNTHETIC)]
                env[field] = value
                if field == "from" and value is None:
                    # No sender at all: without Return-Path, which both
                    # take as the sender when the request names none.
                    raw = re.sub(rb"(?im)^Return-Path:[^\n]*\n", b"", raw)
                if field == "from" and value in (None, "postmaster@example.org"):
                    env["rcpt"] = ["a@example.net", "b@example.net"]
            n += 1
            got = scan(sluice, raw, env)
            want = scan(rspamd, raw, env)
            for sym in set(got) | set(want):
                c = by_symbol.setdefault(sym, [0, 0, 0])
                c[0] += sym in got
                c[1] += sym in want
                c[2] += sym in got and sym in want
            if set(got) == set(want):
                agree += 1
                opt_agree += got == want
            else:
                diffs.append({"file": path, "envelope": env, "sluice": got, "rspamd": want})
    with open(os.path.join(out_dir, "hfilter-diffs.jsonl"), "w") as f:
        for x in diffs:
            f.write(json.dumps(x) + "\n")
    print(f"{n} messages; hfilter symbols agree on {agree} "
          f"({100.0 * agree / max(n, 1):.1f}%), options too on {opt_agree}")
    print(f"{'symbol':32} {'sluice':>7} {'rspamd':>7} {'both':>7}")
    for sym in sorted(by_symbol):
        s, r, b = by_symbol[sym]
        print(f"{sym:32} {s:7} {r:7} {b:7}")
    print(f"differences: {os.path.join(out_dir, 'hfilter-diffs.jsonl')}")


if __name__ == "__main__":
    main()
