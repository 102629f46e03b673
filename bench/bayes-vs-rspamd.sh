#!/usr/bin/env bash
# Rspamd 3.4's own Bayes on the same k-fold split as `sluice eval-bayes`, so
# that sluice's cross-validated accuracy has its reference beside it.
#
#   bench/bayes-vs-rspamd.sh [CORPUS_DIR] [FOLDS]     # default ../shared/corpus 5
#
# The messages are spam then ham, each sorted by name, and message i belongs
# to fold i % FOLDS: the order `sluice eval-bayes --spam DIR --ham DIR` uses.
# For each fold a fresh Rspamd (the private configuration of
# integration/rspamd/, every network module off, plus a controller worker and
# a Redis Bayes classifier on a fresh Redis) learns the other folds through
# `rspamc learn_spam`/`learn_ham` and then scans the fold's messages. The
# report gives, per class, how many messages got BAYES_SPAM / BAYES_HAM /
# neither, and how many reached each action's score (Rspamd's content rules
# plus its Bayes), next to the same table without Bayes (rules only, which is
# Rspamd's scan before any learning).
#
# Needs: redis-server, redis-cli, rspamd, rspamc, jq; root or the _rspamd user.
# Everything listens on 127.0.0.1 only and is torn down at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
corpus=$(cd "${1:-$here/../shared/corpus}" && pwd)
folds=${2:-5}
rspamd_user=${RSPAMD_USER:-_rspamd}
work=$(mktemp -d)
chmod 755 "$work"
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

for tool in redis-server redis-cli rspamd rspamc jq; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done

mapfile -t files < <({ find "$corpus/spam" -maxdepth 1 -type f | sort; find "$corpus/ham" -maxdepth 1 -type f | sort; })
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_rspamd DIR -> sets ctl (controller address); Redis and Rspamd fresh.
start_rspamd() {
  local rs=$1 rport ctlport
  rport=$(free_port); ctlport=$(free_port)
  redis-server --bind 127.0.0.1 --port "$rport" --save '' --appendonly no >/dev/null 2>&1 &
  pids+=($!)
  until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.1; done
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
  ctl=127.0.0.1:$ctlport
  redis=$rport
  for _ in $(seq 240); do
    rspamc -h "$ctl" stat >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "rspamd did not start; its log:" >&2
  tail -20 "$rs/rspamd.log" "$rs/stdout" >&2
  exit 1
}

# scan FILES... -> one line per file: name <TAB> score <TAB> bayes side
scan() {
  rspamc -h "$ctl" -j symbols "$@" 2>/dev/null | jq -r '
    [ (.filename // "?"), (.score // 0),
      (if .symbols.BAYES_SPAM then "spam" elif .symbols.BAYES_HAM then "ham" else "none" end)
    ] | @tsv'
}

: >"$work/results"
for fold in $(seq 0 $((folds - 1))); do
  train_spam=(); train_ham=(); test=()
  for i in "${!files[@]}"; do
    f=${files[$i]}
    if [ $((i % folds)) -eq "$fold" ]; then
      test+=("$f")
    elif [[ $f == "$corpus/spam/"* ]]; then
      train_spam+=("$f")
    else
      train_ham+=("$f")
    fi
  done
  start_rspamd "$work/fold$fold"
  rspamc -h "$ctl" learn_spam "${train_spam[@]}" >"$work/learn$fold" 2>&1 || true
  rspamc -h "$ctl" learn_ham "${train_ham[@]}" >>"$work/learn$fold" 2>&1 || true
  learned_spam=$(redis-cli -p "$redis" hget RS learns_spam)
  learned_ham=$(redis-cli -p "$redis" hget RS learns_ham)
  # The controller reads the learned counts from Redis on a timer; wait
  # until its scans can see them (a scan with Bayes active names a side).
  for _ in $(seq 60); do
    [ "$(scan "${test[0]}" | cut -f3)" != none ] && break
    sleep 1
  done
  scan "${test[@]}" >>"$work/results"
  echo "fold $fold: learned ${learned_spam:-0} spam, ${learned_ham:-0} ham (of ${#train_spam[@]}, ${#train_ham[@]}); scanned ${#test[@]}" >&2
  stop_all
done

# Rspamd's default thresholds: reject 15, add header 6, greylist 4.
awk -F'\t' -v spamdir="$corpus/spam/" '
  { cls = (index($1, spamdir) == 1) ? "spam" : "ham"; n[cls]++; side[cls, $3]++
    if ($2 >= 4) g[cls]++; if ($2 >= 6) a[cls]++; if ($2 >= 15) r[cls]++ }
  END {
    printf "Rspamd 3.4 Bayes, %d-fold: class  BAYES_SPAM BAYES_HAM none\n", '"$folds"'
    for (c in n) printf "  %-5s %10d %9d %5d\n", c, side[c, "spam"], side[c, "ham"], side[c, "none"]
    printf "with Bayes, share at or above each action (content rules + Bayes):\n"
    for (c in n) printf "  %-5s greylist %6.2f%% (%d)  add header %6.2f%% (%d)  reject %6.2f%% (%d)\n",
      c, 100*g[c]/n[c], g[c], 100*a[c]/n[c], a[c], 100*r[c]/n[c], r[c]
  }' "$work/results"
