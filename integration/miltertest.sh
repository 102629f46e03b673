#!/usr/bin/env bash
# Stage: protocol conformance with Debian's miltertest (libmilter's MTA
# simulator). Each Lua script is one named check; see miltertest/*.lua.
#
# Usage: integration/miltertest.sh        (MILTER_UNDER_TEST=rspamd to prove
#                                          the scripts against Rspamd)
source "$(dirname "$0")/lib.sh"

require_tools miltertest perl ss
make_workdir
start_milter

SOCK=$(to_sendmail_socket "$MILTER_ADDR")
PROT_ALL=$((0x1fffff))
PROT_NO_LEADSPC=$((0x1fffff & ~0x100000))
PROT_NO_NR=$((0x1fffff & ~(0x1000 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x20000 | 0x40000 | 0x80000 | 0x80)))

run_lua() { # NAME SCRIPT [prot] [nr_offered]
    local name=$1 script=$2 prot=${3:-$PROT_ALL} nr=${4:-yes} out
    if out=$(cd "$IT_WORK" && $RUN_IN miltertest -D "socket=$SOCK" -D "dir=$IT_DIR/miltertest" \
        -D "prot=$prot" -D "nr_offered=$nr" -s "$IT_DIR/miltertest/$script" 2>&1); then
        if grep -q '^ok ' <<<"$out"; then pass "miltertest: $name"; else
            fail "miltertest: $name" "script ended without its ok line" "$out"
        fi
    else
        fail "miltertest: $name" "$out"
    fi
}

run_lua "GTUBE rejected with 554 5.7.1" gtube.lua
run_lua "clean mail accepted, X-Spamd-Result added" clean.lua
run_lua "spoofed X-Spam header removed" spoofed.lua
run_lua "folded headers, HDR_LEADSPC offered" folded.lua "$PROT_ALL"
run_lua "folded headers, HDR_LEADSPC not offered" folded.lua "$PROT_NO_LEADSPC"
run_lua "two messages on one connection with aborts" two-messages.lua
run_lua "NR flags offered: no reply where negotiated" no-reply.lua "$PROT_ALL"
run_lua "NR flags not offered: every step answered" no-reply.lua "$PROT_NO_NR" no

if milter_alive; then pass "milter still running after miltertest"; else fail "milter died during miltertest"; fi
finish
