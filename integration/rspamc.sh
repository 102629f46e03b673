#!/usr/bin/env bash
# Debian's rspamc (from the rspamd package) against sluice's HTTP listeners:
# `symbols` and `check` on the scan listener, `stat`, `counters`, `uptime`,
# `learn_spam`, `learn_ham`, `fuzzy_add` and `fuzzy_del` on the controller. For every message, rspamc's JSON must equal
# `sluice scan --json` (action, score, symbols with scores, message-id).
# Learns must show in rspamc's `stat` while sluice runs and in `sluice stat`
# (the store file itself) after it stopped. Needs: rspamd (for rspamc), jq.
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

# A private DBDIR: the Bayes store learned into below lives in $tmp.
"$sluice" run --milter inet:127.0.0.1:0 --http 127.0.0.1:0 --controller 127.0.0.1:0 \
    --var "DBDIR=$tmp" 2>"$tmp/log" &
pid=$!
addr() {
    for _ in $(seq 600); do
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

# Mail to 1,000 recipients (`sed -n 1p`, not `head`: under pipefail a closed
# pipe fails the assignment): rspamc sends one Rcpt header each (1,000 header
# lines); the verdict must equal `sluice scan --json`'s with the same list.
ham=$corpus/ham/$(ls "$corpus/ham" | sed -n 1p)
rcpt_args=()
for i in $(seq -w 1 1000); do rcpt_args+=(--rcpt "user$i@example.org"); done
got=$(rspamc -h "$http" "${rcpt_args[@]}" --json symbols "$ham" | jq -S '{action, score}')
[ "$(jq -r .action <<<"$got")" != null ] ||
    { echo "rspamc.sh: no verdict for 1,000 recipients: $got" >&2; exit 1; }
grep -q 'http scanned.* rcpts=1000 ' "$tmp/log" ||
    { echo "rspamc.sh: the log does not show a scan with 1,000 recipients" >&2; exit 1; }
scanned=$((scanned + 1))

# `stat` on the controller counts every message rspamc sent.
rspamc -h "$controller" stat | grep -q "^Messages scanned: $scanned\$" ||
    { echo "rspamc.sh: stat does not show $scanned scans:" >&2; rspamc -h "$controller" stat >&2; exit 1; }

# `counters`: rspamc's table of the controller's per-symbol hits; GTUBE
# fired (the `check` above).
counters=$(rspamc -h "$controller" counters)
grep -Eq '^\| [0-9]+ +\| GTUBE +\| [^|]+\| [^|]+\| +[1-9][0-9]* +\|$' <<<"$counters" ||
    { echo "rspamc.sh: counters has no GTUBE row with hits:" >&2; echo "$counters" | head -20 >&2; exit 1; }
rows=$(grep -cE '^\| [0-9]+ +\| [A-Z0-9_]+ ' <<<"$counters")
[ "$rows" -ge 50 ] ||
    { echo "rspamc.sh: counters lists $rows symbols" >&2; exit 1; }

# `uptime` (the controller's /auth): seconds since the daemon started. (rspamc
# 3.4 prints its version line with a literal `%s`, whoever answers.)
up=$(rspamc -h "$controller" uptime)
grep -Eq '^Uptime: [0-9]+ (second|minute|hour)' <<<"$up" ||
    { echo "rspamc.sh: uptime: $up" >&2; exit 1; }

# `fuzzy_add` / `fuzzy_del`: no fuzzy_check rule is configured here (none is
# shipped), so a clear refusal, not a silent success (integration/fuzzy_check.sh
# learns through a configured rule).
for cmd in fuzzy_add fuzzy_del; do
    if out=$(rspamc -h "$controller" "$cmd" "$gtube" 2>&1); then
        echo "rspamc.sh: $cmd succeeded without fuzzy storage: $out" >&2; exit 1
    fi
    grep -q 'HTTP error: 500, fuzzy_check module has no rules' <<<"$out" ||
        { echo "rspamc.sh: $cmd: $out" >&2; exit 1; }
done

# `learn_spam` / `learn_ham` (the controller, as Rspamd's rspamc does) land
# in the daemon's Bayes store: rspamc's own `stat` shows the statfiles move.
learn=${LEARN_PER_CLASS:-5}
learned_as() { # SYMBOL: the `learned:` figure of rspamc's statfile line
    rspamc -h "$controller" stat | sed -n "s/^Statfile: $1 .*learned: \([0-9]*\);.*/\1/p"
}
before_spam=$(learned_as BAYES_SPAM)
before_ham=$(learned_as BAYES_HAM)
[ "$before_spam/$before_ham" = 0/0 ] ||
    { echo "rspamc.sh: a fresh store shows learned $before_spam/$before_ham" >&2; exit 1; }
for class in spam ham; do
    for f in $(ls "$corpus/$class" | head -n "$learn"); do
        out=$(rspamc -h "$controller" "learn_$class" "$corpus/$class/$f")
        grep -q 'success = true' <<<"$out" ||
            { echo "rspamc.sh: learn_$class $f: $out" >&2; exit 1; }
    done
done
# Learning the same message again is Rspamd's 208, not a second count.
again=$(rspamc -h "$controller" learn_spam "$corpus/spam/$(ls "$corpus/spam" | head -1)" 2>&1 || true)
grep -q 'already learned as spam' <<<"$again" ||
    { echo "rspamc.sh: relearn was not refused: $again" >&2; exit 1; }
got="$(learned_as BAYES_SPAM)/$(learned_as BAYES_HAM)"
[ "$got" = "$learn/$learn" ] ||
    { echo "rspamc.sh: stat shows learned $got, want $learn/$learn" >&2; rspamc -h "$controller" stat >&2; exit 1; }
grep -q "^Messages learned: $((2 * learn))\$" <(rspamc -h "$controller" stat) ||
    { echo "rspamc.sh: stat does not show $((2 * learn)) learned" >&2; exit 1; }

# The store outlives the daemon: `sluice stat` reads the same file.
kill "$pid" && wait "$pid" 2>/dev/null || true
pid=
stat=$("$sluice" stat --var "DBDIR=$tmp")
grep -q "^Statfile: BAYES_SPAM, learned: $learn messages\$" <<<"$stat" &&
    grep -q "^Statfile: BAYES_HAM, learned: $learn messages\$" <<<"$stat" ||
    { echo "rspamc.sh: sluice stat after the daemon stopped:" >&2; echo "$stat" >&2; exit 1; }

echo "rspamc.sh: $checked messages equal to sluice scan --json; 1,000 recipients; check and stat OK;" \
    "counters ($rows symbols), uptime, fuzzy_add/fuzzy_del refused;" \
    "learn_spam/learn_ham learned $learn/$learn, relearn refused, sluice stat agrees"
# The lines integration/run.sh counts (any failure above exits non-zero first):
# symbols, check, stat, counters, uptime, fuzzy_add/fuzzy_del, learn_spam/learn_ham.
echo "7 passed, 0 failed"
