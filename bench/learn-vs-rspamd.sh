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
corpus=$(cd "${1:-$here/../shared/corpus}" && pwd)
n=${2:-500}
bin=$here/target/release/sluice
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/spam" "$work/ham"
for class in spam ham; do
  mapfile -t files < <(ls "$corpus/$class")
  for f in "${files[@]:0:$n}"; do ln -s "$corpus/$class/$f" "$work/$class/$f"; done
done
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
up=0
for _ in $(seq 240); do
  if rspamc -h "127.0.0.1:$ctlport" stat >/dev/null 2>&1; then up=1; break; fi
  sleep 0.5
done
if [ "$up" != 1 ]; then
  echo "rspamd did not start; its log:" >&2; tail -20 "$work/rspamd.log" >&2; exit 1
fi
t0=$(now)
rspamc -h "127.0.0.1:$ctlport" learn_spam "$work/spam" >"$work/rspamc.out" 2>&1 || true
rspamc -h "127.0.0.1:$ctlport" learn_ham "$work/ham" >>"$work/rspamc.out" 2>&1 || true
t1=$(now)
rsp=$(rate "$total" "$(echo "$t1 - $t0" | bc)")
learned=$(rspamc -h "127.0.0.1:$ctlport" stat 2>/dev/null | sed -n 's/.*learned: \([0-9]*\).*/\1/p' | awk '{s+=$1} END {print s+0}')

printf '%-28s %10s\n' "learner ($total messages)" "msg/s"
printf '%-28s %10s\n' "sluice learn (embedded)" "$emb"
printf '%-28s %10s\n' "sluice learn (redis)" "$red"
printf '%-28s %10s\n' "rspamc learn (rspamd 3.4)" "$rsp"
rspamc -h "127.0.0.1:$ctlport" stat 2>/dev/null | grep -i 'statfile' || echo "(rspamd stat unavailable; see $work/rspamd.log)"
if [ "$learned" = 0 ]; then
  echo "WARNING: rspamd learned 0 messages, so its msg/s figure is not valid; rspamc said:" >&2
  sort "$work/rspamc.out" | uniq -c | sort -rn | head -5 >&2
fi
