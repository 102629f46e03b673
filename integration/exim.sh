#!/usr/bin/env bash
# Stage: Exim 4 (Debian's exim4-daemon-heavy, built with content scanning)
# asks sluice's scan listener for a verdict with
# `spamd_address = 127.0.0.1 PORT variant=rspamd` in its DATA ACL, as an
# Rspamd admin configures it.
#
# A private Exim daemon (its own config file, spool, logs and mail
# directory under a temp dir, `-bdf -oX PORT` on a free loopback port)
# rejects what sluice says to reject and delivers the rest into files with
# headers made from the verdict ($spam_action, $spam_score, $spam_report).
# GTUBE must be refused at DATA with sluice's score; a ham message must be
# delivered with the action and score `sluice scan --json` gives it. The
# system Exim (/etc/exim4, its service) is neither needed nor touched.
source "$(dirname "$0")/lib.sh"

# test.sh unpacks Debian's exim4-daemon-heavy there (it cannot be installed
# beside Postfix); EXIM=/usr/sbin/exim4 uses an installed one.
EXIM=${EXIM:-/var/cache/sluice-test/exim4/usr/sbin/exim4}
require_tools swaks jq ss perl
[ -x "$EXIM" ] || die "exim4 not found at $EXIM (test.sh unpacks exim4-daemon-heavy)"
"$EXIM" -bV 2>/dev/null | grep -q 'Content_Scanning' ||
    die "$EXIM has no content scanning (install exim4-daemon-heavy, not -light)"
make_workdir

# A private Bayes store for the daemon and `sluice scan` alike.
start_milter --var "DBDIR=$IT_WORK"
wait_for_line "$MILTER_LOG" 'http listening on inet:' 30 || die "no scan listener in the log"
HTTP=$(grep -oE 'http listening on inet:[0-9.]+:[0-9]+' "$MILTER_LOG" | head -1)
HTTP=${HTTP##*inet:}
HTTP_PORT=${HTTP##*:}

# Exim refuses to run as root; no Exim package user need exist.
EXIM_USER=nobody
EXIM_GROUP=nogroup
X=$IT_WORK/exim
PORT=$(free_port)
mkdir -p "$X/spool" "$X/log" "$X/mail"
chown -R "$EXIM_USER:$EXIM_GROUP" "$X/spool" "$X/log" "$X/mail"

cat >"$X/exim.conf" <<CONF
primary_hostname = mx.sluice.test
# Deliveries re-exec exim: the unpacked binary, not the compiled-in path.
exim_path = $EXIM
exim_user = $EXIM_USER
exim_group = $EXIM_GROUP
spool_directory = $X/spool
log_file_path = $X/log/%slog
pid_file_path = $X/exim.pid
daemon_smtp_ports = $PORT
local_interfaces = 127.0.0.1
host_lookup =
keep_environment =
tls_advertise_hosts =
rfc1413_hosts =
domainlist local_domains = sluice.test
acl_smtp_rcpt = acl_rcpt
acl_smtp_data = acl_data
spamd_address = 127.0.0.1 $HTTP_PORT variant=rspamd
message_size_limit = 20M

begin acl
acl_rcpt:
  accept domains = +local_domains
  deny message = relay not permitted

acl_data:
  # ':true' keeps the message flowing if the scanner cannot answer.
  warn spam = nobody:true
  deny condition = \${if eq{\$spam_action}{reject}}
       message = Rejected by sluice: score \$spam_score
  warn add_header = X-Spam-Action: \$spam_action
  warn add_header = X-Spam-Score: \$spam_score
  warn add_header = X-Spam-Report: \$spam_report
  accept

begin routers
local:
  driver = accept
  domains = +local_domains
  transport = to_file

begin transports
to_file:
  driver = appendfile
  # A fixed name: a path built from the local part would be tainted.
  file = $X/mail/inbox
  user = $EXIM_USER
  envelope_to_add

begin retry
* * F,1m,1m
CONF

"$EXIM" -C "$X/exim.conf" -bdf -oX "$PORT" >"$X/stdout" 2>&1 &
EXIM_PID=$!
on_exit "kill -TERM $EXIM_PID; wait $EXIM_PID"
wait_for_port "$PORT" 20 || die "exim did not listen on $PORT: $(cat "$X/stdout" "$X/log/mainlog" 2>/dev/null | tail -5)"
note "exim pid $EXIM_PID on 127.0.0.1:$PORT, sluice scan listener $HTTP"

# ---------------------------------------------------------------- GTUBE

gtube=$(printf 'XJS*C4JDBQADN1.NSBN3*2IDNEN*%s' 'GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X')
out=$(swaks --server 127.0.0.1 --port "$PORT" --from spammer@example.org --to victim@sluice.test \
    --header 'Subject: gtube' --header 'Message-ID: <gtube.exim@example.org>' \
    --body "$gtube" 2>&1 || true)
assert_contains "exim refuses GTUBE at DATA with sluice's verdict" "$out" "550 Rejected by sluice: score"
[ ! -e "$X/mail/inbox" ] && pass "GTUBE is not delivered" ||
    fail "GTUBE is not delivered" "$(head -20 "$X/mail/inbox")"

# ---------------------------------------------------------------- ham

ham_src="$SHARED/corpus/ham/$(ls "$SHARED/corpus/ham" | sed -n 1p)"
[ -f "$ham_src" ] || die "no ham message in $SHARED/corpus/ham"
out=$(swaks --server 127.0.0.1 --port "$PORT" --from sender@example.org --to reader@sluice.test \
    --data "$ham_src" 2>&1 || true)
assert_contains "exim accepts the ham message" "$out" "250 OK id="
queue_id=$(sed -n 's/.*250 OK id=\([0-9A-Za-z-]*\).*/\1/p' <<<"$out" | head -1)
for _ in $(seq 100); do [ -s "$X/mail/inbox" ] && break; sleep 0.1; done
delivered=$(cat "$X/mail/inbox" 2>/dev/null || true)
# sluice's verdict for that message: its scan log line, found by the queue
# id exim sends (Rspamd's Queue-Id header).
verdict=$(grep -F "queue_id=\"$queue_id\"" "$MILTER_LOG" | grep 'http scanned' | tail -1)
[ -n "$verdict" ] && pass "sluice logged the ham scan under exim's queue id $queue_id" ||
    fail "sluice logged the ham scan under exim's queue id $queue_id" "$(grep 'http scanned' "$MILTER_LOG" | tail -2)"
want_action=$(sed -n 's/.* action=\(.*\) score=.*/\1/p' <<<"$verdict")
want_score=$(sed -n 's/.* score=\(-\{0,1\}[0-9.]*\)\/.*/\1/p' <<<"$verdict")
assert_eq "ham is not rejected" "no action" "$want_action"
assert_contains "ham is delivered with sluice's action" "$delivered" "X-Spam-Action: $want_action"
got_score=$(sed -n 's/^X-Spam-Score: \(-\{0,1\}[0-9.]*\).*/\1/p' <<<"$delivered" | head -1)
assert_eq "ham is delivered with sluice's score" \
    "$(jq -n "${want_score:-0} * 100 | round")" "$(jq -n "${got_score:-null} * 100 | round" 2>/dev/null)"
assert_contains "the report header has the action" "$delivered" "X-Spam-Report: Action: $want_action"
# Every symbol of the verdict is in the report exim added.
symbols=$(sed -n 's/.* symbols=\([^ ]*\) .*/\1/p' <<<"$verdict" | tr ',' '\n' | sed 's/(.*//')
missing=0
for sym in $symbols; do grep -q "Symbol: $sym(" <<<"$delivered" || missing=$((missing + 1)); done
assert_eq "every symbol of sluice's verdict is in X-Spam-Report" 0 "$missing"
# Both messages went through sluice's scan listener.
assert_file_matches "sluice logged exim's scans" "$MILTER_LOG" 'http scanned'
finish
