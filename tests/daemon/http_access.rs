//! Controller access with hashed passwords on the real daemon: hashes made
//! by Rspamd 3.4's `rspamadm pw` are verified (never compared as text),
//! a read-only password is refused on a write endpoint (403) and an
//! address outside `secure_ip` without a password gets 401, and in each
//! refusal nothing changes.
use crate::support::http as http_support;

use http_support::*;

// `rspamadm pw -p readpw` (Catena) and `rspamadm pw -t pbkdf2 -p enablepw`.
const READ_HASH: &str =
    "$2$ardytcpp1igfoy7ztsgychgrmo4ox3q3$t64rczetmgm1t6ee8ott5degppj9no9bxenhampeytta9jab6akb";
const ENABLE_HASH: &str =
    "$1$ytz3haksu61qrrbbsc8ph4c783of5ncf$q7xh9c3nccmf4rw47u7h63w5y7u7bbo9kdeqyk6iapx95uc7yfsb";

fn hashed() -> String {
    format!(
        "password = \"{READ_HASH}\";\nenable_password = \"{ENABLE_HASH}\";\nsecure_ip = \"192.0.2.1\";\n"
    )
}

fn scanned(c: std::net::SocketAddr) -> u64 {
    let r = get(c, "/stat", &[("Password", "enablepw")]);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["scanned"].as_u64().unwrap()
}

#[test]
fn rspamadm_hashes_are_verified_not_compared() {
    let conf = hashed();
    let s = Sluice::start(&[("override.d/worker-controller.inc", &conf)]);
    let c = s.controller;
    let r = get(c, "/auth", &[("Password", "readpw")]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["read_only"], true);
    let r = get(c, "/auth", &[("Password", "enablepw")]);
    assert_eq!(r.json()["read_only"], false);
    // The hash string itself is not the password.
    assert_eq!(get(c, "/auth", &[("Password", READ_HASH)]).status, 401);
    assert_eq!(get(c, "/auth", &[("Password", "readpW")]).status, 401);
}

#[test]
fn refusals_change_nothing() {
    let conf = hashed();
    let s = Sluice::start(&[("override.d/worker-controller.inc", &conf)]);
    let c = s.controller;
    post(s.http, "/checkv2", &[], &ham_message());
    assert_eq!(scanned(c), 1);
    // Read-only password on a write endpoint: 403.
    let r = get(c, "/statreset", &[("Password", "readpw")]);
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.json()["error"].as_str().unwrap().contains("read-only"));
    // Wrong password, no password from outside secure_ip: 401.
    assert_eq!(get(c, "/statreset", &[("Password", "nope")]).status, 401);
    assert_eq!(get(c, "/statreset", &[]).status, 401);
    let forwarded = [("X-Forwarded-For", "192.0.2.1")];
    assert_eq!(get(c, "/statreset", &forwarded).status, 401);
    assert_eq!(scanned(c), 1, "no refused request reset the counters");
    let r = get(c, "/statreset", &[("Password", "enablepw")]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(scanned(c), 0);
}

/// Runs `sluice pw ARGS` with `stdin`; (exit success, stdout).
fn pw(args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(crate::support::sluice_bin())
        .arg("pw")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn sluice_pw_hashes_and_checks_in_rspamds_format() {
    let (ok, out) = pw(&["-p", "s3cret"], "");
    assert!(ok);
    let catena = out.trim().to_string();
    assert!(catena.starts_with("$2$") && catena.len() == 88, "{catena}");
    let (ok, out) = pw(&["-t", "pbkdf2"], "s3cret\n");
    assert!(ok);
    let pbkdf2 = out.trim().to_string();
    assert!(pbkdf2.starts_with("$1$"), "{pbkdf2}");
    for hash in [catena.as_str(), pbkdf2.as_str(), READ_HASH] {
        let right = if hash == READ_HASH {
            "readpw"
        } else {
            "s3cret"
        };
        let (ok, out) = pw(&["--check", "-p", hash], &format!("{right}\n"));
        assert!(ok, "{hash}: {out}");
        assert_eq!(out, "password correct\n");
        let (ok, out) = pw(&["--check", "-p", hash], "wrong\n");
        assert!(!ok);
        assert_eq!(out, "password incorrect\n");
        let (ok, out) = pw(&["--check", "-q", "-p", hash], "wrong\n");
        assert!(!ok && out.is_empty());
    }
    let (ok, _) = pw(&["--check", "-p", "plain"], "plain\n");
    assert!(!ok, "a check needs a hash");

    // The daemon takes the printed hash.
    let conf = format!("enable_password = \"{catena}\";\nsecure_ip = \"192.0.2.1\";\n");
    let s = Sluice::start(&[("override.d/worker-controller.inc", &conf)]);
    let r = get(s.controller, "/statreset", &[("Password", "s3cret")]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        get(s.controller, "/statreset", &[("Password", &catena)]).status,
        401
    );
}

#[test]
fn an_unusable_hash_is_reported_and_matches_nothing() {
    let conf = "enable_password = \"$2$tooshort$abc\";\nsecure_ip = \"192.0.2.1\";\n";
    let mut s = Sluice::start(&[("override.d/worker-controller.inc", conf)]);
    s.wait_log("worker.controller.enable_password looks like an rspamadm hash but is unusable");
    let c = s.controller;
    assert_eq!(
        get(c, "/statreset", &[("Password", "$2$tooshort$abc")]).status,
        401
    );
    assert_eq!(
        get(c, "/statreset", &[("Password", "tooshort")]).status,
        401
    );
}
