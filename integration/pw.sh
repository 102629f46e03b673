#!/usr/bin/env bash
# Controller password hashes both ways with Rspamd 3.4's rspamadm: hashes
# printed by `sluice pw` (Catena and PBKDF2) are accepted by `rspamadm pw -c`
# (and a wrong password refused), and hashes printed by `rspamadm pw` are
# accepted by `sluice pw --check`. rspamadm reads the password from a terminal,
# hence `script`. Needs: rspamd (rspamadm), util-linux (script).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_tools rspamadm script
[ -x "$SLUICE_BIN" ] || die "sluice binary not found at $SLUICE_BIN (set SLUICE_BIN)"

# rspamadm pw -c -p HASH, the password typed on its terminal; prints its verdict.
rspamadm_check() { # HASH PASSWORD
    (sleep 0.5; printf '%s\n' "$2") |
        timeout 20 script -qc "rspamadm pw -c -p '$1'" /dev/null 2>&1 | tr -d '\r' | tail -1
}

for kdf in catena pbkdf2; do
    hash=$("$SLUICE_BIN" pw -t "$kdf" -p 'Sluice pw test')
    assert_eq "sluice pw -t $kdf: rspamadm accepts the password" "password correct" \
        "$(rspamadm_check "$hash" 'Sluice pw test')"
    assert_eq "sluice pw -t $kdf: rspamadm refuses another" "password incorrect" \
        "$(rspamadm_check "$hash" 'sluice pw test')"
    hash=$(rspamadm pw -t "$kdf" -p 'Rspamd pw test')
    assert_eq "rspamadm pw -t $kdf: sluice accepts the password" "password correct" \
        "$(printf 'Rspamd pw test\n' | "$SLUICE_BIN" pw --check -p "$hash")"
    assert_eq "rspamadm pw -t $kdf: sluice refuses another" "password incorrect" \
        "$(printf 'rspamd pw test\n' | "$SLUICE_BIN" pw --check -p "$hash" || true)"
done
finish
