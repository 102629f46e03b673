#!/usr/bin/env bash
# hfilter differential: every message of $SHARED/corpus/{ham,spam,mime}
# through sluice and Rspamd 3.4 over the HTTP scan protocol, with the same
# envelope (IP, Helo, Hostname, From, Rcpt headers, taken from each
# message's Received/Return-Path/Delivered-To, with synthetic HELOs, names
# and senders mixed in; bench/hfilter-vs-rspamd.py), and the HFILTER_*
# symbols of the two compared. The symbols that need DNS are left out (this
# Rspamd resolves nothing: its resolver is an unused loopback port).
#
# Prints how many messages agree and, per symbol, how often each side
# reported it; the messages that differ go to $OUT (default a temp dir,
# kept) as hfilter-diffs.jsonl.
#
#   bench/hfilter-vs-rspamd.sh              # SLUICE_BIN, default target/release/sluice
#   PER_DIR=200 bench/hfilter-vs-rspamd.sh  # the first 200 files of each folder
# Needs rspamd, python3, perl, ss, curl. Takes minutes (Rspamd's start included).
source "$(dirname "$0")/../integration/lib.sh"

require_tools rspamd python3 perl ss curl
[ -x "$SLUICE_BIN" ] || die "sluice binary not found at $SLUICE_BIN (set SLUICE_BIN)"
make_workdir
OUT=${OUT:-$(mktemp -d /tmp/sluice-hfilter.XXXXXX)}
C=$SHARED/corpus
for d in ham spam mime; do [ -d "$C/$d" ] || die "corpus directory $C/$d not found (SHARED=$SHARED)"; done

# Rspamd: the private integration config, with hfilter on and the proxy
# scanning HTTP requests itself.
rs=$IT_WORK/rspamd
rport=$(free_port)
write_rspamd_config "$rs" "127.0.0.1:$rport"
echo 'enabled = true;' >"$rs/local.d/hfilter.conf"
sed -i 's/^milter = yes;/milter = no;/' "$rs/local.d/worker-proxy.inc"
chown -R _rspamd:_rspamd "$rs"
rspamd -f -u _rspamd -g _rspamd -c "$rs/rspamd.conf" --var="LOCAL_CONFDIR=$rs" \
    --var="DBDIR=$rs" --var="RUNDIR=$rs" --var="LOGDIR=$rs" >"$rs/stdout" 2>&1 &
rpid=$!
on_exit "kill -TERM $rpid; wait $rpid"
wait_for_port "$rport" 180 || die "rspamd did not listen on $rport: $(tail -5 "$rs/rspamd.log")"

# sluice: shipped config, no local.d.
"$SLUICE_BIN" run --milter inet:127.0.0.1:0 --http 127.0.0.1:0 --controller 127.0.0.1:0 \
    --var "LOCAL_CONFDIR=$IT_WORK/none" --var "DBDIR=$IT_WORK" 2>"$IT_WORK/sluice.log" >/dev/null &
spid=$!
on_exit "kill -TERM $spid; wait $spid"
wait_for_line "$IT_WORK/sluice.log" 'http listening on inet:127\.0\.0\.1:[0-9]+' 60 ||
    die "sluice did not start: $(tail -5 "$IT_WORK/sluice.log")"
saddr=$(grep -oE 'http listening on inet:127\.0\.0\.1:[0-9]+' "$IT_WORK/sluice.log" | head -1 | sed 's/.*inet://')

# Rspamd answers once its workers are up, which is after it binds.
first=("$C"/ham/*)
for ((i = 0; i < 120; i++)); do
    curl -sf --max-time 5 --data-binary "@${first[0]}" "http://127.0.0.1:$rport/checkv2" >/dev/null && break
    sleep 1
done
python3 "$(dirname "$0")/hfilter-vs-rspamd.py" "$saddr" "127.0.0.1:$rport" "$OUT" "$C/ham" "$C/spam" "$C/mime"
