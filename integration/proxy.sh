#!/usr/bin/env bash
# Stage: Rspamd 3.4's proxy worker in front of sluice.
#
#   milter client -> Rspamd proxy (milter mode, self_scan = no)
#                 -> sluice's HTTP scan listener (/checkv2) -> verdict
#                 -> Rspamd's milter bridge -> milter client
#
# This is the migration path where Rspamd's proxy stays and sluice replaces
# the scanner behind it. The same messages also go straight to sluice's own
# milter: sluice decides in both paths, so the final verdicts must be equal,
# and every proxied message must have reached sluice over HTTP. Loopback
# only; Rspamd's network modules are off and its DNS points at an unused
# loopback port (see rspamd/local.d/options.inc).
#
# PROXY_MESSAGES caps the messages per corpus directory (default 100).
source "$(dirname "$0")/lib.sh"

require_tools rspamd perl ss
make_workdir
require_bench

LIMIT=${PROXY_MESSAGES:-100}
CORPUS=$SHARED/corpus
[ -d "$CORPUS/ham" ] && [ -d "$CORPUS/spam" ] || die "corpus not found under SHARED=$SHARED"

msgs=$IT_WORK/messages
mkdir -p "$msgs"
for d in ham spam; do
    mapfile -t files < <(find "$CORPUS/$d" -maxdepth 1 -type f | sort)
    for f in "${files[@]:0:$LIMIT}"; do
        ln "$f" "$msgs/$d-$(basename "$f")" 2>/dev/null || cp "$f" "$msgs/$d-$(basename "$f")"
    done
done
# GTUBE variants, so the verdicts carried are not all `accept`.
for kind in XJS YJS ZJS; do
    printf 'From: a@example.org\r\nTo: b@example.net\r\nSubject: gtube %s\r\nMessage-ID: <%s@example.org>\r\n\r\n%s*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n' \
        "$kind" "$kind" "$kind" >"$msgs/gtube-$kind.eml"
done
expected=$(find "$msgs" -maxdepth 1 -type f | wc -l)
probe=$IT_WORK/probe.eml
printf 'From: a@example.org\r\nTo: b@example.net\r\nSubject: probe\r\nMessage-ID: <probe@example.org>\r\n\r\nready?\r\n' >"$probe"

# ------------------------------------------------------------- sluice
# A private DBDIR so the shipped Bayes store stays out of /var/lib.
start_sluice --var "DBDIR=$IT_WORK"
SLUICE_ADDR=$MILTER_ADDR
SLUICE_LOG=$MILTER_LOG
http=$(grep -oE 'http listening on inet:127\.0\.0\.1:[0-9]+' "$SLUICE_LOG" | head -1 | sed 's/.*inet://')
[ -n "$http" ] || die "sluice did not report its HTTP listener: $(tail -5 "$SLUICE_LOG")"

# ------------------------------------------------------------- Rspamd proxy
rdir=$IT_WORK/rspamd
proxy=$(free_port)
write_rspamd_config "$rdir" "127.0.0.1:$proxy"
# The upstream is named "local" on purpose: it replaces Debian's shipped
# `upstream "local" { default = yes; hosts = "localhost"; }` instead of
# becoming a second default pool the proxy might pick (see forward.sh).
cat >"$rdir/local.d/worker-proxy.inc" <<CONF
bind_socket = "127.0.0.1:$proxy";
milter = yes;
timeout = 60s;
count = 1;
upstream "local" {
  default = yes;
  self_scan = no;
  hosts = "$http";
}
CONF
chown -R _rspamd:_rspamd "$rdir"
$RUN_IN rspamd -f -u _rspamd -g _rspamd -c "$rdir/rspamd.conf" \
    --var="LOCAL_CONFDIR=$rdir" --var="DBDIR=$rdir" --var="RUNDIR=$rdir" \
    --var="LOGDIR=$rdir" >"$rdir/stdout" 2>&1 &
RSPAMD_PID=$!
on_exit "kill -TERM $RSPAMD_PID; wait $RSPAMD_PID"
wait_for_port "$proxy" 120 || die "rspamd proxy did not listen: $(tail -5 "$rdir/rspamd.log")"
# The port is bound by Rspamd's main process before the proxy worker exists.
started=$SECONDS
wait_for_milter_reply "inet:127.0.0.1:$proxy" "$probe" 60 ||
    die "rspamd proxy gave no milter reply within 60 s: $(tail -5 "$rdir/rspamd.log")"
note "rspamd pid $RSPAMD_PID: proxy 127.0.0.1:$proxy -> sluice http $http (answering after $((SECONDS - started)) s)"

# ------------------------------------------------------------- run
json() { perl -MJSON::PP -0777 -ne "my \$r = decode_json(\$_); print $2, qq(\n)" "$IT_WORK/$1.json"; }
tally() { json "$1" "join(q(, ), map { \"\$_=\$r->{$2}{\$_}\" } sort keys %{\$r->{$2}})"; }
replay() { # NAME ADDR
    run_bench --addr "$2" -j 1 --json "$msgs" >"$IT_WORK/$1.json" 2>"$IT_WORK/$1.err" || true
    [ -s "$IT_WORK/$1.json" ] || die "bench against $1 gave no report: $(head -c 300 "$IT_WORK/$1.err")"
}
scanned_over_http() { grep -c 'http scanned' "$SLUICE_LOG" || true; }

before=$(scanned_over_http)
replay proxied "inet:127.0.0.1:$proxy"
through_proxy=$(($(scanned_over_http) - before))
replay direct "$SLUICE_ADDR"

assert_eq "rspamd proxy answered every message" "$expected" "$(json proxied '$r->{messages}')"
assert_eq "rspamd proxy: zero protocol errors" 0 "$(json proxied '$r->{protocol_errors}')"
assert_eq "every proxied message was scanned by sluice over HTTP" "$expected" "$through_proxy"
assert_eq "sluice's own milter answered every message" "$expected" "$(json direct '$r->{messages}')"
assert_eq "same verdicts through Rspamd's proxy as from sluice's milter" \
    "$(tally direct replies)" "$(tally proxied replies)"
# At least the GTUBE reject (XJS) must arrive as Rspamd's 554 reply code.
assert_ge "rejects reach the client through the proxy" 1 "$(json proxied '$r->{replies}{q(5xx)} // 0')"
assert_not_contains "rspamd proxy reached sluice every time" "$(cat "$rdir/rspamd.log")" "maximum retries"
assert_not_contains "no HTTP scan failed in sluice" "$(cat "$SLUICE_LOG")" "http scan failed"
# Rspamd's bridge turns sluice's milter block into its own packets (spam
# header by CHGHEADER, ...), so the edits are reported, not compared.
note "through rspamd proxy: $(tally proxied replies); $(tally proxied modifications)"
note "sluice milter:        $(tally direct replies); $(tally direct modifications)"
milter_alive || fail "sluice died during the stage"
finish
