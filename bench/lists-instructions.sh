#!/usr/bin/env bash
# Instructions per scanned message with the shipped DNS lists on, counted by callgrind over
# the whole `sluice scan` process (the lists read the message in the asynchronous phase,
# outside the pipeline's scan, so bench/scan-instructions.sh's window would miss them).
#
# nsd on a free loopback port is authoritative for the root zone (every list name gets an
# answer from loopback, nothing leaves the machine); SPF, DKIM, DMARC, ARC and hfilter's
# host lookups are off, so the lists are the only DNS work. Scans every STEP-th message
# (default 10) of $SHARED/corpus/{ham,spam} once, then twice in one process: the difference
# over the message count is the warm figure (cache filled, startup excluded). Prints lists off and
# lists on, and their difference: what the lists cost a message.
#
#   bench/lists-instructions.sh [path/to/sluice]    # default target/release/sluice
# Needs valgrind and nsd.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/target/release/sluice}
SHARED=${SHARED:-$(cd "$ROOT/.." && pwd)/shared}
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 1; }
[ -x /usr/sbin/nsd ] || { echo "nsd is needed" >&2; exit 1; }
[ -x "$BIN" ] || { echo "no sluice binary at $BIN" >&2; exit 1; }
tmp=$(mktemp -d)
nsd_pid=
cleanup() {
    [ -n "$nsd_pid" ] && kill "$nsd_pid" 2>/dev/null
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

nport=$(free_port)
cat >"$tmp/root.zone" <<'ZONE'
$ORIGIN .
$TTL 300
@ IN SOA ns.bench. admin.bench. 1 3600 600 86400 60
@ IN NS ns.bench.
ns.bench. IN A 127.0.0.1
2.100.51.198.zen.spamhaus.org. IN A 127.0.0.2
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
nsd_pid=$!

mkdir -p "$tmp/on/local.d" "$tmp/off/local.d"
for m in spf dkim dmarc arc; do echo "enabled = false;" >"$tmp/on/local.d/$m.conf"; done
printf 'helo_enabled = false;\nfrom_enabled = false;\nmid_enabled = false;\n' \
    >"$tmp/on/local.d/hfilter.conf"
cp "$tmp/on/local.d/"*.conf "$tmp/off/local.d/"
echo "dns { nameserver = [\"127.0.0.1:$nport\"]; timeout = 1s; retransmits = 1; }" \
    >"$tmp/on/local.d/options.inc"
# Ready once nsd answers the root's SOA.
for _ in $(seq 50); do
    python3 - "$nport" <<'PY' && break
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.2)
s.sendto(bytes.fromhex("123401000001000000000000" "00" "0006" "0001"), ("127.0.0.1", int(sys.argv[1])))
try:
    s.recv(512)
except OSError:
    sys.exit(1)
PY
    sleep 0.1
done

mapfile -t FILES < <(ls "$SHARED"/corpus/ham/*.eml "$SHARED"/corpus/spam/*.eml | awk -v s="${STEP:-10}" "NR % s == 0")
N=${#FILES[@]}

count() { # config files... -> instructions of the whole process
    local conf=$1
    shift
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "$BIN" scan \
        --var "LOCAL_CONFDIR=$tmp/$conf" --var "DBDIR=$tmp/db" \
        --ip 198.51.100.2 --helo mail.example.com --from sender@example.com "$@" \
        >/dev/null 2>"$tmp/cg.err" || true
    grep -oE 'Collected : [0-9]+' "$tmp/cg.err" | awk '{print $3}'
}
for conf in off on; do
    one=$(count "$conf" "${FILES[@]}")
    two=$(count "$conf" "${FILES[@]}" "${FILES[@]}")
    eval "warm_$conf=$(((two - one) / N))"
done
echo "$N messages, warm instructions/message: lists off $warm_off, lists on $warm_on," \
    "the lists $((warm_on - warm_off))"
