#!/usr/bin/env bash
# Stage: the Debian package as an admin meets it. Builds the .deb from
# $SLUICE_BIN (contrib/debian/build.sh), lintian reports no error, `dpkg -i`
# makes the _sluice user and the daemon's directories, the daemon starts with
# the installed unit's own ExecStartPre/ExecStart lines as the unit's
# User=/Group= (no systemd needed: setpriv), rejects GTUBE through the milter
# and drains on SIGTERM. Then `dpkg --remove` keeps the conffiles and
# `dpkg --purge` removes the package's files, the admin's changed conffile
# included (dpkg deletes conffiles on purge whether or not they were
# changed), and keeps only what the admin added: local.d files and DKIM keys.
source "$(dirname "$0")/lib.sh"

require_tools dpkg dpkg-deb dpkg-shlibdeps lintian setpriv perl ss strip
[ "$(id -u)" -eq 0 ] || die "the package stage needs root (dpkg -i)"
[ -x "$SLUICE_BIN" ] || die "sluice binary not found at $SLUICE_BIN (set SLUICE_BIN)"
make_workdir
require_bench

installed() { dpkg-query -W -f='${Status}' sluice 2>/dev/null || true; }
[ -z "$(installed)" ] || [ "$(installed)" = "unknown ok not-installed" ] ||
    die "a sluice package is already installed here ($(installed)); this stage installs and purges its own"
[ ! -e /etc/sluice ] || die "/etc/sluice exists without the package; this stage would change it"
user_existed=0
getent passwd _sluice >/dev/null && user_existed=1
# Earlier stages run sluice on its defaults, whose Bayes store is
# /var/lib/sluice/bayes.redb (made by root): set it aside (a rename, so open
# files stay valid) for the package's own, and put it back at the end.
if [ -e /var/lib/sluice ]; then
    aside=/var/lib/sluice.before-package-stage.$$
    mv /var/lib/sluice "$aside"
    on_exit "rm -rf /var/lib/sluice; mv '$aside' /var/lib/sluice"
fi
on_exit "dpkg --purge sluice; rm -rf /etc/sluice /var/lib/sluice /var/log/sluice /run/sluice"
if [ "$user_existed" = 0 ]; then on_exit "userdel _sluice; groupdel _sluice"; fi

# ------------------------------------------------------------ build, lint
deb=$("$REPO_ROOT/contrib/debian/build.sh" "$SLUICE_BIN" "$IT_WORK/deb" 2>"$IT_WORK/build.err") ||
    die "contrib/debian/build.sh failed: $(cat "$IT_WORK/build.err")"
pass "package built: $(basename "$deb")"
lintian --fail-on error --tag-display-limit 0 "$deb" >"$IT_WORK/lintian.out" 2>&1 && rc=0 || rc=$?
errors=$(grep -c '^E:' "$IT_WORK/lintian.out" || true)
assert_eq "lintian reports no errors" "0 0" "$rc $errors"
grep -E '^[WE]:' "$IT_WORK/lintian.out" | while read -r line; do note "lintian: $line"; done || true

contents=$(dpkg-deb --contents "$deb")
for f in ./usr/bin/sluice ./etc/sluice/sluice.conf ./etc/logrotate.d/sluice \
    ./lib/systemd/system/sluice.service ./usr/lib/sysusers.d/sluice.conf \
    ./usr/lib/tmpfiles.d/sluice.conf ./usr/share/man/man1/sluice.1.gz \
    ./usr/share/doc/sluice/copyright ./usr/share/doc/sluice/changelog.gz; do
    assert_contains "package holds $f" "$contents" " $f"
done

# ------------------------------------------------------------ install
dpkg -i "$deb" >"$IT_WORK/dpkg-i.out" 2>&1 || die "dpkg -i failed: $(tail -20 "$IT_WORK/dpkg-i.out")"
assert_eq "dpkg -i installs the package" "install ok installed" "$(installed)"
conffiles=$(dpkg-query -W -f='${Conffiles}\n' sluice)
assert_contains "sluice.conf is a conffile" "$conffiles" " /etc/sluice/sluice.conf "
assert_contains "logrotate file is a conffile" "$conffiles" " /etc/logrotate.d/sluice "
getent passwd _sluice >/dev/null && pass "postinst created the _sluice user" ||
    fail "postinst created the _sluice user"
assert_eq "/run/sluice belongs to _sluice" "_sluice:_sluice 750" "$(stat -c '%U:%G %a' /run/sluice)"
assert_eq "/var/lib/sluice belongs to _sluice" "_sluice:_sluice 750" "$(stat -c '%U:%G %a' /var/lib/sluice)"

# The admin's side: listeners on free ports (the shipped ones may be Rspamd's
# on this machine) in local.d, as the shipped files tell them to.
mport=$(free_port)
hport=$(free_port)
cport=$(free_port)
mkdir -p /etc/sluice/local.d
echo "bind_socket = \"inet:127.0.0.1:$mport\";" >/etc/sluice/local.d/worker-proxy.inc
echo "bind_socket = \"127.0.0.1:$hport\";" >/etc/sluice/local.d/worker-normal.inc
echo "bind_socket = \"127.0.0.1:$cport\";" >/etc/sluice/local.d/worker-controller.inc

# ------------------------------------------------------------ the unit's own lines
unit=/lib/systemd/system/sluice.service
unit_value() { sed -n "s/^$1=//p" "$unit" | head -1; }
user=$(unit_value User)
group=$(unit_value Group)
start_pre=$(unit_value ExecStartPre)
start=$(unit_value ExecStart)
nofile=$(unit_value LimitNOFILE)
umask_=$(unit_value UMask)
assert_eq "the unit runs as _sluice" "_sluice:_sluice" "$user:$group"
[ -n "$start" ] || die "no ExecStart= in $unit"
# as_unit ARGV...: exec ARGV with the unit's user, group, umask and open-files
# limit. It replaces the shell it runs in: call it in a subshell, `(as_unit ...)`,
# or in the background, where $! is then the command's own pid.
as_unit() {
    umask "${umask_:-0022}"
    # The unit's limit, or this machine's hard limit where that is lower.
    local hard limit=${nofile:-1024}
    hard=$(ulimit -Hn)
    if [ "$hard" != unlimited ] && [ "$hard" -lt "$limit" ]; then limit=$hard; fi
    ulimit -n "$limit"
    exec setpriv --reuid="$user" --regid="$group" --init-groups -- "$@"
}
read -ra pre_argv <<<"$start_pre"
if (as_unit "${pre_argv[@]}") >"$IT_WORK/pre.out" 2>&1; then pass "ExecStartPre ($start_pre) passes"; else
    fail "ExecStartPre ($start_pre) passes" "$(tail -5 "$IT_WORK/pre.out")"
fi
read -ra argv <<<"$start"
log=$IT_WORK/daemon.log
as_unit "${argv[@]}" >"$log" 2>&1 &
pid=$!
on_exit "kill -TERM $pid; wait $pid"
wait_for_line "$log" "milter listening on inet:127\.0\.0\.1:$mport" 30 ||
    die "the daemon did not listen on $mport within 30 s: $(tail -5 "$log")"
pass "ExecStart ($start) serves"
assert_eq "the daemon runs as _sluice" "_sluice" "$(ps -o user= -p "$pid" | tr -d ' ')"
pidfile=$(grep -oE -- '--pid-file [^ ]+' <<<"$start" | cut -d' ' -f2)
if [ -n "$pidfile" ]; then
    assert_eq "the unit's PID file names the daemon" "$pid" "$(cat "$pidfile" 2>/dev/null)"
fi

assert_eq "the Bayes store is the daemon's" "_sluice" "$(stat -c %U /var/lib/sluice/bayes.redb 2>&1)"

# ------------------------------------------------------------ GTUBE over the milter
printf 'From: a@example.org\r\nTo: b@example.net\r\nSubject: gtube\r\nMessage-ID: <gtube@example.org>\r\n\r\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n' \
    >"$IT_WORK/gtube.eml"
run_bench --addr "inet:127.0.0.1:$mport" --concurrency 1 --json "$IT_WORK/gtube.eml" \
    >"$IT_WORK/gtube.json" 2>"$IT_WORK/bench.err" || fail "bench milter ran" "$(cat "$IT_WORK/bench.err")"
json() { perl -MJSON::PP -0777 -ne "my \$r = decode_json(\$_); print $1, qq(\n)" "$IT_WORK/gtube.json"; }
assert_eq "GTUBE rejected (5xx) through the installed daemon" 1 "$(json '$r->{replies}{q(5xx)} // 0')"

# ------------------------------------------------------------ the unit's reload
# Every ExecReload line, $MAINPID filled in, as the unit's user: the last one
# returns once the daemon has reloaded.
reloaded=0
while read -r line; do
    read -ra reload_argv <<<"${line//\$MAINPID/$pid}"
    if (as_unit "${reload_argv[@]}") >"$IT_WORK/reload.out" 2>&1; then reloaded=$((reloaded + 1)); else
        fail "ExecReload ($line)" "$(tail -5 "$IT_WORK/reload.out")"
    fi
done < <(sed -n 's/^ExecReload=//p' "$unit")
assert_ge "ExecReload lines ran" 1 "$reloaded"
assert_contains "the unit's reload waits for the result" "$(cat "$IT_WORK/reload.out")" "configuration reloaded"
assert_file_matches "the daemon reloaded" "$log" "SIGHUP: configuration reloaded"

# ------------------------------------------------------------ stop, admin changes
rc=0
kill -TERM "$pid" && wait "$pid" || rc=$?
assert_eq "the daemon exits 0 on SIGTERM" 0 "$rc"
if [ -n "$pidfile" ] && [ -e "$pidfile" ]; then fail "PID file removed on exit" "$pidfile still there"; else
    pass "PID file removed on exit"
fi
echo "# the admin's note" >>/etc/sluice/actions.conf
install -d -o _sluice -g _sluice -m 0700 /var/lib/sluice/dkim
echo "admin's key" >/var/lib/sluice/dkim/example.org.dkim.key
echo "made by the daemon" >/var/log/sluice/sluice.log

# ------------------------------------------------------------ remove, purge
dpkg --remove sluice >"$IT_WORK/remove.out" 2>&1 || fail "dpkg --remove" "$(tail -5 "$IT_WORK/remove.out")"
assert_eq "dpkg --remove leaves the config" "deinstall ok config-files" "$(installed)"
[ ! -e /usr/bin/sluice ] && pass "dpkg --remove removes the binary" || fail "dpkg --remove removes the binary"
assert_file_matches "dpkg --remove keeps the changed conffile" /etc/sluice/actions.conf "the admin's note"
[ -f /etc/sluice/sluice.conf ] && pass "dpkg --remove keeps the conffiles" || fail "dpkg --remove keeps the conffiles"

dpkg --purge sluice >"$IT_WORK/purge.out" 2>&1 || fail "dpkg --purge" "$(tail -5 "$IT_WORK/purge.out")"
assert_eq "dpkg --purge forgets the package" "" "$(installed | sed 's/^unknown ok not-installed$//')"
left=$(cd / && for f in $(dpkg-deb --contents "$deb" | awk '{print $6}' | sed 's|^\./||'); do
    [ -f "/$f" ] && echo "/$f"
done || true)
assert_eq "dpkg --purge removes every file of the package" "" "$left"
[ ! -e /etc/sluice/actions.conf ] && pass "dpkg --purge removes the changed conffile too (dpkg's rule)" ||
    fail "dpkg --purge removes the changed conffile too (dpkg's rule)"
for f in /etc/sluice/local.d/worker-proxy.inc /var/lib/sluice/dkim/example.org.dkim.key; do
    [ -f "$f" ] && pass "purge keeps the admin's $f" || fail "purge keeps the admin's $f"
done
for d in /var/log/sluice /run/sluice /var/lib/sluice/bayes.redb; do
    [ ! -e "$d" ] && pass "purge removes $d" || fail "purge removes $d" "$(ls -la "$d")"
done
finish
