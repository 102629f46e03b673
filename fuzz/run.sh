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
# Only a stable toolchain may be available: RUSTC_BOOTSTRAP=1 lets
# cargo-fuzz's nightly-only flags (-Zsanitizer ...) work on stable.
set -euo pipefail

seconds="${1:-20}"
jobs="${JOBS:-1}"
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

targets="${TARGETS:-$(cargo fuzz list)}"
# Optimized (-O); debug assertions and overflow checks come from the release
# profile in Cargo.toml, which keeps them off for one dependency.
# mail-parser 1.0 (mail-auth's) declares a rust-version newer than the toolchain but builds
# with it. cargo-fuzz cannot pass --ignore-rust-version on, so a `cargo` first on its PATH
# adds it to the build command (and only to that one).
wrap=$(mktemp -d)
trap 'rm -rf "$wrap"' EXIT
real_cargo=$(command -v cargo)
cat >"$wrap/cargo" <<WRAP
#!/bin/sh
if [ "\$1" = build ]; then shift; exec "$real_cargo" build --ignore-rust-version "\$@"; fi
exec "$real_cargo" "\$@"
WRAP
chmod +x "$wrap/cargo"
PATH="$wrap:$PATH" cargo fuzz build -O
bin="target/$(rustc -vV | sed -n 's/^host: //p')/release"
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
