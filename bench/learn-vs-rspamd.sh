#!/usr/bin/env bash
# Learning speed on the same corpus, same run: `sluice learn` (embedded and
# Redis) vs `rspamc learn_spam`/`learn_ham` against a local Rspamd 3.4.
# Everything listens on 127.0.0.1 only and is torn down at the end.
#
#   bench/learn-vs-rspamd.sh [CORPUS_DIR] [N_PER_CLASS]
#
# Needs: a release build (cargo build --release), redis-server, rspamd, rspamc.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
corpus=${1:-$here/../shared/corpus}
n=${2:-500}
bin=$here/target/release/sluice
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/spam" "$work/ham"
ls "$corpus/spam" | head -n "$n" | while read -r f; do ln -s "$corpus/spam/$f" "$work/spam/$f"; done
ls "$corpus/ham" | head -n "$n" | while read -r f; do ln -s "$corpus/ham/$f" "$work/ham/$f"; done
total=$((2 * n))

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", n / s }'; }
now() { date +%s.%N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# 1. sluice, embedded store
t0=$(now)
"$bin" learn --quiet --var "DBDIR=$work/db" --spam "$work/spam" --ham "$work/ham" >/dev/null
t1=$(now)
emb=$(rate "$total" "$(echo "$t1 - $t0" | bc)")

# 2. sluice, Redis store
rport=$(free_port)
redis-server --bind 127.0.0.1 --port "$rport" --save '' --appendonly no >/dev/null 2>&1 &
pids+=($!)
until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.1; done
mkdir -p "$work/local.d"
printf 'backend = "redis";\nservers = "127.0.0.1:%s";\n' "$rport" >"$work/local.d/classifier-bayes.conf"
t0=$(now)
"$bin" learn --quiet --var "LOCAL_CONFDIR=$work" --spam "$work/spam" --ham "$work/ham" >/dev/null
t1=$(now)
red=$(rate "$total" "$(echo "$t1 - $t0" | bc)")

# 3. Rspamd 3.4 with its Redis Bayes backend, learned through rspamc
rsport=$(free_port); ctlport=$(free_port)
mkdir -p "$work/rspamd/local.d" "$work/rspamd/override.d" "$work/rspamd/db" "$work/rspamd/run"
cat >"$work/rspamd/local.d/classifier-bayes.conf" <<CONF
backend = "redis";
servers = "127.0.0.1:$rport";
min_learns = 1;
CONF
cat >"$work/rspamd/local.d/worker-normal.inc" <<CONF
bind_socket = "127.0.0.1:$rsport";
CONF
cat >"$work/rspamd/local.d/worker-controller.inc" <<CONF
bind_socket = "127.0.0.1:$ctlport";
password = "";
enable_password = "";
secure_ip = "127.0.0.1";
CONF
cat >"$work/rspamd/local.d/worker-proxy.inc" <<CONF
bind_socket = "127.0.0.1:$(free_port)";
CONF
cat >"$work/rspamd/local.d/options.inc" <<CONF
dns { nameserver = ["127.0.0.1:1"]; }
CONF
rspamd -f -u "$(id -un)" -g "$(id -gn)" \
  --var "LOCAL_CONFDIR=$work/rspamd" --var "DBDIR=$work/rspamd/db" --var "RUNDIR=$work/rspamd/run" \
  --var "LOGDIR=$work/rspamd" >"$work/rspamd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do rspamc -h "127.0.0.1:$ctlport" stat >/dev/null 2>&1 && break; sleep 0.2; done
t0=$(now)
rspamc -h "127.0.0.1:$ctlport" learn_spam "$work/spam" >/dev/null 2>&1 || true
rspamc -h "127.0.0.1:$ctlport" learn_ham "$work/ham" >/dev/null 2>&1 || true
t1=$(now)
rsp=$(rate "$total" "$(echo "$t1 - $t0" | bc)")
learned=$(rspamc -h "127.0.0.1:$ctlport" stat 2>/dev/null | grep -c 'learned' || true)

printf '%-28s %10s\n' "learner ($total messages)" "msg/s"
printf '%-28s %10s\n' "sluice learn (embedded)" "$emb"
printf '%-28s %10s\n' "sluice learn (redis)" "$red"
printf '%-28s %10s\n' "rspamc learn (rspamd 3.4)" "$rsp"
rspamc -h "127.0.0.1:$ctlport" stat 2>/dev/null | grep -i 'statfile' || echo "(rspamd stat unavailable; see $work/rspamd.log)"
