#!/usr/bin/env bash
# Fuzzy storage queries per second and CPU per query: sluice's storage
# (embedded backend) vs Rspamd 3.4's fuzzy worker (sqlite backend), same
# run, same load: examples/fuzzy_load.rs adds HASHES hashes with shingles,
# then keeps WINDOW shingles checks in flight for SECONDS (half for added
# hashes, half unknown); only the checks are measured. CPU is the storage process's (sluice: the whole
# daemon; Rspamd: its fuzzy worker process) over the check phase.
# Each server is measured twice: plain datagrams, then encrypted ones (both
# storages hold one keypair; the load is one client keypair, as a
# fuzzy_check rule sends). Prints one JSON line per server and wire, with
# the load average at the end of the run. Needs root (Rspamd drops to _rspamd).
# Usage: bench/fuzzy-vs-rspamd.sh [SECONDS] [WINDOW] [HASHES]
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"
seconds=${1:-10}
window=${2:-32}
hashes=${3:-2000}
require_tools rspamd rspamadm perl ss
make_workdir
# SLUICE_BIN and LOAD_BIN name prebuilt binaries (another build of sluice
# to compare); without them both are built here.
if [ -z "${SLUICE_BIN:-}" ] || [ -z "${LOAD_BIN:-}" ]; then
    (cd "$REPO_ROOT" && cargo build --release --bin sluice --example fuzzy_load >/dev/null)
fi
load=${LOAD_BIN:-$REPO_ROOT/target/release/examples/fuzzy_load}
SLUICE_BIN=${SLUICE_BIN:-$REPO_ROOT/target/release/sluice}
hz=$(getconf CLK_TCK)

# pid_ticks PID: utime + stime of one process.
pid_ticks() { awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }

# measure NAME PID ADDR SETTLE [PUBKEY]: one load run against ADDR (sealed
# for PUBKEY if given), CPU of PID.
measure() {
    local name=$1 pid=$2 addr=$3 settle=$4 key=${5:-} out t0 t1 wire=plain
    [ -n "$key" ] && wire=encrypted
    "$load" "$addr" 0 1 "$hashes" "$settle" $key >/dev/null
    t0=$(pid_ticks "$pid")
    out=$("$load" "$addr" "$seconds" "$window" "$hashes" skip $key)
    t1=$(pid_ticks "$pid")
    perl -MJSON::PP -e '
        my ($name, $wire, $json, $ticks, $hz, $load) = @ARGV; my $r = decode_json($json);
        my $cpu = $ticks / $hz;
        $r->{server} = $name; $r->{wire} = $wire; $r->{cpu_seconds} = $cpu + 0;
        $r->{load_average} = $load + 0;
        $r->{cpu_us_per_query} = $r->{queries} ? sprintf("%.2f", 1e6 * $cpu / $r->{queries}) + 0 : undef;
        print JSON::PP->new->canonical->encode($r), "\n";' \
        "$name" "$wire" "$out" "$((t1 - t0))" "$hz" "$(cut -d' ' -f1 /proc/loadavg)"
}

# One storage keypair for both servers.
kp=$(rspamadm keypair -u)
PUBKEY=$(sed -n 's/^ *pubkey = "\(.*\)";/\1/p' <<<"$kp")
PRIVKEY=$(sed -n 's/^ *privkey = "\(.*\)";/\1/p' <<<"$kp")
KEYPAIR="keypair { pubkey = \"$PUBKEY\"; privkey = \"$PRIVKEY\"; }"

# sluice
FPORT=$(free_port)
S=$IT_WORK/sluice
mkdir -p "$S/local.d"
printf 'count = 1;\nbind_socket = "127.0.0.1:%s";\nallow_update = ["127.0.0.1"];\n%s\n' "$FPORT" "$KEYPAIR" \
    >"$S/local.d/worker-fuzzy.inc"
start_sluice --var "LOCAL_CONFDIR=$S" --var "DBDIR=$S" --var "RUNDIR=$S"
wait_for_line "$MILTER_LOG" "fuzzy storage listening" 10 || die "no fuzzy storage: $(tail -3 "$MILTER_LOG")"
measure sluice "$MILTER_PID" "127.0.0.1:$FPORT" 0
measure sluice "$MILTER_PID" "127.0.0.1:$FPORT" 0 "$PUBKEY"

# Rspamd's fuzzy worker
R=$IT_WORK/rspamd
mkdir -p "$R/local.d"
cp "$IT_DIR"/rspamd/local.d/*.conf "$IT_DIR"/rspamd/local.d/*.inc "$R/local.d/"
cp "$IT_DIR/rspamd-fuzzy/rspamd.conf" "$IT_DIR/rspamd-fuzzy/worker-fuzzy.conf" "$R/"
cp "$IT_DIR/rspamd-fuzzy/options.inc" "$R/local.d/"
echo "$KEYPAIR" >"$R/local.d/worker-fuzzy.inc"
chown -R _rspamd:_rspamd "$R"
RPORT=$(free_port)
rspamd -f -u _rspamd -g _rspamd -c "$R/rspamd.conf" \
    --var="LOCAL_CONFDIR=$R" --var="DBDIR=$R" --var="RUNDIR=$R" --var="LOGDIR=$R" \
    --var="NORMAL_PORT=$(free_port)" --var="CONTROLLER_PORT=$(free_port)" --var="FUZZY_PORT=$RPORT" \
    >"$R/stdout" 2>&1 &
RSPAMD_PID=$!
on_exit "kill -TERM $RSPAMD_PID; wait $RSPAMD_PID"
worker=
for _ in $(seq 120); do
    worker=$(pgrep -P "$RSPAMD_PID" -f 'fuzzy' | head -1 || true)
    [ -n "$worker" ] && ss -Hlun "sport = :$RPORT" | grep -q . && break
    sleep 0.5
done
[ -n "$worker" ] || die "no Rspamd fuzzy worker: $(tail -3 "$R/rspamd.log")"
measure rspamd "$worker" "127.0.0.1:$RPORT" 3
measure rspamd "$worker" "127.0.0.1:$RPORT" 3 "$PUBKEY"
