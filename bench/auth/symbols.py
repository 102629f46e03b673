#!/usr/bin/python3
"""What the checks of bench/auth-vs-rspamd.sh found: every message of the
signed corpus once through each scanner's /checkv2 (with the envelope the
load tools send), then, per message kind, how many messages got each set of
SPF, DKIM, DMARC and ARC symbols from each scanner, and on how many
messages the two scanners' sets differ. It is also the HTTP warm-up.

    symbols.py MIX_TSV MSG_DIR NAME=URL...

Exits non-zero when a scan fails or a scanner gives no SPF, DKIM or DMARC
symbol to a message (the checks did not run).
"""

import collections
import concurrent.futures
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "integration", "auth"))
import peers  # noqa: E402

PREFIXES = ("R_SPF_", "R_DKIM_", "DMARC_", "ARC_")
RETURN_PATH = re.compile(rb"^Return-Path: <([^>]*)>", re.M)


def auth_set(reply):
    return " ".join(sorted(n for n in reply.get("symbols", {}) if n.startswith(PREFIXES)))


def scan_all(url, files):
    scanner = peers.HttpScanner()
    scanner.url = url

    def one(path):
        with open(path, "rb") as f:
            mail_from = RETURN_PATH.search(f.read(4096)).group(1).decode()
        return auth_set(scanner.scan(path, "127.0.0.1", "client.bench.test", mail_from))

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, files))


def main():
    mix_tsv, msgs = sys.argv[1], sys.argv[2]
    scanners = dict(a.split("=", 1) for a in sys.argv[3:])
    with open(mix_tsv) as f:
        mix = [line.split() for line in f]
    files = [os.path.join(msgs, name) for name, _ in mix]
    results = {name: scan_all(url, files) for name, url in scanners.items()}
    ok = True
    for kind in dict.fromkeys(k for _, k in mix):
        idx = [i for i, (_, k) in enumerate(mix) if k == kind]
        print(f"  {kind} ({len(idx)} messages)")
        for name, sets in results.items():
            for syms, n in collections.Counter(sets[i] for i in idx).most_common():
                print(f"    {name:7} {n:5}  {syms or '(none)'}")
                if not all(g in syms for g in ("R_SPF_", "R_DKIM_", "DMARC_")):
                    ok = False
        names = list(results)
        if len(names) == 2:
            a, b = (results[n] for n in names)
            differ = [mix[i][0] for i in idx if a[i] != b[i]]
            print(f"    differ on {len(differ)} of {len(idx)}: {' '.join(differ[:10])}")
    if not ok:
        print("auth checks missing on some messages (a symbol group is absent)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
