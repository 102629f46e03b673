#!/usr/bin/env bash
# Stage: sluice's fuzzy storage with Rspamd 3.4 as its client.
#
# sluice runs its fuzzy storage (worker "fuzzy", Redis backend, one
# keypair); a private Rspamd (normal worker + controller) has two
# fuzzy_check rules pointing at it: "plain", and "enc" with
# encryption_key = sluice's public key (and its own fuzzy_key, so its
# digests are its own). The same Rspamd runs its own fuzzy worker on the
# same Redis. Checked:
#   - `rspamc fuzzy_add -f 1 -w 10` through Rspamd's controller writes
#     through both rules into sluice's storage;
#   - a scan of the message gets FUZZY_DENIED (plain) and ENC_DENIED
#     (encrypted) from Rspamd; a copy with one changed word still gets both;
#     an unrelated message gets neither;
#   - `rspamc fuzzy_del -f 1` removes it: the scan gets neither;
#   - one Redis, two storages: a hash added through sluice's is found by
#     Rspamd's fuzzy worker (by digest, and by shingles under another digest
#     with the same probability), and one added through Rspamd's by sluice's;
#   - hostile datagrams (truncated, oversized, wrong version, bad extension,
#     bad encryption, garbage) get no answer, an update from outside
#     allow_update gets 403, and the storage answers on; the daemon lives.
#
# sluice only: Rspamd is the client here, the storage under test is sluice's.
source "$(dirname "$0")/lib.sh"

[ "$MILTER_UNDER_TEST" = sluice ] || { note "skipped for $MILTER_UNDER_TEST"; finish; }
require_tools perl ss rspamd rspamc rspamadm python3 redis-server
make_workdir

REDIS_PORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$IT_WORK" >"$IT_WORK/redis.log" 2>&1 &
on_exit "kill -TERM $!"
wait_for_port "$REDIS_PORT" 10 || die "redis did not listen on $REDIS_PORT"

# ---------------------------------------------------------------- sluice's storage

keypair=$(rspamadm keypair)
PRIV=$(sed -n 's/^ *privkey = "\(.*\)";/\1/p' <<<"$keypair")
PUB=$(sed -n 's/^ *pubkey = "\(.*\)";/\1/p' <<<"$keypair")
[ -n "$PRIV" ] && [ -n "$PUB" ] || die "rspamadm keypair printed no keys: $keypair"

FPORT=$(free_port)
S=$IT_WORK/sluice
mkdir -p "$S/local.d"
cat >"$S/local.d/worker-fuzzy.inc" <<EOF
count = 1;
bind_socket = "127.0.0.1:$FPORT";
allow_update = ["127.0.0.1"];
backend = "redis";
servers = "127.0.0.1:$REDIS_PORT";
keypair {
    privkey = "$PRIV";
    pubkey = "$PUB";
}
EOF
start_sluice --var "LOCAL_CONFDIR=$S" --var "DBDIR=$S" --var "RUNDIR=$S"
wait_for_line "$MILTER_LOG" "fuzzy storage listening on udp:127\.0\.0\.1:$FPORT" 10 ||
    die "sluice did not start its fuzzy storage: $(tail -5 "$MILTER_LOG")"
pass "sluice's fuzzy storage listens on udp:127.0.0.1:$FPORT"

# ---------------------------------------------------------------- Rspamd as the client

R=$IT_WORK/rspamd
mkdir -p "$R/local.d"
cp "$IT_DIR"/rspamd/local.d/*.conf "$IT_DIR"/rspamd/local.d/*.inc "$R/local.d/"
cp "$IT_DIR/rspamd-fuzzy/rspamd.conf" "$R/"
cp "$IT_DIR/rspamd-fuzzy/options.inc" "$R/local.d/"
cat >"$R/local.d/fuzzy_check.conf" <<EOF
min_bytes = 0;
timeout = 1s;
retransmits = 1;
rule "plain" {
  algorithm = "mumhash";
  servers = "127.0.0.1:$FPORT";
  symbol = "FUZZY_UNKNOWN";
  mime_types = ["*"];
  max_score = 20.0;
  read_only = no;
  skip_unknown = yes;
  min_length = 8;
  fuzzy_map = {
    FUZZY_DENIED { max_score = 20.0; flag = 1; }
    FUZZY_PROB { max_score = 10.0; flag = 2; }
    FUZZY_WHITE { max_score = 2.0; flag = 3; }
  }
}
rule "enc" {
  algorithm = "mumhash";
  servers = "127.0.0.1:$FPORT";
  encryption_key = "$PUB";
  fuzzy_key = "sluice-enc";
  fuzzy_shingles_key = "sluice-enc";
  symbol = "ENC_UNKNOWN";
  mime_types = ["*"];
  max_score = 20.0;
  read_only = no;
  skip_unknown = yes;
  min_length = 8;
  fuzzy_map = {
    ENC_DENIED { max_score = 20.0; flag = 1; }
  }
}
EOF
RFPORT=$(free_port)
cat >"$R/worker-fuzzy.conf" <<EOF
worker "fuzzy" {
  bind_socket = "127.0.0.1:$RFPORT";
  count = 1;
  backend = "redis";
  servers = "127.0.0.1:$REDIS_PORT";
  expire = 90d;
  sync = 1s;
  allow_update = ["127.0.0.1"];
}
EOF
chown -R _rspamd:_rspamd "$R"
NPORT=$(free_port)
CPORT=$(free_port)
$RUN_IN rspamd -f -u _rspamd -g _rspamd -c "$R/rspamd.conf" \
    --var="LOCAL_CONFDIR=$R" --var="DBDIR=$R" --var="RUNDIR=$R" --var="LOGDIR=$R" \
    --var="NORMAL_PORT=$NPORT" --var="CONTROLLER_PORT=$CPORT" --var="FUZZY_PORT=$RFPORT" \
    >"$R/stdout" 2>&1 &
RSPAMD_PID=$!
on_exit "kill -TERM $RSPAMD_PID; wait $RSPAMD_PID"
wait_for_port "$CPORT" 60 && wait_for_port "$NPORT" 60 ||
    die "rspamd did not listen: $(tail -5 "$R/rspamd.log")"

# ---------------------------------------------------------------- messages

# A text long enough for shingles; the copy changes one word of it.
message() { # FILE SEED WORDS...
    local file=$1 seed=$2
    shift 2
    {
        printf 'From: sender@example.org\nTo: rcpt@example.net\nSubject: campaign\n'
        printf 'Message-ID: <%s@example.org>\nDate: Mon, 07 Dec 2026 10:00:00 +0000\n' "$(basename "$file")"
        printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n'
        perl -e 'my $seed = shift; srand($seed); my @w = @ARGV;
            print join(" ", map { $w[int rand @w] } 1..160), "\n"' "$seed" "$@" | fold -w 72 -s
    } >"$file"
}
SPAM_WORDS=(offer price cheap pills order today limited discount secure online pharmacy
    delivery quality brand generic save now best deal click here free bonus weight loss)
message "$IT_WORK/spam.eml" 42 "${SPAM_WORDS[@]}"
# The copy: the same text with its first "pharmacy" replaced.
sed '0,/pharmacy/s//chemistry/' "$IT_WORK/spam.eml" >"$IT_WORK/copy.eml"
message "$IT_WORK/other.eml" 7 meeting agenda minutes project budget review quarter team \
    schedule notes report draft office lunch
cmp -s "$IT_WORK/spam.eml" "$IT_WORK/copy.eml" && die "the copy did not change"

scan() { # FILE -> the fuzzy symbols of Rspamd's scan
    rspamc -h "127.0.0.1:$NPORT" -t 10 symbols "$1" 2>&1 |
        grep -oE '(FUZZY|ENC)_[A-Z]+' | sort -u | tr '\n' ' ' || true
}

# Rspamd's workers may still be loading after the ports open.
for _ in $(seq 60); do
    rspamc -h "127.0.0.1:$NPORT" -t 5 symbols "$IT_WORK/other.eml" >/dev/null 2>&1 && break
    sleep 0.5
done

before=$(scan "$IT_WORK/spam.eml")
assert_not_contains "no fuzzy symbol before learning" "$before" "DENIED"

added=$(rspamc -h "127.0.0.1:$CPORT" -P q1 -t 10 fuzzy_add -f 1 -w 10 "$IT_WORK/spam.eml" 2>&1)
assert_not_contains "fuzzy_add through Rspamd's controller succeeds" "$added" "error"

got=$(scan "$IT_WORK/spam.eml")
assert_contains "the learned message gets FUZZY_DENIED (plain)" "$got" "FUZZY_DENIED"
assert_contains "the learned message gets ENC_DENIED (encrypted)" "$got" "ENC_DENIED"
line=$(rspamc -h "127.0.0.1:$NPORT" -t 10 symbols "$IT_WORK/spam.eml" 2>&1 | grep -E 'FUZZY_DENIED' || true)
note "$line"
assert_contains "FUZZY_DENIED names flag 1" "$line" "1:"

got=$(scan "$IT_WORK/copy.eml")
assert_contains "a copy with one changed word gets FUZZY_DENIED" "$got" "FUZZY_DENIED"
assert_contains "a copy with one changed word gets ENC_DENIED" "$got" "ENC_DENIED"

got=$(scan "$IT_WORK/other.eml")
assert_not_contains "an unrelated message gets no fuzzy symbol" "$got" "DENIED"

# ---------------------------------------------------------------- hostile datagrams

hostile=$(python3 "$IT_DIR/fuzzy_client.py" hostile "$FPORT")
note "$hostile"
for case in truncated oversized wrong_version bad_extension bad_encryption garbage; do
    assert_contains "$case datagram is dropped" "$(grep "^$case " <<<"$hostile")" "none"
done
assert_contains "an update from outside allow_update gets 403" \
    "$(grep '^update_not_allowed ' <<<"$hostile")" "value=403"
assert_contains "the storage answers after the hostile datagrams" \
    "$(grep '^check_after ' <<<"$hostile")" "value=0"
assert_contains "stat counts the two hashes (plain and encrypted rule)" \
    "$(grep '^stat ' <<<"$hostile")" "flag=2 "
if milter_alive; then pass "sluice is alive"; else fail "sluice died"; fi

# ---------------------------------------------------------------- delete

deleted=$(rspamc -h "127.0.0.1:$CPORT" -P q1 -t 10 fuzzy_del -f 1 "$IT_WORK/spam.eml" 2>&1)
assert_not_contains "fuzzy_del through Rspamd's controller succeeds" "$deleted" "error"
got=$(scan "$IT_WORK/spam.eml")
assert_not_contains "after fuzzy_del the message gets no fuzzy symbol" "$got" "DENIED"

# ---------------------------------------------------------------- one Redis, two storages

for _ in $(seq 40); do
    ss -Hlun "sport = :$RFPORT" | grep -q . && break
    sleep 0.25
done
both=$(python3 "$IT_DIR/fuzzy_client.py" shared "$FPORT" "$RFPORT")
note "$both"
assert_contains "an add through sluice's storage is answered" "$(grep '^add_on_a ' <<<"$both")" "value=0"
assert_contains "Rspamd's storage finds it by digest, with its weight and flag" \
    "$(grep '^check_on_b ' <<<"$both")" "value=7 flag=2 prob=1.00"
assert_contains "Rspamd's storage finds it by shingles with sluice's probability (31/32)" \
    "$(grep '^shingles_on_b ' <<<"$both")" "value=7 flag=2 prob=0.97"
assert_contains "sluice's storage finds a hash added through Rspamd's" \
    "$(grep '^check_on_a ' <<<"$both")" "value=5 flag=3 prob=1.00"

finish
