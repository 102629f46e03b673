#!/usr/bin/env bash
# Stage: shared state on a real Redis Cluster (sluice's `cluster = true;`; Rspamd has no
# cluster support).
#
# Three masters without replicas on loopback (redis-server --cluster-enabled, joined by
# redis-cli --cluster create); two sluice nodes (A and B) given the masters as seed nodes.
# Checked:
#   - a triplet greylisted through A is refused by B within the timeout and passes
#     through B after it; a rate limit filled through A holds on B;
#   - Bayes learned through A's controller classifies a message through B;
#   - a scan through A is in B's /history;
#   - the keys are spread over more than one master, the rate limits' buckets under
#     their hash tag;
#   - one master killed under milter load: every message answered, none tempfailed,
#     the failures counted on /metrics, and keys on the other masters still served.
#
# sluice only: Rspamd has no Redis Cluster support to compare with.
source "$(dirname "$0")/lib.sh"

[ "$MILTER_UNDER_TEST" = sluice ] || { note "skipped for $MILTER_UNDER_TEST"; finish; }
require_tools perl ss redis-server redis-cli
make_workdir
require_bench

GREY_SECONDS=2
CORPUS=$SHARED/corpus
[ -d "$CORPUS/spam" ] || die "corpus not found under SHARED=$SHARED"

# ---------------------------------------------------------------- the cluster

PORTS=()
for i in 1 2 3; do
    port=$(free_port)
    mkdir -p "$IT_WORK/node$i"
    # The bus port is free too (by default it is port + 10000, maybe past 65535). No full
    # coverage needed: with one master gone, the others keep serving their slots.
    redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
        --dir "$IT_WORK/node$i" --cluster-enabled yes --cluster-config-file nodes.conf \
        --cluster-port "$(free_port)" \
        --cluster-node-timeout 1000 --cluster-require-full-coverage no \
        >"$IT_WORK/node$i.log" 2>&1 &
    eval "node${i}_PID=$!"
    on_exit "kill -KILL $!"
    wait_for_port "$port" 10 || die "redis node $i did not listen on $port"
    PORTS+=("$port")
done
redis-cli --cluster create "${PORTS[@]/#/127.0.0.1:}" --cluster-yes >"$IT_WORK/create.log" 2>&1 ||
    die "redis-cli --cluster create failed: $(tail -5 "$IT_WORK/create.log")"
for _ in $(seq 1 100); do
    ok=0
    for p in "${PORTS[@]}"; do
        redis-cli -p "$p" cluster info | grep -q '^cluster_state:ok' && ok=$((ok + 1))
    done
    [ "$ok" -eq 3 ] && break
    sleep 0.1
done
assert_eq "three masters report the cluster ok" 3 "$ok"

# ---------------------------------------------------------------- two sluice nodes

write_conf() { # DIR
    local d=$1
    mkdir -p "$d/local.d"
    cat >"$d/local.d/redis.conf" <<EOF
servers = "$(printf '127.0.0.1:%s,' "${PORTS[@]}" | sed 's/,$//')";
cluster = true;
timeout = 0.3s;
EOF
    printf 'backend = "redis";\ntimeout = 0.3;\nmin_learns = 1;\n' >"$d/local.d/classifier-bayes.conf"
    printf 'timeout = %ss;\n' "$GREY_SECONDS" >"$d/local.d/greylist.conf"
    # `to` applies to every message (the load's too), far above what it sends.
    printf 'rates {\n    user = "3 / 1h";\n    to = "100000 / 1s";\n}\n' >"$d/local.d/ratelimit.conf"
    printf 'greylist = -1000;\n' >"$d/local.d/actions.conf"
}

# start_node NAME DIR: sets NAME_MILTER, NAME_HTTP, NAME_CTL, NAME_PID.
start_node() {
    local name=$1 d=$2 http ctl
    start_sluice --var "LOCAL_CONFDIR=$d" --var "DBDIR=$d" --var "RUNDIR=$d"
    mv "$MILTER_LOG" "$IT_WORK/$name.log"
    MILTER_LOG=$IT_WORK/$name.log
    http=$(grep -oE 'http listening on (inet:)?127\.0\.0\.1:[0-9]+' "$MILTER_LOG" | grep -oE '127\.0\.0\.1:[0-9]+' | sed -n 1p)
    ctl=$(grep -oE 'controller listening on (inet:)?127\.0\.0\.1:[0-9]+' "$MILTER_LOG" | grep -oE '127\.0\.0\.1:[0-9]+' | sed -n 1p)
    eval "${name}_MILTER=$MILTER_ADDR ${name}_HTTP=$http ${name}_CTL=$ctl ${name}_PID=$MILTER_PID"
}

write_conf "$IT_WORK/a"
write_conf "$IT_WORK/b"
start_node A "$IT_WORK/a"
start_node B "$IT_WORK/b"

# post URL FILE HEADER...: the JSON answer of a POST.
post() {
    local url=$1 file=$2
    shift 2
    perl -MHTTP::Tiny -e '
        my ($url, $file, @h) = @ARGV; my %h;
        for (@h) { my ($k, $v) = split /: /, $_, 2; $h{$k} = $v; }
        local $/; open my $f, "<", $file or die; my $body = <$f>;
        my $r = HTTP::Tiny->new(timeout => 5)->request("POST", $url, {content => $body, headers => \%h});
        print $r->{success} ? $r->{content} : "HTTP $r->{status} $r->{content}";' "$url" "$file" "$@"
}

# scan HOSTPORT FILE HEADER...: "ACTION|SMTP_MESSAGE|SYMBOLS" of /checkv2.
scan() {
    local hp=$1
    shift
    post "http://$hp/checkv2" "$@" | perl -MJSON::PP -0777 -ne '
        my $j = eval { decode_json($_) } or do { print "bad answer: $_"; exit };
        printf "%s|%s|%s\n", $j->{action}, $j->{messages}{smtp_message} // "",
            join(",", sort keys %{$j->{symbols}});'
}

msg() { # FILE MESSAGE-ID
    printf 'From: sender@example.org\r\nTo: rcpt@example.com\r\nSubject: cluster test\r\nMessage-ID: <%s>\r\n\r\nHello, this is %s.\r\n' \
        "$2" "$2" >"$1"
}

metric() { # HOSTPORT NAME-AND-LABELS: the value on /metrics, 0 when absent
    perl -MHTTP::Tiny -e 'print HTTP::Tiny->new(timeout => 5)->get($ARGV[0])->{content}' "http://$1/metrics" |
        awk -v k="$2" '$1 == k { v = $2 } END { print v + 0 }'
}

# ---------------------------------------------------------------- greylisting across nodes

msg "$IT_WORK/grey.eml" grey-1@example.org
grey=("IP: 192.0.2.10" "From: sender@example.org" "Rcpt: rcpt@example.com")
first=$(scan "$A_HTTP" "$IT_WORK/grey.eml" "${grey[@]}")
assert_eq "A: a new triplet is greylisted" "soft reject|Try again later" "$(cut -d'|' -f1,2 <<<"$first")"
again=$(scan "$B_HTTP" "$IT_WORK/grey.eml" "${grey[@]}")
assert_eq "B: the same triplet within the timeout is refused" "soft reject|Try again later" "$(cut -d'|' -f1,2 <<<"$again")"
sleep $((GREY_SECONDS + 1))
passed=$(scan "$B_HTTP" "$IT_WORK/grey.eml" "${grey[@]}")
assert_eq "B: after the timeout it passes" "no action|" "$(cut -d'|' -f1,2 <<<"$passed")"

# ---------------------------------------------------------------- rate limits across nodes

msg "$IT_WORK/rl.eml" rl-1@example.org
rl=("IP: 192.0.2.20" "From: alice@example.org" "Rcpt: someone@example.com" "User: alice")
verdicts=""
for node in A A A B B; do
    hp=${node}_HTTP
    v=$(scan "${!hp}" "$IT_WORK/rl.eml" "${rl[@]}")
    verdicts+="$node:${v%%|*};"
done
assert_eq "limit of 3 filled through A holds on B" \
    "A:no action;A:no action;A:no action;B:soft reject;B:soft reject;" "$verdicts"

# ---------------------------------------------------------------- Bayes across nodes

learned=0
# (Arrays, not `ls | head`: under pipefail, ls killed by SIGPIPE would end the stage.)
for class in spam ham; do
    files=("$CORPUS/$class"/*.eml)
    for f in "${files[@]:0:8}"; do
        out=$(post "http://$A_CTL/learn$class" "$f")
        case $out in *'"success":true'*) learned=$((learned + 1)) ;; *) note "learn$class $f: $out" ;; esac
    done
done
assert_eq "A learned 8 spam and 8 ham into the cluster" 16 "$learned"
spams=("$CORPUS/spam"/*.eml)
# B remembers the learned totals it last read for a second (another node's learns show
# that much later).
sleep 1.2
bayes=$(scan "$B_HTTP" "${spams[0]}" "IP: 192.0.2.50" "User: bayes")
assert_contains "B classifies a learned spam as BAYES_SPAM" "$bayes" "BAYES_SPAM"
tagged=0
for p in "${PORTS[@]}"; do
    n=$(redis-cli -p "$p" --scan --pattern '{BAYES}:*' | wc -l)
    tagged=$((tagged + n))
done
if [ "$tagged" -gt 100 ]; then pass "the statistics are under the hash tag {BAYES} ($tagged keys)"; else fail "only $tagged {BAYES} keys"; fi

# ---------------------------------------------------------------- history across nodes

msg "$IT_WORK/hist.eml" history-a@example.org
scan "$A_HTTP" "$IT_WORK/hist.eml" "IP: 192.0.2.40" "From: sender@example.org" "Rcpt: rcpt@example.com" >/dev/null
seen=
for _ in $(seq 1 50); do
    rows=$(perl -MHTTP::Tiny -e 'print HTTP::Tiny->new(timeout => 5)->get($ARGV[0])->{content}' \
        "http://$B_CTL/history?from=0&to=50")
    case $rows in *history-a@example.org*) seen=1; break ;; esac
    sleep 0.1
done
if [ -n "$seen" ]; then pass "a scan through A shows in B's /history"; else fail "B's /history lacks A's scan"; fi

# ---------------------------------------------------------------- keys spread over masters

holding=0
for p in "${PORTS[@]}"; do
    n=$(redis-cli -p "$p" dbsize)
    note "master :$p holds $n keys"
    [ "$n" -gt 0 ] && holding=$((holding + 1))
done
assert_ge "keys landed on more than one master" 2 "$holding"
rl_keys=0
for p in "${PORTS[@]}"; do
    rl_keys=$((rl_keys + $(redis-cli -p "$p" --scan --pattern '{RL}RL*' | wc -l)))
done
assert_ge "rate limit buckets carry the hash tag {RL}" 1 "$rl_keys"

# ---------------------------------------------------------------- one master killed under load

LOAD=$IT_WORK/load
mkdir -p "$LOAD"
for i in $(seq 1 40); do msg "$LOAD/m$i.eml" "load-$i@example.org"; done
field_sum() { # FILE PERL-EXPR
    perl -MJSON::PP -0777 -ne 'my $t = 0; for my $r (JSON::PP->new->incr_parse($_)) { $t += '"$2"' } print $t' "$1"
}
: >"$IT_WORK/kill.json"
load() { # LOG ADDR: bench rounds until $IT_WORK/stop exists
    rm -f "$IT_WORK/stop"
    while [ ! -e "$IT_WORK/stop" ]; do
        run_bench --addr "$2" -j 4 -n 80 --json "$LOAD" >>"$1" 2>>"$IT_WORK/bench.err"
    done
}
load "$IT_WORK/kill.json" "$A_MILTER" &
LOADER=$!
sleep 1
# The master holding the rate limits' slot: killed, their calls fail; the others go on.
vport=
slot=$(redis-cli -p "${PORTS[0]}" cluster keyslot '{RL}')
for i in 1 2 3; do
    p=${PORTS[$((i - 1))]}
    if [ "$(redis-cli -p "$p" cluster countkeysinslot "$slot")" -gt 0 ]; then vport=$p; vpid=node${i}_PID; fi
done
[ -n "$vport" ] || die "no master holds the {RL} slot $slot"
kill -KILL "${!vpid}"
note "killed the master on :$vport (slot $slot, the rate limits)"
sleep 3
touch "$IT_WORK/stop"
wait "$LOADER"
attempted=$(field_sum "$IT_WORK/kill.json" '$r->{attempted}')
answered=$(field_sum "$IT_WORK/kill.json" '$r->{messages}')
tempfails=$(field_sum "$IT_WORK/kill.json" '($r->{replies}{tempfail} // 0)')
errors=$(field_sum "$IT_WORK/kill.json" '$r->{protocol_errors}')
max=$(perl -MJSON::PP -0777 -ne 'my $m = 0; for my $r (JSON::PP->new->incr_parse($_)) { $m = $r->{latency}{max_ms} if $r->{latency}{max_ms} > $m } print $m' "$IT_WORK/kill.json")
note "load with a master killed: $answered of $attempted answered, $tempfails tempfails, $errors protocol errors, slowest $max ms"
assert_ge "load ran while the master was killed" 80 "$attempted"
assert_eq "every message answered with a master down" "$attempted" "$answered"
assert_eq "no tempfail with a master down" 0 "$tempfails"
assert_eq "no protocol error with a master down" 0 "$errors"
# (The load comes from 127.0.0.1, a local address: greylisting leaves it alone.)
n=$(metric "$A_CTL" 'sluice_state_failures_total{module="ratelimit"}')
if [ "$n" -gt 0 ]; then pass "/metrics counts the rate limits' failures ($n)"; else fail "no ratelimit failure counted"; fi

# Keys on the masters still up are still served: a new triplet is greylisted, then passes.
live=0
for _ in $(seq 1 20); do
    msg "$IT_WORK/late.eml" "late-$RANDOM@example.org"
    ip="192.0.2.$((RANDOM % 200 + 1))"
    first=$(scan "$B_HTTP" "$IT_WORK/late.eml" "IP: $ip" "From: late@example.org" "Rcpt: rcpt@example.com")
    case $first in "soft reject|Try again later|"*) live=1; break ;; esac
done
if [ "$live" = 1 ]; then pass "greylisting goes on for the slots of the masters still up"; else fail "no greylisting after the kill: $first"; fi

for n in A B; do
    pid=${n}_PID
    if kill -0 "${!pid}" 2>/dev/null; then pass "node $n still running"; else fail "node $n died"; fi
done
finish
