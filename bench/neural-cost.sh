#!/usr/bin/env bash
# The neural module's cost, on the daemon over HTTP /checkv2 on loopback:
#  1. CPU per message with a trained network applied, against the same
#     daemon without the module (runs alternate, off/on/off/on; CPU is the
#     daemon's user+system time from /proc over each run);
#  2. scan latency p99 while a training run is going on, against the same
#     daemon before it (while the sets fill) and once it is over (the same
#     messages as during it). One client sends scan after scan, so the
#     training waits for the scans and runs at its `cpu_share`; the client
#     does the same work between two scans in every phase (it reads only
#     the new lines of the daemon's log). The machine's own load moves these
#     figures: read them with the load average beside them.
# A first daemon trains the network on the corpus (autolearn by score); the
# measuring daemons start from copies of its embedded store (with autotrain off,
# or without the module), so their figures hold no storing or training and
# both see the same stored state.
#
#   [ROUNDS=2] bench/neural-cost.sh [MESSAGES]    # default 600, from $SHARED/corpus/{ham,spam}
# Needs python3 and a release build. Prints one JSON line.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${SLUICE_BIN:-$ROOT/target/release/sluice}
SHARED=${SHARED:-$(cd "$ROOT/.." && pwd)/shared}
N=${1:-600}
[ -x "$BIN" ] || { echo "no sluice binary at $BIN" >&2; exit 1; }
[ -d "$SHARED/corpus/ham" ] || { echo "no corpus at $SHARED/corpus (set SHARED)" >&2; exit 1; }
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

rule() { # NAME TRAIN-KEYS
    mkdir -p "$tmp/$1/local.d"
    cat >"$tmp/$1/local.d/neural.conf" <<CONF
rules { BENCH { watch_interval = 1s; train { spam_score = 6; ham_score = 2; $2 } } }
CONF
    echo 'symbols { NEURAL_SPAM { weight = 3.0; } NEURAL_HAM { weight = -3.0; } }' \
        >"$tmp/$1/local.d/neural_group.conf"
}
rule train "max_trains = 200;"
rule apply "max_trains = 200; autotrain = false;"
rule slow "max_trains = 200; max_iterations = 400;"
mkdir -p "$tmp/off/local.d"

# Every message once, ham and spam interleaved.
mapfile -t ALL < <(paste -d '\n' <(ls "$SHARED"/corpus/ham/*.eml) <(ls "$SHARED"/corpus/spam/*.eml))
printf '%s\n' "${ALL[@]}" >"$tmp/all.txt"
step=$(( ${#ALL[@]} / N > 1 ? ${#ALL[@]} / N : 1 ))
printf '%s\n' "${ALL[@]}" | awk -v step="$step" 'NR % step == 0' | head -n "$N" >"$tmp/measure.txt"

start() { # CONF DB -> sets PID HPORT
    # The log exists before the daemon starts: the wait below reads it at once.
    : >"$tmp/$1-$2.log"
    "$BIN" run --var "LOCAL_CONFDIR=$tmp/$1" --var "DBDIR=$tmp/$2" \
        --milter inet:127.0.0.1:0 --http 127.0.0.1:0 --controller 127.0.0.1:0 \
        --pid-file "$tmp/$1.pid" 2>>"$tmp/$1-$2.log" &
    PID=$!
    pids+=("$PID")
    for _ in $(seq 300); do
        HPORT=$(sed -n 's/.*http listening on inet:127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/$1-$2.log")
        [ -n "$HPORT" ] && return 0
        sleep 0.1
    done
    echo "daemon $1 did not start" >&2; cat "$tmp/$1-$2.log" >&2; exit 1
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; }

# drive.py MODE PORT PID LOG FILELIST: MODE train (send until a network is
# trained), cpu / cpu-net (CPU us per message and how many got NEURAL_*;
# cpu-net first waits for the stored network), during (latencies while
# training runs, then as many after it).
cat >"$tmp/drive.py" <<'PY'
import http.client, json, os, re, sys, time
mode, port, pid, log, listfile = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
files = [l.strip() for l in open(listfile) if l.strip()]
tick = os.sysconf("SC_CLK_TCK")
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick
# The log is read incrementally: reading the whole of it between two scans
# would leave the next scan a cold cache (it grows by a line per message).
seen_lines, log_at = [], 0
def logged(pat):
    global log_at
    with open(log, "rb") as f:
        f.seek(log_at)
        chunk = f.read()
    end = chunk.rfind(b"\n") + 1
    log_at += end
    seen_lines.extend(l for l in chunk[:end].decode(errors="replace").splitlines() if "neural" in l)
    return any(re.search(pat, l) for l in seen_lines)
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
def send(path):
    t = time.perf_counter()
    conn.request("POST", "/checkv2", open(path, "rb").read(), {"IP": "198.51.100.7", "From": "sender@example.com"})
    r = conn.getresponse(); body = r.read()
    assert r.status == 200, r.status
    return time.perf_counter() - t, json.loads(body)
def p99(xs):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(len(xs) * 0.99))] * 1000
if mode == "train":
    for i, p in enumerate(files):
        send(p)
        if logged(r"trained network version"): print(i + 1); sys.exit(0)
    for _ in range(600):
        if logged(r"trained network version"): print(len(files)); sys.exit(0)
        time.sleep(0.1)
    sys.exit("no network was trained")
if mode in ("cpu", "cpu-net"):
    for p in files[:30]: send(p)                  # warm-up (the first scan starts the module)
    for _ in range(600):
        if mode == "cpu" or logged(r"loaded network version"): break
        time.sleep(0.1)
    else:
        sys.exit("the stored network was not loaded")
    c0, seen = cpu(), 0
    for p in files:
        _, r = send(p); seen += any(s.startswith("NEURAL_") for s in r.get("symbols", {}))
    print(f"{(cpu() - c0) / len(files) * 1e6:.0f} {seen}")
if mode == "during":
    i, before = 0, []
    while not logged(r"training on \d+ vectors"):
        before.append(send(files[i % len(files)])[0]); i += 1
    during, first = [], i
    while not logged(r"trained network version"):
        during.append(send(files[i % len(files)])[0]); i += 1
    # The same messages again, the training over.
    after = [send(files[(first + k) % len(files)])[0] for k in range(len(during))]
    print(f"{len(during)} {p99(before):.2f} {p99(during):.2f} {p99(after):.2f}")
PY

# 1. Train the network the measuring daemons load.
start train db
trained_after=$(python3 "$tmp/drive.py" train "$HPORT" "$PID" "$tmp/train-db.log" "$tmp/all.txt")
stop

# 2. CPU per message, alternating. Each run starts from a copy of the trained
# daemon's store, with the module or without it: the same greylisting, history
# and Bayes records (the measured messages were all seen in step 1), so that only
# the network's work differs.
fresh() { rm -rf "$tmp/db-run"; cp -a "$tmp/db" "$tmp/db-run"; }
declare -a on_cpu off_cpu
seen=0
for round in $(seq "${ROUNDS:-2}"); do
    fresh
    start off db-run
    read -r c _ < <(python3 "$tmp/drive.py" cpu "$HPORT" "$PID" "$tmp/off-db-run.log" "$tmp/measure.txt")
    off_cpu+=("$c"); stop
    fresh
    start apply db-run
    read -r c seen < <(python3 "$tmp/drive.py" cpu-net "$HPORT" "$PID" "$tmp/apply-db-run.log" "$tmp/measure.txt")
    on_cpu+=("$c"); stop
done
[ "$seen" -gt 0 ] || { echo "the network was never applied" >&2; exit 1; }

# 3. Latency p99 during a (long) training run and after it.
start slow db-slow
read -r during_n p99_before p99_during p99_after < <(python3 "$tmp/drive.py" during "$HPORT" "$PID" "$tmp/slow-db-slow.log" "$tmp/all.txt")
train_ms=$(sed -n 's/.*trained network version [0-9]* on [0-9]* vectors in \([0-9]*\) ms.*/\1/p' "$tmp/slow-db-slow.log" | head -n1)
stop

sum() { local t=0 v; for v in "$@"; do t=$((t + v)); done; echo "$t"; }
off_avg=$(( $(sum "${off_cpu[@]}") / ${#off_cpu[@]} ))
on_avg=$(( $(sum "${on_cpu[@]}") / ${#on_cpu[@]} ))
echo "{\"load_average\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"messages\":$(wc -l <"$tmp/measure.txt"),\"trained_after_messages\":$trained_after,\"cpu_us_per_msg_off\":[$(IFS=,; echo "${off_cpu[*]}")],\"cpu_us_per_msg_applied\":[$(IFS=,; echo "${on_cpu[*]}")],\"cpu_ratio\":$(python3 -c "print(round($on_avg / $off_avg, 3))"),\"messages_with_neural_symbol\":$seen,\"training_ms\":${train_ms:-null},\"scans_during_training\":$during_n,\"p99_ms_before_training\":$p99_before,\"p99_ms_during_training\":$p99_during,\"p99_ms_after\":$p99_after}"
