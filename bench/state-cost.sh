#!/usr/bin/env bash
# What greylisting, rate limits and Bayes on Redis cost per message: sluice against
# Rspamd 3.4 with the same modules on the same redis-server, in the same run.
#
# One private redis-server; sluice keeps its records in database 1, Rspamd in database 0
# (their key prefixes are the same: Rspamd's). Each daemon reaches it through a listener
# of its own of a counting proxy (bench/state/redis_count.py), which counts the commands
# and the round trips (a command or a pipeline written at once) of each apart. Both read
# the same local.d files for the modules (Rspamd's keys): greylisting with Rspamd's
# defaults but a `timeout` of 1 s, rate limits with Rspamd's (whitelisted_rcpts) and one
# bucket, `to = "100 / 1s"`, Bayes on Redis (Rspamd: its classifier of
# integration/rspamd/bayes.conf.in); replies and history off. The short timeout makes a
# replay the retry of a greylisted message after its timeout (scanned, records renewed)
# rather than one within it, which Rspamd refuses before scanning and sluice scans. Rspamd runs the private configuration of integration/rspamd/
# (network modules off) plus a normal worker; sluice its shipped one (no nameserver: no
# DNS). Both learn the same LEARN spam and LEARN ham (the first of each class by name;
# Rspamd through rspamc and its controller, sluice with `sluice learn`), and the run
# waits until both give a Bayes symbol.
#
# The mail: COUNT messages of $SHARED/corpus (half ham, half spam, none of the learned),
# posted to each daemon's /checkv2 by the http_load example with `--envelope --spread
# 100`: each message has a client address of its own (documentation networks, none local)
# and one of 100 recipients, the same in every replay, so that greylisting and the `to`
# bucket work on every message (a message first seen gets new records, then passes and
# renews them), and no bucket fills.
#
# Everything runs in a network namespace with only loopback (as compare-rspamd.sh). After
# the warm-ups (Rspamd: until it scans with Hyperscan), ROUNDS times each daemon gets
# the COUNT messages at CONCURRENCY, the two taking turns, and each replay measures
#   - CPU per message: utime+stime of the daemon's processes from /proc, before/after;
#   - Redis commands and round trips per message, from the proxy's counts (everything the
#     daemon asked meanwhile, its timers included);
#   - msgs/s and the replies' actions (the same mail should get the same ones);
# then one replay of RT_COUNT messages at concurrency 1 per daemon gives the round trips
# of one message alone (at CONCURRENCY a multiplexed connection may write the requests of
# several messages at once). At the end: the medians, the sluice/Rspamd ratios (CPU: the
# median of the per-round ratios), the keys each database holds, the redis-server's own
# command count against the proxy's, and sluice's state and Bayes failure counters (a
# failed call would make a message cheaper; they must be 0).
#
#   cargo build --release --bin sluice --example http_load
#   bench/state-cost.sh
# Knobs: COUNT (1000), CONCURRENCY (8), ROUNDS (5), WARMUP (300), LEARN (200 per class),
# RT_COUNT (200). Needs root (ip netns), rspamd, rspamc, redis-server, redis-cli,
# python3, perl, curl.
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

require_tools ip perl ss rspamd rspamc redis-server redis-cli python3 curl getconf
make_workdir
require_bench
HTTP_LOAD=${HTTP_LOAD:-$REPO_ROOT/target/release/examples/http_load}
[ -x "$HTTP_LOAD" ] || die "no $HTTP_LOAD (cargo build --release --example http_load)"

COUNT=${COUNT:-1000}
CONCURRENCY=${CONCURRENCY:-8}
ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-300}
LEARN=${LEARN:-200}
RT_COUNT=${RT_COUNT:-200}
SPREAD=100
CORPUS=$SHARED/corpus
for d in ham spam; do [ -d "$CORPUS/$d" ] || die "corpus directory $CORPUS/$d not found (SHARED=$SHARED)"; done

loopback_netns
HZ=$(getconf CLK_TCK)
LOAD_AT_START=$(cut -d' ' -f1 /proc/loadavg)

# ---------------------------------------------------------------- the mail

# The first LEARN of each class (by name) are learned; the next COUNT/2 of each are
# scanned, from copies (`sluice bench milter`, used for Rspamd's warm-up, skips links)
# named so that ham and spam take turns (the warm-up and the replay at concurrency 1
# take the first ones).
mapfile -t ALL_SPAM < <(find "$CORPUS/spam" -maxdepth 1 -type f -name '*.eml' | sort)
mapfile -t ALL_HAM < <(find "$CORPUS/ham" -maxdepth 1 -type f -name '*.eml' | sort)
LEARN_SPAM=("${ALL_SPAM[@]:0:LEARN}")
LEARN_HAM=("${ALL_HAM[@]:0:LEARN}")
MAIL=$IT_WORK/mail
mkdir -p "$MAIL"
i=0
for f in "${ALL_HAM[@]:LEARN:COUNT/2}"; do cp "$f" "$MAIL/$(printf %05d $((i += 2)))-ham-${f##*/}"; done
i=1
for f in "${ALL_SPAM[@]:LEARN:COUNT/2}"; do cp "$f" "$MAIL/$(printf %05d $((i += 2)))-spam-${f##*/}"; done
MESSAGES=$(find "$MAIL" -type f | wc -l)
[ "$MESSAGES" -gt 0 ] || die "no messages to scan in $CORPUS"
CORPUS_DIRS=("$MAIL")

# ---------------------------------------------------------------- Redis and the proxy

RPORT=$(free_port)
$RUN_IN redis-server --bind 127.0.0.1 --port "$RPORT" --save '' --appendonly no --dir "$IT_WORK" \
    >"$IT_WORK/redis.log" 2>&1 &
on_exit "kill $!"
wait_for_port "$RPORT" 10 || die "redis-server did not listen on $RPORT"
rcli() { $RUN_IN redis-cli -p "$RPORT" "$@"; }

CTL=$(free_port)
declare -A VIA
VIA[sluice]=$(free_port)
VIA[rspamd]=$(free_port)
$RUN_IN python3 "$REPO_ROOT/bench/state/redis_count.py" --upstream "127.0.0.1:$RPORT" --control "$CTL" \
    "sluice=${VIA[sluice]}" "rspamd=${VIA[rspamd]}" >"$IT_WORK/proxy.log" 2>&1 &
on_exit "kill $!"
wait_for_port "$CTL" 10 || die "the counting proxy did not start: $(tail -3 "$IT_WORK/proxy.log")"
# counts DAEMON -> "commands round_trips" so far.
counts() {
    $RUN_IN python3 "$REPO_ROOT/bench/state/redis_count.py" --stats "$CTL" >"$IT_WORK/counts.json" ||
        die "the counting proxy does not answer"
    json_field "$IT_WORK/counts.json" "\"\$r->{$1}{commands} \$r->{$1}{batches}\""
}

# ---------------------------------------------------------------- the modules

# modules DIR: the local.d files both daemons read.
modules() {
    mkdir -p "$1/local.d"
    printf 'enabled = true;\ntimeout = 1s;\n' >"$1/local.d/greylist.conf"
    printf 'enabled = true;\nrates {\n    to = "100 / 1s";\n}\n' >"$1/local.d/ratelimit.conf"
    echo 'enabled = false;' >"$1/local.d/replies.conf"
    echo 'enabled = false;' >"$1/local.d/history_redis.conf"
}

SDIR=$IT_WORK/sluice-conf
modules "$SDIR"
printf 'servers = "127.0.0.1:%s";\ndb = 1;\ntimeout = 1s;\n' "${VIA[sluice]}" >"$SDIR/local.d/redis.conf"
printf 'backend = "redis";\nservers = "redis://127.0.0.1:%s/1";\ntimeout = 1.0;\nmin_learns = 200;\n' \
    "${VIA[sluice]}" >"$SDIR/local.d/classifier-bayes.conf"

NPORT=$(free_port)
CPORT=$(free_port)
# rspamd_modules DIR: start_rspamd's hook.
rspamd_modules() {
    modules "$1"
    printf 'servers = "127.0.0.1:%s";\ntimeout = 1s;\n' "${VIA[rspamd]}" >"$1/local.d/redis.conf"
    sed -e "s|@CONTROLLER@|127.0.0.1:$CPORT|" -e "s|@REDIS@|127.0.0.1:${VIA[rspamd]}|" \
        "$IT_DIR/rspamd/bayes.conf.in" >>"$1/rspamd.conf"
    printf 'worker "normal" {\n    .include "$CONFDIR/worker-normal.inc"\n    bind_socket = "127.0.0.1:%s";\n}\n' \
        "$NPORT" >>"$1/rspamd.conf"
}

# ---------------------------------------------------------------- the daemons

declare -A PID HTTP
echo "=== sluice: starting in namespace $NS" >&2
MILTER_UNDER_TEST=sluice start_milter --var "LOCAL_CONFDIR=$SDIR" --var "DBDIR=$SDIR" --var "RUNDIR=$SDIR"
PID[sluice]=$MILTER_PID
HTTP[sluice]=$(grep -oE 'http listening on (inet:)?127\.0\.0\.1:[0-9]+' "$MILTER_LOG" | grep -oE '127\.0\.0\.1:[0-9]+' | head -1)
SLUICE_LOG=$MILTER_LOG
SLUICE_CTL=$(grep -oE 'controller listening on (inet:)?127\.0\.0\.1:[0-9]+' "$MILTER_LOG" | grep -oE '127\.0\.0\.1:[0-9]+' | head -1)
[ -n "${HTTP[sluice]}" ] || die "sluice: no HTTP listener in its log"

echo "=== rspamd: starting in namespace $NS" >&2
RSPAMD_CONFIG_HOOK=rspamd_modules MILTER_UNDER_TEST=rspamd start_milter
PID[rspamd]=$MILTER_PID
HTTP[rspamd]=127.0.0.1:$NPORT
wait_for_port "$NPORT" 120 || die "rspamd: no normal worker on $NPORT"
for _ in $(seq 240); do
    $RUN_IN rspamc -h "127.0.0.1:$CPORT" stat >/dev/null 2>&1 && break
    sleep 0.5
done
rspamd_wait_hyperscan

echo "=== learning $LEARN spam and $LEARN ham in both" >&2
$RUN_IN "$SLUICE_BIN" learn --quiet --var "LOCAL_CONFDIR=$SDIR" --var "DBDIR=$SDIR" \
    --spam "${LEARN_SPAM[@]}" --ham "${LEARN_HAM[@]}" >"$IT_WORK/sluice-learn.out" 2>&1 ||
    die "sluice learn failed: $(tail -3 "$IT_WORK/sluice-learn.out")"
$RUN_IN rspamc -h "127.0.0.1:$CPORT" learn_spam "${LEARN_SPAM[@]}" >"$IT_WORK/rspamd-learn.out" 2>&1 || true
$RUN_IN rspamc -h "127.0.0.1:$CPORT" learn_ham "${LEARN_HAM[@]}" >>"$IT_WORK/rspamd-learn.out" 2>&1 || true
note "learned: sluice $(rcli -n 1 hget BAYES:learns S) spam, $(rcli -n 1 hget BAYES:learns H) ham;" \
    "rspamd $(rcli -n 0 hget RS learns_spam) spam, $(rcli -n 0 hget RS learns_ham) ham"

# bayes DAEMON -> the Bayes symbol a spam message gets (none: empty).
PROBE=$(find "$MAIL" -name '*-spam-*' | sort | sed -n 1p)
bayes() {
    $RUN_IN curl -s --max-time 10 --data-binary @"$PROBE" -H 'IP: 192.0.2.254' -H 'Helo: client.bench.test' \
        -H 'From: probe@bench.test' -H 'Rcpt: probe@bench.test' "http://${HTTP[$1]}/checkv2" |
        grep -oE '"BAYES_(SPAM|HAM)"' | head -1 | tr -d '"'
}
for daemon in sluice rspamd; do
    # Rspamd's workers read the learned counts from Redis on a timer. Probes are more
    # than the greylisting timeout apart: a retry within it is refused unscanned.
    symbol=
    for _ in $(seq 40); do
        symbol=$(bayes "$daemon")
        [ -n "$symbol" ] && break
        sleep 1.5
    done
    [ -n "$symbol" ] || die "$daemon: no Bayes symbol after learning"
    note "$daemon: Bayes gives $symbol to $(basename "$PROBE")"
done

# load DAEMON CONCURRENCY COUNT OUT: one replay over HTTP.
load() {
    $RUN_IN "$HTTP_LOAD" --envelope --spread "$SPREAD" "${HTTP[$1]}" "$2" "$3" "${CORPUS_DIRS[@]}" >"$4" ||
        die "$1: http_load failed"
    [ "$(json_field "$4" '$r->{errors}')" = 0 ] || die "$1: errors in a replay: $(cat "$4")"
}
for daemon in sluice rspamd; do
    echo "=== $daemon: warm-up ($WARMUP messages)" >&2
    load "$daemon" "$CONCURRENCY" "$WARMUP" "$IT_WORK/$daemon-warmup.json"
done

# ---------------------------------------------------------------- measuring

# replay DAEMON ROUND: appends "cpu_ms commands round_trips msgs/s" per message to
# $IT_WORK/DAEMON.rounds.
replay() {
    local daemon=$1 round=$2 t0 t1 c0 c1 b0 b1 out=$IT_WORK/$1.$2.json
    read -r t0 _ < <(tree_stat "${PID[$daemon]}")
    read -r c0 b0 < <(counts "$daemon")
    load "$daemon" "$CONCURRENCY" "$MESSAGES" "$out"
    read -r t1 _ < <(tree_stat "${PID[$daemon]}")
    read -r c1 b1 < <(counts "$daemon")
    perl -e 'my ($t, $c, $b, $hz, $n, $rate) = @ARGV;
        printf "%.4f %.3f %.3f %s\n", $t * 1000 / $hz / $n, $c / $n, $b / $n, $rate' \
        "$((t1 - t0))" "$((c1 - c0))" "$((b1 - b0))" "$HZ" "$MESSAGES" \
        "$(json_field "$out" '$r->{rps}')" >>"$IT_WORK/$daemon.rounds"
    note "$daemon round $round: $(tail -n 1 "$IT_WORK/$daemon.rounds" |
        awk '{printf "%s ms CPU/msg, %s commands/msg, %s round trips/msg, %s msgs/s", $1, $2, $3, $4}'), actions $(json_field "$out" 'join(", ", map { "$_=$r->{actions}{$_}" } sort keys %{$r->{actions}})')"
}

REDIS0=$(rcli info stats | sed -n 's/^total_commands_processed:\([0-9]*\).*/\1/p')
read -r S0 _ < <(counts sluice)
read -r R0 _ < <(counts rspamd)
order=(sluice rspamd)
for ((round = 1; round <= ROUNDS; round++)); do
    echo "=== round $round of $ROUNDS" >&2
    for daemon in "${order[@]}"; do replay "$daemon" "$round"; done
    order=("${order[1]}" "${order[0]}")
done

echo "=== round trips of one message alone ($RT_COUNT at concurrency 1)" >&2
declare -A ALONE
for daemon in sluice rspamd; do
    read -r c0 b0 < <(counts "$daemon")
    load "$daemon" 1 "$RT_COUNT" "$IT_WORK/$daemon.alone.json"
    read -r c1 b1 < <(counts "$daemon")
    ALONE[$daemon]=$(perl -e 'printf "%.3f %.3f", $ARGV[0] / $ARGV[2], $ARGV[1] / $ARGV[2]' \
        "$((c1 - c0))" "$((b1 - b0))" "$RT_COUNT")
done
REDIS1=$(rcli info stats | sed -n 's/^total_commands_processed:\([0-9]*\).*/\1/p')
read -r S1 _ < <(counts sluice)
read -r R1 _ < <(counts rspamd)

# ---------------------------------------------------------------- report

metric() { # NAME: the sum of sluice's samples of a /metrics family
    $RUN_IN curl -s --max-time 5 "http://$SLUICE_CTL/metrics" |
        awk -v n="$1" '$1 == n || index($1, n "{") == 1 {s += $NF} END {print s + 0}'
}
printf '\nstate modules on Redis, %d messages, concurrency %d, medians of %d rounds (load average %s at start)\n' \
    "$MESSAGES" "$CONCURRENCY" "$ROUNDS" "$LOAD_AT_START"
printf '%-8s %12s %14s %14s %16s %10s %18s %18s\n' daemon "CPU ms/msg" "(min-max)" "commands/msg" "round trips/msg" "msgs/s" \
    "alone: commands" "alone: round trips"
declare -A CPU CMD RT
for daemon in sluice rspamd; do
    f=$IT_WORK/$daemon.rounds
    CPU[$daemon]=$(median "$f" 1) CMD[$daemon]=$(median "$f" 2) RT[$daemon]=$(median "$f" 3)
    read -r ac ab <<<"${ALONE[$daemon]}"
    printf '%-8s %12.3f %14s %14.2f %16.2f %10s %18s %18s\n' "$daemon" "${CPU[$daemon]}" \
        "$(cut -d' ' -f1 "$f" | sort -g | sed -n '1p;$p' | xargs printf '%.3f-%.3f')" \
        "${CMD[$daemon]}" "${RT[$daemon]}" "$(median "$f" 4)" "$ac" "$ab"
done
paste -d' ' "$IT_WORK/sluice.rounds" "$IT_WORK/rspamd.rounds" | awk '{print $1 / $5}' >"$IT_WORK/ratios"
printf 'CPU per message, sluice/rspamd, per round: %s\n' "$(xargs printf '%.3f ' <"$IT_WORK/ratios")"
read -r _ sab <<<"${ALONE[sluice]}"
read -r _ rab <<<"${ALONE[rspamd]}"
perl -e 'printf "ratio sluice/rspamd: CPU per message %.3f (median of rounds), commands per message %.3f, round trips per message %.3f (alone: %.3f)\n",
    $ARGV[0], $ARGV[1] / $ARGV[2], $ARGV[3] / $ARGV[4], $ARGV[5] / $ARGV[6]' \
    "$(median "$IT_WORK/ratios" 1)" "${CMD[sluice]}" "${CMD[rspamd]}" "${RT[sluice]}" "${RT[rspamd]}" "$sab" "$rab"
printf 'commands by name over the run: sluice %s; rspamd %s\n' \
    "$(json_field "$IT_WORK/counts.json" 'join(" ", map { "$_=$r->{sluice}{by_command}{$_}" } sort keys %{$r->{sluice}{by_command}})')" \
    "$(json_field "$IT_WORK/counts.json" 'join(" ", map { "$_=$r->{rspamd}{by_command}{$_}" } sort keys %{$r->{rspamd}{by_command}})')"
printf 'redis-server: %d commands processed over the measured replays, the proxy passed %d (the rest: the commands scripts ran, counted by the server too)\n' \
    "$((REDIS1 - REDIS0))" "$((S1 - S0 + R1 - R0))"
printf 'keys: %s\n' "$(rcli info keyspace | grep '^db' | tr -d '\r' | paste -sd' ')"
failures=$(($(metric sluice_state_failures_total) + $(metric sluice_bayes_store_outages_total)))
printf 'sluice: %d state failures and Bayes outages; rspamd: %d Redis errors in its log\n' "$failures" \
    "$(grep -ciE 'redis.*(error|timeout)|(error|timeout).*redis' "$MILTER_LOG" || true)"
[ "$failures" = 0 ] || die "sluice had Redis failures: its figures are not comparable"
for daemon in sluice rspamd; do
    kill -TERM "${PID[$daemon]}" 2>/dev/null
    wait "${PID[$daemon]}" || echo "    ($daemon exited non-zero on SIGTERM)" >&2
done
