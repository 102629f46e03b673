#!/usr/bin/env bash
# Stage: forward mode against a real Rspamd 3.4 normal worker.
#
# One private Rspamd runs a normal worker (the scanner) and its own proxy
# worker in milter mode forwarding to it. sluice runs in forward mode with
# that same normal worker as its upstream. The same messages go through both
# milters: the milter verdicts must match (the scanner decides, the bridges
# only carry), and the CPU each bridge spends per message is reported (the
# proxy-hop figure). Loopback only; Rspamd's network modules are off and its
# DNS points at an unused loopback port (see rspamd/local.d/options.inc).
#
# FORWARD_MESSAGES caps the messages per corpus directory (default 200).
# FORWARD_REPEAT replays the set that many times through each bridge (default
# 1). The CPU figure comes from 100 Hz ticks, so one pass of ~400 messages is
# ~20 ticks and a tick is 5%; for a figure worth quoting use e.g.
# FORWARD_REPEAT=10 (~4000 messages each, ~15 s per bridge).
source "$(dirname "$0")/lib.sh"

require_tools rspamd perl ss
make_workdir
require_bench

LIMIT=${FORWARD_MESSAGES:-200}
REPEAT=${FORWARD_REPEAT:-1}
CORPUS=$SHARED/corpus
[ -d "$CORPUS/ham" ] && [ -d "$CORPUS/spam" ] || die "corpus not found under SHARED=$SHARED"

# The message set: the first LIMIT files of ham and spam, in one private dir
# (hard links where possible; the load tool skips symlinks).
msgs=$IT_WORK/messages
mkdir -p "$msgs"
for d in ham spam; do
    mapfile -t files < <(find "$CORPUS/$d" -maxdepth 1 -type f | sort)
    for f in "${files[@]:0:$LIMIT}"; do
        ln "$f" "$msgs/$d-$(basename "$f")" 2>/dev/null || cp "$f" "$msgs/$d-$(basename "$f")"
    done
done
# Plus Rspamd's GTUBE variants, so the verdicts compared are not all `accept`:
# reject, add header (spam header) and rewrite subject.
for kind in XJS YJS ZJS; do
    printf 'From: a@example.org\r\nTo: b@example.net\r\nSubject: gtube %s\r\nMessage-ID: <%s@example.org>\r\n\r\n%s*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n' \
        "$kind" "$kind" "$kind" >"$msgs/gtube-$kind.eml"
done
expected=$(($(find "$msgs" -maxdepth 1 | tail -n +2 | wc -l) * REPEAT))

# ------------------------------------------------------------- Rspamd
rdir=$IT_WORK/rspamd
normal=$(free_port)
proxy=$(free_port)
write_rspamd_config "$rdir" "127.0.0.1:$proxy"
# Rspamd signs mail of sign.test users (its dkim_signing module, key made by
# `sluice dkim-keygen`); no other domain has a key, so the corpus is unsigned.
mkdir -p "$IT_WORK/keys"
"$SLUICE_BIN" dkim-keygen -d sign.test -s rsa -b 2048 -k "$IT_WORK/keys/sign.test.rsa.key" \
    >"$IT_WORK/keys/sign.test.rsa.txt" || die "sluice dkim-keygen failed"
chown -R _rspamd:_rspamd "$IT_WORK/keys"
# dkim_signing signs through the C dkim module, which must be loaded (its
# checks then fail fast on the unused DNS port, the same for both bridges).
echo "enabled = true;" >"$rdir/local.d/dkim.conf"
sed -i 's/^filters = "chartable,regexp";/filters = "chartable,regexp,dkim";/' "$rdir/local.d/options.inc"
grep -q '^filters = "chartable,regexp,dkim";' "$rdir/local.d/options.inc" || die "could not enable Rspamd's dkim filter"
cat >"$rdir/local.d/dkim_signing.conf" <<CONF
enabled = true;
try_fallback = false;
domain { sign.test { selector = "rsa"; path = "$IT_WORK/keys/sign.test.rsa.key"; } }
CONF
# The upstream must be called "local": Debian's worker-proxy.inc (included
# before local.d) already defines `upstream "local" { default = yes; hosts =
# "localhost"; }`. Under any other name both pools are default and the proxy
# picks one of them per start: half the runs went to localhost:11333, where
# nothing listens, and every message ended with "maximum retries has been
# reached" and a closed milter connection (the flaky start once blamed on
# timing).
cat >"$rdir/local.d/worker-proxy.inc" <<CONF
bind_socket = "127.0.0.1:$proxy";
milter = yes;
timeout = 120s;
count = 1;
upstream "local" {
  default = yes;
  self_scan = no;
  hosts = "127.0.0.1:$normal";
}
CONF
cat >>"$rdir/rspamd.conf" <<CONF

worker "normal" {
  bind_socket = "127.0.0.1:$normal";
  count = 1;
}
CONF
chown -R _rspamd:_rspamd "$rdir"
$RUN_IN rspamd -f -u _rspamd -g _rspamd -c "$rdir/rspamd.conf" \
    --var="LOCAL_CONFDIR=$rdir" --var="DBDIR=$rdir" --var="RUNDIR=$rdir" \
    --var="LOGDIR=$rdir" >"$rdir/stdout" 2>&1 &
RSPAMD_PID=$!
on_exit "kill -TERM $RSPAMD_PID; wait $RSPAMD_PID"
wait_for_port "$normal" 120 || die "rspamd normal worker did not listen: $(tail -5 "$rdir/rspamd.log")"
wait_for_port "$proxy" 60 || die "rspamd proxy did not listen: $(tail -5 "$rdir/rspamd.log")"
# Listening is not answering: the workers load their config after the bind.
wait_for_milter_reply "inet:127.0.0.1:$proxy" "$msgs/gtube-XJS.eml" 60 ||
    die "rspamd proxy gave no milter reply within 60 s: $(tail -5 "$rdir/rspamd.log")"
note "rspamd pid $RSPAMD_PID: normal 127.0.0.1:$normal, proxy 127.0.0.1:$proxy"

# ------------------------------------------------------------- sluice
sdir=$IT_WORK/sluice-conf
mkdir -p "$sdir/local.d"
cat >"$sdir/local.d/worker-proxy.inc" <<CONF
upstream "scan" {
  default = yes;
  hosts = "127.0.0.1:$normal";
  timeout = 30s;
}
CONF
start_sluice --var "LOCAL_CONFDIR=$sdir"
SLUICE_PID=$MILTER_PID
SLUICE_ADDR=$MILTER_ADDR
grep -q "forward mode: scanning on upstream \`scan\`" "$MILTER_LOG" &&
    pass "sluice switched to forward mode from worker-proxy.inc" ||
    fail "sluice did not report forward mode" "$(tail -5 "$MILTER_LOG")"

# ------------------------------------------------------------- helpers
# ticks FIELDS PID...: clock ticks consumed so far by these processes, the
# sum of the /proc/PID/stat fields named (14 = user, 15 = system).
ticks() {
    local fields=$1 total=0 pid
    shift
    for pid in "$@"; do
        total=$((total + $(awk "{print $fields}" "/proc/$pid/stat")))
    done
    echo "$total"
}
cpu_ticks() { ticks '$14 + $15' "$@"; }
sys_ticks() { ticks '$15' "$@"; }

# The proxy worker is a child of Rspamd's main process.
proxy_pids() { pgrep -P "$RSPAMD_PID" -f 'rspamd_proxy' || true; }

# replay NAME ADDR: runs the message set through one milter, one connection at
# a time so that both see the same traffic shape; stores the JSON report.
# The load tool exits non-zero when some replies are not accepts; the report
# is what counts.
replay() {
    run_bench --addr "$2" -j 1 -n "$expected" --json "$msgs" >"$IT_WORK/$1.json" 2>"$IT_WORK/$1.err" || true
    [ -s "$IT_WORK/$1.json" ] || die "bench against $1 gave no report: $(head -c 300 "$IT_WORK/$1.err")"
}
json() { perl -MJSON::PP -0777 -ne "my \$r = decode_json(\$_); print $2, qq(\n)" "$IT_WORK/$1.json"; }
tally() { json "$1" "join(q(, ), map { \"\$_=\$r->{$2}{\$_}\" } sort keys %{\$r->{$2}})"; }

# Warm both paths (Rspamd compiles its regexp cache on first use).
run_bench --addr "inet:127.0.0.1:$proxy" -j 1 -n 20 "$msgs" >/dev/null 2>&1 || true
run_bench --addr "$SLUICE_ADDR" -j 1 -n 20 "$msgs" >/dev/null 2>&1 || true

# ------------------------------------------------------------- run
ppids=$(proxy_pids)
[ -n "$ppids" ] || die "rspamd proxy worker process not found"
t0=$(cpu_ticks $ppids)
k0=$(sys_ticks $ppids)
replay rspamd "inet:127.0.0.1:$proxy"
rspamd_ticks=$(($(cpu_ticks $ppids) - t0))
rspamd_sys=$(($(sys_ticks $ppids) - k0))

t0=$(cpu_ticks "$SLUICE_PID")
k0=$(sys_ticks "$SLUICE_PID")
replay sluice "$SLUICE_ADDR"
sluice_ticks=$(($(cpu_ticks "$SLUICE_PID") - t0))
sluice_sys=$(($(sys_ticks "$SLUICE_PID") - k0))

assert_eq "rspamd proxy answered every message" "$expected" "$(json rspamd '$r->{messages}')"
assert_eq "sluice answered every message" "$expected" "$(json sluice '$r->{messages}')"
assert_eq "sluice: zero protocol errors" 0 "$(json sluice '$r->{protocol_errors}')"
assert_eq "same verdicts as Rspamd's own proxy" "$(tally rspamd replies)" "$(tally sluice replies)"
# Rspamd's bridge sets its spam header with CHGHEADER where sluice's uses
# ADDHEADER after removing old ones, so the edits are compared in number.
edits() { json "$1" 'my $n = 0; $n += $_ for values %{$r->{modifications}}; $n'; }
assert_eq "as many header edits as Rspamd's own proxy" "$(edits rspamd)" "$(edits sluice)"
note "rspamd proxy: $(tally rspamd replies); $(tally rspamd modifications)"
note "sluice forward: $(tally sluice replies); $(tally sluice modifications)"
assert_not_contains "no upstream failures logged" "$(cat "$MILTER_LOG")" "upstream scan failed"
assert_not_contains "rspamd proxy reached its upstream every time" "$(cat "$rdir/rspamd.log")" "maximum retries"

# ------------------------------------------------------------- many recipients
# 1,000 recipients (one Rcpt header each in the forwarded request): Rspamd
# must scan it, not refuse it, and sluice must pass its verdict on.
if out=$(cd "$IT_WORK" && $RUN_IN miltertest -D "socket=$(to_sendmail_socket "$SLUICE_ADDR")" \
    -D "dir=$IT_DIR/miltertest" -D rcpts=1000 -s "$IT_DIR/miltertest/many-rcpts.lua" 2>&1) &&
    grep -q '^ok ' <<<"$out"; then
    pass "1,000 recipients: accepted through sluice forwarding to Rspamd"
else
    fail "1,000 recipients through sluice forwarding to Rspamd" "$out"
fi
many=$(grep 'qid=4ITMANYRCPT' "$MILTER_LOG" | tail -1)
assert_contains "1,000 recipients: Rspamd's verdict, not a local fallback" "$many" "upstream=127.0.0.1:$normal"
assert_contains "1,000 recipients: every one forwarded" "$many" "user1000@it.test"

# ------------------------------------------------------------- DKIM signature
# Rspamd's scanner signs; its `dkim-signature` reaches sluice's forward mode,
# which inserts it on top. dkimpy verifies it against the generated key.
signed=$IT_WORK/signed.eml
if out=$(cd "$IT_WORK" && $RUN_IN miltertest -D "socket=$(to_sendmail_socket "$SLUICE_ADDR")" \
    -D "dir=$IT_DIR/miltertest" -D user=alice@sign.test -D "out=$signed" \
    -s "$IT_DIR/miltertest/sign.lua" 2>&1) && grep -q '^ok ' <<<"$out"; then
    pass "forward mode inserts the DKIM-Signature Rspamd returns"
else
    fail "forward mode inserts the DKIM-Signature Rspamd returns" "$out"
fi
sig=$(perl -0777 -ne 'print $1 if /^DKIM-Signature:(.*?)\r?\n(?![ \t])/ms' "$signed" 2>/dev/null | tr -d '\r\n\t ')
assert_contains "the signature is Rspamd's: d=sign.test" "$sig" "d=sign.test;"
assert_contains "the signature is Rspamd's: s=rsa" "$sig" "s=rsa;"
assert_eq "one signature: sluice's forward mode adds none of its own" 1 "$(grep -c '^DKIM-Signature:' "$signed" 2>/dev/null)"
rec=$(grep -o '"[^"]*"' "$IT_WORK/keys/sign.test.rsa.txt" | tr -d '"\n')
if out=$("$IT_DIR/../tests/support/dkim_verify.py" dkim "rsa._domainkey.sign.test=$rec" <"$signed" 2>&1); then
    pass "dkimpy verifies the inserted signature"
else
    fail "dkimpy verifies the inserted signature" "$out"
fi

hz=$(getconf CLK_TCK)
per_msg() { perl -e "printf q(%.3f), $1 * 1000 / $hz / $expected"; }
note "proxy hop CPU per message: rspamd proxy $(per_msg "$rspamd_ticks") ms, sluice $(per_msg "$sluice_ticks") ms ($expected messages, $rspamd_ticks vs $sluice_ticks ticks at ${hz} Hz; sluice/rspamd = $(perl -e "printf q(%.2f), $sluice_ticks / ($rspamd_ticks || 1)"))"
note "of which in the kernel (system time): rspamd proxy $(per_msg "$rspamd_sys") ms, sluice $(per_msg "$sluice_sys") ms"
# The figure is reported, never asserted: performance lives in bench/.
finish
