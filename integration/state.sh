#!/usr/bin/env bash
# Stage: shared state (greylisting, rate limits, replies) on a real Redis with Sentinel.
#
# One master, one replica and three sentinels on loopback; two sluice nodes (A and B)
# find the master through the sentinels. Checked:
#   - reads (greylist, replies, Bayes classification) go to the replica, writes to the
#     master;
#   - a triplet greylisted through A is still refused by B within the timeout, and
#     passes through B after it; a rate limit filled through A holds on B;
#   - a concurrent burst over a limit gets soft rejects for the excess only; a selector
#     bucket (a header's value) filled through both nodes;
#   - a scan through A is in B's /history (history_redis), and A's /historyreset
#     empties it for both;
#   - the master killed under milter load: every message is answered, none tempfailed,
#     and once the sentinels have promoted the replica the nodes write to it;
#   - greylisting through a real Postfix: 451 4.7.1 first, delivered on the retry;
#   - a plain Redis (no Sentinel) stopped mid-run: every message answered, none
#     tempfailed, the failures counted on /metrics.
#
# sluice only: the assertions are about sluice's nodes and counters.
source "$(dirname "$0")/lib.sh"

[ "$MILTER_UNDER_TEST" = sluice ] || { note "skipped for $MILTER_UNDER_TEST"; finish; }
require_tools perl ss redis-server redis-sentinel redis-cli postfix postconf smtp-sink swaks
make_workdir
require_bench

GREY_SECONDS=3
MASTER_NAME=sluicem
# The sentinels require a password (Rspamd's sentinel_password).
SPASS=sentinel-secret

# ---------------------------------------------------------------- Redis and Sentinel

# start_redis NAME PORT [ARGS...]: a private redis-server, no persistence.
start_redis() {
    local name=$1 port=$2
    shift 2
    redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
        --dir "$IT_WORK" "$@" >"$IT_WORK/$name.log" 2>&1 &
    eval "${name}_PID=$!"
    on_exit "kill -CONT $!; kill -KILL $!"
    wait_for_port "$port" 10 || die "redis $name did not listen on $port"
}

MPORT=$(free_port)
RPORT=$(free_port)
start_redis master "$MPORT"
start_redis replica "$RPORT" --replicaof 127.0.0.1 "$MPORT"
for _ in $(seq 1 50); do
    redis-cli -p "$RPORT" info replication | grep -q 'master_link_status:up' && break
    sleep 0.1
done

SENTINELS=()
for i in 1 2 3; do
    port=$(free_port)
    cat >"$IT_WORK/sentinel$i.conf" <<EOF
bind 127.0.0.1
port $port
dir $IT_WORK
requirepass $SPASS
sentinel sentinel-pass $SPASS
sentinel monitor $MASTER_NAME 127.0.0.1 $MPORT 2
sentinel down-after-milliseconds $MASTER_NAME 500
sentinel failover-timeout $MASTER_NAME 3000
sentinel parallel-syncs $MASTER_NAME 1
EOF
    redis-sentinel "$IT_WORK/sentinel$i.conf" >"$IT_WORK/sentinel$i.log" 2>&1 &
    on_exit "kill -KILL $!"
    wait_for_port "$port" 10 || die "sentinel $i did not listen on $port"
    SENTINELS+=("127.0.0.1:$port")
done
S1=${SENTINELS[0]##*:}
scli() { redis-cli -p "$S1" -a "$SPASS" --no-auth-warning "$@"; }
master_port() { scli sentinel get-master-addr-by-name "$MASTER_NAME" | sed -n 2p; }
assert_contains "the sentinels refuse a client without the password" \
    "$(redis-cli -p "$S1" sentinel masters 2>&1)" "NOAUTH"
assert_eq "sentinels report the master" "$MPORT" "$(master_port)"
# The replica, once the sentinels have found it (they read it from the master's INFO).
for _ in $(seq 1 100); do
    scli sentinel replicas "$MASTER_NAME" | grep -A1 -x "master-link-status" | grep -qx ok && break
    sleep 0.1
done
assert_contains "sentinels list the replica" "$(scli sentinel replicas "$MASTER_NAME")" "$RPORT"

# ---------------------------------------------------------------- two sluice nodes

# A config dir: Redis through the sentinels (or $2 as a plain server), greylisting with
# a short timeout on every message (the greylist threshold below any score), and a
# per-user limit of 3 messages.
write_conf() { # DIR [SERVER]
    local d=$1
    mkdir -p "$d/local.d"
    if [ -n "${2:-}" ]; then
        printf 'servers = "%s";\ntimeout = 0.2s;\n' "$2" >"$d/local.d/redis.conf"
    else
        cat >"$d/local.d/redis.conf" <<EOF
sentinels = "$(IFS=,; echo "${SENTINELS[*]}")";
sentinel_masters_pattern = "^$MASTER_NAME\$";
sentinel_password = "$SPASS";
sentinel_watch_time = 1s;
timeout = 0.3s;
EOF
        # Bayes on the same Redis, through the same sentinels.
        printf 'backend = "redis";\ntimeout = 0.3;\n' >"$d/local.d/classifier-bayes.conf"
    fi
    printf 'timeout = %ss;\n' "$GREY_SECONDS" >"$d/local.d/greylist.conf"
    cat >"$d/local.d/ratelimit.conf" <<'EOF'
rates {
    user = "3 / 1h";
    campaign = { selector = "header('X-Campaign')"; bucket = { burst = 2; rate = "1 / 1h"; } }
}
EOF
    printf 'greylist = -1000;\n' >"$d/local.d/actions.conf"
}

# start_node NAME DIR: sets NAME_MILTER, NAME_HTTP, NAME_CTL, NAME_PID.
start_node() {
    local name=$1 d=$2 log
    start_sluice --var "LOCAL_CONFDIR=$d" --var "DBDIR=$d" --var "RUNDIR=$d"
    log=$MILTER_LOG
    mv "$log" "$IT_WORK/$name.log"
    MILTER_LOG=$IT_WORK/$name.log
    local http ctl
    http=$(grep -oE 'http listening on (inet:)?127\.0\.0\.1:[0-9]+' "$MILTER_LOG" | grep -oE '127\.0\.0\.1:[0-9]+' | sed -n 1p)
    ctl=$(grep -oE 'controller listening on (inet:)?127\.0\.0\.1:[0-9]+' "$MILTER_LOG" | grep -oE '127\.0\.0\.1:[0-9]+' | sed -n 1p)
    eval "${name}_MILTER=$MILTER_ADDR ${name}_HTTP=$http ${name}_CTL=$ctl ${name}_PID=$MILTER_PID"
}

write_conf "$IT_WORK/a"
write_conf "$IT_WORK/b"
start_node A "$IT_WORK/a"
start_node B "$IT_WORK/b"

# scan HOSTPORT FILE HEADER...: "ACTION|SMTP_MESSAGE|GREYLIST options" of /checkv2.
scan() {
    local hp=$1 file=$2
    shift 2
    perl -MHTTP::Tiny -MJSON::PP -e '
        my ($url, $file, @h) = @ARGV; my %h;
        for (@h) { my ($k, $v) = split /: /, $_, 2; $h{$k} = $v; }
        local $/; open my $f, "<", $file or die; my $body = <$f>;
        my $r = HTTP::Tiny->new(timeout => 5)->request("POST", $url, {content => $body, headers => \%h});
        $r->{success} or do { print "HTTP $r->{status}|$r->{content}|\n"; exit };
        my $j = decode_json($r->{content});
        my $g = $j->{symbols}{GREYLIST};
        printf "%s|%s|%s\n", $j->{action}, $j->{messages}{smtp_message} // "",
            $g ? join(",", @{$g->{options} // []}) : "";' "http://$hp/checkv2" "$file" "$@"
}

msg() { # FILE MESSAGE-ID [EXTRA HEADER LINE]
    printf 'From: sender@example.org\r\nTo: rcpt@example.com\r\nSubject: state test\r\nMessage-ID: <%s>\r\n%s\r\nHello, this is %s.\r\n' \
        "$2" "${3:+$3$'\r\n'}" "$2" >"$1"
}

# ---------------------------------------------------------------- greylisting across nodes

msg "$IT_WORK/grey.eml" grey-1@example.org
grey=("IP: 192.0.2.10" "From: sender@example.org" "Rcpt: rcpt@example.com")
first=$(scan "$A_HTTP" "$IT_WORK/grey.eml" "${grey[@]}")
assert_eq "A: a new triplet is greylisted" "soft reject|Try again later" "${first%|*}"
assert_contains "A: GREYLIST says a new record" "$first" "new record"
again=$(scan "$B_HTTP" "$IT_WORK/grey.eml" "${grey[@]}")
assert_eq "B: the same triplet within the timeout is refused" "soft reject|Try again later" "${again%|*}"
sleep $((GREY_SECONDS + 1))
passed=$(scan "$B_HTTP" "$IT_WORK/grey.eml" "${grey[@]}")
assert_eq "B: after the timeout it passes" "no action||pass,body" "$passed"

# Reads (the greylist and replies lookups, MGET) went to the replica the sentinels list,
# writes to the master.
mgets() { redis-cli -p "$1" info commandstats | grep -oE '^cmdstat_mget:calls=[0-9]+' | grep -oE '[0-9]+$' || echo 0; }
assert_eq "no read reached the master" 0 "$(mgets "$MPORT")"
replica_reads=$(mgets "$RPORT")
if [ "$replica_reads" -gt 0 ]; then pass "reads went to the replica ($replica_reads MGET)"; else fail "no read reached the replica"; fi
# Bayes classifies from the replica too: its learned totals (HMGET; on the master only
# the rate limits' scripts run HMGET, and their effects replicate as writes).
hmgets() { redis-cli -p "$1" info commandstats | grep -oE '^cmdstat_hmget:calls=[0-9]+' | grep -oE '[0-9]+$' || echo 0; }
bayes_reads=$(hmgets "$RPORT")
if [ "$bayes_reads" -gt 0 ]; then pass "Bayes read from the replica ($bayes_reads HMGET)"; else fail "no Bayes read reached the replica"; fi

# ---------------------------------------------------------------- rate limits across nodes

msg "$IT_WORK/rl.eml" rl-1@example.org
rl=("IP: 192.0.2.20" "From: alice@example.org" "Rcpt: someone@example.com" "User: alice")
verdicts=""
for node in A A A B B; do
    hp=A_HTTP
    [ "$node" = B ] && hp=B_HTTP
    v=$(scan "${!hp}" "$IT_WORK/rl.eml" "${rl[@]}")
    verdicts+="$node:${v%%|*};"
done
assert_eq "limit of 3 filled through A holds on B" \
    "A:no action;A:no action;A:no action;B:soft reject;B:soft reject;" "$verdicts"
last=$(scan "$B_HTTP" "$IT_WORK/rl.eml" "${rl[@]}")
assert_eq "Rspamd's message for a full bucket" 'soft reject|Ratelimit "user" exceeded' "${last%|*}"

# A selector bucket (the X-Campaign header's value), filled through both nodes.
msg "$IT_WORK/c1.eml" campaign-1@example.org "X-Campaign: spring"
msg "$IT_WORK/c2.eml" campaign-2@example.org "X-Campaign: autumn"
verdicts=""
for node in A B A; do
    hp=${node}_HTTP
    v=$(scan "${!hp}" "$IT_WORK/c1.eml" "IP: 192.0.2.22" "From: dave@example.org" "Rcpt: x@example.com" "User: dave")
    verdicts+="$node:${v%|*};"
done
assert_eq "selector bucket of 2 for one header value, across nodes" \
    'A:no action|;B:no action|;A:soft reject|Ratelimit "campaign" exceeded;' "$verdicts"
other=$(scan "$B_HTTP" "$IT_WORK/c2.eml" "IP: 192.0.2.23" "From: erin@example.org" "Rcpt: x@example.com" "User: erin")
assert_eq "another header value has its own bucket" "no action|" "${other%|*}"

# A burst of 10 at once (5 per node) for another user: exactly 3 pass.
bob=("IP: 192.0.2.21" "From: bob@example.org" "Rcpt: someone@example.com" "User: bob")
for i in $(seq 1 10); do
    hp=$A_HTTP
    [ $((i % 2)) -eq 0 ] && hp=$B_HTTP
    scan "$hp" "$IT_WORK/rl.eml" "${bob[@]}" >"$IT_WORK/burst.$i" &
done
for i in $(seq 1 10); do
    for _ in $(seq 1 200); do [ -s "$IT_WORK/burst.$i" ] && break; sleep 0.05; done
done
accepted=$(grep -l '^no action|' "$IT_WORK"/burst.* | wc -l)
limited=$(grep -l '^soft reject|Ratelimit "user" exceeded' "$IT_WORK"/burst.* | wc -l)
assert_eq "burst of 10 over a limit of 3: 3 accepted" 3 "$accepted"
assert_eq "burst of 10 over a limit of 3: 7 soft rejects" 7 "$limited"

# ---------------------------------------------------------------- history across nodes

# history HOSTPORT: the Message-IDs of /history, newest first, space separated.
history() {
    perl -MHTTP::Tiny -MJSON::PP -e '
        my $r = HTTP::Tiny->new(timeout => 5)->get($ARGV[0]);
        $r->{success} or do { print "HTTP $r->{status}"; exit };
        print join(" ", map { $_->{"message-id"} } @{decode_json($r->{content})->{rows}});' \
        "http://$1/history?from=0&to=50"
}
msg "$IT_WORK/hist.eml" history-a@example.org
scan "$A_HTTP" "$IT_WORK/hist.eml" "IP: 192.0.2.40" "From: sender@example.org" "Rcpt: rcpt@example.com" >/dev/null
seen=
for _ in $(seq 1 50); do
    rows=$(history "$B_CTL")
    case " $rows " in *" history-a@example.org "*) seen=1; break ;; esac
    sleep 0.1
done
if [ -n "$seen" ]; then pass "a scan through A shows in B's /history"; else fail "B's /history lacks A's scan: $rows"; fi
lists=$(redis-cli -p "$MPORT" smembers rs_history_hosts)
assert_contains "the rows are in Rspamd's list (rs_history + host + _zst)" "$lists" "rs_history$(cat /proc/sys/kernel/hostname)_zst"
reset=$(perl -MHTTP::Tiny -e 'print HTTP::Tiny->new(timeout => 5)->get($ARGV[0])->{content}' "http://$A_CTL/historyreset")
assert_contains "A: /historyreset" "$reset" '"success":true'
assert_eq "B: the shared history is empty after A's reset" "" "$(history "$B_CTL")"

# ---------------------------------------------------------------- failover under load

LOAD=$IT_WORK/load
mkdir -p "$LOAD"
for i in $(seq 1 40); do msg "$LOAD/m$i.eml" "load-$i@example.org"; done
field_sum() { # FILE PERL-EXPR
    perl -MJSON::PP -0777 -ne 'my $t = 0; for my $r (JSON::PP->new->incr_parse($_)) { $t += '"$2"' } print $t' "$1"
}
: >"$IT_WORK/failover.json"
# load LOG ADDR: bench rounds until $IT_WORK/stop exists.
load() {
    rm -f "$IT_WORK/stop"
    while [ ! -e "$IT_WORK/stop" ]; do
        run_bench --addr "$2" -j 4 -n 80 --json "$LOAD" >>"$1" 2>>"$IT_WORK/bench.err"
    done
}
load "$IT_WORK/failover.json" "$A_MILTER" &
LOADER=$!
sleep 1
kill -KILL "$master_PID"
killed=$(date +%s.%N)
new=
for _ in $(seq 1 150); do
    p=$(master_port)
    if [ "$p" = "$RPORT" ]; then new=$p; break; fi
    sleep 0.1
done
if [ -n "$new" ]; then
    pass "sentinels promoted the replica ($(perl -MTime::HiRes=time -e "printf q(%.1f), time - $killed") s)"
else
    fail "no promotion within 15 s"
fi
sleep 1
touch "$IT_WORK/stop"
wait "$LOADER"
attempted=$(field_sum "$IT_WORK/failover.json" '$r->{attempted}')
answered=$(field_sum "$IT_WORK/failover.json" '$r->{messages}')
tempfails=$(field_sum "$IT_WORK/failover.json" '($r->{replies}{tempfail} // 0)')
errors=$(field_sum "$IT_WORK/failover.json" '$r->{protocol_errors}')
note "failover load: $answered of $attempted answered, $tempfails tempfails, $errors protocol errors"
assert_ge "load ran through the failover" 80 "$attempted"
assert_eq "every message answered through the failover" "$attempted" "$answered"
assert_eq "no tempfail through the failover" 0 "$tempfails"
assert_eq "no protocol error through the failover" 0 "$errors"

# After it: a user's message is remembered through A (a write), a reply to it through B
# finds it (a read), on the new master.
before_keys=$(redis-cli -p "$RPORT" --scan --pattern 'rr*' | wc -l)
msg "$IT_WORK/sent.eml" after-failover@example.org
ok=
for _ in $(seq 1 30); do
    scan "$A_HTTP" "$IT_WORK/sent.eml" "IP: 192.0.2.30" "User: carol" "From: sender@example.org" "Rcpt: rcpt@example.com" >/dev/null
    after_keys=$(redis-cli -p "$RPORT" --scan --pattern 'rr*' | wc -l)
    if [ "$after_keys" -gt "$before_keys" ]; then ok=1; break; fi
    sleep 0.2
done
if [ -n "$ok" ]; then pass "after the failover writes reach the new master"; else fail "no write reached the new master ($before_keys keys before, $after_keys after)"; fi
printf 'From: rcpt@example.com\r\nTo: sender@example.org\r\nSubject: re\r\nIn-Reply-To: <after-failover@example.org>\r\n\r\nthanks\r\n' >"$IT_WORK/reply.eml"
reply=$(perl -MHTTP::Tiny -MJSON::PP -e '
    local $/; open my $f, "<", $ARGV[1] or die; my $b = <$f>;
    my $r = HTTP::Tiny->new(timeout => 5)->request("POST", $ARGV[0], {content => $b,
        headers => {IP => "198.51.100.9", From => "rcpt\@example.com", Rcpt => "sender\@example.org"}});
    my $j = decode_json($r->{content}); print exists $j->{symbols}{REPLY} ? "REPLY" : "none"' \
    "http://$B_HTTP/checkv2" "$IT_WORK/reply.eml")
assert_eq "B reads it back from the new master: the reply gets REPLY" REPLY "$reply"
metrics=$(perl -MHTTP::Tiny -e 'print HTTP::Tiny->new(timeout => 5)->get($ARGV[0])->{content}' "http://$A_CTL/metrics")
assert_contains "A: Bayes on the new master after the failover" "$metrics" "sluice_bayes_store_up 1"

# ---------------------------------------------------------------- Postfix: 451, then delivered

PF=$IT_WORK/postfix
SINK_DIR=$IT_WORK/sink
SMTP_PORT=$(free_port)
SINK_PORT=$(free_port)
mkdir -p "$PF/conf" "$PF/queue" "$PF/data" "$SINK_DIR"
chown postfix "$PF/data"
chown nobody "$SINK_DIR"
cat >"$PF/conf/main.cf" <<CF
compatibility_level = 3.6
config_directory = $PF/conf
queue_directory = $PF/queue
data_directory = $PF/data
meta_directory = /etc/postfix
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-sluice-state
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
myhostname = mx.state.test
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$SINK_PORT
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_authorized_xclient_hosts = 127.0.0.0/8
relay_domains = remote.test
relay_transport = relay:[127.0.0.1]:$SINK_PORT
alias_maps =
alias_database =
local_recipient_maps =
smtpd_milters = $B_MILTER
milter_protocol = 6
milter_default_action = tempfail
CF
cat >"$PF/conf/master.cf" <<CF
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
pickup    unix  n - n 60   1 pickup
cleanup   unix  n - n -    0 cleanup
qmgr      unix  n - n 300  1 qmgr
rewrite   unix  - - n -    - trivial-rewrite
bounce    unix  - - n -    0 bounce
defer     unix  - - n -    0 bounce
trace     unix  - - n -    0 bounce
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -    - proxymap
smtp      unix  - - n -    - smtp
relay     unix  - - n -    - smtp
showq     unix  n - n -    - showq
error     unix  - - n -    - error
retry     unix  - - n -    - error
anvil     unix  - - n -    1 anvil
scache    unix  - - n -    1 scache
postlog   unix-dgram n - n - 1 postlogd
CF
smtp-sink -u nobody -d "$SINK_DIR/msg." 127.0.0.1:"$SINK_PORT" 16 >"$IT_WORK/sink.log" 2>&1 &
on_exit "kill $!"
wait_for_port "$SINK_PORT" 10 || die "smtp-sink did not listen"
postfix -c "$PF/conf" start >"$IT_WORK/pf-start.log" 2>&1 || die "postfix start failed: $(cat "$IT_WORK/pf-start.log")"
on_exit "postfix -c '$PF/conf' stop"
wait_for_port "$SMTP_PORT" 20 || die "postfix did not listen on $SMTP_PORT"

send() {
    swaks --server 127.0.0.1 --port "$SMTP_PORT" --xclient-addr 192.0.2.77 --xclient-name mx.sender.test \
        --from sender@sender.test --to rcpt@remote.test --helo mx.sender.test \
        --header "Message-ID: <pf-grey@sender.test>" --body "greylisting through postfix" 2>&1 || true
}
out=$(send)
assert_contains "Postfix: first attempt gets 451 4.7.1 Try again later" "$out" "<** 451 4.7.1 Try again later"
sleep $((GREY_SECONDS + 1))
out=$(send)
assert_contains "Postfix: the retry after the timeout is accepted" "$out" "<-  250 2.0.0 Ok: queued"
for _ in $(seq 1 100); do
    [ "$(find "$SINK_DIR" -type f | wc -l)" -ge 1 ] && break
    sleep 0.1
done
assert_eq "Postfix: the retry is delivered" 1 "$(find "$SINK_DIR" -type f | wc -l)"

# ---------------------------------------------------------------- plain Redis stopped mid-run

PPORT=$(free_port)
start_redis plain "$PPORT"
write_conf "$IT_WORK/c" "127.0.0.1:$PPORT"
start_node C "$IT_WORK/c"
: >"$IT_WORK/outage.json"
load "$IT_WORK/outage.json" "$C_MILTER" &
LOADER=$!
sleep 0.5
kill -STOP "$plain_PID"
sleep 2
kill -CONT "$plain_PID"
kill -TERM "$plain_PID"
sleep 1
touch "$IT_WORK/stop"
wait "$LOADER"
attempted=$(field_sum "$IT_WORK/outage.json" '$r->{attempted}')
answered=$(field_sum "$IT_WORK/outage.json" '$r->{messages}')
tempfails=$(field_sum "$IT_WORK/outage.json" '($r->{replies}{tempfail} // 0)')
max=$(perl -MJSON::PP -0777 -ne 'my $m = 0; for my $r (JSON::PP->new->incr_parse($_)) { $m = $r->{latency}{max_ms} if $r->{latency}{max_ms} > $m } print $m' "$IT_WORK/outage.json")
note "outage load: $answered of $attempted answered, $tempfails tempfails, slowest answer $max ms"
assert_eq "every message answered while Redis is stopped" "$attempted" "$answered"
assert_eq "no tempfail while Redis is stopped" 0 "$tempfails"
metrics=$(perl -MHTTP::Tiny -e 'print HTTP::Tiny->new(timeout => 5)->get($ARGV[0])->{content}' "http://$C_CTL/metrics")
failures=$(grep -oE '^sluice_state_failures_total\{module="replies"\} [0-9]+' <<<"$metrics" | awk '{print $2}')
note "replies failures on /metrics: ${failures:-none}"
if [ "${failures:-0}" -gt 0 ]; then pass "/metrics counts the store failures"; else fail "no failures counted on /metrics"; fi

for n in A B C; do
    pid=${n}_PID
    if kill -0 "${!pid}" 2>/dev/null; then pass "node $n still running"; else fail "node $n died"; fi
done
finish
