#!/usr/bin/env bash
# The one test command. On a fresh Debian machine it installs what the tests
# need (Postfix, miltertest, swaks, Rspamd, Redis, iproute2, Exim, Chromium), then runs every
# tier: format and lint, unit and daemon tests, the integration tests
# against real peers, a short soak and bounded fuzzing. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
export SHARED=${SHARED:-$(cd "$ROOT/.." && pwd)/shared}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
SOAK_SECONDS=${SOAK_SECONDS:-120}

# Each step's header also says how long the previous one took, so a CI log
# shows where the time goes.
START=$SECONDS
LAST=$SECONDS
step() {
  printf '\n=== [%ds, previous step %ds] %s\n' $((SECONDS - START)) $((SECONDS - LAST)) "$*"
  LAST=$SECONDS
}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

install_packages() {
  local pkgs=(postfix miltertest swaks rspamd redis-server redis-sentinel redis-tools iproute2 procps jq openssl zstd curl python3 nsd python3-dkim python3-authres dpkg-dev binutils lintian bsdutils chromium chromium-driver python3-selenium)
  local missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    echo "postfix postfix/main_mailer_type select Local only" | as_root debconf-set-selections
    echo "postfix postfix/mailname string mx.sluice.test" | as_root debconf-set-selections
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  install_exim
}

# Exim for integration/exim.sh: Debian's exim4-daemon-heavy conflicts with
# Postfix (both are the system MTA), so its binary is unpacked beside it
# (EXIM_ROOT) and only its libraries are installed. The stage runs it with
# its own config file; no Exim service exists.
EXIM_ROOT=/var/cache/sluice-test/exim4
export EXIM=$EXIM_ROOT/usr/sbin/exim4
install_exim() {
  [ -x "$EXIM" ] && "$EXIM" -bV >/dev/null 2>&1 && return 0
  echo "unpacking exim4-daemon-heavy into $EXIM_ROOT"
  local dl
  dl=$(mktemp -d)
  chmod 755 "$dl"
  (cd "$dl" && as_root apt-get download -qq exim4-daemon-heavy)
  local deb=("$dl"/exim4-daemon-heavy_*.deb)
  # Its libraries: the first choice of each dependency, without the
  # packages that would make it the system MTA.
  local libs
  libs=$(dpkg-deb -f "${deb[0]}" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*//; s/ //g' |
    grep -v -e '^exim4' -e '^debconf' -e '^$')
  # shellcheck disable=SC2086
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $libs >/dev/null
  as_root mkdir -p "$EXIM_ROOT"
  as_root dpkg-deb -x "${deb[0]}" "$EXIM_ROOT"
  rm -rf "$dl"
  "$EXIM" -bV >/dev/null
}

[ -d "$SHARED/corpus" ] || { echo "shared corpus not found at $SHARED (set SHARED=...)" >&2; exit 1; }

# Jobs run beside the tiers where the tiers leave CPU idle: the package
# install (network and disk bound) while the code builds; the release and
# the test builds side by side (each holds its own profile's lock, and each
# has long single-threaded stretches: the big crate's front end, linking);
# the fuzz targets' build and then the bounded fuzzing at the lowest
# priority from the start, stopped while `cargo test` runs (its answer-time
# bounds are tight). The tests wait for the packages; the command's end
# waits for the fuzzing.
# The release build the tests run is built faster than the shipped profile
# (Cargo.toml: fat LTO, 1 codegen unit): the same code without link-time
# optimization, in 16 units that keep both cores busy.
export CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
LOGS=$(mktemp -d /tmp/sluice-test.XXXXXX)
install_packages >"$LOGS/packages.log" 2>&1 &
PACKAGES=$!
# In its own process group, so that one signal stops or resumes cargo,
# every compiler under it and the fuzz targets.
setsid bash -c '
  set -e
  begun=$SECONDS
  SANITIZER=none CODEGEN_UNITS=16 OPT_LEVEL=1 STEP=build nice -n 19 fuzz/run.sh
  echo "fuzz build took $((SECONDS - begun))s"
  STEP=run JOBS=2 nice -n 19 fuzz/run.sh "$1"
' fuzz "$FUZZ_SECONDS" >"$LOGS/fuzz.log" 2>&1 &
FUZZ=$!
RELEASE_BUILD=
# On any exit, every background job ends (the fuzz group resumed first in
# case it was stopped). Each kill may find its job gone already: under
# `set -e` a failing command would end the trap early.
cleanup() {
  kill $PACKAGES $RELEASE_BUILD 2>/dev/null || true
  kill -CONT -- -"$FUZZ" 2>/dev/null || true
  kill -- -"$FUZZ" 2>/dev/null || true
}
trap cleanup EXIT

# Waits for a background job; its log is printed either way.
await() {
  local pid=$1 log=$2 what=$3
  if wait "$pid"; then
    cat "$log"
  else
    cat "$log"
    echo "$what failed" >&2
    exit 1
  fi
}

step "cargo fmt --check"
cargo fmt --all -- --check
step "release build (in the background), clippy and the test build"
cargo build --release >"$LOGS/release-build.log" 2>&1 &
RELEASE_BUILD=$!
cargo clippy --workspace --all-targets -- -D warnings
step "test build"
cargo test --workspace --no-run
step "release build"
await "$RELEASE_BUILD" "$LOGS/release-build.log" "release build"
RELEASE_BUILD=
step "packages (installed in the background)"
await "$PACKAGES" "$LOGS/packages.log" "package install"
# The daemon tests start the release build: a debug daemon spends seconds
# of CPU compiling the rules at each of their many starts.
step "cargo test (the fuzz job stopped meanwhile)"
kill -STOP -- -"$FUZZ" 2>/dev/null || true
SLUICE_TEST_BIN="$ROOT/target/release/sluice" cargo test --workspace
kill -CONT -- -"$FUZZ" 2>/dev/null || true
step "integration tests against real peers"
SLUICE_BIN="$ROOT/target/release/sluice" integration/run.sh
step "soak (${SOAK_SECONDS}s of mixed load)"
DURATION="$SOAK_SECONDS" SLUICE_BIN="$ROOT/target/release/sluice" integration/soak.sh
step "fuzz build and fuzzing (${FUZZ_SECONDS}s per target; in the background since the start)"
await "$FUZZ" "$LOGS/fuzz.log" "fuzz build or fuzzing"
step "done"
