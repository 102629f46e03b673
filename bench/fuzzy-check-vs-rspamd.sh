#!/usr/bin/env bash
# Scan CPU per message with fuzzy_check on, sluice against Rspamd 3.4 with
# the same rule (mumhash, Debian's rule options, one storage), same run.
#
# Rspamd 3.4 runs a scanner, a controller and a fuzzy storage worker on a
# private redis-server (integration/fuzzy/); a quarter of the messages are
# added to the storage first, so the scans see matches and misses. sluice
# runs twice over HTTP /checkv2 (its rule on Rspamd's storage, then no rule);
# Rspamd's scanner once with the rule. CPU is each scanner's user+system
# time from /proc over the run (sluice: the daemon; Rspamd: its normal
# worker, the storage's CPU apart). All on loopback.
#
#   bench/fuzzy-check-vs-rspamd.sh [MESSAGES]   # default 400, from $SHARED/corpus/{ham,spam}
# Needs rspamd, redis-server, python3 and a release build.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-400}
SLUICE_BIN=${SLUICE_BIN:-$ROOT/target/release/sluice}
export SLUICE_BIN
# shellcheck source=../integration/lib.sh
source "$ROOT/integration/lib.sh"
source "$IT_DIR/fuzzy/start.sh"
[ -x "$SLUICE_BIN" ] || die "no sluice binary at $SLUICE_BIN"
make_workdir
FUZZY_HYPERSCAN=1 start_fuzzy_rspamd mumhash

mapfile -t FILES < <(ls "$SHARED"/corpus/ham/*.eml "$SHARED"/corpus/spam/*.eml | awk 'NR % 5 == 0' | head -n "$N")
for ((i = 0; i < ${#FILES[@]}; i += 4)); do
    rspamc -h "$RSPAMD_CONTROLLER" fuzzy_add -f 1 -w 10 "${FILES[$i]}" >/dev/null 2>&1 || true
done
sleep 1

mkdir -p "$IT_WORK/on/local.d" "$IT_WORK/off/local.d"
sed -e "s/@ALGORITHM@/mumhash/" -e "s/@FUZZY_PORT@/$FUZZY_PORT/" -e "s|@ENCRYPTION_KEY@||" \
    "$IT_DIR/fuzzy/fuzzy_check.conf.in" >"$IT_WORK/on/local.d/fuzzy_check.conf"

# measure HOST:PORT PID: CPU microseconds per message over the files
# (after a warm-up of 50), and the share of scans with a FUZZY symbol.
measure() {
    python3 - "$1" "$2" "${FILES[@]}" <<'PY'
import http.client, json, os, sys
host, port = sys.argv[1].rsplit(":", 1)
pid, files = sys.argv[2], sys.argv[3:]
tick = os.sysconf("SC_CLK_TCK")
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick
conn = http.client.HTTPConnection(host, int(port), timeout=30)
def send(path):
    conn.request("POST", "/checkv2", open(path, "rb").read(), {"IP": "198.51.100.7"})
    r = conn.getresponse(); body = r.read(); assert r.status == 200, r.status
    return any(s.startswith("FUZZY_") for s in json.loads(body).get("symbols", {}))
for p in files[:50]: send(p)
c0 = cpu()
hits = sum(send(p) for p in files)
c1 = cpu()
print(f"{(c1 - c0) / len(files) * 1e6:.0f} {hits}")
PY
}

sluice_run() { # NAME -> "cpu_us hits"
    local name=$1 pid addr
    "$SLUICE_BIN" run --var "LOCAL_CONFDIR=$IT_WORK/$name" --var "DBDIR=$IT_WORK/db-$name" \
        --milter inet:127.0.0.1:0 --http 127.0.0.1:0 --controller 127.0.0.1:0 \
        2>"$IT_WORK/$name.log" >/dev/null &
    pid=$!
    wait_for_line "$IT_WORK/$name.log" 'http listening on' 30 || die "sluice did not start"
    addr=$(sed -n 's/.*http listening on inet:\([0-9.:]*\).*/\1/p' "$IT_WORK/$name.log" | head -1)
    measure "$addr" "$pid"
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
}

normal_pid=$(ps -o pid=,args= --ppid "$RSPAMD_PID" | awk '/normal/ {print $1; exit}')
[ -n "$normal_pid" ] || die "no normal worker under rspamd pid $RSPAMD_PID"
read -r rspamd_on rspamd_hits < <(measure "$RSPAMD_NORMAL" "$normal_pid")
read -r sluice_on sluice_hits < <(sluice_run on)
read -r sluice_off _ < <(sluice_run off)
echo "{\"messages\":${#FILES[@]},\"rspamd_cpu_us_per_msg_fuzzy_on\":$rspamd_on,\"rspamd_fuzzy_hits\":$rspamd_hits,\"sluice_cpu_us_per_msg_fuzzy_on\":$sluice_on,\"sluice_fuzzy_hits\":$sluice_hits,\"sluice_cpu_us_per_msg_fuzzy_off\":$sluice_off}"
