#!/usr/bin/env bash
# The combined hostile stage: one release sluice, started with a raised open
# files limit as the systemd unit does, under every attack of issue 20 at
# once (attack.py): idle milter sessions, one-byte-per-second milter
# senders, HTTP bodies stalled midway, zstd bombs and idle keep-alive HTTP
# connections. While they are held, normal messages through the milter must
# be answered in under 1 s and the daemon's RSS must stay under 400 MB;
# afterwards it must still serve and stop cleanly on SIGTERM.
#
# Sizes can be scaled down for a quick look: HOSTILE_IDLE, HOSTILE_TRICKLE,
# HOSTILE_STALLED, HOSTILE_BOMBS, HOSTILE_KEEPALIVE, HOSTILE_SECONDS.
# Needs: python3, zstd.
source "$(dirname "$0")/lib.sh"

require_tools python3 zstd curl
make_workdir

# The unit raises LimitNOFILE; the attacker needs as many files as it holds.
# 65536, or the hard limit where that is lower (containers).
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -gt 65536 ]; then hard=65536; fi
ulimit -n "$hard" || die "cannot raise the open files limit to $hard"

seconds=${HOSTILE_SECONDS:-60}
idle=${HOSTILE_IDLE:-10000}
trickle=${HOSTILE_TRICKLE:-1000}
stalled=${HOSTILE_STALLED:-20}
bombs=${HOSTILE_BOMBS:-20}
keepalive=${HOSTILE_KEEPALIVE:-2000}

# A zstd body of a few KB that inflates to ~49 MB of mail.
{
    printf 'From: a@example.org\r\nTo: b@example.net\r\nSubject: bomb\r\n\r\n'
    head -c 49M < <(yes 'All work and no play makes a dull message body, over and over.')
} | zstd -19 -q -c >"$IT_WORK/bomb.zst"
note "zstd bomb: $(stat -c %s "$IT_WORK/bomb.zst") bytes"

start_sluice
http=$(sed -n 's/.*http listening on inet:\([0-9.:]*\).*/\1/p' "$MILTER_LOG" | head -1)
controller=$(sed -n 's/.*controller listening on inet:\([0-9.:]*\).*/\1/p' "$MILTER_LOG" | head -1)
[ -n "$http" ] && [ -n "$controller" ] || die "no HTTP addresses in the log: $(tail -5 "$MILTER_LOG")"
milter=${MILTER_ADDR#inet:}
note "daemon open files limit: $(awk '/Max open files/ {print $4}' /proc/"$MILTER_PID"/limits)"

python3 "$IT_DIR/hostile/attack.py" probe "$milter" >"$IT_WORK/before"
note "before the attack: $(cat "$IT_WORK/before")"

timeout $((seconds + 60)) python3 "$IT_DIR/hostile/attack.py" hold \
    --milter "$milter" --http "$http" --pid "$MILTER_PID" --bomb "$IT_WORK/bomb.zst" \
    --duration "$seconds" --idle "$idle" --trickle "$trickle" --stalled "$stalled" \
    --bombs "$bombs" --keepalive "$keepalive" >"$IT_WORK/result.json" ||
    fail "the attacker ran to its end" "exit $?"
result=$(cat "$IT_WORK/result.json")
note "attack: $result"

probes=$(jq -r '.probes[]' <<<"$result")
answered=$(grep -cE '^[0-9.]+ [a-z]$' <<<"$probes" || true)
assert_eq "every probe message was answered during the attack" "$(jq '.probes | length' <<<"$result")" "$answered"
slowest=$(awk '/^[0-9.]+ [a-z]$/ {if ($1 > m) m = $1} END {printf "%d", m}' <<<"$probes")
note "probe latencies (ms): $(tr '\n' ' ' <<<"$probes")"
if [ "$answered" -gt 0 ] && [ "$slowest" -lt 1000 ]; then
    pass "a normal message is answered in under 1 s under attack (slowest ${slowest} ms)"
else
    fail "a normal message is answered in under 1 s under attack" "slowest ${slowest} ms"
fi

rss_mb=$(($(jq '.rss_kb_max // 0' <<<"$result") / 1024))
note "daemon peak RSS ${rss_mb} MB, peak open files $(jq '.fds_max // 0' <<<"$result")"
if [ "$rss_mb" -lt 400 ]; then pass "RSS stays under 400 MB (peak ${rss_mb} MB)"; else
    fail "RSS stays under 400 MB" "peak ${rss_mb} MB"
fi
assert_ge "idle milter connections were all opened" "$idle" "$(jq '.milter_idle_opened // 0' <<<"$result")"
assert_ge "one-byte-per-second senders were all opened" "$trickle" "$(jq '.milter_trickle_opened // 0' <<<"$result")"

metrics=$(curl -s "http://$controller/metrics")
evicted=$(sed -n 's/^sluice_milter_sessions_evicted_total //p' <<<"$metrics")
note "evicted ${evicted:-?}, refused $(sed -n 's/^sluice_milter_sessions_refused_total //p' <<<"$metrics")," \
    "failed by reason: $(grep '^sluice_milter_sessions_failed_total' <<<"$metrics" | sed 's/.*reason="\([a-z]*\)"} /\1=/' | tr '\n' ' ')"
assert_ge "idle sessions were evicted at the session cap" 1 "${evicted:-0}"
assert_contains "the cap was reported" "$(cat "$MILTER_LOG")" "milter session cap reached"

if milter_alive; then pass "the daemon survived"; else fail "the daemon survived"; fi
python3 "$IT_DIR/hostile/attack.py" probe "$milter" >"$IT_WORK/after"
assert_contains "a message is answered after the attack" "$(cat "$IT_WORK/after")" " a"
if stop_milter; then pass "SIGTERM after the attack exits 0"; else fail "SIGTERM after the attack exits 0"; fi
finish
