#!/usr/bin/env bash
# Stage: the whole shared corpus through the milter with `sluice bench
# milter`: every message answered, zero protocol errors, daemon still alive.
source "$(dirname "$0")/lib.sh"

require_tools perl ss
make_workdir
require_bench
start_milter

CORPUS=$SHARED/corpus
[ -d "$CORPUS/ham" ] && [ -d "$CORPUS/spam" ] && [ -d "$CORPUS/mime" ] ||
    die "corpus not found under SHARED=$SHARED (expects corpus/{ham,spam,mime})"
expected=$(find "$CORPUS/ham" "$CORPUS/spam" "$CORPUS/mime" -maxdepth 1 -type f | wc -l)

if ! run_bench --addr "$MILTER_ADDR" -j "${CONCURRENCY:-4}" --json \
    "$CORPUS/ham" "$CORPUS/spam" "$CORPUS/mime" >"$IT_WORK/report.json" 2>"$IT_WORK/bench.err"; then
    die "bench milter failed: $(cat "$IT_WORK/bench.err")"
fi
json() { perl -MJSON::PP -0777 -ne "my \$r = decode_json(\$_); print $1, qq(\n)" "$IT_WORK/report.json"; }

assert_eq "every corpus file sent" "$expected" "$(json '$r->{attempted}')"
assert_eq "every message answered" "$expected" "$(json '$r->{messages}')"
assert_eq "zero protocol errors" 0 "$(json '$r->{protocol_errors}')"
note "replies: $(json 'join(q(, ), map { "$_=$r->{replies}{$_}" } sort keys %{$r->{replies}})')"
note "throughput: $(json 'sprintf(q(%.1f msgs/s, p99 %.1f ms), $r->{msgs_per_sec}, $r->{latency}{p99_ms})')"
if [ "$(json '$r->{protocol_errors}')" != 0 ]; then note "errors: $(json 'join(q( | ), @{$r->{error_samples}})')"; fi
# Ham, each message with the envelope of its own headers, is never refused.
if ! run_bench --addr "$MILTER_ADDR" -j "${CONCURRENCY:-4}" --json "$CORPUS/ham" \
    >"$IT_WORK/ham.json" 2>"$IT_WORK/bench.err"; then
    die "bench milter (ham) failed: $(cat "$IT_WORK/bench.err")"
fi
ham_json() { perl -MJSON::PP -0777 -ne "my \$r = decode_json(\$_); print $1, qq(\n)" "$IT_WORK/ham.json"; }
assert_eq "no ham message refused (5xx) over milter" 0 "$(ham_json '$r->{replies}{q(5xx)} // 0')"
note "ham replies: $(ham_json 'join(q(, ), map { "$_=$r->{replies}{$_}" } sort keys %{$r->{replies}})')"
if milter_alive; then pass "milter still running after the corpus"; else fail "milter died during the corpus"; fi
# SIGTERM drains and exits 0.
rc=0
stop_milter || rc=$?
assert_eq "milter exits 0 on SIGTERM" 0 "$rc"
finish
