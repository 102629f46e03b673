#!/usr/bin/env bash
# Debian's rspamc (from the rspamd package) against sluice's HTTP listeners:
# `symbols` and `check` on the scan listener, `stat` on the controller. For
# every message, rspamc's JSON must equal `sluice scan --json` (action,
# score, symbols with scores, message-id). Needs: rspamd (for rspamc), jq.
# Usage: integration/rspamc.sh [MESSAGES_PER_DIR]   (SLUICE=path/to/sluice)
set -euo pipefail
cd "$(dirname "$0")/.."

per_dir=${1:-10}
sluice=${SLUICE:-target/release/sluice}
[ -x "$sluice" ] || sluice=target/debug/sluice
corpus=${SLUICE_CORPUS:-../shared/corpus}
for tool in rspamc jq; do
    command -v "$tool" >/dev/null || { echo "rspamc.sh: $tool is missing" >&2; exit 1; }
done
[ -x "$sluice" ] || { echo "rspamc.sh: no sluice binary (cargo build)" >&2; exit 1; }
[ -d "$corpus" ] || { echo "rspamc.sh: no corpus at $corpus" >&2; exit 1; }

tmp=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

"$sluice" run --milter inet:127.0.0.1:0 --http 127.0.0.1:0 --controller 127.0.0.1:0 \
    2>"$tmp/log" &
pid=$!
addr() {
    for _ in $(seq 100); do
        a=$(sed -n "s/.*$1 listening on inet:\([0-9.:]*\).*/\1/p" "$tmp/log" | head -1)
        [ -n "$a" ] && { echo "$a"; return; }
        sleep 0.1
    done
    echo "rspamc.sh: sluice did not start:" >&2; cat "$tmp/log" >&2; exit 1
}
http=$(addr http)
controller=$(addr controller)

# The fields both sides must agree on, normalised (rspamc re-prints numbers).
view='{action, score: (.score * 100 | round), mid: ."message-id",
       symbols: (.symbols | map_values(.score * 100 | round))}'

checked=0
for dir in ham spam mime; do
    for f in $(ls "$corpus/$dir" | head -n "$per_dir"); do
        m="$corpus/$dir/$f"
        got=$(rspamc -h "$http" --json symbols "$m" | jq -S "$view")
        want=$("$sluice" scan --json "$m" | jq -S "$view")
        if [ "$got" != "$want" ]; then
            echo "rspamc.sh: $m differs" >&2
            diff <(echo "$want") <(echo "$got") >&2 || true
            exit 1
        fi
        checked=$((checked + 1))
    done
done

# `check` prints rspamc's text report of the same verdict.
gtube="$tmp/gtube.eml"
printf 'Subject: test\r\nMessage-ID: <g@example.org>\r\n\r\n%s%s\r\n' \
    'XJS*C4JDBQADN1.NSBN3*2IDNEN*' 'GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X' >"$gtube"
rspamc -h "$http" check "$gtube" | grep -q '^Action: reject$' ||
    { echo "rspamc.sh: check did not report reject" >&2; exit 1; }
scanned=$((checked + 1))

# `stat` on the controller counts every message rspamc sent.
rspamc -h "$controller" stat | grep -q "^Messages scanned: $scanned\$" ||
    { echo "rspamc.sh: stat does not show $scanned scans:" >&2; rspamc -h "$controller" stat >&2; exit 1; }

echo "rspamc.sh: $checked messages equal to sluice scan --json; check and stat OK"
# The line integration/run.sh counts (any failure above exits non-zero first).
echo "1 passed, 0 failed"
