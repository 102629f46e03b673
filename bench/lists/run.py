#!/usr/bin/python3
"""DNS lists over the shared corpus: sluice against Rspamd 3.4, same lists,
same nameserver, same run (bench/lists-vs-rspamd.sh starts this in a network
namespace of its own, whose only way off loopback is the lists stage's trap).

Test zones are made from the corpus itself: every Received IP, every URL
host's last two and three labels (one of which is the registrable domain the
scanners ask) and every e-mail address of the text parts; a fixed share of
them (a hash of the name, LISTED_PERCENT) is listed, the rest answer
NXDOMAIN. Three lists use them: IPs (`from` and `received`), URL domains
(`urls`), SHA-1 hashed addresses (`emails`). Both scanners read the same
local.d/rbl.conf (every shipped list off) and ask nsd through a forwarder of
their own, which counts the queries.

Both daemons stay up; ROUNDS times each scans the corpus over HTTP
(/checkv2, CONCURRENCY requests in flight), the two taking turns (the order
flips every round). Per replay: CPU seconds per message of the daemon's
process tree (from /proc), DNS queries per message (at its forwarder), the
lookups and cache hits it reports (sluice: /metrics; Rspamd: the `dns req`
of its task log lines; it keeps no DNS cache), the share of queries that
found a listing, and the load average. Prints the medians and the
sluice/Rspamd CPU ratio (the median of the per-round ratios).
"""

import concurrent.futures
import email
import email.policy
import hashlib
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
# integration/lists first: its diff.py, not the auth stage's.
sys.path.insert(0, os.path.join(REPO, "integration", "dns"))
sys.path.insert(0, os.path.join(REPO, "integration", "auth"))
sys.path.insert(0, os.path.join(REPO, "integration", "lists"))
import diff  # noqa: E402
import fixtures  # noqa: E402
import peers  # noqa: E402
import trap  # noqa: E402
import zones  # noqa: E402

LISTED_PERCENT = int(os.environ.get("LISTED_PERCENT", "10"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
CONCURRENCY = int(os.environ.get("CONCURRENCY", "8"))
WARMUP = int(os.environ.get("WARMUP", "300"))
IP_ZONE, URI_ZONE, EMAIL_ZONE = "ip.bench.test", "uri.bench.test", "email.bench.test"

RECEIVED_IP = re.compile(rb"\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]")
URL_HOST = re.compile(r"https?://([A-Za-z0-9.-]+)", re.I)
ADDRESS = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def listed(name):
    return int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) % 100 < LISTED_PERCENT


def public_ip(text):
    try:
        a = ipaddress.ip_address(text)
    except ValueError:
        return None
    local = a.is_private or a.is_loopback or a.is_link_local or a.is_unspecified
    return None if local else str(a)


def facts(raw):
    """(Received IPs top first, URL hosts, addresses) of one message."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    ips = []
    for h in re.findall(rb"(?im)^Received:.*(?:\r?\n[ \t].*)*", head):
        for m in RECEIVED_IP.findall(h):
            ip = public_ip(m.decode("ascii", "replace"))
            if ip:
                ips.append(ip)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    text = ""
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            try:
                text += part.get_content() + "\n"
            except Exception:
                continue
    hosts = {h.lower().rstrip(".") for h in URL_HOST.findall(text)}
    addrs = {a.lower() for a in ADDRESS.findall(text)}
    return ips, hosts, addrs


def corpus(shared):
    files = []
    for sub in ("ham", "spam"):
        d = os.path.join(shared, "corpus", sub)
        files += sorted(os.path.join(d, f) for f in os.listdir(d))
    return files


def build(files, out):
    """The zones, zones.list, rbl.conf and the envelope of every message."""
    ips, names, addrs, envelopes = set(), set(), set(), []
    for path in files:
        with open(path, "rb") as f:
            m_ips, m_hosts, m_addrs = facts(f.read())
        ips.update(m_ips)
        for h in m_hosts:
            labels = h.split(".")
            for n in (2, 3):
                if len(labels) >= n:
                    names.add(".".join(labels[-n:]))
        addrs.update(m_addrs)
        envelopes.append({"file": path, "ip": m_ips[0] if m_ips else None})
    z = {IP_ZONE: fixtures.Zone(IP_ZONE), URI_ZONE: fixtures.Zone(URI_ZONE),
         EMAIL_ZONE: fixtures.Zone(EMAIL_ZONE)}
    counts = {}
    for zone, items, owner in ((IP_ZONE, ips, zones.rev_ip), (URI_ZONE, names, lambda n: n),
                               (EMAIL_ZONE, addrs, zones.sha1)):
        chosen = [i for i in sorted(items) if listed(i)]
        for i in chosen:
            z[zone].a(owner(i), "127.0.0.2")
        counts[zone] = (len(chosen), len(items))
    os.makedirs(os.path.join(out, "zones"), exist_ok=True)
    with open(os.path.join(out, "zones.list"), "w") as lst:
        for name, zone in sorted(z.items()):
            path = os.path.join(out, "zones", name + ".zone")
            with open(path, "w") as f:
                f.write(zone.render())
            lst.write(f"{name} {path}\n")
    with open(os.path.join(out, "servfail.list"), "w") as f:
        f.write("")
    off = "".join(f"  {n} {{ enabled = false; }}\n" for n in zones.default_list_names())
    conf = ("url_whitelist = [];\nrbls {\n" + off
            + f'  BENCH_IP {{ rbl = "{IP_ZONE}"; checks = ["from", "received"]; '
            'returncodes { BENCH_IP = "127.0.0.2"; } disable_monitoring = true; }\n'
            + f'  BENCH_URI {{ rbl = "{URI_ZONE}"; checks = ["urls"]; ignore_defaults = true; '
            'returncodes { BENCH_URI = "127.0.0.2"; } disable_monitoring = true; }\n'
            + f'  BENCH_EMAIL {{ rbl = "{EMAIL_ZONE}"; checks = ["emails"]; '
            'ignore_defaults = true; hash = "sha1"; returncodes { BENCH_EMAIL = "127.0.0.2"; } '
            "disable_monitoring = true; }\n}\n")
    return conf, envelopes, counts


def scan(url, env):
    with open(env["file"], "rb") as f:
        body = f.read()
    headers = {"From": "<>", "Rcpt": "rcpt@example.test"}
    if env["ip"]:
        headers["IP"] = env["ip"]
    req = urllib.request.Request(url + "/checkv2", data=body, headers=headers)
    with urllib.request.urlopen(req, timeout=60) as r:
        reply = json.loads(r.read())
    return sorted(n for n in reply.get("symbols", {}) if n.startswith("BENCH_"))


def replay(url, envelopes):
    with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
        return list(pool.map(lambda e: scan(url, e), envelopes))


def tree_ticks(root):
    """utime+stime (children reaped included) of root and its descendants."""
    parent, ticks = {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                x = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(d)] = int(x[1])
        ticks[int(d)] = sum(int(v) for v in x[11:15])
    tree, grew = {root}, True
    while grew:
        grew = False
        for p, pp in parent.items():
            if p not in tree and pp in tree:
                tree.add(p)
                grew = True
    return sum(ticks.get(p, 0) for p in tree)


def sluice_dns(controller):
    with urllib.request.urlopen(f"http://{controller}/metrics", timeout=10) as r:
        text = r.read().decode()
    found = [re.search(rf"^{n}_total (\S+)$", text, re.M)
             for n in ("sluice_dns_lookups", "sluice_dns_cache_hits")]
    if not all(found):
        # The DNS counters are shown once a DNS check is on: none is, so none was asked.
        return 0.0, 0.0
    return tuple(float(m.group(1)) for m in found)


def rspamd_dns(log):
    """Sum of `dns req: N` over the task log lines so far."""
    with open(log, errors="replace") as f:
        return float(sum(int(n) for n in re.findall(r"dns req: (\d+)", f.read())))


def wait_hyperscan(rspamd, envelopes):
    """Replay batches until most of the latest task lines scanned nothing with PCRE
    (as bench/compare-rspamd.sh does): the steady state an admin runs."""
    for i in range(60):
        replay(rspamd.url, envelopes[(i * 100) % len(envelopes):][:100])
        with open(rspamd.log, errors="replace") as f:
            lines = [line for line in f if "regexp statistics" in line][-100:]
        fast = sum(1 for line in lines if " 0B scanned using pcre" in line)
        if len(lines) >= 100 and fast >= 80:
            print(f"    rspamd: hyperscan active after {(i + 1) * 100} messages", flush=True)
            return
    raise SystemExit("rspamd still scanning with PCRE after 6000 messages")


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def keep_hyperscan(write):
    """peers' Rspamd turns Hyperscan off (the auth stage compares symbols, not
    speed): for timing, keep Rspamd's default, Hyperscan on."""
    def wrapped(path, text):
        if path.endswith("options.inc"):
            text = text.replace("disable_hyperscan = true;\n", "")
        write(path, text)
    return wrapped


def main():
    binary = os.environ.get("SLUICE_BIN", os.path.join(REPO, "target/release/sluice"))
    shared = os.environ.get("SHARED", os.path.join(REPO, "..", "shared"))
    the_trap = trap.Trap()
    assert the_trap.self_test(), "the trap caught nothing"
    work = tempfile.mkdtemp(prefix="sluice-lists-bench.")
    os.chmod(work, 0o755)
    running = []
    hz = os.sysconf("SC_CLK_TCK")
    try:
        files = corpus(shared)
        out = os.path.join(work, "zones")
        conf, envelopes, counts = build(files, out)
        os.chmod(out, 0o755)
        for zone, (n, total) in counts.items():
            print(f"    {zone}: {n} of {total} names listed ({100 * n / max(total, 1):.1f} %)")
        print(f"    {sum(1 for e in envelopes if e['ip'])} of {len(envelopes)} messages with a "
              "public Received IP (the client address of the scan)")
        nsd_port = peers.free_port()
        fwd = {n: diff.RecordingForwarder(nsd_port, []) for n in ("sluice", "rspamd")}
        running += fwd.values()
        nsd = peers.Nsd(work, out, nsd_port)
        running.append(nsd)
        peers.MODULES = {"rbl.conf": conf, "dkim.conf": "enabled = false;\n",
                         "spf.conf": "enabled = false;\n", "dmarc.conf": "enabled = false;\n",
                         "arc.conf": "enabled = false;\n"}
        peers.write = keep_hyperscan(peers.write)
        rspamd = peers.Rspamd(work, fwd["rspamd"].port, "2s")
        running.append(rspamd)
        sluice = diff.Controller(work, binary, fwd["sluice"].port, "2s")
        running.append(sluice)
        sluice.wait_ready()
        rspamd.wait_ready()
        wait_hyperscan(rspamd, envelopes)
        daemons = {"sluice": sluice, "rspamd": rspamd}
        for name, d in daemons.items():
            replay(d.url, envelopes[:WARMUP])
        rows = {n: [] for n in daemons}
        order = ["sluice", "rspamd"]
        for r in range(1, ROUNDS + 1):
            for name in order:
                d = daemons[name]
                load = open("/proc/loadavg").read().split()[0]
                t0, q0 = tree_ticks(d.proc.pid), fwd[name].forwarded + fwd[name].dropped
                names0 = len(fwd[name].names)
                l0 = sluice_dns(sluice.controller) if name == "sluice" else (rspamd_dns(d.log), 0)
                start = time.monotonic()
                hits = replay(d.url, envelopes)
                secs = time.monotonic() - start
                t1, q1 = tree_ticks(d.proc.pid), fwd[name].forwarded + fwd[name].dropped
                l1 = sluice_dns(sluice.controller) if name == "sluice" else (rspamd_dns(d.log), 0)
                n = len(envelopes)
                lookups = l1[0] - l0[0]
                row = {"cpu_ms": (t1 - t0) * 1000 / hz / n, "queries": (q1 - q0) / n,
                       "lookups": lookups / n,
                       "hit_ratio": (l1[1] - l0[1]) / lookups if lookups else 0.0,
                       "listed_msgs": sum(1 for h in hits if h), "load": float(load),
                       "msgs_per_s": n / secs}
                rows[name].append(row)
                asked = fwd[name].names[names0:]
                print(f"    round {r} {name}: {row['cpu_ms']:.3f} ms CPU/msg, "
                      f"{row['queries']:.2f} queries/msg, {row['lookups']:.2f} lookups/msg, "
                      f"cache hits {100 * row['hit_ratio']:.1f} %, {row['listed_msgs']} messages "
                      f"with a BENCH_ symbol, {len(set(asked))} distinct names asked, "
                      f"{row['msgs_per_s']:.0f} msgs/s, load {load}", flush=True)
            order.reverse()
        print(f"\nmedians of {ROUNDS} rounds, {len(envelopes)} messages per replay")
        for name in daemons:
            med = {k: median([x[k] for x in rows[name]]) for k in rows[name][0]}
            print(f"{name:7} CPU {med['cpu_ms']:.3f} ms/msg, {med['queries']:.2f} DNS queries/msg, "
                  f"{med['lookups']:.2f} lookups/msg, cache hit ratio {med['hit_ratio']:.3f}, "
                  f"{med['msgs_per_s']:.0f} msgs/s, load {med['load']:.2f}")
        ratios = [s["cpu_ms"] / r["cpu_ms"] for s, r in zip(rows["sluice"], rows["rspamd"])]
        print("CPU per message, sluice/rspamd, per round: "
              + " ".join(f"{x:.3f}" for x in ratios))
        print(f"ratio sluice/rspamd: CPU per message {median(ratios):.3f} (median of rounds)")
        caught = the_trap.packets()
        print(f"trap: {len(caught)} packets off loopback {caught[:5]}")
        if caught:
            sys.exit(1)
    finally:
        for p in reversed(running):
            p.close()
        the_trap.close()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
