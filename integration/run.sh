#!/usr/bin/env bash
# The real-peer integration tier: every stage, each stage's result, and the
# final `N passed, N failed` over all checks of all stages.
#
#   integration/run.sh                    # against sluice ($SLUICE_BIN)
#   MILTER_UNDER_TEST=rspamd integration/run.sh   # against Rspamd 3.4
#
# Needs root on Debian with: miltertest postfix swaks rspamd (for the rspamd
# variant) perl; the top-level test command installs them.
set -uo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
total_pass=0
total_fail=0
# forward: sluice forwarding to a real Rspamd, compared with Rspamd's own
# proxy. proxy: Rspamd's proxy forwarding to sluice's HTTP listener. (Both
# were flaky while Rspamd's proxy had two default upstreams; see forward.sh.)
# redis: Bayes on a redis-server stopped for 30 s under milter load.
# hostile: every attack of issue 20 at once against one daemon (hostile.sh).
# auth: SPF, DKIM, DMARC and ARC against nsd, compared with Rspamd 3.4, and
# DNS faults (auth.sh). lists: DNS lists against nsd, compared with Rspamd
# 3.4, in a namespace where any packet off loopback fails it (lists.sh).
# exim: Debian's Exim asking the scan listener with `spamd_address ...
# variant=rspamd` in its DATA ACL: GTUBE refused, ham delivered with the
# verdict's headers (exim.sh). webui: sluice's dashboard and Rspamd's WebUI
# (static_dir) in headless Chromium; screenshots kept (webui.sh).
stages=(miltertest postfix corpus rspamc forward proxy redis hostile auth lists exim webui)
for stage in "${stages[@]}"; do
    log=$(mktemp /tmp/sluice-it-$stage.XXXXXX.log)
    started=$SECONDS
    echo "=== stage $stage"
    "$dir/$stage.sh" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
    if [ -z "$summary" ]; then
        # A stage that died without its summary counts as one failure.
        summary="0 passed, 1 failed"
    fi
    p=${summary%% passed*}
    f=${summary#*, }
    f=${f%% failed}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    took="$((SECONDS - started))s"
    if [ "$f" -eq 0 ]; then echo "=== stage $stage: OK ($summary, $took)"; else echo "=== stage $stage: FAILED ($summary, $took)"; fi
    rm -f "$log"
done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
