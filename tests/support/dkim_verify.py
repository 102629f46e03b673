#!/usr/bin/python3
"""Independent check of sluice's DKIM signatures and ARC seals with dkimpy
(Debian's python3-dkim): no DNS, the key records come from the command line.

usage: dkim_verify.py dkim|arc NAME=RECORD... < message
  NAME    e.g. s1._domainkey.example.com
  RECORD  the TXT record's text, e.g. "v=DKIM1; k=rsa; p=..."
Exit 0 when every DKIM-Signature verifies (dkim) or the ARC chain passes
(arc); 1 otherwise, with the reason on stderr.
"""
import sys

import dkim


def main():
    mode = sys.argv[1]
    records = {}
    for arg in sys.argv[2:]:
        name, record = arg.split("=", 1)
        records[name.rstrip(".").lower()] = record.encode()

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        return records.get(name.rstrip(".").lower())

    message = sys.stdin.buffer.read()
    if mode == "dkim":
        d = dkim.DKIM(message)
        count = message.lower().count(b"\ndkim-signature:") + message.lower().startswith(b"dkim-signature:")
        if count == 0:
            print("no DKIM-Signature", file=sys.stderr)
            return 1
        for idx in range(count):
            try:
                ok = d.verify(idx=idx, dnsfunc=dnsfunc)
            except dkim.DKIMException as e:
                print("signature %d: %s" % (idx, e), file=sys.stderr)
                return 1
            if not ok:
                print("signature %d does not verify" % idx, file=sys.stderr)
                return 1
        print("%d signature(s) verified" % count)
        return 0
    if mode == "arc":
        cv, results, reason = dkim.arc_verify(message, dnsfunc=dnsfunc)
        # dkimpy gives the chain validation as bytes, or None when it found
        # no ARC set at all.
        verdict = cv.decode() if isinstance(cv, bytes) else str(cv)
        print(verdict, reason, file=sys.stderr)
        return 0 if cv == dkim.CV_Pass else 1
    print("unknown mode " + mode, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
