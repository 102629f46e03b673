#!/usr/bin/python3
"""The lists stage: the DNS-list fixtures of zones.py through Rspamd 3.4 and
through sluice, both reading the same local.d/rbl.conf and asking the same
nsd (behind the auth stage's forwarder, which never answers for the silent
list), over Rspamd's HTTP protocol with the envelope headers (IP, Helo,
Hostname, From). Runs in a network namespace of its own (lists.sh), whose
only way off loopback is trap.py's trap.

Checks:
- Rspamd's list symbols and options are the ones each fixture was made for
  (so a broken zone or message cannot pass unnoticed), except LISTED_RSPAMD;
- sluice's list symbols and options are Rspamd's, except the deliberate
  differences in DIFFERENCES, with why;
- the refused list (every name answers 127.255.255.254) gives no symbol in
  either scanner, and sluice reports it unhealthy in /metrics and `sluice
  status`;
- the list that never answers gives sluice no symbol, and every message is
  answered within task_timeout;
- no query left loopback: the trap caught no packet (after catching its
  self-test packet), and every name the nameserver was asked is under a test
  zone.

    SLUICE_BIN=target/release/sluice LISTS_PEERS="rspamd sluice" diff.py

Prints PASS/FAIL lines and, last, `N passed, N failed`.
"""

import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "auth"))
import peers  # noqa: E402
import trap  # noqa: E402
import zones  # noqa: E402

# Both scanners' task_timeout (Rspamd's default, sluice's shipped value).
TASK_TIMEOUT = 8.0
DNS_TIMEOUT = "1s"

# Module files of local.d, for both scanners (rbl.conf is zones.py's).
MODULES = {
    # The dkim check of the lists reads the verified signatures.
    "dkim.conf": "enabled = true;\n",
    # The other DNS checks off: only the lists and the DKIM keys are asked.
    "spf.conf": "enabled = false;\n",
    "dmarc.conf": "enabled = false;\n",
    "arc.conf": "enabled = false;\n",
    # hfilter's HELO and sender-host lookups are no list lookups (Rspamd's is
    # off in the tier's local.d).
    "hfilter.conf": "enabled = false;\n",
}

TIMEOUT_FAIL = ("a list that times out gives no symbol and a counted failure (the issue); "
                "Rspamd 3.4 adds <LIST>_FAIL with the lookup error as option")
# Rspamd symbols sluice deliberately does not give: symbol -> why.
DIFFERENCES = {
    "TEST_SILENT_FAIL": TIMEOUT_FAIL,
}
# Fixtures whose expected symbols Rspamd 3.4 does not give: name -> why.
LISTED_RSPAMD = {}

# Open defects of sluice, each a check sluice does not pass yet: reported as
# GAP, not counted as failures, so the rest of the stage guards what works. A
# listed check that passes fails the stage until it is taken off this list.
OPEN_GAPS = {}

passed = 0
failed = 0
gaps = 0


def check(desc, ok, *detail):
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS {desc}")
    else:
        failed += 1
        print(f"FAIL {desc}")
        for d in detail:
            print(f"    {d}")
    sys.stdout.flush()


class RecordingForwarder(peers.Forwarder):
    """The auth stage's forwarder, keeping every name it was asked."""

    def __init__(self, upstream_port, silent_domains):
        self.names = []
        super().__init__(upstream_port, silent_domains)

    def drop(self, wire):
        try:
            import dns.message
            name = dns.message.from_wire(wire).question[0].name.to_text().lower().rstrip(".")
            with self.lock:
                self.names.append(name)
        except Exception:
            pass
        return super().drop(wire)


def scan(scanner, c, timeout=30):
    with open(c["file"], "rb") as f:
        body = f.read()
    headers = {"IP": c["ip"], "Helo": c["helo"], "Hostname": c["hostname"],
               "From": c["from"], "Rcpt": "rcpt@example.test"}
    req = urllib.request.Request(scanner.url + "/checkv2", data=body, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def gap_or_check(key, desc, ok, *detail):
    """check(), unless key is an OPEN_GAPS entry: then its failure is a GAP line
    and its pass a stale list (a failure)."""
    global gaps
    if key not in OPEN_GAPS:
        check(desc, ok, *detail)
    elif ok:
        check(f"{desc}: passes but is listed in OPEN_GAPS; take it off the list", False)
    else:
        gaps += 1
        print(f"GAP {desc} (open: {OPEN_GAPS[key]})")
        for d in detail:
            print(f"    {d}")
        sys.stdout.flush()


def list_symbols(reply):
    syms = reply.get("symbols", {})
    return {n: sorted(s.get("options", []) or []) for n, s in syms.items()
            if zones.SYMBOL_RE.match(n)}


def scan_all(scanner, cases, workers=12):
    """{case name: (list symbols or None, error, seconds)}."""
    def one(c):
        t = time.monotonic()
        try:
            return c["name"], (list_symbols(scan(scanner, c)), None, time.monotonic() - t)
        except Exception as e:  # a failed scan is a test failure, reported below
            return c["name"], (None, repr(e), time.monotonic() - t)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return dict(pool.map(one, cases))


def without(symbols, names):
    return {n: o for n, o in symbols.items() if n not in names}


def compare(cases, results):
    for c in cases:
        n = c["name"]
        expect = c["expect"]
        rspamd = None
        if "rspamd" in results:
            rspamd, err, _ = results["rspamd"][n]
            got = without(rspamd or {}, DIFFERENCES)
            check(f"rspamd {n}: {json.dumps(expect, sort_keys=True)}",
                  err is None and got == expect, f"rspamd: {err or json.dumps(rspamd)}")
        if "sluice" not in results:
            continue
        got, err, secs = results["sluice"][n]
        if err is not None:
            check(f"sluice {n}: scanned", False, err)
            continue
        gap_or_check(n, f"sluice {n}: {json.dumps(expect, sort_keys=True)}", got == expect,
                     f"sluice: {json.dumps(got)}", f"rspamd: {json.dumps(rspamd)}")
        if rspamd is not None and n not in OPEN_GAPS:
            dropped = sorted(set(rspamd) & set(DIFFERENCES))
            why = "".join(f" (not {d}: {DIFFERENCES[d]})" for d in dropped)
            check(f"sluice {n}: list symbols and options equal rspamd's{why}",
                  got == without(rspamd, DIFFERENCES),
                  f"sluice: {json.dumps(got)}", f"rspamd: {json.dumps(rspamd)}")


def check_timing(name, results):
    for n, (_, err, secs) in sorted(results.items()):
        check(f"{name} {n}: answered in under {TASK_TIMEOUT:.0f} s with a list that never "
              f"answers", err is None and secs < TASK_TIMEOUT, f"{secs:.1f} s, error {err}")


def check_refused_and_silent(results):
    for name, res in results.items():
        hits = {n: s for n, (s, _, _) in res.items() if s and any(
            k.startswith(("TEST_REFUSED", "TEST_SILENT")) and k not in DIFFERENCES for k in s)}
        check(f"{name}: the refused and the silent list give no symbol", not hits, f"{hits}")
    if "rspamd" in results:
        # Every message asks the silent list, but the one from a local
        # address and the one from an address the allow list vouches for.
        want = sorted(n for n in results["rspamd"]
                      if n not in ("from-local-excluded", "from-allow-list"))
        fails = sorted(n for n, (s, _, _) in results["rspamd"].items()
                       if s and "TEST_SILENT_FAIL" in s)
        check("rspamd: TEST_SILENT_FAIL on every message whose client address is asked",
              fails == want, f"{fails}")


def sluice_health(sluice, binary):
    """The refused list unhealthy in /metrics and in `sluice status`; the others not."""
    controller = sluice.controller
    with urllib.request.urlopen(f"http://{controller}/metrics", timeout=10) as r:
        metrics = r.read().decode()
    health = [line for line in metrics.splitlines()
              if line.startswith("sluice_rbl_") and ("up" in line.split("{")[0]
                                                     or "health" in line.split("{")[0])]
    refused = [line for line in health if "TEST_REFUSED" in line or zones.REFUSED_ZONE in line]
    check("sluice /metrics: the refused list reported unhealthy (0)",
          len(refused) == 1 and refused[0].rsplit(" ", 1)[1] in ("0", "0.0"),
          "\n    ".join(health) or "no sluice_rbl_ health line")
    fine = [line for line in health if "TEST_IP\"" in line or f"{zones.IP_ZONE}\"" in line]
    check("sluice /metrics: a list that answers reported healthy (1)",
          len(fine) == 1 and fine[0].rsplit(" ", 1)[1] in ("1", "1.0"), "\n    ".join(health))
    fails = [line for line in metrics.splitlines() if line.startswith("sluice_rbl_failures_total")
             and (f'list="TEST_SILENT"' in line)]
    check("sluice /metrics: the silent list's timeouts counted as failures",
          len(fails) == 1 and float(fails[0].rsplit(" ", 1)[1]) > 0, *fails)
    st = subprocess.run([binary, "status", "--controller", controller, "--json"],
                        capture_output=True, text=True, timeout=30)
    check("sluice status --json: exits 0", st.returncode == 0, st.stderr)
    try:
        status = json.loads(st.stdout)
    except ValueError:
        status = None
    unhealthy = find_unhealthy(status)
    check("sluice status --json: the refused list and only it is unhealthy",
          unhealthy == ["TEST_REFUSED"], st.stdout[-2000:])
    text = subprocess.run([binary, "status", "--controller", controller],
                          capture_output=True, text=True, timeout=30).stdout
    check("sluice status: names the refused list", "TEST_REFUSED" in text, text[-2000:])
    with open(sluice.log, errors="replace") as f:
        logged = [line for line in f if "TEST_REFUSED" in line]
    check("sluice log: the refusal logged once (every message got one)", len(logged) == 1,
          *logged[:5])


def find_unhealthy(status):
    """The names of the lists `sluice status --json` reports unhealthy, wherever
    it keeps them: any object with a list name and a false health flag."""
    out = []

    def walk(v, key=None):
        if isinstance(v, dict):
            name = v.get("name") or v.get("list") or key
            for flag in ("healthy", "up", "alive"):
                if flag in v and v[flag] is False and isinstance(name, str):
                    out.append(name)
            for k, x in v.items():
                walk(x, k)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    walk(status)
    return sorted(set(out))


# Names a scanner asks that are no list lookup: scanner -> {name: why}.
OTHER_NAMES = {
    "rspamd": {"maps.rspamd.com": "Rspamd 3.4's map loader resolves the host of its shipped "
                                  "HTTP maps (multimap, mime_types, ...); nsd refuses it"},
    "sluice": {},
}


# Every list zone some fixture makes a scanner ask.
ASKED_ZONES = (zones.IP_ZONE, zones.RCVD_ZONE, zones.BITS_ZONE, zones.URI_ZONE, zones.CONTENT_ZONE,
               zones.NAME_ZONE, zones.EMAIL_ZONE, zones.EMAIL_MD5_ZONE, zones.EDOM_ZONE,
               zones.DKIM_ZONE, zones.REFUSED_ZONE, zones.SILENT_ZONE, zones.ALLOW_ZONE)


def check_no_outside(the_trap, forwarders, served):
    caught = the_trap.packets()
    check("no UDP or TCP packet left loopback (the trap caught none)", not caught, f"{caught}")
    allowed = tuple(served) + (zones.SILENT_DOMAIN,)
    for name, fwd in forwarders.items():
        other = OTHER_NAMES[name]
        outside = sorted({n for n in fwd.names if n not in other
                          and not any(n == z or n.endswith("." + z) for z in allowed)})
        why = "".join(f" (but {n}: {w})" for n, w in other.items())
        check(f"{name}: every name asked is under a test zone{why}", not outside, f"{outside}")
        for z in ASKED_ZONES:
            n = sum(1 for q in fwd.names if q.endswith("." + z))
            check(f"{name}: the nameserver was asked under {z}", n > 0, f"{n} queries")
        print(f"    {name}'s forwarder: {fwd.forwarded} queries to nsd, {fwd.dropped} dropped")


class Controller(peers.Sluice):
    """peers.Sluice, also noting the controller's address."""

    controller = None

    def ready(self):
        ok = super().ready()
        if self.controller is None:
            with open(self.log, errors="replace") as f:
                for line in f:
                    key = "controller listening on "
                    if key in line:
                        self.controller = line.split(key, 1)[1].split()[0].removeprefix("inet:")
        return ok and self.controller is not None


def main():
    wanted = os.environ.get("LISTS_PEERS", "rspamd sluice").split()
    binary = os.environ.get("SLUICE_BIN", os.path.join(peers.REPO, "target/release/sluice"))
    keep = os.environ.get("KEEP_WORKDIR") == "1"
    started = time.monotonic()
    the_trap = trap.Trap()
    check("trap: a packet sent off loopback is caught", the_trap.self_test())
    work = tempfile.mkdtemp(prefix="sluice-lists.")
    os.chmod(work, 0o755)
    running = []
    try:
        fixtures = os.path.join(work, "fixtures")
        subprocess.run(["/usr/bin/python3", os.path.join(HERE, "zones.py"), fixtures], check=True)
        os.chmod(fixtures, 0o755)
        with open(os.path.join(fixtures, "cases.json")) as f:
            cases = json.load(f)
        with open(os.path.join(fixtures, "zones.list")) as f:
            served = [line.split()[0] for line in f]
        nsd_port = peers.free_port()
        # One forwarder per scanner, so each one's names are its own.
        forwarders = {}
        for name in wanted:
            forwarders[name] = RecordingForwarder(nsd_port, [zones.SILENT_DOMAIN])
            running.append(forwarders[name])
        nsd = peers.Nsd(work, fixtures, nsd_port)
        running.append(nsd)
        with open(os.path.join(fixtures, "rbl.conf")) as f:
            modules = dict(MODULES, **{"rbl.conf": f.read()})
        # peers' scanners write peers.MODULES into their local.d.
        peers.MODULES = modules
        scanners = {}
        t = time.monotonic()
        if "rspamd" in wanted:
            scanners["rspamd"] = peers.Rspamd(work, forwarders["rspamd"].port, DNS_TIMEOUT)
            running.append(scanners["rspamd"])
        if "sluice" in wanted:
            scanners["sluice"] = Controller(work, binary, forwarders["sluice"].port, DNS_TIMEOUT)
            running.append(scanners["sluice"])
        for name, scanner in scanners.items():
            scanner.wait_ready()
            print(f"    {name}: ready {time.monotonic() - t:.1f} s after start")
        results = {}
        for name, s in scanners.items():
            t = time.monotonic()
            results[name] = scan_all(s, cases)
            print(f"    {name}: {len(cases)} fixtures in {time.monotonic() - t:.1f} s")
        compare(cases, results)
        for name, r in results.items():
            check_timing(name, r)
        check_refused_and_silent(results)
        if "sluice" in scanners:
            sluice_health(scanners["sluice"], binary)
        check_no_outside(the_trap, forwarders, served)
    finally:
        for p in reversed(running):
            p.close()
        the_trap.close()
        if keep:
            print(f"    work dir kept: {work}")
        else:
            subprocess.run(["rm", "-rf", work])
    print(f"    wall time {time.monotonic() - started:.1f} s")
    print(f"{gaps} open gaps (the GAP lines above)")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
