#!/usr/bin/python3
"""The auth stage's differential: every fixture of integration/dns/fixtures.py
through Rspamd 3.4 and through sluice, both pointed at the same nsd (behind a
forwarder that never answers for the silent domain), over Rspamd's HTTP
protocol with the envelope headers (IP, Helo, From).

Checks, per fixture:
- Rspamd's symbols of the spf/dkim/dmarc/arc groups are the ones the fixture
  was made for (so a broken fixture or zone cannot pass unnoticed);
- sluice's symbols of those groups are Rspamd's, and so are the DKIM symbols'
  `domain:result` options, except the deliberate differences listed in
  DIFFERENCES below with why.

    AUTH_PEERS="rspamd sluice" SLUICE_BIN=target/release/sluice diff.py

Prints PASS/FAIL/GAP lines, the count of open gaps and, last, `N passed, N failed`.
"""

import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faults  # noqa: E402
import peers  # noqa: E402

PREFIXES = ("R_SPF_", "R_DKIM_", "DKIM_TRACE", "DMARC_", "ARC_")
# DKIM_TRACE (every signature's `domain:result`) is compared between the two
# scanners, options included, but is left out of the fixtures' `expect`.
TRACE = "DKIM_TRACE"


def na_but(*syms):
    return sorted({"ARC_NA", "DMARC_NA", "R_DKIM_NA", "R_SPF_NA"} - {s.split("|")[0] for s in syms}
                  | {s.split("|")[1] for s in syms})


# The deliberate differences: fixture -> (Rspamd 3.4's symbols, why sluice
# gives the fixture's `expect` instead). Everywhere else sluice must give
# exactly Rspamd's symbols.
SPF_SYNTAX = ("RFC 7208 4.6: a record with a syntax error is a permerror (the issue asks "
              "PERMFAIL); Rspamd 3.4 skips the term it cannot parse and evaluates the rest")
DKIM_UNPARSED = ("RFC 6376 6.1.1: a signature with a bad tag or past its x= is PERMFAIL "
                 "(the issue asks PERMFAIL for malformed headers); Rspamd 3.4 drops it "
                 "before verifying and adds no DKIM symbol")
DIFFERENCES = {
    "spf-malformed-permfail": (na_but("R_SPF_NA|R_SPF_FAIL"), SPF_SYNTAX),
    "spf-badmech-permfail": (na_but("R_SPF_NA|R_SPF_FAIL"), SPF_SYNTAX),
    "spf-emptyinclude-permfail": (na_but("R_SPF_NA|R_SPF_FAIL"), SPF_SYNTAX),
    "spf-twice-permfail": (na_but("R_SPF_NA|R_SPF_ALLOW"),
                           "RFC 7208 4.5: two SPF records are a permerror; Rspamd 3.4 uses "
                           "the first"),
    "spf-toomany-permfail": (na_but("R_SPF_NA|R_SPF_FAIL"),
                             "RFC 7208 4.6.4: more than 10 DNS-querying terms are a permerror; "
                             "Rspamd 3.4 stops looking up and applies -all"),
    "spf-loop-permfail": (na_but("R_SPF_NA|R_SPF_FAIL"),
                          "RFC 7208 4.6.4: an include loop exceeds the lookup limit, a "
                          "permerror; Rspamd 3.4 breaks the loop and applies -all"),
    "dkim-expired": (["ARC_NA", "DMARC_NA", "R_SPF_NA"], DKIM_UNPARSED),
    "dkim-malformed-header": (["ARC_NA", "DMARC_NA", "R_SPF_NA"], DKIM_UNPARSED),
    "dkim-missing-tag": (["ARC_NA", "DMARC_NA", "R_SPF_NA"], DKIM_UNPARSED),
    "dmarc-subdomain-unlisted-tld": (
        ["ARC_NA", "DMARC_NA", "R_DKIM_NA", "R_SPF_FAIL"],
        "RFC 7489 3.2 takes the organizational domain by the Public Suffix List's algorithm, "
        "whose default rule makes an unlisted TLD (.test) a public suffix, so "
        "sub.dmarc-sp.test falls back to dmarc-sp.test's sp=reject; Rspamd 3.4 takes the "
        "whole name as organizational domain when the TLD is unlisted and finds no record"),
}

# Open defects of sluice's checks, each a fixture whose expected symbols sluice does not give
# yet: reported as GAP, not counted as failures, so the rest of the stage guards what works. A
# listed fixture that passes fails the stage until it is taken off this list.
OPEN_GAPS = {}

passed = 0
failed = 0
gaps = 0


def gap(desc, ok, why, *detail):
    """An OPEN_GAPS fixture: its failure is reported, its pass is a stale list."""
    global gaps
    if ok:
        check(f"{desc}: passes but is listed in OPEN_GAPS; take it off the list", False)
        return
    gaps += 1
    print(f"GAP {desc} (open: {why})")
    for d in detail:
        print(f"    {d}")
    sys.stdout.flush()


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


def auth_symbols(reply):
    """{symbol: options} for the four groups."""
    syms = reply.get("symbols", {})
    return {n: sorted(s.get("options", []) or []) for n, s in syms.items() if n.startswith(PREFIXES)}


def names(symbols):
    """The symbol names a fixture's `expect` lists (all but DKIM_TRACE)."""
    return sorted(n for n in symbols if n != TRACE)


def dkim_options(symbols):
    return {n: o for n, o in symbols.items() if n.startswith("R_DKIM_") or n == TRACE}


def scan_all(scanner, cases, workers=16):
    """{case name: (auth symbols or None, error, seconds)}."""
    def one(c):
        t = time.monotonic()
        try:
            reply = scanner.scan(c["file"], c["ip"], c["helo"], c["from"], c.get("user"))
            return c["name"], (auth_symbols(reply), None, time.monotonic() - t)
        except Exception as e:  # a failed scan is a test failure, reported below
            return c["name"], (None, repr(e), time.monotonic() - t)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return dict(pool.map(one, cases))


def timed_scan(name, scanner, cases, what):
    t = time.monotonic()
    r = scan_all(scanner, cases)
    slowest = max(x[2] for x in r.values())
    print(f"    {name}: {len(cases)} fixtures with {what} in {time.monotonic() - t:.1f} s "
          f"(slowest {slowest:.1f} s)")
    return r


def main():
    wanted = os.environ.get("AUTH_PEERS", "rspamd sluice").split()
    binary = os.environ.get("SLUICE_BIN", os.path.join(peers.REPO, "target/release/sluice"))
    keep = os.environ.get("KEEP_WORKDIR") == "1"
    work = tempfile.mkdtemp(prefix="sluice-auth.")
    os.chmod(work, 0o755)
    started = time.monotonic()
    running = []
    try:
        for name in wanted:
            if name not in ("rspamd", "sluice"):
                raise SystemExit(f"AUTH_PEERS: unknown peer {name}")
        # Silent first, while no cache holds an answer: every lookup times out.
        nsd_port = peers.free_port()
        fwd = peers.Forwarder(nsd_port, [])
        fwd.silent_all = True
        running.append(fwd)
        scanners = {}
        t = time.monotonic()
        if "rspamd" in wanted:
            # Rspamd takes long to load its rules: it starts while the fixtures are made.
            scanners["rspamd"] = peers.Rspamd(work, fwd.port)
            running.append(scanners["rspamd"])
        fixtures = os.path.join(work, "fixtures")
        subprocess.run(["/usr/bin/python3", os.path.join(peers.IT_DIR, "dns", "fixtures.py"),
                        fixtures], check=True)
        os.chmod(fixtures, 0o755)
        with open(os.path.join(fixtures, "cases.json")) as f:
            cases = json.load(f)
        with open(os.path.join(fixtures, "silent.list")) as f:
            fwd.set_silent(f.read().split())
        nsd = peers.Nsd(work, fixtures, nsd_port)
        running.append(nsd)
        if "sluice" in wanted:
            scanners["sluice"] = peers.Sluice(work, binary, fwd.port)
            running.append(scanners["sluice"])
        for name, scanner in scanners.items():
            scanner.wait_ready()
            print(f"    {name}: ready {time.monotonic() - t:.1f} s after start")
        silent = {name: timed_scan(name, s, cases, "silent DNS") for name, s in scanners.items()}
        fwd.silent_all = False
        results = {name: timed_scan(name, s, cases, "nsd") for name, s in scanners.items()}
        compare(cases, results)
        if "sluice" in scanners:
            faults.check_silent(check, cases, silent)
            faults.dns_stopped(check, work, binary, fixtures, cases, scan_all,
                               results["sluice"], silent["sluice"])
            faults.milter_isolation(check, work, binary, fwd.port, cases)
        print(f"    forwarder: {fwd.forwarded} queries to nsd, {fwd.dropped} dropped")
    finally:
        for p in reversed(running):
            p.close()
        if keep:
            print(f"    work dir kept: {work}")
        else:
            subprocess.run(["rm", "-rf", work])
    print(f"    wall time {time.monotonic() - started:.1f} s")
    print(f"{gaps} open gaps (the GAP lines above)")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def compare(cases, results):
    for c in cases:
        n = c["name"]
        expect = c["expect"]
        listed = DIFFERENCES.get(n)
        rspamd_want = listed[0] if listed else expect
        rspamd = None
        if "rspamd" in results:
            rspamd, err, _ = results["rspamd"][n]
            check(f"rspamd {n}: {' '.join(rspamd_want)}",
                  err is None and names(rspamd) == rspamd_want,
                  f"rspamd: {err or json.dumps(rspamd)}")
        if "sluice" not in results:
            continue
        got, err, _ = results["sluice"][n]
        if err is not None:
            check(f"sluice {n}: scanned", False, err)
            continue
        why = f" (differs from rspamd: {listed[1]})" if listed else ""
        if n in OPEN_GAPS:
            gap(f"sluice {n}: {' '.join(expect)}", names(got) == expect, OPEN_GAPS[n],
                f"sluice: {json.dumps(got)}", f"rspamd: {json.dumps(rspamd)}")
            continue
        check(f"sluice {n}: {' '.join(expect)}{why}", names(got) == expect,
              f"sluice: {json.dumps(got)}", f"rspamd: {json.dumps(rspamd)}")
        if rspamd is not None and not listed:
            check(f"sluice {n}: symbols, DKIM_TRACE and dkim options equal rspamd's",
                  sorted(got) == sorted(rspamd) and dkim_options(got) == dkim_options(rspamd),
                  f"sluice: {json.dumps(got)}", f"rspamd: {json.dumps(rspamd)}")


if __name__ == "__main__":
    main()
