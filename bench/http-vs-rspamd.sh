#!/usr/bin/env bash
# HTTP /checkv2 throughput and latency at concurrency 1, 8 and 32: sluice's
# scan listener vs Rspamd 3.4's normal worker, both on loopback, both with
# the same regexp rules (sluice's shipped conf/rules/regexp.conf) and
# thresholds, over the same corpus, in the same run. Rspamd gets no network
# (DNS pointed at a dead loopback port) and no Lua plugins beyond its core;
# it runs one normal worker process per core, sluice one process.
# Prints one JSON line per (server, concurrency). Needs root (Rspamd drops to
# _rspamd), the rspamd package and a release build.
# Usage: bench/http-vs-rspamd.sh [REQUESTS_PER_RUN]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-2000}
corpus=${SLUICE_CORPUS:-../shared/corpus}
sluice=target/release/sluice
load=target/release/examples/http_load
cargo build --release --bin sluice --example http_load >/dev/null

tmp=$(mktemp -d)
chmod 755 "$tmp"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {
    for _ in $(seq 600); do
        curl -sf "http://$1/ping" >/dev/null 2>&1 && return
        sleep 0.1
    done
    echo "bench: nothing answers on $1" >&2; exit 1
}

rport=$(free_port)
mkdir -p "$tmp/rspamd"
cat >"$tmp/rspamd/rspamd.conf" <<CONF
options {
    pidfile = "$tmp/rspamd/rspamd.pid";
    dns { nameserver = ["127.0.0.1:1"]; timeout = 0.1s; retransmits = 1; }
    filters = "regexp";
    gtube_patterns = "all";
}
logging { type = "file"; filename = "$tmp/rspamd/rspamd.log"; level = "error"; }
actions { reject = 15; add_header = 6; greylist = 4; }
regexp { .include "$PWD/conf/rules/regexp.conf" }
worker "normal" { bind_socket = "127.0.0.1:$rport"; count = $(nproc); }
CONF
chown -R _rspamd:_rspamd "$tmp/rspamd"
rspamd -f -u _rspamd -g _rspamd -c "$tmp/rspamd/rspamd.conf" >"$tmp/rspamd/out.log" 2>&1 &
pids+=($!)

# The log exists before the daemon starts: the wait below reads it at once.
: >"$tmp/sluice.log"
"$sluice" run --milter inet:127.0.0.1:0 --http 127.0.0.1:0 --controller 127.0.0.1:0 \
    2>>"$tmp/sluice.log" &
pids+=($!)
for _ in $(seq 100); do
    sport=$(sed -n 's/.*http listening on inet:127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/sluice.log")
    [ -n "$sport" ] && break
    sleep 0.1
done
wait_http "127.0.0.1:$sport"
wait_http "127.0.0.1:$rport"

dirs=("$corpus/ham" "$corpus/spam" "$corpus/mime")
for c in 1 8 32; do
    for server in sluice rspamd; do
        port=$sport; [ "$server" = rspamd ] && port=$rport
        "$load" "127.0.0.1:$port" "$c" 100 "${dirs[@]}" >/dev/null   # warm-up
        result=$("$load" "127.0.0.1:$port" "$c" "$count" "${dirs[@]}")
        echo "{\"server\":\"$server\",${result#\{}"
    done
done
