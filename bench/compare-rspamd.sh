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
# For each daemon: start (Rspamd: until it scans with Hyperscan), warm up, then replay $SHARED/corpus/{ham,spam} with
# `sluice bench milter` at the same concurrency, and measure
#   - msgs/s (from the load tool),
#   - CPU seconds per message: utime+stime of all the daemon's processes
#     (children reaped meanwhile included), from /proc, before/after,
#   - peak RSS: VmHWM of the daemon's processes after the replay, summed
#     (overstates forked daemons, whose processes share pages) and of the
#     largest single process.
# Then print a table and the sluice/Rspamd ratios.
#
#   bench/compare-rspamd.sh                 # both daemons
#   DAEMONS=rspamd bench/compare-rspamd.sh  # Rspamd only (no sluice build yet)
# Knobs: CONCURRENCY (8), COUNT (0 = every file once), WARMUP (300 messages).
# Needs root (ip netns), rspamd, perl; the load tool is $SLUICE_BIN (or BENCH_BIN).
source "$(dirname "$0")/../integration/lib.sh"

require_tools ip perl ss rspamd getconf
make_workdir
require_bench

CONCURRENCY=${CONCURRENCY:-8}
COUNT=${COUNT:-0}
WARMUP=${WARMUP:-300}
DAEMONS=${DAEMONS:-sluice rspamd}
CORPUS_DIRS=("$SHARED/corpus/ham" "$SHARED/corpus/spam")
for d in "${CORPUS_DIRS[@]}"; do [ -d "$d" ] || die "corpus directory $d not found (SHARED=$SHARED)"; done

NS=sluice-bench-$$
ip netns add "$NS" || die "cannot create network namespace $NS (root needed)"
on_exit "ip netns del '$NS'"
ip netns exec "$NS" ip link set lo up
links=$(ip netns exec "$NS" ip -o link show | awk -F': ' '{print $2}' | paste -sd' ')
[ "$links" = "lo" ] || die "namespace $NS has interfaces other than lo: $links"
RUN_IN="ip netns exec $NS"
HZ=$(getconf CLK_TCK)

# tree_stat ROOT: "<cpu ticks> <sum VmHWM kB> <max VmHWM kB> <user ticks>
# <system ticks>" over ROOT and its descendants.
tree_stat() {
    perl -e '
        my $root = shift; my (%ppid, %ticks, %hwm, %sys);
        for my $d (glob "/proc/[0-9]*") {
            my ($pid) = $d =~ m{(\d+)$};
            open my $f, "<", "$d/stat" or next; my $s = <$f>; close $f;
            $s =~ s/^.*\)\s+//;            # comm may hold spaces
            my @x = split / /, $s;          # x[0] = state (field 3)
            $ppid{$pid} = $x[1];
            $ticks{$pid} = $x[11] + $x[12] + $x[13] + $x[14]; # utime stime cutime cstime
            $sys{$pid} = $x[12] + $x[14];
            if (open my $g, "<", "$d/status") { while (<$g>) { $hwm{$pid} = $1 if /^VmHWM:\s+(\d+)/ } }
        }
        my %in = ($root => 1); my $grew = 1;
        while ($grew) { $grew = 0; for my $p (keys %ppid) { if (!$in{$p} && $in{$ppid{$p}}) { $in{$p} = 1; $grew = 1 } } }
        my ($t, $m, $x, $s) = (0, 0, 0, 0);
        for my $p (keys %in) { my $h = $hwm{$p} // 0; $t += $ticks{$p} // 0; $s += $sys{$p} // 0; $m += $h; $x = $h if $h > $x }
        printf "%d %d %d %d %d\n", $t, $m, $x, $t - $s, $s;' "$1"
}

json_field() { # FILE PERL-EXPR
    perl -MJSON::PP -0777 -ne "my \$r = decode_json(\$_); print $2, qq(\n)" "$1"
}

# rspamd_wait_hyperscan: Rspamd scans with PCRE until its hs_helper has
# compiled the Hyperscan databases and the workers have loaded them, which
# takes it tens of seconds on 2 cores; a measurement in that window times
# the slow fallback (and the compiler's own CPU, a child process) rather
# than the steady state an admin runs. Replay batches of 100 until most of
# the latest batch's per-message "regexp statistics" log lines show nothing
# scanned with PCRE (a few regexps Hyperscan cannot take stay on PCRE).
rspamd_wait_hyperscan() {
    local i fast total
    for ((i = 0; i < 60; i++)); do
        run_bench --addr "$MILTER_ADDR" -c "$CONCURRENCY" -n 100 "${CORPUS_DIRS[@]}" >/dev/null ||
            die "rspamd: warm-up failed"
        total=$(grep -c 'regexp statistics' "$MILTER_LOG" || true)
        fast=$(grep 'regexp statistics' "$MILTER_LOG" | tail -n 100 | grep -c ' 0B scanned using pcre' || true)
        if [ "$total" -ge 100 ] && [ "$fast" -ge 80 ]; then
            echo "    hyperscan active after $(((i + 1) * 100)) messages ($fast of the last 100 without PCRE)" >&2
            return 0
        fi
    done
    die "rspamd still scanning with PCRE after 6000 messages (hyperscan not loaded)"
}

declare -A RATE CPU RSS RSSMAX MSGS ERRS USR SYS
for daemon in $DAEMONS; do
    echo "=== $daemon: starting in namespace $NS" >&2
    MILTER_UNDER_TEST=$daemon start_milter
    if [ "$daemon" = rspamd ]; then rspamd_wait_hyperscan; fi
    echo "=== $daemon: warm-up ($WARMUP messages)" >&2
    run_bench --addr "$MILTER_ADDR" -c "$CONCURRENCY" -n "$WARMUP" --json "${CORPUS_DIRS[@]}" \
        >"$IT_WORK/$daemon-warmup.json" || die "$daemon: warm-up failed"
    read -r t0 _ _ u0 s0 < <(tree_stat "$MILTER_PID")
    echo "=== $daemon: replay" >&2
    run_bench --addr "$MILTER_ADDR" -c "$CONCURRENCY" -n "$COUNT" --json "${CORPUS_DIRS[@]}" \
        >"$IT_WORK/$daemon.json" || die "$daemon: replay failed"
    read -r t1 hwm hwmax u1 s1 < <(tree_stat "$MILTER_PID")
    MSGS[$daemon]=$(json_field "$IT_WORK/$daemon.json" '$r->{messages}')
    ERRS[$daemon]=$(json_field "$IT_WORK/$daemon.json" '$r->{protocol_errors}')
    RATE[$daemon]=$(json_field "$IT_WORK/$daemon.json" 'sprintf("%.1f", $r->{msgs_per_sec})')
    CPU[$daemon]=$(perl -e 'printf "%.6f", ($ARGV[1] - $ARGV[0]) / $ARGV[2] / ($ARGV[3] || 1)' "$t0" "$t1" "$HZ" "${MSGS[$daemon]}")
    USR[$daemon]=$(perl -e 'printf "%.3f", ($ARGV[1] - $ARGV[0]) * 1000 / $ARGV[2] / ($ARGV[3] || 1)' "$u0" "$u1" "$HZ" "${MSGS[$daemon]}")
    SYS[$daemon]=$(perl -e 'printf "%.3f", ($ARGV[1] - $ARGV[0]) * 1000 / $ARGV[2] / ($ARGV[3] || 1)' "$s0" "$s1" "$HZ" "${MSGS[$daemon]}")
    RSS[$daemon]=$(perl -e 'printf "%.1f", $ARGV[0] / 1024' "$hwm")
    RSSMAX[$daemon]=$(perl -e 'printf "%.1f", $ARGV[0] / 1024' "$hwmax")
    json_field "$IT_WORK/$daemon.json" 'sprintf("    p50 %.2f ms, p99 %.2f ms, replies: %s", $r->{latency}{p50_ms}, $r->{latency}{p99_ms}, join(", ", map { "$_=$r->{replies}{$_}" } sort keys %{$r->{replies}}))' >&2
    stop_milter || echo "    ($daemon exited non-zero on SIGTERM)" >&2
done

printf '\n%-8s %10s %10s %12s %10s %10s %14s %14s %8s\n' daemon messages msgs/s "CPU ms/msg" "user ms" "sys ms" "RSS sum MB" "RSS max MB" errors
for daemon in $DAEMONS; do
    printf '%-8s %10s %10s %12s %10s %10s %14s %14s %8s\n' "$daemon" "${MSGS[$daemon]}" "${RATE[$daemon]}" \
        "$(perl -e 'printf "%.3f", $ARGV[0] * 1000' "${CPU[$daemon]}")" "${USR[$daemon]}" "${SYS[$daemon]}" \
        "${RSS[$daemon]}" "${RSSMAX[$daemon]}" "${ERRS[$daemon]}"
done
if [[ " $DAEMONS " == *" sluice "* && " $DAEMONS " == *" rspamd "* ]]; then
    perl -e 'printf "\nratio sluice/rspamd: CPU per message %.3f, msgs/s %.3f, RSS sum %.3f, RSS max %.3f\n",
        $ARGV[0] / $ARGV[1], $ARGV[2] / $ARGV[3], $ARGV[4] / $ARGV[5], $ARGV[6] / $ARGV[7]' \
        "${CPU[sluice]}" "${CPU[rspamd]}" "${RATE[sluice]}" "${RATE[rspamd]}" \
        "${RSS[sluice]}" "${RSS[rspamd]}" "${RSSMAX[sluice]}" "${RSSMAX[rspamd]}"
fi
