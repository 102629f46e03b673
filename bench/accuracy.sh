#!/bin/sh
# Label x action table of the shipped rules over the shared corpus (tuning
# half, held-out half, all). Pass --symbols for per-symbol hit counts.
set -eu
cd "$(dirname "$0")/.."
exec cargo run --ignore-rust-version --quiet --release --example accuracy -- "$@"
