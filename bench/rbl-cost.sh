#!/usr/bin/env bash
# CPU per message and DNS queries per message with the shipped DNS lists on, against the
# same daemon with no nameserver (lists off), over HTTP /checkv2 on loopback.
#
# nsd on a free loopback port is authoritative for the root zone, so every list zone of
# conf/rules/rbl.conf gets an answer from loopback and nothing leaves the machine (a few
# test addresses are listed; the rest is NXDOMAIN, cached for the SOA's minimum). SPF,
# DKIM, DMARC, ARC and hfilter's host lookups are switched off, so the figures are the
# lists' alone. Each message is sent with `IP:` (a public test address), `Helo` and `From`.
# CPU is the daemon's user+system time from /proc over the run.
#
#   bench/rbl-cost.sh [MESSAGES]     # default 1000, from $SHARED/corpus/{ham,spam}
# Needs nsd, python3 and a release build.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/target/release/sluice
SHARED=${SHARED:-$(cd "$ROOT/.." && pwd)/shared}
N=${1:-1000}
[ -x "$BIN" ] || { echo "no sluice binary at $BIN" >&2; exit 1; }
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

nport=$(free_port)
cat >"$tmp/root.zone" <<'ZONE'
$ORIGIN .
$TTL 300
@ IN SOA ns.bench. admin.bench. 1 3600 600 86400 60
@ IN NS ns.bench.
ns.bench. IN A 127.0.0.1
2.100.51.198.zen.spamhaus.org. IN A 127.0.0.2
3.100.51.198.zen.spamhaus.org. IN A 127.0.0.4
3.100.51.198.list.dnswl.org. IN A 127.0.10.1
ZONE
cat >"$tmp/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.1
  port: $nport
  username: ""
  chroot: ""
  zonesdir: "$tmp"
  database: ""
  pidfile: "$tmp/nsd.pid"
  xfrdfile: "$tmp/xfrd.state"
  zonelistfile: "$tmp/zone.list"
  xfrdir: "$tmp"
  logfile: "$tmp/nsd.log"
  server-count: 1
remote-control:
  control-enable: no
zone:
  name: "."
  zonefile: root.zone
CONF
/usr/sbin/nsd -d -c "$tmp/nsd.conf" >/dev/null 2>&1 &
pids+=($!)

mkdir -p "$tmp/on/local.d" "$tmp/off/local.d"
for m in spf dkim dmarc arc; do echo "enabled = false;" >"$tmp/on/local.d/$m.conf"; done
printf 'helo_enabled = false;\nfrom_enabled = false;\nmid_enabled = false;\n' \
    >"$tmp/on/local.d/hfilter.conf"
cp "$tmp/on/local.d/"*.conf "$tmp/off/local.d/"
echo "dns { nameserver = [\"127.0.0.1:$nport\"]; timeout = 1s; retransmits = 1; }" \
    >"$tmp/on/local.d/options.inc"

mapfile -t FILES < <(ls "$SHARED"/corpus/ham/*.eml "$SHARED"/corpus/spam/*.eml | awk 'NR % 3 == 0' | head -n "$N")

run() { # name -> "cpu_us_per_msg queries_per_msg"
    local name=$1 hport cport pid
    # The log exists before the daemon starts: the wait below reads it at once.
    : >"$tmp/$name.log"
    "$BIN" run --var "LOCAL_CONFDIR=$tmp/$name" --var "DBDIR=$tmp/db-$name" \
        --milter inet:127.0.0.1:0 --http 127.0.0.1:0 --controller 127.0.0.1:0 \
        --pid-file "$tmp/$name.pid" 2>>"$tmp/$name.log" &
    pids+=($!)
    pid=$!
    for _ in $(seq 200); do
        hport=$(sed -n 's/.*http listening on inet:127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/$name.log")
        cport=$(sed -n 's/.*controller listening on inet:127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/$name.log")
        [ -n "$hport" ] && [ -n "$cport" ] && break
        sleep 0.1
    done
    python3 - "$hport" "$cport" "$pid" "${FILES[@]}" <<'PY'
import http.client, os, sys
hport, cport, pid, files = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
tick = os.sysconf("SC_CLK_TCK")
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick
def metric(name):
    c = http.client.HTTPConnection("127.0.0.1", cport, timeout=10)
    c.request("GET", "/metrics"); body = c.getresponse().read().decode()
    return sum(float(l.split()[-1]) for l in body.splitlines() if l.startswith(name + "{") or l.startswith(name + " "))
conn = http.client.HTTPConnection("127.0.0.1", hport, timeout=30)
def send(i, path):
    body = open(path, "rb").read()
    conn.request("POST", "/checkv2", body, {"IP": f"198.51.100.{i % 250 + 1}",
        "Helo": "mail.example.com", "From": "sender@example.com"})
    r = conn.getresponse(); r.read(); assert r.status == 200, r.status
for i, p in enumerate(files[:50]): send(i, p)          # warm-up
q0, c0 = metric("sluice_rbl_queries_total"), cpu()
d0 = metric("sluice_dns_queries_total")
for i, p in enumerate(files): send(i, p)
c1, q1, d1 = cpu(), metric("sluice_rbl_queries_total"), metric("sluice_dns_queries_total")
n = len(files)
print(f"{(c1 - c0) / n * 1e6:.0f} {(q1 - q0) / n:.1f} {(d1 - d0) / n:.2f}")
PY
    kill "$pid"; wait "$pid" 2>/dev/null || true
}
read -r off_cpu _ _ < <(run off)
read -r on_cpu lookups queries < <(run on)
echo "{\"messages\":${#FILES[@]},\"cpu_us_per_msg_lists_off\":$off_cpu,\"cpu_us_per_msg_lists_on\":$on_cpu,\"list_lookups_per_msg\":$lookups,\"dns_queries_per_msg\":$queries}"
