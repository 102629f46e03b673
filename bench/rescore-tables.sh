#!/usr/bin/env bash
# The acceptance tables of `sluice rescore` (issue 27): k-fold
# cross-validation on the shared corpus, every weight, Bayes store and
# network fitted or trained on the training folds only, with spam recall and
# ham flagged at every action threshold and spam recall at 0, 1, 3 and 9 ham
# flagged, per variant (baseline, rescored; with --neural also neural and
# both). Prints the report, the wall and CPU time of the run, and leaves the
# fitted weights (local.d/groups.conf form) in $OUT (default: a temp file).
#
#   bench/rescore-tables.sh [CORPUS_DIR] [FOLDS] [extra rescore args...]
#   bench/rescore-tables.sh ../shared/corpus 5 --neural --max-fp 0.004
#
# Offline: nothing listens, no query leaves the process. Build first:
# `cargo build --release` (or set SLUICE_BIN).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
corpus=$(cd "${1:-$here/../shared/corpus}" && pwd)
folds=${2:-5}
shift $(($# > 2 ? 2 : $#))
bin=${SLUICE_BIN:-$here/target/release/sluice}
[ -x "$bin" ] || { echo "no sluice binary at $bin (cargo build --release)" >&2; exit 1; }
out=${OUT:-$(mktemp /tmp/rescore-groups.XXXXXX.conf)}
conf=$(mktemp -d)
trap 'rm -rf "$conf"' EXIT

echo "# sluice rescore: $corpus, $folds folds, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s.%N)
# The shipped configuration only ($LOCAL_CONFDIR empty), a private DBDIR.
/usr/bin/time -f '# cpu: %U s user, %S s system, max RSS %M KiB' \
    "$bin" rescore --quiet --folds "$folds" --out "$out" \
    --var "LOCAL_CONFDIR=$conf" --var "DBDIR=$conf" \
    --spam "$corpus/spam" --ham "$corpus/ham" "$@"
echo "# wall: $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s; weights in $out"
