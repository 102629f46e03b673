#!/usr/bin/env bash
# The real-peer integration tier: every stage, each stage's result, and the
# final `N passed, N failed` over all checks of all stages.
#
#   integration/run.sh                    # against sluice ($SLUICE_BIN)
#   MILTER_UNDER_TEST=rspamd integration/run.sh   # against Rspamd 3.4
#   LANES=1 integration/run.sh            # one stage at a time
#   STAGES="auth lists" integration/run.sh
#
# Needs root on Debian with: miltertest postfix swaks rspamd (for the rspamd
# variant) perl; the top-level test command installs them.
#
# Every stage has its own work directory, daemons and ports (free_port), so
# stages run LANES at a time (default 2): most of a stage's time is spent
# waiting on peers, DNS timeouts and sockets. A stage's output is printed
# whole when it ends. The stages that bound an answer time under load
# (`solo`) run alone afterwards, so another stage's CPU never decides them.
set -uo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
lanes=${LANES:-2}
# forward: sluice forwarding to a real Rspamd, compared with Rspamd's own
# proxy. proxy: Rspamd's proxy forwarding to sluice's HTTP listener. (Both
# were flaky while Rspamd's proxy had two default upstreams; see forward.sh.)
# auth: SPF, DKIM, DMARC and ARC against nsd, compared with Rspamd 3.4, and
# DNS faults (auth.sh). lists: DNS lists against nsd, compared with Rspamd
# 3.4, in a namespace where any packet off loopback fails it (lists.sh).
# Longest first, so the lanes end together.
# state: greylisting, rate limits and replies on Redis with Sentinel (master
# killed under load), across two nodes, through Postfix, and with Redis stopped.
# cluster: greylisting, rate limits, Bayes and history on a three-master Redis
# Cluster across two nodes, one master killed under load (cluster.sh).
# pw: controller password hashes, sluice's and rspamadm's, checked both ways.
# exim: Debian's Exim asking the scan listener with `spamd_address ...
# variant=rspamd` in its DATA ACL: GTUBE refused, ham delivered with the
# verdict's headers (exim.sh). webui: sluice's dashboard and Rspamd's WebUI
# (static_dir) in headless Chromium; screenshots kept (webui.sh).
# fuzzy_store: sluice's fuzzy storage with Rspamd 3.4's fuzzy_check as the
# client, plain and encrypted (add, match, a changed copy, delete), and
# hostile datagrams (fuzzy_store.sh).
# rescore: `sluice rescore` on every 25th corpus message, its file loaded by
# sluice and by Rspamd 3.4's rspamadm, and applied by a running sluice on SIGHUP.
# fuzzy_check: sluice's fuzzy_check against Rspamd 3.4's fuzzy storage
# worker, plain and encrypted, learning both ways, the storage stopped.
# fuzzy_hashes: sluice's fuzzy hashes against the ones Rspamd stores for a
# sample of the corpus (the agreement rate).
shared=(auth postfix state cluster webui lists forward proxy rspamc exim pw rescore corpus miltertest fuzzy_store fuzzy_check fuzzy_hashes)
# redis: Bayes on a redis-server stopped for 30 s under milter load, every
# answer within one Redis timeout of the slowest before it. hostile: every attack of issue 20 at once
# against one daemon (hostile.sh), a normal message answered within 1 s.
# package: the Debian package built, linted, installed, run as its unit says,
# removed and purged (package.sh); alone, as it installs into the system.
solo=(hostile redis package)
if [ -n "${STAGES:-}" ]; then
    read -ra shared <<<"$STAGES"
    solo=()
fi

results=$(mktemp -d /tmp/sluice-it-results.XXXXXX)
trap 'rm -rf "$results"' EXIT

# Runs one stage into its log, then prints the log and the stage's line
# (under a lock, so that two stages ending together do not interleave).
run_stage() {
    local stage=$1 log="$results/$1.log" started=$SECONDS rc summary p f took
    "$dir/$stage.sh" >"$log" 2>&1
    rc=$?
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
    # A stage that died without its summary counts as one failure.
    [ -n "$summary" ] || summary="0 passed, 1 failed"
    p=${summary%% passed*}
    f=${summary#*, }
    f=${f%% failed}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    took="$((SECONDS - started))s"
    echo "$p $f" >"$results/$stage.result"
    (
        flock 9
        echo "=== stage $stage"
        cat "$log"
        if [ "$f" -eq 0 ]; then echo "=== stage $stage: OK ($summary, $took)"; else echo "=== stage $stage: FAILED ($summary, $took)"; fi
    ) 9>"$results/.print-lock"
}

running=0
for stage in "${shared[@]}"; do
    if [ "$running" -ge "$lanes" ]; then
        wait -n
        running=$((running - 1))
    fi
    run_stage "$stage" &
    running=$((running + 1))
done
wait
for stage in "${solo[@]}"; do
    run_stage "$stage"
done

total_pass=0
total_fail=0
for stage in "${shared[@]}" "${solo[@]}"; do
    if [ -f "$results/$stage.result" ]; then
        read -r p f <"$results/$stage.result"
    else
        p=0 f=1
    fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
