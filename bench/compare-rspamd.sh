#!/usr/bin/env bash
# Benchmark sluice against Rspamd 3.4 on the same mail, same load.
#
# Both daemons run, one after the other, inside a network namespace of their
# own that has only a loopback interface, so no DNS query or map fetch can
# leave the machine whatever their configuration says. Rspamd runs its proxy
# worker in milter mode with self_scan (one process that speaks milter and
# scans, like sluice), with a private config that switches network modules
# off and points DNS at an unused loopback port (integration/rspamd/).
#
# Both daemons start (Rspamd: until it scans with Hyperscan) and warm up;
# then, ROUNDS times, each replays $SHARED/corpus/{ham,spam} with `sluice
# bench milter` at the same concurrency, the two taking turns, and each
# replay measures
#   - msgs/s (from the load tool),
#   - CPU seconds per message: utime+stime of all the daemon's processes
#     (children reaped meanwhile included), from /proc, before/after;
# and at the end peak RSS: VmHWM of the daemon's processes, summed
# (overstates forked daemons, whose processes share pages) and of the largest
# single process. Then print the medians over the rounds and the sluice/Rspamd
# ratios (CPU: the median of the per-round ratios).
#
#   bench/compare-rspamd.sh                 # both daemons
#   DAEMONS=rspamd bench/compare-rspamd.sh  # Rspamd only (no sluice build yet)
# Knobs: CONCURRENCY (8), COUNT (0 = every file once), WARMUP (300 messages),
# ROUNDS (5 replays per daemon, alternating; medians are reported).
# Needs root (ip netns), rspamd, perl; the load tool is $SLUICE_BIN (or BENCH_BIN).
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

require_tools ip perl ss rspamd getconf
make_workdir
require_bench

CONCURRENCY=${CONCURRENCY:-8}
COUNT=${COUNT:-0}
WARMUP=${WARMUP:-300}
ROUNDS=${ROUNDS:-5}
DAEMONS=${DAEMONS:-sluice rspamd}
CORPUS_DIRS=("$SHARED/corpus/ham" "$SHARED/corpus/spam")
for d in "${CORPUS_DIRS[@]}"; do [ -d "$d" ] || die "corpus directory $d not found (SHARED=$SHARED)"; done

loopback_netns
HZ=$(getconf CLK_TCK)

# Both daemons stay up for the whole run and the replays alternate between
# them, round after round (the order flips every round): a slow spell of the
# machine then falls on both instead of on whichever ran during it, and the
# per-round ratios pair measurements taken minutes apart at most.
declare -A PID ADDR LOGF
for daemon in $DAEMONS; do
    echo "=== $daemon: starting in namespace $NS" >&2
    MILTER_UNDER_TEST=$daemon start_milter
    PID[$daemon]=$MILTER_PID ADDR[$daemon]=$MILTER_ADDR LOGF[$daemon]=$MILTER_LOG
    if [ "$daemon" = rspamd ]; then rspamd_wait_hyperscan; fi
    echo "=== $daemon: warm-up ($WARMUP messages)" >&2
    run_bench --addr "$MILTER_ADDR" -j "$CONCURRENCY" -n "$WARMUP" --json "${CORPUS_DIRS[@]}" \
        >"$IT_WORK/$daemon-warmup.json" || die "$daemon: warm-up failed"
done

# replay DAEMON ROUND: one pass of the corpus; appends "cpu_ms user_ms sys_ms
# msgs/s" to $IT_WORK/DAEMON.rounds.
replay() {
    local daemon=$1 round=$2 t0 u0 s0 t1 u1 s1 out=$IT_WORK/$1.$2.json
    read -r t0 _ _ u0 s0 < <(tree_stat "${PID[$daemon]}")
    run_bench --addr "${ADDR[$daemon]}" -j "$CONCURRENCY" -n "$COUNT" --json "${CORPUS_DIRS[@]}" \
        >"$out" || die "$daemon: replay $round failed"
    read -r t1 _ _ u1 s1 < <(tree_stat "${PID[$daemon]}")
    local msgs errs
    msgs=$(json_field "$out" '$r->{messages}')
    errs=$(json_field "$out" '$r->{protocol_errors}')
    [ "$errs" = 0 ] || die "$daemon: $errs protocol errors in replay $round"
    perl -e 'my ($t0, $t1, $u0, $u1, $s0, $s1, $hz, $n, $rate) = @ARGV; $n ||= 1;
        printf "%.4f %.4f %.4f %s\n", ($t1 - $t0) * 1000 / $hz / $n, ($u1 - $u0) * 1000 / $hz / $n,
            ($s1 - $s0) * 1000 / $hz / $n, $rate' \
        "$t0" "$t1" "$u0" "$u1" "$s0" "$s1" "$HZ" "$msgs" \
        "$(json_field "$out" 'sprintf("%.1f", $r->{msgs_per_sec})')" >>"$IT_WORK/$daemon.rounds"
    json_field "$out" 'sprintf("p50 %.2f ms, p99 %.2f ms, replies: %s", $r->{latency}{p50_ms}, $r->{latency}{p99_ms}, join(", ", map { "$_=$r->{replies}{$_}" } sort keys %{$r->{replies}}))' |
        sed "s/^/    $daemon round $round: $(tail -n 1 "$IT_WORK/$daemon.rounds" | cut -d' ' -f1) ms CPU\/msg, /" >&2
    MSGS[$daemon]=$msgs
}

declare -A MSGS
read -r -a order <<<"$DAEMONS"
for ((round = 1; round <= ROUNDS; round++)); do
    echo "=== round $round of $ROUNDS" >&2
    for daemon in "${order[@]}"; do replay "$daemon" "$round"; done
    # Flip the order for the next round.
    for ((i = 0, j = ${#order[@]} - 1; i < j; i++, j--)); do
        tmp=${order[$i]} order[$i]=${order[$j]} order[$j]=$tmp
    done
done


printf '\nmedians of %d rounds\n%-8s %10s %10s %12s %14s %10s %10s %14s %14s\n' "$ROUNDS" daemon messages msgs/s \
    "CPU ms/msg" "(min-max)" "user ms" "sys ms" "RSS sum MB" "RSS max MB"
declare -A CPU RATE RSS RSSMAX
for daemon in $DAEMONS; do
    read -r _ hwm hwmax _ _ < <(tree_stat "${PID[$daemon]}")
    f=$IT_WORK/$daemon.rounds
    CPU[$daemon]=$(median "$f" 1) RATE[$daemon]=$(median "$f" 4)
    RSS[$daemon]=$(perl -e 'printf "%.1f", $ARGV[0] / 1024' "$hwm")
    RSSMAX[$daemon]=$(perl -e 'printf "%.1f", $ARGV[0] / 1024' "$hwmax")
    printf '%-8s %10s %10s %12.3f %14s %10.3f %10.3f %14s %14s\n' "$daemon" "${MSGS[$daemon]}" "${RATE[$daemon]}" \
        "${CPU[$daemon]}" "$(cut -d' ' -f1 "$f" | sort -g | sed -n '1p;$p' | xargs printf '%.3f-%.3f')" \
        "$(median "$f" 2)" "$(median "$f" 3)" "${RSS[$daemon]}" "${RSSMAX[$daemon]}"
done
for daemon in $DAEMONS; do
    kill -TERM "${PID[$daemon]}" 2>/dev/null
    wait "${PID[$daemon]}" || echo "    ($daemon exited non-zero on SIGTERM)" >&2
done
if [[ " $DAEMONS " == *" sluice "* && " $DAEMONS " == *" rspamd "* ]]; then
    paste -d' ' "$IT_WORK/sluice.rounds" "$IT_WORK/rspamd.rounds" | awk '{print $1 / $5}' >"$IT_WORK/ratios"
    printf '\nCPU per message, sluice/rspamd, per round: %s\n' "$(xargs printf '%.3f ' <"$IT_WORK/ratios")"
    perl -e 'printf "ratio sluice/rspamd: CPU per message %.3f (median of rounds), msgs/s %.3f, RSS sum %.3f, RSS max %.3f\n",
        $ARGV[0], $ARGV[1] / $ARGV[2], $ARGV[3] / $ARGV[4], $ARGV[5] / $ARGV[6]' \
        "$(median "$IT_WORK/ratios" 1)" "${RATE[sluice]}" "${RATE[rspamd]}" \
        "${RSS[sluice]}" "${RSS[rspamd]}" "${RSSMAX[sluice]}" "${RSSMAX[rspamd]}"
fi
