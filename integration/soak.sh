#!/usr/bin/env bash
# Soak: one release daemon under mixed load for DURATION seconds (default
# 3600; the test command runs 120), sampling its RSS and open descriptors.
#
# Load, each in its own loop: milter replay of the shared corpus (`sluice
# bench milter`), /checkv2 scans with curl, learns on the controller, broken
# and aborted milter sessions, malformed HTTP requests, and a SIGHUP every
# HUP_EVERY seconds.
#
# Flat means: after a warm-up (the first WARMUP_PCT % of the run), the
# median RSS of the last third of the samples is at most the median of the
# first third plus RSS_MARGIN_PCT % and RSS_SLACK_MB (medians, because each
# reload briefly holds two rule sets: a spike that is no leak); the highest
# descriptor count of the last third is at most the highest of the first
# third plus FD_SLACK; and once the load stops the descriptor
# count falls back to the idle baseline (plus FD_SLACK) within 10 s. Every
# milter message and every scan must have been answered.
#
#   integration/soak.sh                 # an hour
#   DURATION=120 integration/soak.sh    # the test command's run
source "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-3600}
SAMPLE_EVERY=${SAMPLE_EVERY:-2}
HUP_EVERY=${HUP_EVERY:-30}
WARMUP_PCT=${WARMUP_PCT:-20}
RSS_MARGIN_PCT=${RSS_MARGIN_PCT:-15}
RSS_SLACK_MB=${RSS_SLACK_MB:-16}
FD_SLACK=${FD_SLACK:-4}
CORPUS=${SLUICE_CORPUS:-$SHARED/corpus}

require_tools curl jq perl ss
require_bench
[ -d "$CORPUS/ham" ] || die "no corpus at $CORPUS"
make_workdir
mkdir -p "$IT_WORK/local"
start_sluice --var "DBDIR=$IT_WORK" --var "LOCAL_CONFDIR=$IT_WORK/local"
listening() { grep -oE "$1 listening on inet:[0-9.]+:[0-9]+" "$MILTER_LOG" | head -1 | sed 's/.*inet://'; }
wait_for_line "$MILTER_LOG" 'controller listening on inet:' 10 || die "no controller listener"
HTTP=$(listening http)
CONTROLLER=$(listening controller)
MILTER_PORT=${MILTER_ADDR##*:}
HTTP_PORT=${HTTP##*:}
note "http $HTTP, controller $CONTROLLER, duration ${DURATION}s"

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$MILTER_PID/status"; }
fd_count() { find "/proc/$MILTER_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# The corpus as one list, cycled through by the loops.
find "$CORPUS/ham" "$CORPUS/spam" -type f -name '*.eml' | sort >"$IT_WORK/files"
nfiles=$(wc -l <"$IT_WORK/files")
pick() { sed -n "$(($1 % nfiles + 1))p" "$IT_WORK/files"; }

# One warm-up message makes the idle baseline include what a first scan opens.
run_bench --addr "$MILTER_ADDR" -j 1 -n 1 "$(pick 0)" >/dev/null || die "first message failed"
curl -sf -o /dev/null --data-binary @"$(pick 1)" "http://$HTTP/checkv2" || die "first scan failed"
sleep 1
BASE_FDS=$(fd_count)
end=$((SECONDS + DURATION))
running() { [ "$SECONDS" -lt "$end" ] && milter_alive; }

# Batches of 100 files, moving through the corpus from batch to batch.
milter_load() {
    local i=0
    while running; do
        mapfile -t batch < <(sed -n "$((i * 100 % nfiles + 1)),+99p" "$IT_WORK/files")
        run_bench --addr "$MILTER_ADDR" -j 4 --per-connection 20 --json "${batch[@]}" \
            >"$IT_WORK/bench.$i.json" 2>>"$IT_WORK/bench.err" || true
        i=$((i + 1))
    done
}

http_scans() {
    local i=0 code
    while running; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 --data-binary @"$(pick $((i * 7)))" \
            -H "Rcpt: soak$i@example.org" -H "IP: 192.0.2.$((i % 250 + 1))" "http://$HTTP/checkv2" || true)
        echo "$code" >>"$IT_WORK/scan.codes"
        i=$((i + 1))
    done
}

# A pool of 50 messages, each learned as the other class on every pass:
# after the first pass every learn moves a message, so the store is written
# all along without growing.
learns() {
    local i=0 code class
    while running; do
        class=ham
        [ $(((i / 50 + i) % 2)) -eq 0 ] && class=spam
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 --data-binary @"$(pick $((i % 50 * 13)))" \
            "http://$CONTROLLER/learn$class" || true)
        echo "$code" >>"$IT_WORK/learn.codes"
        i=$((i + 1))
        sleep 1
    done
}

# A milter packet: 4-byte length, command byte, payload (printf escapes).
pkt() { # CMD PAYLOAD_ESCAPED
    local body
    body=$(printf "%s$2" "$1" | od -An -v -tx1 | tr -d ' \n')
    printf '\\x%02x\\x%02x\\x%02x\\x%02x%s' $((${#body} / 2 >> 24 & 255)) $((${#body} / 2 >> 16 & 255)) \
        $((${#body} / 2 >> 8 & 255)) $((${#body} / 2 & 255)) "$(sed 's/../\\x&/g' <<<"$body")"
}
OPTNEG=$(pkt O '\x00\x00\x00\x06\x00\x00\x01\xff\x00\x00\x00\x00')
CONNECT=$(pkt C 'client.example\x004\x00\x19192.0.2.7\x00')
MAIL=$(pkt M '<a@example.org>\x00')
RCPT=$(pkt R '<b@example.net>\x00')
HEADER=$(pkt L 'Subject\x00soak\x00')

# Sends ESCAPED to 127.0.0.1:PORT, reads for up to 2 s, closes.
poke() { # PORT ESCAPED
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 0
        printf "$2" >&3 2>/dev/null
        timeout 2 cat <&3 >/dev/null 2>&1
        exec 3>&-' _ "$1" "$2" || true
}

broken_milter() {
    local i=0
    while running; do
        case $((i % 5)) in
        0) poke "$MILTER_PORT" "$OPTNEG$CONNECT$MAIL$RCPT$HEADER$(pkt A '')$(pkt Q '')" ;;
        1) poke "$MILTER_PORT" "$OPTNEG$CONNECT$MAIL\\x00\\x00\\x01\\x00Rpartial" ;;
        2) poke "$MILTER_PORT" "$(head -c 200 /dev/urandom | od -An -v -tx1 | tr -d ' \n' | sed 's/../\\x&/g')" ;;
        3) poke "$MILTER_PORT" '\x7f\xff\xff\xffO' ;;
        4) poke "$MILTER_PORT" '' ;;
        esac
        echo >>"$IT_WORK/broken.count"
        i=$((i + 1))
        sleep 0.2
    done
}

malformed_http() {
    local i=0
    while running; do
        case $((i % 5)) in
        0) poke "$HTTP_PORT" 'GARBAGE\r\n\r\n' ;;
        1) poke "$HTTP_PORT" 'POST /checkv2 HTTP/1.1\r\nContent-Length: 1000\r\n\r\nshort' ;;
        2) poke "$HTTP_PORT" 'POST /checkv2 HTTP/1.1\r\nno colon here\r\n\r\n' ;;
        3) poke "$HTTP_PORT" 'POST /checkv2 HTTP/1.1\r\nContent-Encoding: zstd\r\nContent-Length: 5\r\n\r\nhello' ;;
        4) poke "$HTTP_PORT" 'CHECK RSPAMC/1.3\r\nContent-length: nonsense\r\n\r\n' ;;
        esac
        echo >>"$IT_WORK/malformed.count"
        i=$((i + 1))
        sleep 0.2
    done
}

hups() {
    local next=$((SECONDS + HUP_EVERY))
    while running; do
        sleep 1
        if [ "$SECONDS" -ge "$next" ]; then
            kill -HUP "$MILTER_PID" && echo >>"$IT_WORK/hup.count"
            next=$((SECONDS + HUP_EVERY))
        fi
    done
}

loads=()
for f in milter_load http_scans learns broken_milter malformed_http hups; do
    "$f" &
    loads+=($!)
done
on_exit "kill ${loads[*]}"

: >"$IT_WORK/samples"
while running; do
    echo "$SECONDS $(rss_kb) $(fd_count)" >>"$IT_WORK/samples"
    sleep "$SAMPLE_EVERY"
done
alive=yes
milter_alive || alive=no
wait "${loads[@]}" 2>/dev/null || true

# Descriptors back to the idle baseline once the load is gone.
after_fds=$(fd_count)
for _ in $(seq 100); do
    [ "$after_fds" -le $((BASE_FDS + FD_SLACK)) ] && break
    sleep 0.1
    after_fds=$(fd_count)
done

assert_eq "daemon alive after ${DURATION}s of load" yes "$alive"

# Samples after the warm-up, in thirds.
n_all=$(wc -l <"$IT_WORK/samples")
skip=$((n_all * WARMUP_PCT / 100))
tail -n +$((skip + 1)) "$IT_WORK/samples" >"$IT_WORK/kept"
n=$(wc -l <"$IT_WORK/kept")
third=$((n / 3))
[ "$third" -ge 2 ] || die "too few samples ($n after warm-up): raise DURATION or lower SAMPLE_EVERY"
col_max() { awk -v c="$1" 'c == 2 && $2 > m || c == 3 && $3 > m { m = (c == 2 ? $2 : $3) } END { print m + 0 }'; }
col_median() { awk -v c="$1" '{ print $c }' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] + 0 }'; }
rss_first=$(head -n "$third" "$IT_WORK/kept" | col_median 2)
rss_last=$(tail -n "$third" "$IT_WORK/kept" | col_median 2)
fd_first=$(head -n "$third" "$IT_WORK/kept" | col_max 3)
fd_last=$(tail -n "$third" "$IT_WORK/kept" | col_max 3)
rss_min=$(awk 'NR == 1 || $2 < m { m = $2 } END { print m }' "$IT_WORK/samples")
rss_max=$(col_max 2 <"$IT_WORK/samples")
fd_max=$(col_max 3 <"$IT_WORK/samples")
rss_bound=$((rss_first * (100 + RSS_MARGIN_PCT) / 100 + RSS_SLACK_MB * 1024))

# Load totals.
bench_sum() { cat "$IT_WORK"/bench.*.json 2>/dev/null | jq -s "map($1) | add // 0"; }
messages=$(bench_sum .messages)
attempted=$(bench_sum .attempted)
proto_errors=$(bench_sum .protocol_errors)
tempfails=$(bench_sum '.replies.tempfail // 0')
count() { [ -f "$1" ] && wc -l <"$1" || echo 0; }
scans=$(count "$IT_WORK/scan.codes")
scans_ok=$(grep -c '^200$' "$IT_WORK/scan.codes" 2>/dev/null || true)
learns_n=$(count "$IT_WORK/learn.codes")
learns_ok=$(grep -cE '^20[08]$' "$IT_WORK/learn.codes" 2>/dev/null || true)

cat <<EOF
soak: ${DURATION}s, $n_all samples every ${SAMPLE_EVERY}s ($skip warm-up)
  rss MB     min $((rss_min / 1024))  max $((rss_max / 1024))  median first third $((rss_first / 1024))  median last third $((rss_last / 1024))  bound $((rss_bound / 1024))
  fds        idle $BASE_FDS  max $fd_max  max first third $fd_first  max last third $fd_last  after load $after_fds
  milter     $messages of $attempted messages answered, $tempfails tempfails, $proto_errors protocol errors
  http       $scans_ok of $scans scans 200, $learns_ok of $learns_n learns 200/208
  hostile    $(count "$IT_WORK/broken.count") broken milter sessions, $(count "$IT_WORK/malformed.count") malformed HTTP requests, $(count "$IT_WORK/hup.count") SIGHUPs
EOF

assert_ge "milter messages were sent" 1 "$attempted"
assert_eq "every milter message answered" "$attempted" "$messages"
assert_eq "no milter protocol errors" 0 "$proto_errors"
assert_eq "no milter tempfails" 0 "$tempfails"
assert_ge "http scans were sent" 1 "$scans"
assert_eq "every http scan answered 200" "$scans" "$scans_ok"
assert_eq "every learn answered 200 or 208" "$learns_n" "$learns_ok"
if [ "$rss_last" -le "$rss_bound" ]; then pass "rss flat (last third median ${rss_last} kB <= ${rss_bound} kB)"; else
    fail "rss flat" "last third median ${rss_last} kB > first third median ${rss_first} kB + ${RSS_MARGIN_PCT}% + ${RSS_SLACK_MB} MB"
fi
if [ "$fd_last" -le $((fd_first + FD_SLACK)) ]; then pass "fds flat (last third max $fd_last, first $fd_first)"; else
    fail "fds flat" "last third max $fd_last > first third max $fd_first + $FD_SLACK"
fi
if [ "$after_fds" -le $((BASE_FDS + FD_SLACK)) ]; then pass "fds back to idle ($after_fds, idle $BASE_FDS)"; else
    fail "fds back to idle" "$after_fds open after the load, $BASE_FDS before it"
fi
if stop_milter; then pass "SIGTERM exits 0"; else fail "SIGTERM exits 0"; fi
grep -E ' (ERROR|panicked)' "$MILTER_LOG" | head -5 >&2 || true
finish
