#!/usr/bin/env bash
# fuzzy_check: sluice's fuzzy_check against Rspamd 3.4's fuzzy storage
# worker (Redis backend, private redis-server), plain and encrypted.
#   - a message added with `rspamc fuzzy_add` (Rspamd's controller) is found
#     by a sluice scan with its flag's symbol and the score Rspamd's own scan
#     gives; one added with `sluice fuzzy add` is found by both;
#   - a copy with a changed word still matches (shingles); an unrelated
#     message does not; `sluice scan` (offline) finds it too;
#   - the same through an encrypted rule (the storage's keypair);
#   - the storage stopped (SIGSTOP): the scan is answered within the fuzzy
#     budget without fuzzy symbols, and /metrics counts the failure.
# The messages are made here (English words, 120 of them), so the check is
# about the module and the protocol, not about corpus text (fuzzy_hashes.sh
# measures that).
source "$(dirname "$0")/lib.sh"
source "$IT_DIR/fuzzy/start.sh"
require_tools rspamc curl jq
[ -x "$SLUICE_BIN" ] || die "no sluice binary at $SLUICE_BIN"
make_workdir
start_fuzzy_rspamd mumhash 1
note "rspamd up after ${SECONDS}s"

# Common English words: Rspamd stems in the language it detects, and the
# stage is about the module, so the text must read as English to it.
words=(the people would like to know about their new account and service we
    offer for every customer who has been waiting this important update from
    our team today please read carefully before you make any decision with
    your money because prices change quickly after the holiday season ends)
# message NAME SEED [CHANGED_INDEX]: 120 words picked by SEED.
message() {
    local name=$1 seed=$2 changed=${3:--1} i body=''
    for ((i = 0; i < 120; i++)); do
        if [ "$i" = "$changed" ]; then body+="zeppelin "; continue; fi
        body+="${words[$(((i * 7 + seed * 13 + i * i * seed) % ${#words[@]}))]} "
        [ $((i % 12)) = 11 ] && body+=$'\n'
    done
    printf 'From: sender@example.com\nTo: rcpt@example.org\nSubject: offer %s\nMessage-ID: <%s@example.com>\nDate: Mon, 07 Dec 2026 10:00:00 +0000\n\n%s\n' \
        "$seed" "$name" "$body" >"$IT_WORK/$name.eml"
}
message a 1
message a2 1 60
message b 2
message c 3

# sluice with a rule on Rspamd's storage; ENC=1: encrypted with its key.
start_sluice_fuzzy() {
    local name=$1 enc=$2 dir=$IT_WORK/sluice-$1 key=''
    mkdir -p "$dir/local.d"
    [ "$enc" = 1 ] && key="encryption_key = \"$FUZZY_PUBKEY\";"
    cat >"$dir/local.d/fuzzy_check.conf" <<CONF
rule "local" {
  algorithm = "mumhash";
  servers = "127.0.0.1:$FUZZY_PORT";
  $key
  symbol = "FUZZY_UNKNOWN";
  mime_types = ["*"];
  max_score = 20.0;
  read_only = no;
  skip_unknown = yes;
  min_length = 64;
  timeout = 0.5s;
  retransmits = 1;
  fuzzy_map {
    FUZZY_DENIED { max_score = 20.0; flag = 1; }
    FUZZY_PROB { max_score = 10.0; flag = 2; }
  }
}
CONF
    "$SLUICE_BIN" run --milter inet:127.0.0.1:0 --http 127.0.0.1:0 --controller 127.0.0.1:0 \
        --var "LOCAL_CONFDIR=$dir" --var "DBDIR=$dir" 2>"$dir/log" >/dev/null &
    local pid=$!
    on_exit "kill -TERM $pid; wait $pid"
    wait_for_line "$dir/log" 'controller listening on' 30 || die "sluice did not start: $(tail -5 "$dir/log")"
    SLUICE_HTTP=$(sed -n 's/.*http listening on inet:\([0-9.:]*\).*/\1/p' "$dir/log" | head -1)
    SLUICE_CONTROLLER=$(sed -n 's/.*controller listening on inet:\([0-9.:]*\).*/\1/p' "$dir/log" | head -1)
    SLUICE_LOCAL=$dir
}

# symbol_of ADDR FILE SYMBOL: "score" of SYMBOL in a scan, or "none".
symbol_of() {
    rspamc -h "$1" --json symbols "$2" 2>/dev/null |
        jq -r --arg s "$3" '(.symbols[$s].score // "none") | if type == "number" then (. * 100 | round | tostring) else . end'
}

add_rspamd() { rspamc -h "$RSPAMD_CONTROLLER" fuzzy_add -f 1 -w 10 "$1" >/dev/null 2>&1; }
for _ in $(seq 40); do add_rspamd "$IT_WORK/a.eml" && break; sleep 0.5; done
# The storage writes its queue every `sync` (0.2 s).
sleep 1

for mode in plain encrypted; do
    enc=0
    [ "$mode" = encrypted ] && enc=1
    start_sluice_fuzzy "$mode" "$enc"
    note "$mode: sluice up at ${SECONDS}s"
    want=$(symbol_of "$RSPAMD_NORMAL" "$IT_WORK/a.eml" FUZZY_DENIED)
    assert_eq "$mode: Rspamd's own scan finds the message rspamc added" 1051 "$want"
    assert_eq "$mode: sluice finds it with Rspamd's score" "$want" \
        "$(symbol_of "$SLUICE_HTTP" "$IT_WORK/a.eml" FUZZY_DENIED)"
    assert_ne_none() { if [ "$2" != none ]; then pass "$1"; else fail "$1" "no FUZZY_DENIED"; fi; }
    assert_ne_none "$mode: a copy with a changed word still matches" \
        "$(symbol_of "$SLUICE_HTTP" "$IT_WORK/a2.eml" FUZZY_DENIED)"
    assert_eq "$mode: an unrelated message does not match" none \
        "$(symbol_of "$SLUICE_HTTP" "$IT_WORK/c.eml" FUZZY_DENIED)"
    if [ "$mode" = plain ]; then
        # The offline scan asks the storage as the daemon does.
        offline=$("$SLUICE_BIN" scan --json --var "LOCAL_CONFDIR=$SLUICE_LOCAL" "$IT_WORK/a.eml" 2>/dev/null |
            jq -r '(.symbols.FUZZY_DENIED.score // "none") | if type == "number" then (. * 100 | round | tostring) else . end')
        assert_eq "sluice scan (offline) finds it with the same score" "$want" "$offline"
        # Learning through sluice: the CLI writes to Rspamd's storage.
        out=$("$SLUICE_BIN" fuzzy add --var "LOCAL_CONFDIR=$SLUICE_LOCAL" -f FUZZY_DENIED -w 10 "$IT_WORK/b.eml" 2>&1) ||
            fail "sluice fuzzy add" "$out"
        sleep 1
        assert_eq "sluice fuzzy add: Rspamd's scan finds it" 1051 \
            "$(symbol_of "$RSPAMD_NORMAL" "$IT_WORK/b.eml" FUZZY_DENIED)"
        assert_eq "sluice fuzzy add: sluice's scan finds it" 1051 \
            "$(symbol_of "$SLUICE_HTTP" "$IT_WORK/b.eml" FUZZY_DENIED)"
        # rspamc fuzzy_add against sluice's controller.
        message d 4
        out=$(rspamc -h "$SLUICE_CONTROLLER" fuzzy_add -f 2 -w 10 "$IT_WORK/d.eml" 2>&1)
        assert_contains "rspamc fuzzy_add through sluice's controller succeeds" "$out" "success = true"
        sleep 1
        assert_eq "and Rspamd finds it as FUZZY_PROB" \
            "$(symbol_of "$RSPAMD_NORMAL" "$IT_WORK/d.eml" FUZZY_PROB)" \
            "$(symbol_of "$SLUICE_HTTP" "$IT_WORK/d.eml" FUZZY_PROB)"
        stat=$("$SLUICE_BIN" fuzzy stat --var "LOCAL_CONFDIR=$SLUICE_LOCAL" 2>&1 || true)
        assert_contains "sluice fuzzy stat asks the storage" "$stat" "hashes stored"
    fi
done

note "learning and scans done at ${SECONDS}s"
# The storage stops answering: the scan is answered without fuzzy symbols.
fuzzy_pid=$(ps -o pid=,args= --ppid "$RSPAMD_PID" | awk '/fuzzy/ {print $1; exit}')
[ -n "$fuzzy_pid" ] || die "no fuzzy worker under rspamd pid $RSPAMD_PID"
kill -STOP "$fuzzy_pid"
on_exit "kill -CONT $fuzzy_pid"
started=$(date +%s%N)
got=$(symbol_of "$SLUICE_HTTP" "$IT_WORK/a.eml" FUZZY_DENIED)
took_ms=$((($(date +%s%N) - started) / 1000000))
kill -CONT "$fuzzy_pid"
note "scan with the storage stopped took $took_ms ms (fuzzy budget: 0.5 s x 2 tries)"
assert_eq "storage stopped: no fuzzy symbol" none "$got"
if [ "$took_ms" -lt 4000 ]; then pass "storage stopped: answered in time"; else
    fail "storage stopped: answered in time" "took $took_ms ms"; fi
metrics=$(curl -s "http://$SLUICE_CONTROLLER/metrics")
failures=$(sed -n 's/^sluice_fuzzy_failures_total{rule="local"} //p' <<<"$metrics")
assert_ge "storage stopped: /metrics counts the failure" 1 "${failures:-0}"
finish
