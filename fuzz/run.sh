#!/usr/bin/env bash
# Builds every fuzz target once and runs each for SECONDS (default 20):
#   fuzz/run.sh            # CI: 20 s per target
#   fuzz/run.sh 3600       # an hour per target
#   JOBS=2 fuzz/run.sh 600 # two targets at a time
#   TARGETS="http scan" fuzz/run.sh 60
# Each target starts from corpus/TARGET (kept between runs, grows), the
# committed seeds/TARGET and, for the message targets, the shared corpus's
# MIME samples ($SHARED/corpus/mime) when present. A crash leaves its input
# in artifacts/TARGET/; copy it to regressions/TARGET/ once fixed, where
# `cargo test --test engine fuzz_regressions` replays it. Prints one line of final
# stats per target and exits non-zero if any target failed.
#
# Builds the targets the way `cargo fuzz build -O` does (the same
# sanitizer-coverage and AddressSanitizer flags), with cargo alone, so that
# a fresh machine need not build cargo-fuzz first; `cargo fuzz run TARGET`
# still works on this crate. Only a stable toolchain may be available:
# RUSTC_BOOTSTRAP=1 lets the nightly-only -Zsanitizer flag work on stable.
# CODEGEN_UNITS (default 1, as cargo-fuzz) and OPT_LEVEL (default 3) trade
# run speed for build time: the test command's short runs use more units and
# less optimization on its two cores. SANITIZER=none (default address)
# builds without AddressSanitizer: the C libraries are never instrumented
# (cc does not see these flags), so it only watches our own and our
# dependencies' unsafe Rust, and it doubles the build's CPU time; the test
# command's brief runs go without it, long runs keep it. STEP=build only builds, STEP=run only
# runs what an earlier build left (the test command builds in the background
# while its other tiers run).
set -euo pipefail

seconds="${1:-20}"
jobs="${JOBS:-1}"
cgu="${CODEGEN_UNITS:-1}"
opt="${OPT_LEVEL:-3}"
sanitizer="${SANITIZER:-address}"
step="${STEP:-all}"
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1

triple="$(rustc -vV | sed -n 's/^host: //p')"
targets="${TARGETS:-$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^sluice-fuzz$')}"
sancov=(
    -Cpasses=sancov-module
    -Cllvm-args=-sanitizer-coverage-level=4
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
    -Cllvm-args=-sanitizer-coverage-pc-table
    -Cllvm-args=-sanitizer-coverage-trace-compares
    -Cllvm-args=-sanitizer-coverage-stack-depth
    -Cllvm-args=-simplifycfg-branch-fold-threshold=0
    --cfg fuzzing
    "-Ccodegen-units=$cgu"
)
[ "$sanitizer" = none ] || sancov+=("-Zsanitizer=$sanitizer")
# Optimized; debug assertions and overflow checks come from the release
# profile in Cargo.toml, which keeps them off for one dependency.
bin="target/$triple/release"
if [ "$step" != run ]; then
    RUSTFLAGS="${sancov[*]} ${RUSTFLAGS:-}" cargo build --release --bins \
        --target "$triple" --config 'profile.release.debug="line-tables-only"' \
        --config "profile.release.opt-level=$opt"
fi
[ "$step" = build ] && exit 0
shared_mime="${SHARED:-$(cd .. && pwd)/../shared}/corpus/mime"

# Runs one target; its libFuzzer output goes to logs/TARGET.log.
run_one() {
    local target="$1" seeds=("seeds/$1")
    mkdir -p "corpus/$target" "artifacts/$target" "seeds/$target" logs
    case "$target" in
        scan | lua_task) [ -d "$shared_mime" ] && seeds+=("$shared_mime") ;;
    esac
    echo "== $target: ${seconds}s" >&2
    if "$bin/$target" "corpus/$target" "${seeds[@]}" \
        -max_total_time="$seconds" -max_len=8192 -timeout=30 -rss_limit_mb=3072 \
        -artifact_prefix="artifacts/$target/" -print_final_stats=1 \
        >"logs/$target.log" 2>&1; then
        echo ok >"logs/$target.status"
    else
        echo "!! $target failed (exit $?); see artifacts/$target/ and logs/$target.log" >&2
        tail -n 40 "logs/$target.log" >&2
        echo failed >"logs/$target.status"
    fi
}
export -f run_one
export seconds bin shared_mime

mkdir -p logs
rm -f logs/*.status
touch logs/.start
printf '%s\n' $targets | xargs -P "$jobs" -I{} bash -c 'run_one {}'

# target, seconds, executions, coverage (edges), crashes (crash, timeout and
# out-of-memory inputs; a slow-unit file is only the slowest input, kept)
status=0
printf '%-16s %8s %12s %8s %8s\n' target seconds execs cov crashes
for target in $targets; do
    log="logs/$target.log"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    crashes=$(find "artifacts/$target" -type f -newer logs/.start ! -name "slow-unit-*" | wc -l)
    printf '%-16s %8s %12s %8s %8s\n' "$target" "$seconds" "${execs:--}" "${cov:--}" "$crashes"
    [ "$(cat "logs/$target.status" 2>/dev/null)" = ok ] || status=1
done
exit "$status"
