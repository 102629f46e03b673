#!/usr/bin/env bash
# DNS lists over the shared corpus, sluice against Rspamd 3.4 in the same
# run: test list zones made from the corpus (a share of its Received IPs, URL
# domains and addresses listed), served by nsd on loopback; both daemons
# read the same local.d/rbl.conf; per replay, CPU per message, DNS queries
# per message, cache hit ratio and load average (bench/lists/run.py says
# how). Runs in a network namespace of its own whose only way off loopback
# is a trap (integration/lists/trap.py): a packet caught fails the run.
#
#   SLUICE_BIN=target/release/sluice bench/lists-vs-rspamd.sh
# Knobs: ROUNDS (3), CONCURRENCY (8), WARMUP (300 messages), LISTED_PERCENT
# (10: the share of the corpus's names the zones list), SHARED (../shared).
# Needs root, nsd, rspamd, unshare, ip, python3-dkim; a release build.
set -euo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
for tool in /usr/sbin/nsd rspamd unshare ip; do
    command -v "$tool" >/dev/null || { echo "lists-vs-rspamd.sh: $tool is missing" >&2; exit 1; }
done
export SLUICE_BIN=${SLUICE_BIN:-$dir/../target/release/sluice}
export SHARED=${SHARED:-$dir/../../shared}
[ -d "$SHARED/corpus/ham" ] || { echo "corpus not found under SHARED=$SHARED" >&2; exit 1; }
exec unshare --net -- /usr/bin/python3 "$dir/lists/run.py"
