#!/usr/bin/python3
"""The mail and the DNS zones of bench/auth-vs-rspamd.sh, made at bench time.

    signed_ham.py HAM_DIR OUT_DIR

Reads every message of HAM_DIR and writes into OUT_DIR:

- msgs/NAME: the message as an MTA would pass it on (CRLF line ends), its
  From: address moved to a test domain (one per From: domain of the corpus,
  so the mail has as many sender domains as the corpus has), a
  `Return-Path` that `sluice bench milter` and the HTTP load tool take as
  MAIL FROM, and, by the message's index, one of the kinds in MIX;
- zones/*.zone and zones.list ("NAME FILE" per line): one zone per sender
  domain (SPF with `mx` and an `include:` of a shared provider, a 2048-bit
  DKIM key, a DMARC policy of p=none, quarantine or reject by turns) and the
  shared zones (the provider's SPF, a forwarder's and a mailing list's);
- mix.tsv: "FILE KIND" per message.

The client is 127.0.0.1 on both protocols (the milter load tool's fixed
client), so the SPF records list it; the scanners are told to check local
mail. The keys are made fresh on every run with openssl; signatures and ARC
seals are dkimpy's (integration/dns/fixtures.py's helpers). Every name a
scanner asks for is in these zones, all under the reserved `.test` TLD.
"""

import multiprocessing
import os
import re
import sys

import dkim

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "integration", "dns"))
import fixtures  # noqa: E402

SELECTOR = "bench"
ESP_SPF = "_spf.esp.test"  # the mail provider every sender domain includes
FORWARDER = "fwd.test"  # rewrites MAIL FROM, not in the senders' SPF
LIST = "lists.test"  # a mailing list: adds a footer, seals with ARC
HELO_ZONE = "bench.test"  # the load tools' HELO name, client.bench.test
# Message kinds, by index modulo 20: (kind, share in twentieths).
MIX = [
    ("signed", 14),  # DKIM pass, SPF pass, DMARC pass
    ("unsigned", 2),  # SPF pass (aligned), no signature
    ("forwarded", 1),  # DKIM pass, SPF fail (forwarder's MAIL FROM)
    ("list", 2),  # DKIM broken by a footer, ARC-sealed by the list, SPF pass for the list
    ("spoofed", 1),  # no signature, SPF fail, DMARC fail
]
POLICIES = ["none", "quarantine", "reject"]
FOOTER = b"\r\n--\r\nlist footer: unsubscribe at https://lists.test/\r\n"
# Headers that name other domains' signatures or results: renamed, so no
# check looks up a name outside the test zones.
FOREIGN = re.compile(rb"^(dkim-signature|domainkey-signature|arc-[a-z-]+|authentication-results)$",
                     re.I)
ADDRESS = re.compile(rb"[A-Za-z0-9._%+=-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
ANGLE_ADDRESS = re.compile(rb"<[A-Za-z0-9._%+=-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)>")


def kind_of(index):
    slot = index % 20
    for kind, share in MIX:
        if slot < share:
            return kind
        slot -= share
    raise AssertionError("MIX does not add up to 20")


def split_header(raw):
    """[(name, value with folding kept)], body; CRLF line ends."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    fields = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] = (fields[-1][0], fields[-1][1] + b"\r\n" + line)
        elif b":" in line:
            name, _, value = line.partition(b":")
            fields.append((name, value))
    return fields, body if sep else b""


def join_header(fields, body):
    return b"".join(n + b":" + v + b"\r\n" for n, v in fields) + b"\r\n" + body


def crlf(raw):
    return re.sub(rb"\r?\n", b"\r\n", raw)


class Domains:
    """One test domain per From: domain of the corpus, in order of first use."""

    def __init__(self):
        self.names = {}

    def get(self, original):
        key = original.lower()
        if key not in self.names:
            self.names[key] = f"sender{len(self.names) + 1:03d}.test"
        return self.names[key]


def rewrite(raw, domains, kind):
    """(message ready to sign, without `Return-Path`; From domain; MAIL FROM)."""
    fields, body = split_header(crlf(raw))
    out, from_domain = [], None
    for name, value in fields:
        low = name.strip().lower()
        if low == b"return-path":
            continue
        if FOREIGN.match(name.strip()):
            name = b"X-Original-" + name.strip()
        elif low == b"from" and from_domain is None:
            # The address in <>, else the first one (a display name may hold another).
            m = ANGLE_ADDRESS.search(value) or ADDRESS.search(value)
            original = m.group(1).decode() if m else "unknown.invalid"
            from_domain = domains.get(original)
            if m:
                value = value[:m.start(1)] + from_domain.encode() + value[m.end(1):]
            else:
                value = b" <nobody@" + from_domain.encode() + b">"
        out.append((name, value))
    if from_domain is None:
        from_domain = domains.get("unknown.invalid")
        out.append((b"From", b" <nobody@" + from_domain.encode() + b">"))
    mail_from = {"forwarded": f"bounce@{FORWARDER}", "spoofed": f"bounce@{FORWARDER}",
                 "list": f"bounce@{LIST}"}.get(kind, f"bounce@{from_domain}")
    return join_header(out, body), from_domain, mail_from


def make_message(job):
    """One message of the given kind, signed and sealed as its kind asks, with the
    `Return-Path` the delivering MTA puts on top."""
    raw, kind, from_domain, mail_from, key = job
    return b"Return-Path: <" + mail_from.encode() + b">\r\n" + sign_and_seal(raw, kind, from_domain, key)


def sign_and_seal(raw, kind, from_domain, key):
    if kind in ("unsigned", "spoofed"):
        return raw
    signed = fixtures.sign(raw, from_domain, SELECTOR, key)
    if kind != "list":
        return signed
    # The list checked the mail as it came in, then added its footer and sealed.
    results = (f"dkim=pass header.d={from_domain}; spf=pass smtp.mailfrom={from_domain}; "
               f"dmarc=pass header.from={from_domain}")
    return arc_seal(signed + FOOTER, results, key)


def arc_seal(msg, results, key):
    """fixtures.arc_seal with the list as sealer."""
    ar = b"Authentication-Results: " + LIST.encode() + b"; " + results.encode() + b"\r\n"
    sealed_input = ar + msg
    headers = dkim.arc_sign(sealed_input, b"arc", LIST.encode(), key, LIST.encode(),
                            include_headers=fixtures.SIGNED)
    if not headers:
        raise RuntimeError("dkimpy sealed nothing")
    return b"".join(headers) + sealed_input


def zones(domains, public):
    """{zone name: fixtures.Zone}."""
    key = fixtures.dkim_txt("rsa", public)
    z = {}
    for i, name in enumerate(sorted(domains.names.values())):
        zone = fixtures.Zone(name)
        zone.txt("@", f"v=spf1 mx include:{ESP_SPF} -all")
        zone.records.append(("@", "MX", f"10 mx.{name}."))
        zone.a("mx", "192.0.2.25")
        zone.txt(f"{SELECTOR}._domainkey", key)
        zone.txt("_dmarc", f"v=DMARC1; p={POLICIES[i % 3]}; rua=mailto:dmarc@{name}")
        z[name] = zone
    z["esp.test"] = fixtures.Zone("esp.test").txt("_spf", "v=spf1 ip4:127.0.0.0/8 ip4:192.0.2.0/24 -all")
    z[FORWARDER] = fixtures.Zone(FORWARDER).txt("@", "v=spf1 ip4:198.51.100.0/24 -all")
    z[LIST] = (fixtures.Zone(LIST).txt("@", "v=spf1 ip4:127.0.0.0/8 -all")
               .txt("arc._domainkey", key).txt("_dmarc", "v=DMARC1; p=none"))
    z[HELO_ZONE] = fixtures.Zone(HELO_ZONE).a("client", "127.0.0.1").txt("client", "v=spf1 a -all")
    return z


def main():
    ham, out = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.join(out, "msgs"))
    os.makedirs(os.path.join(out, "zones"))
    private, public = fixtures.rsa_key(2048)
    domains = Domains()
    files = sorted(f for f in os.listdir(ham) if os.path.isfile(os.path.join(ham, f)))
    jobs, kinds = [], []
    for i, f in enumerate(files):
        kind = kind_of(i)
        with open(os.path.join(ham, f), "rb") as fh:
            raw, from_domain, mail_from = rewrite(fh.read(), domains, kind)
        jobs.append((raw, kind, from_domain, mail_from, private))
        kinds.append(kind)
    # dkimpy signs in Python: two processes (the machine's cores are shared).
    with multiprocessing.Pool(2) as pool:
        msgs = pool.map(make_message, jobs, chunksize=50)
    for f, msg in zip(files, msgs):
        with open(os.path.join(out, "msgs", f), "wb") as fh:
            fh.write(msg)
    with open(os.path.join(out, "mix.tsv"), "w") as fh:
        fh.writelines(f"{f}\t{k}\n" for f, k in zip(files, kinds))
    all_zones = zones(domains, public)
    with open(os.path.join(out, "zones.list"), "w") as lst:
        for name, zone in sorted(all_zones.items()):
            path = os.path.join(out, "zones", name + ".zone")
            with open(path, "w") as fh:
                fh.write(zone.render())
            lst.write(f"{name} {path}\n")
    counts = {k: kinds.count(k) for k, _ in MIX}
    print(f"{len(files)} messages ({', '.join(f'{k} {n}' for k, n in counts.items())}), "
          f"{len(domains.names)} sender domains, {len(all_zones)} zones in {out}")


if __name__ == "__main__":
    main()
