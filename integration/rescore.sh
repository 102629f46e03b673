#!/usr/bin/env bash
# Stage: `sluice rescore` on a small subset of the shared corpus (every 25th
# message, 3 folds): the report's tables, a written local.d/groups.conf that
# `sluice configtest` and Rspamd 3.4's `rspamadm configtest` both load, whose
# weights Rspamd's configdump shows and a running sluice applies on SIGHUP.
source "$(dirname "$0")/lib.sh"

require_tools perl curl rspamadm
make_workdir

CORPUS=$SHARED/corpus
[ -d "$CORPUS/ham" ] && [ -d "$CORPUS/spam" ] || die "corpus not found under SHARED=$SHARED"
pick() { find "$CORPUS/$1" -maxdepth 1 -type f | sort | awk 'NR % 25 == 1'; }
mapfile -t spam < <(pick spam)
mapfile -t ham < <(pick ham)
conf=$IT_WORK/conf
mkdir -p "$conf/local.d"
vars=(--var "LOCAL_CONFDIR=$conf" --var "DBDIR=$IT_WORK")

started=$SECONDS
if ! "$SLUICE_BIN" rescore --quiet --folds 3 --min-hits 3 --max-fp 0.02 \
    --out "$IT_WORK/groups.conf" "${vars[@]}" --spam "${spam[@]}" --ham "${ham[@]}" \
    >"$IT_WORK/report.txt" 2>"$IT_WORK/rescore.err"; then
    die "sluice rescore failed: $(tail -5 "$IT_WORK/rescore.err")"
fi
note "rescore of ${#spam[@]} spam and ${#ham[@]} ham, 3 folds: $((SECONDS - started)) s"
report=$(cat "$IT_WORK/report.txt")
assert_contains "report names the set" "$report" "3-fold cross-validation over ${#spam[@]} spam and ${#ham[@]} ham"
for v in baseline rescored; do
    assert_eq "$v row at add header" 1 "$(grep -cE "^$v +add header" <<<"$report")"
    assert_eq "$v row at reject" 1 "$(grep -cE "^$v +reject" <<<"$report")"
done
assert_contains "ROC-style table" "$report" "<= 9 ham"
assert_contains "thresholds proposed" "$report" "thresholds for ham flagged under 2.00%"
assert_file_matches "file header" "$IT_WORK/groups.conf" '^# Rule weights fitted by `sluice rescore`'
assert_file_matches "at least one weight written" "$IT_WORK/groups.conf" '^        "[A-Z0-9_]+" \{ weight = -?[0-9.]+; \} # shipped'
# No written weight has the opposite sign of its shipped one.
flipped=$(perl -ne 'print if /weight = (-?[\d.]+);.*shipped (-?[\d.]+)/ && ($1 * $2 < 0 || $2 == 0)' "$IT_WORK/groups.conf")
assert_eq "no sign flipped, no weight-0 rule fitted" "" "$flipped"

cp "$IT_WORK/groups.conf" "$conf/local.d/groups.conf"
if out=$("$SLUICE_BIN" configtest "${vars[@]}" 2>&1); then pass "sluice configtest loads it"; else
    fail "sluice configtest loads it" "$out"
fi

# Rspamd reads the same file: its configtest passes and its merged groups
# carry a written weight of a symbol both know.
rs=$IT_WORK/rspamd
write_rspamd_config "$rs" 127.0.0.1:0
cp "$IT_WORK/groups.conf" "$rs/local.d/groups.conf"
rsvars=(--var="LOCAL_CONFDIR=$rs" --var="DBDIR=$rs")
if out=$(rspamadm "${rsvars[@]}" configtest -c "$rs/rspamd.conf" 2>&1); then
    pass "rspamadm configtest loads it"
else fail "rspamadm configtest loads it" "$out"; fi
dump=$(rspamadm "${rsvars[@]}" configdump -c "$rs/rspamd.conf" group 2>/dev/null)
shared=0
while read -r sym w; do
    if perl -0777 -ne "exit !(/\\b\Q$sym\E \\{\\s*weight = ([-\\d.]+);/ && abs(\$1 - ($w)) < 0.005)" <<<"$dump"; then
        shared=$((shared + 1))
    fi
done < <(perl -ne 'print "$1 $2\n" if /^ +"(\w+)" \{ weight = (-?[\d.]+);/' "$IT_WORK/groups.conf")
note "written weights Rspamd's configdump shows: $shared"
assert_ge "Rspamd's merged groups carry the written weights" 1 "$shared"

# A running sluice applies it on reload (controller /symbols).
rm "$conf/local.d/groups.conf"
start_sluice "${vars[@]}"
controller=$(sed -n 's/.*controller listening on inet:\([0-9.:]*\).*/\1/p' "$MILTER_LOG" | head -1)
[ -n "$controller" ] || die "no controller address in $MILTER_LOG"
weights() {
    curl -sf "http://$controller/symbols" |
        perl -MJSON::PP -0777 -ne 'for my $g (@{decode_json($_)}) { print "$_->{symbol} $_->{weight}\n" for @{$g->{rules}} }'
}
read -r sym w shipped < <(perl -ne 'print "$1 $2 $3\n" if /^ +"(\w+)" \{ weight = (-?[\d.]+); \} # shipped (-?[\d.]+)/' "$IT_WORK/groups.conf" | head -1)
before=$(weights | awk -v s="$sym" '$1 == s { print $2 }')
assert_eq "$sym at its shipped weight before" 1 "$(perl -e "print abs(($before) - ($shipped)) < 0.005 ? 1 : 0")"
cp "$IT_WORK/groups.conf" "$conf/local.d/groups.conf"
kill -HUP "$MILTER_PID"
wait_for_line "$MILTER_LOG" 'configuration reloaded' 30 || fail "reload reported" "$(tail -5 "$MILTER_LOG")"
after=$(weights | awk -v s="$sym" '$1 == s { print $2 }')
assert_eq "$sym at its fitted weight after reload ($w)" 1 "$(perl -e "print abs(($after) - ($w)) < 0.005 ? 1 : 0")"
finish
