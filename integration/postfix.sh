#!/usr/bin/env bash
# Stage: a real Postfix 3.7 in front of the milter.
#
# A private Postfix instance (own config, queue and data directories under a
# temp dir, started with `postfix -c DIR`) listens on 127.0.0.1:PORT only,
# runs the milter for SMTP (smtpd_milters) and for sendmail(1) submissions
# (non_smtpd_milters), and relays everything to smtp-sink on loopback, which
# writes each delivered message to a file. The system Postfix instance is
# never touched: nothing under /etc/postfix or /var/spool/postfix is written.
source "$(dirname "$0")/lib.sh"

require_tools postfix postconf postqueue sendmail smtp-sink smtp-source swaks perl ss python3
make_workdir

# Outbound signing (sluice): keys made by `sluice dkim-keygen`; sign.test signs
# with RSA-2048 and Ed25519, mail relayed to arc.test is ARC-sealed. No other
# domain has a key entry and fallback is off, so the ham checks below see no
# signature (and compare byte for byte).
KEYS=$IT_WORK/keys
ETC=$IT_WORK/etc
mkdir -p "$KEYS" "$ETC/local.d"
if [ "$MILTER_UNDER_TEST" = sluice ]; then
    for k in "sign.test rsa rsa" "sign.test ed ed25519" "arc.test arc rsa"; do
        read -r dom sel typ <<<"$k"
        "$SLUICE_BIN" dkim-keygen -d "$dom" -s "$sel" -t "$typ" -b 2048 -k "$KEYS/$dom.$sel.key" \
            >"$KEYS/$dom.$sel.txt" || die "dkim-keygen $dom $sel failed"
    done
    cat >"$ETC/local.d/dkim_signing.conf" <<CONF
try_fallback = false;
domain {
    sign.test {
        selectors = [
            { selector = "rsa"; path = "$KEYS/sign.test.rsa.key"; },
            { selector = "ed"; path = "$KEYS/sign.test.ed.key"; }
        ];
    }
}
CONF
    cat >"$ETC/local.d/arc.conf" <<CONF
try_fallback = false;
path = "$KEYS/\$domain.\$selector.key";
domain { arc.test { selector = "arc"; } }
CONF
    start_milter --var "LOCAL_CONFDIR=$ETC"
else
    start_milter
fi

PF=$IT_WORK/postfix
SINK_DIR=$IT_WORK/sink
SMTP_PORT=$(free_port)
SINK_PORT=$(free_port)
SOURCE_COUNT=${SOURCE_COUNT:-300}
mkdir -p "$PF/conf" "$PF/queue" "$PF/data" "$SINK_DIR"
chown postfix "$PF/data"
chown nobody "$SINK_DIR"

# ---------------------------------------------------------------- instance

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
syslog_name = postfix-sluice-it
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
myhostname = mx.it.test
mydomain = it.test
myorigin = \$myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$SINK_PORT
smtp_bind_address = 127.0.0.1
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
# XCLIENT from loopback lets the signing checks below act as a remote client,
# with or without a SASL login ({auth_authen} reaches the milter).
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_sasl_auth_enable = yes
relay_domains = arc.test
relay_transport = relay:[127.0.0.1]:$SINK_PORT
alias_maps =
alias_database =
local_recipient_maps =
biff = no
# Keep the content as sent so the byte-for-byte check is meaningful.
local_header_rewrite_clients =
disable_mime_output_conversion = yes
message_drop_headers =
smtp_line_length_limit = 0
# The milter under test, for SMTP and for sendmail(1) submissions.
smtpd_milters = $MILTER_ADDR
non_smtpd_milters = $MILTER_ADDR
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
verify    unix  - - n -    1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -    - proxymap
smtp      unix  - - n -    - smtp
relay     unix  - - n -    - smtp
showq     unix  n - n -    - showq
error     unix  - - n -    - error
retry     unix  - - n -    - error
discard   unix  - - n -    - discard
anvil     unix  - - n -    1 anvil
scache    unix  - - n -    1 scache
postlog   unix-dgram n - n - 1 postlogd
CF

pf() { $RUN_IN postfix -c "$PF/conf" "$@"; }

# smtp-sink: one file per delivered message (-d); drops root after binding.
$RUN_IN smtp-sink -u nobody -d "$SINK_DIR/msg." 127.0.0.1:"$SINK_PORT" 256 \
    >"$IT_WORK/sink.log" 2>&1 &
SINK_PID=$!
on_exit "kill $SINK_PID"
wait_for_port "$SINK_PORT" 10 || die "smtp-sink did not listen on $SINK_PORT"

pf check >"$IT_WORK/check.log" 2>&1 || die "postfix check failed: $(cat "$IT_WORK/check.log")"
pf start >"$IT_WORK/start.log" 2>&1 || die "postfix start failed: $(cat "$IT_WORK/start.log")"
on_exit "postfix -c '$PF/conf' stop"
wait_for_port "$SMTP_PORT" 20 || die "private postfix did not listen on 127.0.0.1:$SMTP_PORT"
note "postfix on 127.0.0.1:$SMTP_PORT, sink on 127.0.0.1:$SINK_PORT, milter $MILTER_ADDR"

# Nothing of this instance may listen beyond loopback.
pids=$(pgrep -f -- "-c $PF/conf" || true)
nonlo=$(ss -Hltnp | grep -E "pid=($(echo "$pids" | paste -sd'|'))," | grep -vE ' 127\.0\.0\.1:' || true)
assert_eq "private postfix listens on loopback only" "" "$nonlo"

sink_count() { find "$SINK_DIR" -type f | wc -l; }

# wait_delivered N: until the sink holds N files and the queue is empty.
wait_delivered() {
    local want=$1 i
    for ((i = 0; i < 600; i++)); do
        if [ "$(sink_count)" -ge "$want" ] && $RUN_IN postqueue -c "$PF/conf" -p 2>/dev/null | grep -q 'Mail queue is empty'; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# strip_sink FILE: the message as delivered, without smtp-sink's own X-
# lines in front and the empty line it appends.
strip_sink() {
    perl -0777 -ne 's/\A(?:X-(?:Client-Addr|Client-Proto|Helo-Args|Mail-Args|Rcpt-Args): [^\n]*\n)+//; s/\n\z//; print' "$1"
}

# unwrap_added FILE: drop the Received: headers of Postfix and smtp-sink
# (on top) and the headers the milter adds, leaving what the sender sent.
unwrap_added() {
    perl -0777 -ne '
        my ($h, $b) = split /\n\n/, $_, 2;
        my @f = split /\n(?![ \t])/, $h;
        shift @f while @f && $f[0] =~ /^Received: .*by (?:mx\.it\.test|smtp-sink) /s;
        @f = grep { !/^(?:X-Spamd-Result|X-Spam|X-Rspamd-[A-Za-z-]+):/i } @f;
        print join("\n", @f), "\n\n", $b;' "$1"
}

# ---------------------------------------------------------------- GTUBE

GTUBE='XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'
out=$($RUN_IN swaks --server 127.0.0.1 --port "$SMTP_PORT" --from sender@it.test \
    --to rcpt@remote.test --helo client.it.test --body "GTUBE test\n\n$GTUBE\n" 2>&1 || true)
assert_contains "GTUBE over SMTP gets 554 5.7.1" "$out" "<** 554 5.7.1"

# ---------------------------------------------------------------- ham

# Pick ham messages Postfix will not need to touch: they carry Date,
# Message-ID and From, have no over-long lines, no X-Spam* of their own.
pick_ham() {
    local f n=0
    for f in "$SHARED"/corpus/ham/*.eml; do
        grep -qiE '^X-Spam' "$f" && continue
        grep -qi '^Date:' "$f" && grep -qi '^Message-ID:' "$f" && grep -qi '^From:' "$f" || continue
        awk 'length > 900 { exit 1 }' "$f" || continue
        grep -q $'\r' "$f" && continue
        [ -z "$(tail -c1 "$f")" ] || continue
        printf '%s\n' "$f"
        n=$((n + 1))
        [ "$n" -ge "${HAM_COUNT:-5}" ] && return 0
    done
}
[ -d "$SHARED/corpus/ham" ] || die "corpus not found under SHARED=$SHARED"
mapfile -t HAM < <(pick_ham)
assert_ge "found ham messages to replay" 1 "${#HAM[@]}"

before=$(sink_count)
i=0
for f in "${HAM[@]}"; do
    i=$((i + 1))
    # swaks does the dot-stuffing and CRLF, and always ends DATA with its own
    # CRLF before the dot: hand it the file minus its last newline.
    head -c -1 "$f" >"$IT_WORK/ham$i.data"
    if ! $RUN_IN swaks --server 127.0.0.1 --port "$SMTP_PORT" --from sender@it.test \
        --to "ham$i@remote.test" --helo client.it.test --data "$IT_WORK/ham$i.data" >"$IT_WORK/swaks-ham$i.log" 2>&1; then
        fail "ham $i ($(basename "$f")) accepted over SMTP" "$(tail -5 "$IT_WORK/swaks-ham$i.log")"
    fi
done
wait_delivered $((before + ${#HAM[@]})) || fail "ham delivered to the sink" "sink has $(sink_count)"

i=0
for f in "${HAM[@]}"; do
    i=$((i + 1))
    got=$( (grep -l "^X-Rcpt-Args: <ham$i@remote.test>" "$SINK_DIR"/* || true) | head -1)
    if [ -z "$got" ]; then
        fail "ham $i delivered"
        continue
    fi
    strip_sink "$got" >"$IT_WORK/ham$i.delivered"
    assert_file_matches "ham $i: X-Spamd-Result added" "$IT_WORK/ham$i.delivered" '^X-Spamd-Result: '
    unwrap_added "$IT_WORK/ham$i.delivered" >"$IT_WORK/ham$i.unwrapped"
    assert_files_equal "ham $i ($(basename "$f")): otherwise byte for byte" "$f" "$IT_WORK/ham$i.unwrapped"
done

# ---------------------------------------------------------------- sendmail(1)

before=$(sink_count)
printf 'From: local@it.test\nTo: rcpt@remote.test\nSubject: via sendmail\nMessage-ID: <sm1@it.test>\nDate: Tue, 17 Nov 2026 10:00:00 +0000\n\nsubmitted with sendmail(1)\n' |
    $RUN_IN sendmail -C "$PF/conf" -f local@it.test sm-ham@remote.test ||
    fail "sendmail(1) accepted the submission"
printf 'From: local@it.test\nTo: rcpt@remote.test\nSubject: gtube via sendmail\n\n%s\n' "$GTUBE" |
    $RUN_IN sendmail -C "$PF/conf" -f local@it.test sm-gtube@remote.test || true
wait_delivered $((before + 1)) || fail "sendmail(1) ham delivered" "sink has $(sink_count)"
got=$( (grep -l '^X-Rcpt-Args: <sm-ham@remote.test>' "$SINK_DIR"/* || true) | head -1)
if [ -n "$got" ]; then
    assert_file_matches "sendmail(1) ham: X-Spamd-Result added (non_smtpd_milters)" "$got" '^X-Spamd-Result: '
else
    fail "sendmail(1) ham delivered"
fi
sleep 1
assert_eq "sendmail(1) GTUBE not delivered" "" "$(grep -l '^X-Rcpt-Args: <sm-gtube@remote.test>' "$SINK_DIR"/* || true)"
assert_file_matches "sendmail(1) GTUBE rejected by the milter" "$PF/maillog" 'milter-reject: END-OF-MESSAGE.*5\.7\.1 Gtube pattern.*to=<sm-gtube@remote.test>'

# ---------------------------------------------------------------- signing

# record FILE: the TXT record text of a zone snippet printed by dkim-keygen.
record() { grep -o '"[^"]*"' "$1" | tr -d '"\n'; }

# verify MODE FILE: dkimpy checks every DKIM-Signature (dkim) or the ARC
# chain (arc) of a delivered message against the generated keys.
verify() {
    local mode=$1 file=$2 args=() k
    for k in sign.test.rsa sign.test.ed arc.test.arc; do
        args+=("${k#*.test.}._domainkey.${k%.*}=$(record "$KEYS/$k.txt")")
    done
    strip_sink "$file" | "$IT_DIR/../tests/support/dkim_verify.py" "$mode" "${args[@]}"
}

# delivered_to RCPT: the sink file of the message for RCPT.
delivered_to() { (grep -l "^X-Rcpt-Args: <$1>" "$SINK_DIR"/* || true) | head -1; }

if [ "$MILTER_UNDER_TEST" = sluice ]; then
    MSGDATE=$(date -R)
    before=$(sink_count)
    # A SASL-authenticated sender at a remote address.
    $RUN_IN swaks --server 127.0.0.1 --port "$SMTP_PORT" --xclient-addr 203.0.113.9 \
        --xclient-login alice@sign.test --from alice@sign.test --to auth-out@remote.test \
        --header "From: Alice <alice@sign.test>" --header "Subject: signed after SASL" \
        --body "outbound, authenticated" >"$IT_WORK/swaks-auth.log" 2>&1 ||
        fail "authenticated mail accepted" "$(tail -5 "$IT_WORK/swaks-auth.log")"
    # A local sender through sendmail(1).
    printf 'From: local@sign.test\nTo: rcpt@remote.test\nSubject: signed local\nMessage-ID: <sign1@sign.test>\nDate: %s\n\nsubmitted locally\n' "$MSGDATE" |
        $RUN_IN sendmail -C "$PF/conf" -f local@sign.test local-out@remote.test ||
        fail "sendmail(1) accepted the local submission"
    # Inbound from a remote, unauthenticated client to a relayed domain.
    $RUN_IN swaks --server 127.0.0.1 --port "$SMTP_PORT" --xclient-addr 203.0.113.10 \
        --from news@sign.test --to list@arc.test --header "From: <news@sign.test>" \
        --header "Subject: relayed" --body "inbound, relayed" >"$IT_WORK/swaks-arc.log" 2>&1 ||
        fail "relayed mail accepted" "$(tail -5 "$IT_WORK/swaks-arc.log")"
    wait_delivered $((before + 3)) || fail "signed mail delivered" "sink has $(sink_count)"
    for rcpt in auth-out@remote.test local-out@remote.test; do
        got=$(delivered_to "$rcpt")
        if [ -z "$got" ]; then
            fail "$rcpt: delivered"
            continue
        fi
        assert_eq "$rcpt: two DKIM signatures (RSA-2048, Ed25519)" 2 "$(grep -c '^DKIM-Signature:' "$got")"
        if out=$(verify dkim "$got" 2>&1); then pass "$rcpt: dkimpy verifies both signatures"; else fail "$rcpt: dkimpy verifies both signatures" "$out"; fi
        perl -pe 's/signed after SASL|submitted locally/changed/' "$got" >"$got.tampered"
        if verify dkim "$got.tampered" >/dev/null 2>&1; then fail "$rcpt: a changed copy fails"; else pass "$rcpt: a changed copy fails"; fi
        rm -f "$got.tampered"
    done
    got=$(delivered_to list@arc.test)
    if [ -n "$got" ]; then
        assert_eq "inbound: not DKIM-signed" 0 "$(grep -c '^DKIM-Signature:' "$got")"
        assert_file_matches "inbound: ARC-Seal i=1 cv=none" "$got" '^ARC-Seal: i=1;.*cv=none'
        if out=$(verify arc "$got" 2>&1); then pass "inbound: dkimpy's arc_verify passes the chain"; else fail "inbound: dkimpy's arc_verify passes the chain" "$out"; fi
    else
        fail "list@arc.test: delivered"
    fi
fi

# ---------------------------------------------------------------- load

# smtp-source: SOURCE_COUNT messages over 8 parallel sessions, a third of
# them GTUBE. Every message must be delivered or rejected, none lost.
printf 'From: load@it.test\nTo: sink@remote.test\nSubject: load ham\n\nordinary load test message\nwith two lines\n' >"$IT_WORK/load-ham.txt"
printf 'From: load@it.test\nTo: sink@remote.test\nSubject: load gtube\n\n%s\n' "$GTUBE" >"$IT_WORK/load-gtube.txt"
n_gtube=$((SOURCE_COUNT / 3))
n_ham=$((SOURCE_COUNT - n_gtube))
before=$(sink_count)
rej_before=$(grep -c 'milter-reject: END-OF-MESSAGE' "$PF/maillog" || true)
$RUN_IN smtp-source -s 8 -m "$n_ham" -f load@it.test -t load-ham@remote.test \
    -F "$IT_WORK/load-ham.txt" 127.0.0.1:"$SMTP_PORT" >"$IT_WORK/source-ham.log" 2>&1 || true
# smtp-source ends a session at the first 5xx, so one session per GTUBE.
# shellcheck disable=SC2086
seq "$n_gtube" | xargs -P 8 -I{} $RUN_IN smtp-source -m 1 -f load@it.test -t load-gtube@remote.test \
    -F "$IT_WORK/load-gtube.txt" 127.0.0.1:"$SMTP_PORT" >"$IT_WORK/source-gtube.log" 2>&1 || true
wait_delivered $((before + n_ham)) || true
delivered=$( (grep -l '^X-Rcpt-Args: <load-ham@remote.test>' "$SINK_DIR"/* || true) | wc -l)
rejected=$(($(grep -c 'milter-reject: END-OF-MESSAGE' "$PF/maillog" || true) - rej_before))
leaked=$( (grep -l '^X-Rcpt-Args: <load-gtube@remote.test>' "$SINK_DIR"/* || true) | wc -l)
assert_eq "smtp-source: all $n_ham ham delivered" "$n_ham" "$delivered"
assert_eq "smtp-source: all $n_gtube GTUBE rejected" "$n_gtube" "$rejected"
assert_eq "smtp-source: no GTUBE delivered" 0 "$leaked"

# ---------------------------------------------------------------- hygiene

warnings=$(grep -E 'warning: milter' "$PF/maillog" || true)
assert_eq "no 'warning: milter' lines in Postfix's log" "" "$warnings"
if milter_alive; then pass "milter still running after the Postfix stage"; else fail "milter died"; fi
finish
