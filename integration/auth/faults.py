"""The auth stage's DNS faults, on the real sluice daemon.

- A nameserver that never answers (diff.py scans every fixture through both
  scanners while the forwarder drops every query): every message answered
  within task_timeout with Rspamd's DNS-failure symbols, except the
  differences listed in SILENT_DIFFERENCES.
- The DNS server stopped mid-run: a fresh daemon asking nsd directly scans
  the DKIM and ARC fixtures, nsd is stopped, then it scans the SPF and DMARC
  fixtures (domains it has not looked up yet): every message answered within
  task_timeout, with the symbols the never-answering nameserver gave.
- A milter session never waits for another one's lookups: a daemon with one
  session thread (pinned to one CPU), a session whose message needs a name
  that never answers, and a second session started while the first waits:
  the second gets its verdict first.
"""

import os
import threading
import time

import peers

# Both scanners' task_timeout (Rspamd's default, sluice's shipped value).
TASK_TIMEOUT = 8.0

BODY_FIRST = ("mail-auth compares the body hash before it fetches the key (RFC 6376 6.1.3 "
              "allows either order), so a changed body fails without DNS; Rspamd 3.4 fetches "
              "the key first and reports the lookup failure")
UNPARSED = ("a signature that is expired or malformed fails before any lookup (PERMFAIL, as "
            "with DNS up); Rspamd 3.4 drops it and adds no DKIM symbol")
ARC_DNS = ("the issue asks ARC_DNSFAIL when a key lookup fails; Rspamd 3.4 registers "
           "ARC_DNSFAIL but reports the failed lookup as a failed seal (ARC_REJECT)")

# Fixture -> ({Rspamd's symbol: sluice's symbol, or None to add}, why), with
# every DNS query unanswered. Everywhere else sluice gives Rspamd's symbols.
SILENT_DIFFERENCES = {
    "dkim-body-changed": ({"R_DKIM_TEMPFAIL": "R_DKIM_REJECT"}, BODY_FIRST),
    "dkim-one-good-one-bad": ({"R_DKIM_TEMPFAIL": "R_DKIM_REJECT"}, BODY_FIRST),
    "arc-body-changed": ({"R_DKIM_TEMPFAIL": "R_DKIM_REJECT"}, BODY_FIRST),
    "arc-broken-chain": ({"R_DKIM_TEMPFAIL": "R_DKIM_REJECT"}, BODY_FIRST),
    "dkim-expired": ({None: "R_DKIM_PERMFAIL"}, UNPARSED),
    "dkim-malformed-header": ({None: "R_DKIM_PERMFAIL"}, UNPARSED),
    "dkim-missing-tag": ({None: "R_DKIM_PERMFAIL"}, UNPARSED),
    "arc-one-hop": ({"ARC_REJECT": "ARC_DNSFAIL"}, ARC_DNS),
    "arc-two-hops": ({"ARC_REJECT": "ARC_DNSFAIL"}, ARC_DNS),
    "arc-seal-changed": ({"ARC_REJECT": "ARC_DNSFAIL"}, ARC_DNS),
}


def silent_expected(name, rspamd_symbols):
    syms = set(rspamd_symbols)
    listed = SILENT_DIFFERENCES.get(name)
    if listed:
        for old, new in listed[0].items():
            syms.discard(old)
            syms.add(new)
    return sorted(syms)


def check_silent(check, cases, silent):
    """silent: {peer: {case: (symbols, error, seconds)}} with no DNS answer."""
    for c in cases:
        n = c["name"]
        got, err, secs = silent["sluice"][n]
        check(f"silent DNS, sluice {n}: answered in under {TASK_TIMEOUT:.0f} s",
              err is None and secs < TASK_TIMEOUT, f"{secs:.1f} s, error {err}")
        if err is not None or "rspamd" not in silent:
            continue
        rspamd = silent["rspamd"][n][0] or {}
        want = silent_expected(n, [s for s in rspamd if s != "DKIM_TRACE"])
        listed = SILENT_DIFFERENCES.get(n)
        why = f" (differs from rspamd: {listed[1]})" if listed else ""
        check(f"silent DNS, sluice {n}: {' '.join(want)}{why}",
              sorted(s for s in got if s != "DKIM_TRACE") == want,
              f"sluice: {sorted(got)}", f"rspamd: {sorted(rspamd)}")


def dns_stopped(check, work, binary, fixtures, cases, scan_all, normal, silent):
    """nsd stopped between two batches of one daemon's scans."""
    nsd = peers.Nsd(os.path.join(work, "stopped"), fixtures)
    sluice = None
    try:
        sluice = peers.Sluice(os.path.join(work, "stopped"), binary, nsd.port)
        sluice.wait_ready()
        before = [c for c in cases if c["name"].startswith(("dkim-", "arc-"))]
        after = [c for c in cases if c["name"].startswith(("spf-", "dmarc-"))]
        got = scan_all(sluice, before)
        for c in before:
            symbols, err, _ = got[c["name"]]
            check(f"nsd up, sluice {c['name']}: as in the differential", err is None
                  and sorted(symbols) == sorted(normal[c["name"]][0] or {}),
                  f"now {symbols} {err}", f"before {normal[c['name']][0]}")
        nsd.close()
        got = scan_all(sluice, after)
        for c in after:
            symbols, err, secs = got[c["name"]]
            want = sorted(silent[c["name"]][0] or {})
            check(f"nsd stopped, sluice {c['name']}: {' '.join(want)} in under "
                  f"{TASK_TIMEOUT:.0f} s", err is None and secs < TASK_TIMEOUT
                  and sorted(symbols) == want, f"got {symbols} in {secs:.1f} s, {err}")
        check("nsd stopped: sluice still running", sluice.proc.poll() is None)
    finally:
        if sluice:
            sluice.close()
        nsd.close()


def milter_isolation(check, work, binary, dns_port, cases):
    """Two milter sessions on the daemon's one session thread."""
    by_name = {c["name"]: c for c in cases}
    slow, fast = by_name["dkim-timeout"], by_name["spf-pass-allow"]
    # One CPU: the daemon starts one session thread, so both sessions share it.
    sluice = peers.Sluice(os.path.join(work, "milter"), binary, dns_port, dns_timeout="3s",
                          prefix=["taskset", "-c", "0"])
    sluice.wait_ready()
    try:
        done = {}

        def run(c, key):
            s = peers.MilterSession(sluice.milter)
            try:
                s.send_until_eom(c["file"], c["ip"], c["helo"], c["from"])
                t = time.monotonic()
                code, actions = s.finish()
                done[key] = (time.monotonic(), time.monotonic() - t, code, actions)
            finally:
                s.close()

        first = threading.Thread(target=run, args=(slow, "slow"))
        first.start()
        time.sleep(0.3)
        run(fast, "fast")
        first.join(TASK_TIMEOUT + 5)
        check("milter: both sessions answered", set(done) == {"slow", "fast"}, f"{done}")
        if set(done) != {"slow", "fast"}:
            return
        (s_end, s_secs, s_code, s_act), (f_end, f_secs, f_code, f_act) = done["slow"], done["fast"]
        print(f"    milter: waiting session answered after {s_secs:.2f} s, the other after "
              f"{f_secs:.2f} s")
        check("milter: the session started while the other waits on DNS is answered first",
              f_end < s_end, f"fast {f_secs:.2f} s, slow {s_secs:.2f} s")
        check(f"milter: the waiting session is answered within {TASK_TIMEOUT:.0f} s",
              s_secs < TASK_TIMEOUT, f"{s_secs:.2f} s")
        check("milter: the waiting session's result has R_DKIM_TEMPFAIL",
              any(b"R_DKIM_TEMPFAIL" in p for _, p in s_act), f"{s_act}")
        check("milter: the other session's result has R_SPF_ALLOW",
              any(b"R_SPF_ALLOW" in p for _, p in f_act), f"{f_act}")
    finally:
        sluice.close()

