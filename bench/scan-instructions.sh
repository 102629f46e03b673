#!/usr/bin/env bash
# Instructions per scanned message, counted by callgrind: repeatable to the
# instruction whatever else the machine is doing, so a change to the scan
# can be judged without a quiet machine.
#
# Scans every 10th message of $SHARED/corpus/{ham,spam} once, then twice in
# one process, counting only inside Pipeline::scan; prints the cold figure
# (first pass, lazy DFA caches filling) and the warm one (second pass, as in
# a long-running daemon).
#
#   bench/scan-instructions.sh [path/to/sluice]    # default target/release/sluice
# Needs valgrind. No Bayes store is opened (DBDIR points at an empty dir).
# LOCAL_CONFDIR=DIR scans with that local config (e.g. a local.d that
# turns the shipped Lua rules off), default none.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/target/release/sluice}
SHARED=${SHARED:-$(cd "$ROOT/.." && pwd)/shared}
C=$SHARED/corpus
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 1; }
[ -x "$BIN" ] || { echo "no sluice binary at $BIN" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mapfile -t FILES < <(ls "$C"/ham/*.eml "$C"/spam/*.eml | awk 'NR % 10 == 0')
N=${#FILES[@]}

count() { # files... -> instructions inside Pipeline::scan
    valgrind --tool=callgrind --toggle-collect='*Pipeline::scan_traced*' \
        --callgrind-out-file="$WORK/cg.out" "$BIN" scan \
        --var "LOCAL_CONFDIR=${LOCAL_CONFDIR:-$WORK/none}" --var "DBDIR=$WORK/db" "$@" \
        >/dev/null 2>"$WORK/cg.err" || true
    grep -oE 'Collected : [0-9]+' "$WORK/cg.err" | awk '{print $3}'
}
one=$(count "${FILES[@]}")
two=$(count "${FILES[@]}" "${FILES[@]}")
echo "$N messages: cold $((one / N)) instructions/message, warm $(((two - one) / N)) instructions/message"
