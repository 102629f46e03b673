#!/usr/bin/env bash
# Stage: both web UIs in a real browser. Headless Chromium (Debian's
# chromium and chromium-driver, driven by Debian's python3-selenium:
# nothing from npm) against a daemon whose controller wants a password
# from every client (secure_ip names no local address):
#   - sluice's own dashboard (no static_dir);
#   - Rspamd's WebUI from Debian's rspamd package (static_dir).
# For each: log in with the password; the status counts equal /stat;
# messages just sent through the milter are in the history with their
# symbols; a pasted message gets its verdict; a threshold changed in the UI
# decides the next scan; no JavaScript console errors (webui/browser.py).
# Screenshots of every step stay in the directory printed first
# (WEBUI_SHOTS to choose it).
source "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3 # Debian's, with python3-selenium
require_tools chromium chromedriver swaks
"$PY" -c 'import selenium' 2>/dev/null || die "python3-selenium is not installed for $PY"
[ -f /usr/share/rspamd/www/index.html ] || die "Rspamd's WebUI is missing (apt-get install rspamd)"
make_workdir

SHOTS=${WEBUI_SHOTS:-$(mktemp -d /tmp/sluice-webui-shots.XXXXXX)}
mkdir -p "$SHOTS"
echo "screenshots: $SHOTS"
PASSWORD=webui-admin

# A message with a positive score and no Message-ID: the scan form's.
SCAN_MSG=$IT_WORK/scan.eml
printf 'From: someone@example.org\r\nTo: you@example.org\r\nSubject: hello\r\n\r\nHi there, see you soon.\r\n' >"$SCAN_MSG"

# Mail for the milter: two corpus hams and GTUBE, each with its Message-ID.
MAIL=$IT_WORK/mail
mkdir -p "$MAIL"
for f in $(ls "$SHARED/corpus/ham" | sed -n 1,2p); do cp "$SHARED/corpus/ham/$f" "$MAIL/"; done
GTUBE_MID=gtube.webui@example.org
printf 'From: a@example.org\r\nTo: b@example.org\r\nSubject: gtube\r\nMessage-ID: <%s>\r\n\r\n%s%s\r\n' \
    "$GTUBE_MID" 'XJS*C4JDBQADN1.NSBN3*2IDNEN*' 'GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X' >"$MAIL/gtube.eml"
mids=$(for f in "$MAIL"/*; do
    sed -n 's/^[Mm][Ee][Ss][Ss][Aa][Gg][Ee]-[Ii][Dd]: *<\(.*\)>.*/\1/p' "$f" | head -1
done | paste -sd, -)
[ "$(tr ',' '\n' <<<"$mids" | grep -c .)" -eq 3 ] || die "not every message has a Message-ID: $mids"

run_ui() { # UI [static_dir]
    local ui=$1 dir=$IT_WORK/$1
    mkdir -p "$dir/local.d"
    {
        echo "enable_password = \"$PASSWORD\";"
        echo 'secure_ip = "192.0.2.1";'
        [ -n "${2:-}" ] && echo "static_dir = \"$2\";"
    } >"$dir/local.d/worker-controller.inc"
    start_sluice --var "LOCAL_CONFDIR=$dir" --var "DBDIR=$dir"
    wait_for_line "$MILTER_LOG" 'controller listening on inet:' 30 || die "no controller in the log"
    local controller
    controller=$(grep -oE 'controller listening on inet:[0-9.]+:[0-9]+' "$MILTER_LOG" | head -1)
    controller=${controller##*inet:}
    local report
    report=$(run_bench --addr "$MILTER_ADDR" -j 1 --json "$MAIL")
    grep -q '"messages": 3,' <<<"$report" || die "the milter did not answer 3 messages: $report"
    local out rc=0
    out=$(WEBUI_PROFILE=$(mktemp -d "$IT_WORK/profile.XXXXXX") timeout 50 "$PY" "$IT_DIR/webui/browser.py" \
        --ui "$ui" --base "http://$controller" --password "$PASSWORD" --message "$SCAN_MSG" \
        --mids "$mids" --gtube-mid "$GTUBE_MID" --shots "$SHOTS" 2>&1) || rc=$?
    echo "$out"
    IT_PASSED=$((IT_PASSED + $(grep -c '^PASS' <<<"$out" || true)))
    IT_FAILED=$((IT_FAILED + $(grep -c '^FAIL' <<<"$out" || true)))
    if [ "$rc" -ne 0 ] && ! grep -q '^FAIL' <<<"$out"; then
        fail "[$ui] the browser run ended with status $rc"
    fi
    stop_milter || fail "[$ui] sluice did not exit cleanly"
}

run_ui embedded
run_ui rspamd /usr/share/rspamd/www
echo "screenshots: $SHOTS"
finish
