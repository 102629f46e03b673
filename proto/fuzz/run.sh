#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS (default 20).
# Exits non-zero if any target finds a crash (libFuzzer's exit status).
#
# Only a stable toolchain may be available: RUSTC_BOOTSTRAP=1 lets
# cargo-fuzz's nightly-only flags (-Zsanitizer ...) work on stable.
set -euo pipefail

seconds="${1:-20}"
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

targets=$(cargo fuzz list)
cargo fuzz build --release

status=0
for target in $targets; do
    echo "== $target: ${seconds}s" >&2
    mkdir -p "corpus/$target"
    if ! cargo fuzz run --release "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=4096 -print_final_stats=1; then
        echo "!! $target found a crash; see artifacts/$target/" >&2
        status=1
    fi
done
exit "$status"
