# shellcheck shell=bash
# Measurement helpers shared by the benchmarks that run sluice and Rspamd 3.4
# side by side (compare-rspamd.sh, auth-vs-rspamd.sh). Sourced after
# integration/lib.sh; rspamd_wait_hyperscan uses the caller's CONCURRENCY,
# CORPUS_DIRS, MILTER_ADDR and MILTER_LOG.

# loopback_netns: a network namespace with only a loopback interface, deleted
# at exit; sets NS and RUN_IN (integration/lib.sh starts daemons and clients
# with $RUN_IN), so nothing the benchmark starts can reach another host.
loopback_netns() {
    NS=sluice-bench-$$
    ip netns add "$NS" || die "cannot create network namespace $NS (root needed)"
    on_exit "ip netns del '$NS'"
    ip netns exec "$NS" ip link set lo up
    local links
    links=$(ip netns exec "$NS" ip -o link show | awk -F': ' '{print $2}' | paste -sd' ')
    [ "$links" = "lo" ] || die "namespace $NS has interfaces other than lo: $links"
    RUN_IN="ip netns exec $NS"
}

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
        run_bench --addr "$MILTER_ADDR" -j "$CONCURRENCY" -n 100 "${CORPUS_DIRS[@]}" >/dev/null ||
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

# median FILE COLUMN
median() { cut -d' ' -f"$2" "$1" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
