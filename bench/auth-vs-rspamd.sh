#!/usr/bin/env bash
# Benchmark SPF, DKIM, DMARC and ARC: sluice against Rspamd 3.4 on the same
# signed mail, the same DNS server, the same load, in the same run.
#
# The mail: a copy of $SHARED/corpus/ham made at bench time by
# bench/auth/signed_ham.py (dkimpy signs it; fresh keys; one test domain per
# From: domain of the corpus), by index: 70% signed (SPF, DKIM and DMARC
# pass), 10% unsigned (SPF pass, DMARC by SPF), 5% forwarded (DKIM pass, SPF
# fail), 10% from a mailing list (footer breaks DKIM, ARC seal of the list,
# DMARC fail), 5% spoofed (no DKIM, SPF fail, DMARC fail). Every name the
# checks ask for is in the zones nsd serves; the script fails if nsd refused
# any query (a name outside them). The client is 127.0.0.1 (the milter load
# tool's), so both scanners check local mail (`check_local = true`).
#
# Everything runs in a network namespace that has only loopback (as
# compare-rspamd.sh): nsd, sluice (one process: milter and HTTP listeners)
# and Rspamd (its proxy worker in milter mode with self_scan and one normal
# worker for HTTP, the other modules as in compare-rspamd.sh's config, spf,
# dkim, dmarc and arc on), both scanners with nsd as their only nameserver.
# Both daemons start, Rspamd until it scans with Hyperscan; every message
# goes once through both over HTTP (bench/auth/symbols.py prints which
# symbols each kind of message got from each scanner), then WARMUP messages
# over milter. Then ROUNDS times, for each protocol in PROTOCOLS, each daemon
# gets the whole signed corpus (`sluice bench milter`, or the http_load
# example with --envelope: the same envelope as IP/Helo/From/Rcpt headers)
# at the same concurrency, the daemons taking turns, and each replay
# measures
#   - CPU seconds per message: utime+stime of the daemon's processes, from
#     /proc, before/after;
#   - msgs/s (from the load tool);
#   - DNS queries per message, counted by nsd (`nsd-control stats_noreset`);
#   - for sluice, lookups per message and the cache hit ratio from /metrics
#     (sluice_dns_lookups_total, sluice_dns_cache_hits_total); Rspamd has no
#     DNS cache of its own (only its SPF records and DKIM keys are kept by
#     the modules) and counts no lookups, so its ratio is derived: 1 - its
#     queries per message / sluice's lookups per message (the same checks on
#     the same mail ask for the same names);
#   - the 1-minute load average when it started (a busy machine slows both).
# At the end: peak RSS (as compare-rspamd.sh), the medians over the rounds
# and the sluice/Rspamd ratios (CPU: the median of the per-round ratios).
#
#   cargo build --release --bin sluice --example http_load
#   bench/auth-vs-rspamd.sh
# Knobs: CONCURRENCY (8), ROUNDS (5), WARMUP (300 milter messages),
# PROTOCOLS ("milter http"), AUTH (on; `off` leaves the four modules off in
# both, as compare-rspamd.sh does, on the same mail: the difference between
# the two runs is what the checks cost). Needs root (ip netns), rspamd, nsd, nsd-control,
# python3-dkim, openssl, perl, curl.
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

require_tools ip perl ss rspamd getconf openssl curl /usr/sbin/nsd nsd-control nsd-control-setup
make_workdir
require_bench
HTTP_LOAD=${HTTP_LOAD:-$REPO_ROOT/target/release/examples/http_load}
[ -x "$HTTP_LOAD" ] || die "no $HTTP_LOAD (cargo build --release --example http_load)"

CONCURRENCY=${CONCURRENCY:-8}
WARMUP=${WARMUP:-300}
ROUNDS=${ROUNDS:-5}
PROTOCOLS=${PROTOCOLS:-milter http}
DAEMONS="sluice rspamd"
HAM=$SHARED/corpus/ham
[ -d "$HAM" ] || die "corpus directory $HAM not found (SHARED=$SHARED)"
DNS_TIMEOUT=1s
AUTH=${AUTH:-on}
case $AUTH in on | off) ;; *) die "AUTH must be on or off, not '$AUTH'" ;; esac

loopback_netns
HZ=$(getconf CLK_TCK)

echo "=== signing a copy of $HAM" >&2
/usr/bin/python3 "$REPO_ROOT/bench/auth/signed_ham.py" "$HAM" "$IT_WORK/mail" >&2 ||
    die "signed_ham.py failed"
MAIL=$IT_WORK/mail
CORPUS_DIRS=("$MAIL/msgs")

# ---------------------------------------------------------------- nsd

# start_nsd: nsd on a loopback port of the namespace serving every zone of
# $MAIL/zones.list, with remote control for its counters and response rate
# limiting off (the scanners ask far faster than RRL's default allows one
# client). Sets NSD_PORT and NSD_CONF.
start_nsd() {
    local d=$IT_WORK/nsd ctl name path
    mkdir -p "$d"
    nsd-control-setup -d "$d" >/dev/null 2>&1 || die "nsd-control-setup failed"
    NSD_PORT=$(free_port)
    ctl=$(free_port)
    NSD_CONF=$d/nsd.conf
    {
        printf 'server:\n  ip-address: 127.0.0.1\n  port: %s\n  username: ""\n  chroot: ""\n' "$NSD_PORT"
        printf '  database: ""\n  pidfile: "%s/nsd.pid"\n  xfrdfile: "%s/xfrd.state"\n' "$d" "$d"
        printf '  zonelistfile: "%s/zone.list"\n  xfrdir: "%s"\n  logfile: "%s/nsd.log"\n' "$d" "$d" "$d"
        printf '  server-count: 1\n  verbosity: 1\n  rrl-ratelimit: 0\n  rrl-whitelist-ratelimit: 0\n'
        printf 'remote-control:\n  control-enable: yes\n  control-interface: 127.0.0.1\n'
        printf '  control-port: %s\n' "$ctl"
        printf '  server-key-file: "%s/nsd_server.key"\n  server-cert-file: "%s/nsd_server.pem"\n' "$d" "$d"
        printf '  control-key-file: "%s/nsd_control.key"\n  control-cert-file: "%s/nsd_control.pem"\n' "$d" "$d"
        while read -r name path; do
            printf 'zone:\n  name: %s\n  zonefile: "%s"\n' "$name" "$path"
        done <"$MAIL/zones.list"
        # Rspamd's configuration (multimap, mime_types, mid) fetches maps from
        # maps.rspamd.com now and then: an empty zone answers "no address"
        # rather than REFUSED, and the fetch fails as it does in compare-rspamd.sh.
        printf 'zone:\n  name: maps.rspamd.com\n  zonefile: "%s/maps.zone"\n' "$d"
    } >"$NSD_CONF"
    printf '$ORIGIN maps.rspamd.com.\n$TTL 300\n@ IN SOA ns hostmaster 1 3600 600 86400 60\n@ IN NS ns\nns IN A 127.0.0.1\n' \
        >"$d/maps.zone"
    $RUN_IN /usr/sbin/nsd -d -c "$NSD_CONF" >/dev/null 2>&1 &
    NSD_PID=$!
    on_exit "kill -TERM $NSD_PID; wait $NSD_PID"
    # nsd answers before every zone is loaded: ask for the last one's SOA.
    local last i
    last=$(tail -n 1 "$MAIL/zones.list" | cut -d' ' -f1)
    for ((i = 0; i < 200; i++)); do
        $RUN_IN /usr/bin/python3 -c 'import sys, dns.message, dns.query
r = dns.query.udp(dns.message.make_query(sys.argv[1], "SOA"), "127.0.0.1", port=int(sys.argv[2]), timeout=0.3)
sys.exit(0 if r.answer else 1)' "$last" "$NSD_PORT" 2>/dev/null && break
        sleep 0.1
    done
    ((i < 200)) || die "nsd did not serve $last: $(tail -5 "$d/nsd.log")"
    nsd_stat num.queries >/dev/null || die "nsd-control stats failed"
    note "nsd pid $NSD_PID on 127.0.0.1:$NSD_PORT, $(wc -l <"$MAIL/zones.list") zones"
}

# nsd_stat NAME: one of nsd's counters (num.queries, num.rcode.REFUSED, ...).
nsd_stat() {
    local v
    v=$($RUN_IN nsd-control -c "$NSD_CONF" stats_noreset | awk -F= -v k="$1" '$1 == k {print $2}')
    echo "${v:-0}"
}

# ---------------------------------------------------------------- scanners

# The module switches both scanners read from local.d (Rspamd's keys):
# checks on, local mail checked (ARC checks it anyway), nothing signed or sealed.
write_auth_modules() { # DIR
    [ "$AUTH" = on ] || return 0
    local m
    for m in spf dkim dmarc; do
        printf 'enabled = true;\ncheck_local = true;\n' >"$1/$m.conf"
    done
    printf 'enabled = true;\nsign_local = false;\nsign_inbound = false;\nsign_authenticated = false;\n' \
        >"$1/arc.conf"
    printf 'enabled = false;\n' >"$1/dkim_signing.conf"
}

dns_section() {
    printf 'dns {\n  nameserver = ["127.0.0.1:%s"];\n  timeout = %s;\n  retransmits = 1;\n}\n' \
        "$NSD_PORT" "$DNS_TIMEOUT"
}

declare -A PID MILTER HTTP LOGF
start_sluice_auth() {
    local conf=$IT_WORK/sluice-conf
    mkdir -p "$conf/local.d"
    write_auth_modules "$conf/local.d"
    # sluice runs the checks only with a nameserver configured.
    if [ "$AUTH" = on ]; then dns_section >"$conf/local.d/options.inc"; fi
    MILTER_UNDER_TEST=sluice start_sluice --var "LOCAL_CONFDIR=$conf" --var "DBDIR=$conf"
    wait_for_line "$MILTER_LOG" 'http listening on inet:' 30 || die "sluice: no HTTP listener"
    PID[sluice]=$MILTER_PID MILTER[sluice]=$MILTER_ADDR LOGF[sluice]=$MILTER_LOG
    HTTP[sluice]=$(grep -oE 'http listening on inet:[0-9.]+:[0-9]+' "$MILTER_LOG" | head -1 | sed 's/.*inet://')
}

# Rspamd: compare-rspamd.sh's configuration (integration/lib.sh), with the
# dkim C filter back in, the four modules on, nsd as nameserver and a normal
# worker for HTTP next to the milter proxy.
start_rspamd_auth() {
    local dir=$IT_WORK/rspamd mport hport
    mport=$(free_port)
    hport=$(free_port)
    write_rspamd_config "$dir" "127.0.0.1:$mport"
    write_auth_modules "$dir/local.d"
    {
        if [ "$AUTH" = on ]; then printf 'filters = "chartable,dkim,regexp";\n'; else printf 'filters = "chartable,regexp";\n'; fi
        printf 'cache_file = "$DBDIR/symbols.cache";\ncontrol_socket = "$DBDIR/rspamd.sock mode=0600";\n'
        printf 'local_addrs = [];\n'
        dns_section
    } >"$dir/local.d/options.inc"
    printf 'bind_socket = "127.0.0.1:%s";\ncount = 1;\n' "$hport" >"$dir/local.d/worker-normal.inc"
    cat >>"$dir/rspamd.conf" <<'EOF'

worker "normal" {
  .include "$CONFDIR/worker-normal.inc"
  .include(try=true; priority=1,duplicate=merge) "$LOCAL_CONFDIR/local.d/worker-normal.inc"
}
EOF
    chown -R _rspamd:_rspamd "$dir"
    $RUN_IN rspamd -f -u _rspamd -g _rspamd -c "$dir/rspamd.conf" \
        --var="LOCAL_CONFDIR=$dir" --var="DBDIR=$dir" --var="RUNDIR=$dir" \
        --var="LOGDIR=$dir" >"$dir/stdout" 2>&1 &
    PID[rspamd]=$!
    on_exit "kill -TERM ${PID[rspamd]}; wait ${PID[rspamd]}"
    MILTER_LOG=$dir/rspamd.log MILTER_ADDR=inet:127.0.0.1:$mport
    wait_for_port "$mport" 120 || die "rspamd did not listen on $mport: $(tail -5 "$MILTER_LOG")"
    wait_for_port "$hport" 120 || die "rspamd did not listen on $hport: $(tail -5 "$MILTER_LOG")"
    MILTER[rspamd]=$MILTER_ADDR HTTP[rspamd]=127.0.0.1:$hport LOGF[rspamd]=$MILTER_LOG
    note "rspamd pid ${PID[rspamd]}: milter $MILTER_ADDR, http 127.0.0.1:$hport"
}

# sluice_dns: "<lookups> <cache hits> <queries>" from sluice's /metrics.
sluice_dns() {
    $RUN_IN curl -sf "http://${HTTP[sluice]}/metrics" | awk '
        $1 == "sluice_dns_lookups_total" {l = $2} $1 == "sluice_dns_cache_hits_total" {h = $2}
        $1 == "sluice_dns_queries_total" {q = $2} END {print l + 0, h + 0, q + 0}'
}

echo "=== nsd, sluice, rspamd in namespace $NS" >&2
start_nsd
start_sluice_auth
start_rspamd_auth
rspamd_wait_hyperscan

if [ "$AUTH" = on ]; then
    echo "=== every message once over HTTP through both (symbols of the four groups per kind)" >&2
    $RUN_IN /usr/bin/python3 "$REPO_ROOT/bench/auth/symbols.py" "$MAIL/mix.tsv" "$MAIL/msgs" \
        "sluice=http://${HTTP[sluice]}" "rspamd=http://${HTTP[rspamd]}" >&2 || die "symbols.py failed"
else
    echo "=== every message once over HTTP through both (checks off)" >&2
    for daemon in $DAEMONS; do
        $RUN_IN "$HTTP_LOAD" --envelope "${HTTP[$daemon]}" "$CONCURRENCY" 1500 "${CORPUS_DIRS[@]}" >/dev/null ||
            die "$daemon: HTTP warm-up failed"
    done
fi
for daemon in $DAEMONS; do
    echo "=== $daemon: milter warm-up ($WARMUP messages)" >&2
    run_bench --addr "${MILTER[$daemon]}" -j "$CONCURRENCY" -n "$WARMUP" "${CORPUS_DIRS[@]}" >/dev/null ||
        die "$daemon: warm-up failed"
done
refused=$(nsd_stat num.rcode.REFUSED)
[ "$refused" = 0 ] || die "nsd refused $refused queries: a name outside the test zones was asked"

# load PROTO DAEMON OUT: one pass of the signed corpus; prints "messages msgs/s".
load() {
    local proto=$1 daemon=$2 out=$3 n errs
    case $proto in
    milter)
        run_bench --addr "${MILTER[$daemon]}" -j "$CONCURRENCY" --json "${CORPUS_DIRS[@]}" >"$out" ||
            die "$daemon: milter replay failed"
        errs=$(json_field "$out" '$r->{protocol_errors}')
        n=$(json_field "$out" '$r->{messages}')
        echo "$n $(json_field "$out" 'sprintf("%.1f", $r->{msgs_per_sec})')"
        ;;
    http)
        $RUN_IN "$HTTP_LOAD" --envelope "${HTTP[$daemon]}" "$CONCURRENCY" \
            "$(find "${CORPUS_DIRS[0]}" -type f | wc -l)" "${CORPUS_DIRS[@]}" >"$out" ||
            die "$daemon: HTTP replay failed"
        errs=$(json_field "$out" '$r->{errors}')
        n=$(json_field "$out" '$r->{requests}')
        echo "$n $(json_field "$out" '$r->{rps}')"
        ;;
    esac
    [ "$errs" = 0 ] || die "$daemon: $errs errors in a $proto replay"
}

# replay PROTO DAEMON ROUND: appends "cpu_ms user_ms sys_ms msgs/s dns_q/msg
# lookups/msg hit_ratio load1" to $IT_WORK/DAEMON.PROTO.rounds ("-" where
# the daemon does not say).
replay() {
    local proto=$1 daemon=$2 round=$3 t0 u0 s0 t1 u1 s1 q0 q1 l0 h0 l1 h1 n rate load1
    local f=$IT_WORK/$daemon.$proto.rounds
    [ "$daemon" = sluice ] && read -r l0 h0 _ < <(sluice_dns)
    load1=$(cut -d' ' -f1 /proc/loadavg)
    q0=$(nsd_stat num.queries)
    read -r t0 _ _ u0 s0 < <(tree_stat "${PID[$daemon]}")
    load "$proto" "$daemon" "$IT_WORK/$daemon.$proto.$round.json" >"$IT_WORK/last-replay"
    read -r n rate <"$IT_WORK/last-replay"
    read -r t1 _ _ u1 s1 < <(tree_stat "${PID[$daemon]}")
    q1=$(nsd_stat num.queries)
    if [ "$daemon" = sluice ]; then read -r l1 h1 _ < <(sluice_dns); else l0= l1=; fi
    perl -e 'my ($t0, $t1, $u0, $u1, $s0, $s1, $hz, $n, $rate, $q0, $q1, $l0, $l1, $h0, $h1, $load) = @ARGV;
        $n ||= 1; my $ms = sub { ($_[1] - $_[0]) * 1000 / $hz / $n };
        my ($lk, $hit) = ("-", "-");
        if ($l1 ne "") { $lk = sprintf "%.3f", ($l1 - $l0) / $n; $hit = ($l1 > $l0) ? sprintf("%.4f", ($h1 - $h0) / ($l1 - $l0)) : "-" }
        printf "%.4f %.4f %.4f %s %.3f %s %s %s\n", $ms->($t0, $t1), $ms->($u0, $u1), $ms->($s0, $s1),
            $rate, ($q1 - $q0) / $n, $lk, $hit, $load' \
        "$t0" "$t1" "$u0" "$u1" "$s0" "$s1" "$HZ" "$n" "$rate" "$q0" "$q1" "$l0" "$l1" "${h0:-0}" "${h1:-0}" \
        "$load1" >>"$f"
    read -r cpu _ _ rate q lk hit load1 < <(tail -n 1 "$f")
    printf '    %-6s %-6s round %d: %s ms CPU/msg, %s msgs/s, %s DNS queries/msg, lookups/msg %s, cache hits %s, load %s\n' \
        "$proto" "$daemon" "$round" "$cpu" "$rate" "$q" "$lk" "$hit" "$load1" >&2
}

read -r -a order <<<"$DAEMONS"
for ((round = 1; round <= ROUNDS; round++)); do
    echo "=== round $round of $ROUNDS" >&2
    for proto in $PROTOCOLS; do
        for daemon in "${order[@]}"; do replay "$proto" "$daemon" "$round"; done
    done
    order=("${order[1]}" "${order[0]}")
done
refused=$(nsd_stat num.rcode.REFUSED)
[ "$refused" = 0 ] || die "nsd refused $refused queries: a name outside the test zones was asked"

# range FILE COLUMN: "min-max".
range() { cut -d' ' -f"$2" "$1" | sort -g | sed -n '1p;$p' | paste -sd- ; }

messages=$(wc -l <"$MAIL/mix.tsv")
for proto in $PROTOCOLS; do
    printf '\n%s, medians of %d rounds of %d messages, concurrency %d\n' "$proto" "$ROUNDS" "$messages" "$CONCURRENCY"
    printf '%-8s %9s %11s %14s %8s %8s %10s %12s %10s %12s\n' daemon msgs/s "CPU ms/msg" "(min-max)" \
        "user ms" "sys ms" "DNS q/msg" "lookups/msg" "cache hit" "load1"
    for daemon in $DAEMONS; do
        f=$IT_WORK/$daemon.$proto.rounds
        if [ "$daemon" = sluice ]; then
            lk=$(median "$f" 6) hit=$(median "$f" 7)
        else
            lk=- hit=$(perl -e 'print $ARGV[1] > 0 ? sprintf("%.4f (derived)", 1 - $ARGV[0] / $ARGV[1]) : "-"' "$(median "$f" 5)" \
                "$(median "$IT_WORK/sluice.$proto.rounds" 6)")
        fi
        printf '%-8s %9s %11.3f %14s %8.3f %8.3f %10.3f %12s %10s %12s\n' "$daemon" "$(median "$f" 4)" \
            "$(median "$f" 1)" "$(range "$f" 1)" "$(median "$f" 2)" "$(median "$f" 3)" "$(median "$f" 5)" \
            "$lk" "$hit" "$(range "$f" 8)"
    done
    paste -d' ' "$IT_WORK/sluice.$proto.rounds" "$IT_WORK/rspamd.$proto.rounds" |
        awk '{print $1 / $9}' >"$IT_WORK/$proto.ratios"
    printf 'CPU per message, sluice/rspamd, per round: %s\n' "$(xargs printf '%.3f ' <"$IT_WORK/$proto.ratios")"
    perl -e 'printf "ratio sluice/rspamd (%s): CPU per message %.3f (median of rounds; the issue asks at most 0.2), msgs/s %.3f\n",
        $ARGV[0], $ARGV[1], $ARGV[2] / $ARGV[3]' "$proto" "$(median "$IT_WORK/$proto.ratios" 1)" \
        "$(median "$IT_WORK/sluice.$proto.rounds" 4)" "$(median "$IT_WORK/rspamd.$proto.rounds" 4)"
done

printf '\n%-8s %14s %14s\n' daemon "RSS sum MB" "RSS max MB"
for daemon in $DAEMONS; do
    read -r _ hwm hwmax _ _ < <(tree_stat "${PID[$daemon]}")
    printf '%-8s %14.1f %14.1f\n' "$daemon" "$(perl -e 'print $ARGV[0] / 1024' "$hwm")" \
        "$(perl -e 'print $ARGV[0] / 1024' "$hwmax")"
done
printf 'nsd: %s queries in all, %s refused\n' "$(nsd_stat num.queries)" "$refused"
for daemon in $DAEMONS; do
    kill -TERM "${PID[$daemon]}" 2>/dev/null
    wait "${PID[$daemon]}" || echo "    ($daemon exited non-zero on SIGTERM)" >&2
done
