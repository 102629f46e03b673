#!/usr/bin/env bash
# Stage: Bayes on a real redis-server that hangs (SIGSTOP) for 30 s under
# milter load from `sluice bench milter -j 16`. Every message is answered
# on time: the hang adds at most one Redis timeout (plus 50 ms) to the
# slowest answer of the same load before it, which on 2 busy cores is
# itself queueing time, not Redis. None is tempfailed, Bayes is back within 2 s of SIGCONT, and the outage logs a
# handful of warnings, not one per message.
#
# sluice only: Rspamd has no equivalent of these bounds to compare with.
source "$(dirname "$0")/lib.sh"

[ "$MILTER_UNDER_TEST" = sluice ] || { note "skipped for $MILTER_UNDER_TEST"; finish; }
require_tools perl ss redis-server
make_workdir
require_bench

TIMEOUT_MS=200
HANG=${REDIS_HANG_SECONDS:-30}
CORPUS=$SHARED/corpus
[ -d "$CORPUS/ham" ] && [ -d "$CORPUS/spam" ] || die "corpus not found under SHARED=$SHARED"

# A private redis-server, no persistence.
rport=$(free_port)
redis-server --bind 127.0.0.1 --port "$rport" --save "" --appendonly no \
    --protected-mode yes >"$IT_WORK/redis.log" 2>&1 &
REDIS_PID=$!
on_exit "kill -CONT $REDIS_PID; kill -TERM $REDIS_PID; wait $REDIS_PID"
wait_for_port "$rport" 10 || die "redis-server did not listen on $rport"

# Learn a few hundred messages of each class; load with others.
mkdir -p "$IT_WORK/local.d" "$IT_WORK/learn/spam" "$IT_WORK/learn/ham" "$IT_WORK/load"
cat >"$IT_WORK/local.d/classifier-bayes.conf" <<EOF
backend = "redis";
servers = "127.0.0.1:$rport";
timeout = $(perl -e "print $TIMEOUT_MS / 1000");
EOF
for class in spam ham; do
    find "$CORPUS/$class" -maxdepth 1 -type f | sort | sed -n '1,250p' | xargs cp -t "$IT_WORK/learn/$class"
    find "$CORPUS/$class" -maxdepth 1 -type f | sort | sed -n '251,400p' |
        while read -r f; do cp "$f" "$IT_WORK/load/$class-$(basename "$f")"; done
done
vars=(--var "LOCAL_CONFDIR=$IT_WORK" --var "DBDIR=$IT_WORK")
"$SLUICE_BIN" learn "${vars[@]}" --spam "$IT_WORK/learn/spam" --ham "$IT_WORK/learn/ham" \
    >"$IT_WORK/learn.out" 2>&1 || die "sluice learn failed: $(tail -5 "$IT_WORK/learn.out")"

start_sluice "${vars[@]}"
HTTP=$(grep -oE 'http listening on (inet:)?127\.0\.0\.1:[0-9]+' "$MILTER_LOG" | grep -oE '127\.0\.0\.1:[0-9]+' | sed -n 1p)
CONTROLLER=$(grep -oE 'controller listening on (inet:)?127\.0\.0\.1:[0-9]+' "$MILTER_LOG" | grep -oE '127\.0\.0\.1:[0-9]+' | sed -n 1p)
SPAM=$(find "$IT_WORK/learn/spam" -type f | sort | sed -n 1p)
# http METHOD URL [BODY_FILE]: the reply body (perl's core HTTP client).
http() {
    perl -MHTTP::Tiny -e '
        my ($m, $u, $f) = @ARGV; my %o;
        if ($f) { local $/; open my $h, "<", $f or die; $o{content} = <$h>; }
        print HTTP::Tiny->new(timeout => 5)->request($m, $u, \%o)->{content};' "$@"
}
has_bayes() {
    http POST "http://$HTTP/checkv2" "$SPAM" | grep -q '"BAYES_'
}
if has_bayes; then pass "Bayes scores before the outage"; else fail "no Bayes symbol before the outage"; fi

# One round: 16 connections, 10 messages each; its JSON report in $1.
round() {
    run_bench --addr "$MILTER_ADDR" -j 16 -n 800 --json "$IT_WORK/load" >"$1" 2>>"$IT_WORK/bench.err"
}
field() { perl -MJSON::PP -0777 -ne "my \$r = decode_json(\$_); print $2, qq(\n)" "$1"; }

# A first round warms the daemon up (its first scans build caches); the
# second is the baseline the hang is measured against.
round "$IT_WORK/warmup.json" || die "bench failed: $(tail -3 "$IT_WORK/bench.err")"
round "$IT_WORK/before.json" || die "bench failed: $(tail -3 "$IT_WORK/bench.err")"
log_lines=$(wc -l <"$MILTER_LOG")

kill -STOP "$REDIS_PID"
stopped=$(date +%s.%N)
n=0
while perl -e "exit(time - $stopped < $HANG ? 0 : 1)" -MTime::HiRes=time; do
    round "$IT_WORK/hang-$n.json" || fail "bench round $n during the hang failed" "$(tail -3 "$IT_WORK/bench.err")"
    n=$((n + 1))
done
if has_bayes; then fail "Bayes symbol while Redis is stopped"; else pass "scans go on without Bayes while Redis is stopped"; fi
kill -CONT "$REDIS_PID"
resumed=$(date +%s.%N)
back=
for _ in $(seq 1 100); do
    if has_bayes; then back=$(perl -MTime::HiRes=time -e "printf q(%.2f), time - $resumed"); break; fi
    sleep 0.05
done
round "$IT_WORK/after.json" || die "bench failed: $(tail -3 "$IT_WORK/bench.err")"

# The whole hang, over every round.
hang=$(cat "$IT_WORK"/hang-*.json | perl -MJSON::PP -0777 -ne '
    my ($max, $p99, $msgs, $att, $tf, $err) = (0, 0, 0, 0, 0, 0);
    for my $r (JSON::PP->new->incr_parse($_)) {
        $max = $r->{latency}{max_ms} if $r->{latency}{max_ms} > $max;
        $p99 = $r->{latency}{p99_ms} if $r->{latency}{p99_ms} > $p99;
        $msgs += $r->{messages}; $att += $r->{attempted};
        $tf += $r->{replies}{tempfail} // 0; $err += $r->{protocol_errors};
    }
    printf "%.1f %.1f %d %d %d %d\n", $max, $p99, $msgs, $att, $tf, $err')
read -r max p99 msgs attempted tempfails errors <<<"$hang"
note "before: p99 $(field "$IT_WORK/before.json" '$r->{latency}{p99_ms}') ms, max $(field "$IT_WORK/before.json" '$r->{latency}{max_ms}') ms"
note "during ${HANG} s of SIGSTOP: $msgs messages in $n rounds, worst round p99 $p99 ms, max $max ms, $tempfails tempfails"
note "after: p99 $(field "$IT_WORK/after.json" '$r->{latency}{p99_ms}') ms, max $(field "$IT_WORK/after.json" '$r->{latency}{max_ms}') ms"
assert_eq "every message answered during the hang" "$attempted" "$msgs"
assert_eq "zero tempfails during the hang" 0 "$tempfails"
assert_eq "zero protocol errors during the hang" 0 "$errors"
# The bound: the slowest answer before the hang, plus one timeout, plus 50 ms.
before_max=$(field "$IT_WORK/before.json" '$r->{latency}{max_ms}')
bound=$(perl -e "printf q(%.1f), $before_max + $TIMEOUT_MS + 50")
if perl -e "exit($max <= $bound ? 0 : 1)"; then
    pass "no answer later than ${bound} ms during the hang (max $max ms; before it $before_max ms)"
else
    fail "an answer took $max ms during the hang (bound $bound ms: $before_max ms before it + ${TIMEOUT_MS} ms timeout + 50 ms)"
fi
if [ -n "$back" ] && perl -e "exit($back <= 2 ? 0 : 1)"; then
    pass "Bayes back ${back} s after SIGCONT"
else
    fail "Bayes not back within 2 s of SIGCONT (${back:-never within 5 s})"
fi
warns=$(tail -n +"$((log_lines + 1))" "$MILTER_LOG" | grep -c ' WARN ' || true)
note "WARN lines over the outage: $warns"
tail -n +"$((log_lines + 1))" "$MILTER_LOG" | grep ' WARN ' | sed -n '1,20p' | while read -r l; do note "$l"; done
if [ "$warns" -le 10 ]; then pass "a handful of warnings over the outage ($warns)"; else
    fail "$warns WARN lines over the outage"
fi
metrics=$(http GET "http://$CONTROLLER/metrics")
assert_contains "store up again in /metrics" "$metrics" "sluice_bayes_store_up 1"
if milter_alive; then pass "milter still running"; else fail "milter died"; fi
rc=0
stop_milter || rc=$?
assert_eq "milter exits 0 on SIGTERM" 0 "$rc"
finish
