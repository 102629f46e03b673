#!/usr/bin/env bash
# Learning speed on the same corpus, same run: `sluice learn` (embedded and
# Redis) vs `rspamc learn_spam`/`learn_ham` against a local Rspamd 3.4.
# Everything listens on 127.0.0.1 only and is torn down at the end.
#
#   bench/learn-vs-rspamd.sh [CORPUS_DIR] [N_PER_CLASS]
#
# Needs: a release build (cargo build --release), redis-server, redis-cli,
# rspamd, rspamc; root or the _rspamd user (Rspamd's workers run as _rspamd).
#
# Rspamd runs the private configuration of integration/rspamd/ (every
# network module off, DNS on an unused loopback port), plus a controller
# worker and a Redis Bayes classifier on its own Redis, so that neither
# learner sees the other's keys. Both learners get the same message files
# as arguments: rspamc skips symbolic links when it walks a directory, which
# is why an earlier version of this script (links to the corpus in a temp
# directory) had Rspamd learn nothing. The Rspamd figure is only printed as
# valid when Rspamd's Redis holds every learn (`RS` learns_spam/learns_ham);
# `rspamc stat` is no check, it refreshes the Redis counts only periodically.
#
# sluice's figures are wall time of the whole command (start-up, config and
# store included); Rspamd's is rspamc's wall time against a running daemon,
# with rspamc's default parallelism (RSPAMC_ARGS to change it, e.g. "-n 1").
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
corpus=$(cd "${1:-$here/../shared/corpus}" && pwd)
n=${2:-500}
bin=$here/target/release/sluice
rspamd_user=${RSPAMD_USER:-_rspamd}
read -r -a rspamc_args <<<"${RSPAMC_ARGS:-}"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

for tool in redis-server redis-cli rspamd rspamc bc; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
[ -x "$bin" ] || { echo "no release build at $bin (cargo build --release)" >&2; exit 1; }

mapfile -t spam < <(find "$corpus/spam" -maxdepth 1 -type f | sort | head -n "$n")
mapfile -t ham < <(find "$corpus/ham" -maxdepth 1 -type f | sort | head -n "$n")
total=$((${#spam[@]} + ${#ham[@]}))

rate() { echo "scale=1; $1 / ($2)" | bc; }
now() { date +%s.%N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_redis() { # PORT
  redis-server --bind 127.0.0.1 --port "$1" --save '' --appendonly no >/dev/null 2>&1 &
  pids+=($!)
  until redis-cli -p "$1" ping >/dev/null 2>&1; do sleep 0.1; done
}

# 1. sluice, embedded store
t0=$(now)
"$bin" learn --quiet --var "DBDIR=$work/db" --var "LOCAL_CONFDIR=$work/none" \
  --spam "${spam[@]}" --ham "${ham[@]}" >"$work/emb.out"
t1=$(now)
emb=$(rate "$total" "$t1 - $t0")

# 2. sluice, Redis store
sport=$(free_port)
start_redis "$sport"
mkdir -p "$work/sluice/local.d"
printf 'backend = "redis";\nservers = "127.0.0.1:%s";\n' "$sport" >"$work/sluice/local.d/classifier-bayes.conf"
t0=$(now)
"$bin" learn --quiet --var "LOCAL_CONFDIR=$work/sluice" --spam "${spam[@]}" --ham "${ham[@]}" >"$work/red.out"
t1=$(now)
red=$(rate "$total" "$t1 - $t0")

# 3. Rspamd 3.4, Redis Bayes on its own Redis, learned through rspamc
rport=$(free_port); ctlport=$(free_port)
start_redis "$rport"
rs=$work/rspamd
mkdir -p "$rs/local.d" "$rs/db" "$rs/run"
cp "$here/integration/rspamd/rspamd.conf" "$rs/"
cp "$here"/integration/rspamd/local.d/*.conf "$here"/integration/rspamd/local.d/*.inc "$rs/local.d/"
sed "s|@BIND@|127.0.0.1:$(free_port)|" "$here/integration/rspamd/local.d/worker-proxy.inc.in" >"$rs/local.d/worker-proxy.inc"
sed -e "s|@CONTROLLER@|127.0.0.1:$ctlport|" -e "s|@REDIS@|127.0.0.1:$rport|" "$here/integration/rspamd/bayes.conf.in" >>"$rs/rspamd.conf"
chown -R "$rspamd_user:$rspamd_user" "$rs"
rspamd -f -u "$rspamd_user" -g "$rspamd_user" -c "$rs/rspamd.conf" \
  --var "LOCAL_CONFDIR=$rs" --var "DBDIR=$rs/db" --var "RUNDIR=$rs/run" --var "LOGDIR=$rs" \
  >"$rs/stdout" 2>&1 &
pids+=($!)
up=0
for _ in $(seq 240); do
  if rspamc -h "127.0.0.1:$ctlport" stat >/dev/null 2>&1; then up=1; break; fi
  sleep 0.5
done
if [ "$up" != 1 ]; then
  echo "rspamd did not start; its log:" >&2; tail -20 "$rs/rspamd.log" "$rs/stdout" >&2; exit 1
fi
t0=$(now)
rspamc "${rspamc_args[@]}" -h "127.0.0.1:$ctlport" learn_spam "${spam[@]}" >"$work/rspamc.out" 2>&1 || true
rspamc "${rspamc_args[@]}" -h "127.0.0.1:$ctlport" learn_ham "${ham[@]}" >>"$work/rspamc.out" 2>&1 || true
t1=$(now)
rsp=$(rate "$total" "$t1 - $t0")
learned() { redis-cli -p "$rport" hget RS "$1" | grep -E '^[0-9]+$' || echo 0; }
rs_spam=$(learned learns_spam); rs_ham=$(learned learns_ham)

printf '%-30s %10s\n' "learner ($total messages)" "msg/s"
printf '%-30s %10s   %s\n' "sluice learn (embedded)" "$emb" "$(grep -m1 "msg/s" "$work/emb.out")"
printf '%-30s %10s   %s\n' "sluice learn (redis)" "$red" "$(grep -m1 "msg/s" "$work/red.out")"
printf '%-30s %10s   rspamd redis: %s spam, %s ham learned\n' "rspamc learn (rspamd 3.4)" "$rsp" "$rs_spam" "$rs_ham"
if [ $((rs_spam + rs_ham)) -ne "$total" ]; then
  echo "WARNING: rspamd learned $((rs_spam + rs_ham)) of $total messages, so its msg/s figure is not valid; rspamc said:" >&2
  grep -v -E '^(success = true;|scan_time = .*|)$' "$work/rspamc.out" | sort | uniq -c | sort -rn | head -5 >&2
  exit 1
fi
