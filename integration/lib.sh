# shellcheck shell=bash
# Shared helpers for the real-peer integration tier.
#
# Why one library: every stage (miltertest, Postfix, corpus, benchmark) needs
# the same three things: a milter daemon started on a loopback address we
# learn at run time, cleanup that runs however the script ends, and a
# pass/fail tally whose last line is machine-checkable (`N passed, N failed`).
#
# The milter under test is sluice by default. MILTER_UNDER_TEST=rspamd runs
# the very same assertions against Rspamd 3.4's proxy worker (milter mode,
# self_scan), which is how this harness was proven before the daemon existed
# and how regressions can be told apart from harness bugs.
#
# Nothing here installs anything: a missing tool is a hard failure.

set -euo pipefail

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$IT_DIR/.." && pwd)
SHARED=${SHARED:-$REPO_ROOT/../shared}
SLUICE_BIN=${SLUICE_BIN:-$REPO_ROOT/target/release/sluice}
MILTER_UNDER_TEST=${MILTER_UNDER_TEST:-sluice}
# Optional command prefix for daemons and clients, e.g. `ip netns exec NS`.
RUN_IN=${RUN_IN:-}

IT_PASSED=0
IT_FAILED=0
IT_CLEANUP=()

# ---------------------------------------------------------------- reporting

note() { printf '    %s\n' "$*" >&2; }

pass() {
    IT_PASSED=$((IT_PASSED + 1))
    printf 'PASS %s\n' "$1"
}

fail() {
    IT_FAILED=$((IT_FAILED + 1))
    printf 'FAIL %s\n' "$1"
    shift
    local line
    for line in "$@"; do note "$line"; done
}

# die: the harness itself cannot go on (missing tool, daemon did not start).
# Counted as a failure so the summary line never looks green.
die() {
    IT_FAILED=$((IT_FAILED + 1))
    printf 'FATAL %s\n' "$*" >&2
    finish
}

# finish: the last line of every stage; non-zero exit on any failure.
finish() {
    printf '%d passed, %d failed\n' "$IT_PASSED" "$IT_FAILED"
    [ "$IT_FAILED" -eq 0 ] && exit 0
    exit 1
}

# ---------------------------------------------------------------- assertions

assert_eq() { # DESC EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected: $2" "actual:   $3"; fi
}

assert_ge() { # DESC MIN ACTUAL
    if [ "$3" -ge "$2" ]; then pass "$1"; else fail "$1" "expected >= $2, got $3"; fi
}

assert_contains() { # DESC HAYSTACK NEEDLE
    if grep -qF -- "$3" <<<"$2"; then pass "$1"; else
        fail "$1" "missing: $3" "in: $(head -c 2000 <<<"$2")"
    fi
}

assert_not_contains() { # DESC HAYSTACK NEEDLE
    if grep -qF -- "$3" <<<"$2"; then
        fail "$1" "unexpected: $3" "in: $(grep -F -- "$3" <<<"$2" | head -5)"
    else pass "$1"; fi
}

assert_file_matches() { # DESC FILE ERE
    if grep -qE -- "$3" "$2"; then pass "$1"; else
        fail "$1" "no line matching /$3/ in $2" "$(tail -5 "$2" 2>/dev/null)"
    fi
}

assert_files_equal() { # DESC EXPECTED_FILE ACTUAL_FILE
    if cmp -s "$2" "$3"; then pass "$1"; else
        fail "$1" "files differ: $2 $3" "$(diff <(cat -A "$2") <(cat -A "$3") | head -20)"
    fi
}

# ---------------------------------------------------------------- plumbing

require_tools() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || die "required tool '$t' is not installed"
    done
}

on_exit() { IT_CLEANUP+=("$*"); }

run_cleanup() {
    local i
    for ((i = ${#IT_CLEANUP[@]} - 1; i >= 0; i--)); do
        eval "${IT_CLEANUP[$i]}" >/dev/null 2>&1 || true
    done
}
trap run_cleanup EXIT

# make_workdir: private temp dir, removed at exit unless KEEP_WORKDIR=1.
make_workdir() {
    IT_WORK=$(mktemp -d /tmp/sluice-it.XXXXXX)
    chmod 755 "$IT_WORK"
    if [ "${KEEP_WORKDIR:-0}" != 1 ]; then on_exit "rm -rf '$IT_WORK'"; fi
}

# free_port: ask the kernel for an unused loopback TCP port.
free_port() {
    $RUN_IN perl -MIO::Socket::INET -e \
        'my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
           Proto => "tcp", Listen => 1) or die "bind: $!"; print $s->sockport, "\n";'
}

# wait_for_line FILE ERE SECONDS: poll a log until a line matches.
wait_for_line() {
    local file=$1 re=$2 secs=$3 i
    for ((i = 0; i < secs * 10; i++)); do
        grep -qE -- "$re" "$file" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# wait_for_port PORT SECONDS: poll until something listens on 127.0.0.1:PORT.
wait_for_port() {
    local port=$1 secs=$2 i
    for ((i = 0; i < secs * 10; i++)); do
        $RUN_IN ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && return 0
        sleep 0.1
    done
    return 1
}

# wait_for_milter_reply ADDR MESSAGE SECONDS: poll until one message sent
# through the milter at ADDR gets a final reply. A listening port is not
# readiness for Rspamd: its main process binds before the workers are
# forked and have loaded their configuration.
wait_for_milter_reply() {
    local addr=$1 msg=$2 secs=$3 i report
    for ((i = 0; i < secs * 2; i++)); do
        report=$(run_bench --addr "$addr" -j 1 --json "$msg" 2>/dev/null || true)
        grep -q '"messages": 1,' <<<"$report" && return 0
        sleep 0.5
    done
    return 1
}

# to_sendmail_socket: Postfix `inet:HOST:PORT` -> libmilter `inet:PORT@HOST`
# (miltertest only understands the latter).
to_sendmail_socket() {
    local a=$1
    case $a in
    inet:*)
        local hp=${a#inet:}
        printf 'inet:%s@%s\n' "${hp##*:}" "${hp%:*}"
        ;;
    *) printf '%s\n' "$a" ;;
    esac
}

# ---------------------------------------------------------------- daemons
# Each start_* sets MILTER_ADDR (Postfix syntax), MILTER_PID (a pid whose
# process tree is the whole daemon) and MILTER_LOG.

start_sluice() { # [extra sluice args...]
    [ -x "$SLUICE_BIN" ] || die "sluice binary not found at $SLUICE_BIN (set SLUICE_BIN)"
    MILTER_LOG=$IT_WORK/sluice.log
    # MILTER_SOCKET=unix listens on a socket in the work dir instead of TCP.
    local listen=inet:127.0.0.1:0 re='inet:127\.0\.0\.1:[0-9]+'
    if [ "${MILTER_SOCKET:-inet}" = unix ]; then
        listen=unix:$IT_WORK/sluice.sock
        re="unix:$IT_WORK/sluice\.sock"
    fi
    # Emptied here, not by the background start's redirection: that runs after
    # the fork, and a stage that starts sluice again would otherwise read the
    # previous daemon's "listening" line (its port) before the file is cut.
    : >"$MILTER_LOG"
    $RUN_IN "$SLUICE_BIN" run --milter "$listen" --http 127.0.0.1:0 --controller 127.0.0.1:0 "$@" 2>>"$MILTER_LOG" >/dev/null &
    MILTER_PID=$!
    on_exit "kill -TERM $MILTER_PID; wait $MILTER_PID"
    wait_for_line "$MILTER_LOG" "milter listening on $re" 30 ||
        die "sluice did not report 'milter listening on' within 30 s: $(tail -5 "$MILTER_LOG")"
    MILTER_ADDR=$(grep -oE "$re" "$MILTER_LOG" | head -1)
    note "sluice pid $MILTER_PID on $MILTER_ADDR"
}

# write_rspamd_config DIR BIND: a private Rspamd config tree in DIR.
write_rspamd_config() {
    local dir=$1 bind=$2
    mkdir -p "$dir/local.d"
    cp "$IT_DIR/rspamd/rspamd.conf" "$dir/"
    cp "$IT_DIR"/rspamd/local.d/*.conf "$IT_DIR"/rspamd/local.d/*.inc "$dir/local.d/"
    sed "s|@BIND@|$bind|" "$IT_DIR/rspamd/local.d/worker-proxy.inc.in" >"$dir/local.d/worker-proxy.inc"
    chown -R _rspamd:_rspamd "$dir"
}

# start_rspamd: Rspamd on the private config; RSPAMD_CONFIG_HOOK, when set, names a
# function called with the config dir before the start (a benchmark's own modules).
start_rspamd() {
    require_tools rspamd
    local dir=$IT_WORK/rspamd port
    port=$(free_port)
    write_rspamd_config "$dir" "127.0.0.1:$port"
    if [ -n "${RSPAMD_CONFIG_HOOK:-}" ]; then
        "$RSPAMD_CONFIG_HOOK" "$dir"
        chown -R _rspamd:_rspamd "$dir"
    fi
    MILTER_LOG=$dir/rspamd.log
    # -f keeps the main process in the foreground so $! is its pid.
    $RUN_IN rspamd -f -u _rspamd -g _rspamd -c "$dir/rspamd.conf" \
        --var="LOCAL_CONFDIR=$dir" --var="DBDIR=$dir" --var="RUNDIR=$dir" \
        --var="LOGDIR=$dir" >"$dir/stdout" 2>&1 &
    MILTER_PID=$!
    on_exit "kill -TERM $MILTER_PID; wait $MILTER_PID"
    # The first start compiles the Hyperscan cache: allow for it.
    wait_for_port "$port" 120 || die "rspamd did not listen on $port: $(tail -5 "$MILTER_LOG")"
    MILTER_ADDR=inet:127.0.0.1:$port
    note "rspamd pid $MILTER_PID on $MILTER_ADDR"
}

start_milter() {
    case $MILTER_UNDER_TEST in
    sluice) start_sluice "$@" ;;
    rspamd) start_rspamd ;;
    *) die "MILTER_UNDER_TEST must be sluice or rspamd, not '$MILTER_UNDER_TEST'" ;;
    esac
}

milter_alive() { kill -0 "$MILTER_PID" 2>/dev/null; }

# stop_milter: SIGTERM, then the exit status (sluice must drain and exit 0).
stop_milter() {
    kill -TERM "$MILTER_PID" 2>/dev/null || return 1
    local rc=0
    wait "$MILTER_PID" || rc=$?
    return "$rc"
}

# The load tool is a subcommand of sluice itself. BENCH_BIN may point at
# another binary with the same `bench milter` command line.
BENCH_BIN=${BENCH_BIN:-$SLUICE_BIN}

require_bench() {
    [ -x "$BENCH_BIN" ] || die "bench binary not found at $BENCH_BIN (set SLUICE_BIN or BENCH_BIN)"
}

run_bench() { # bench milter arguments...
    $RUN_IN "$BENCH_BIN" bench milter "$@"
}
