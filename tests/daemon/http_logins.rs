//! Failed controller logins on the real daemon: a few wrong passwords from
//! one address, then its password attempts are refused (429) without being
//! checked, logged once; a correct login before the limit starts the count
//! over, and clients that need no password are not affected.
use crate::support::http as http_support;

use http_support::{get, Sluice};

const GUARDED: &str =
    "password = \"reader\";\nenable_password = \"admin\";\nsecure_ip = \"192.0.2.1\";\n";

#[test]
fn wrong_passwords_lock_the_address_out_once_logged() {
    let s = Sluice::start(&[("override.d/worker-controller.inc", GUARDED)]);
    let c = s.controller;
    for _ in 0..4 {
        assert_eq!(get(c, "/stat?password=guess", &[]).status, 401);
    }
    // A correct login before the limit: the count starts over.
    assert_eq!(get(c, "/stat?password=reader", &[]).status, 200);
    for _ in 0..4 {
        assert_eq!(get(c, "/stat?password=guess", &[]).status, 401);
    }
    assert_eq!(get(c, "/stat", &[("Password", "guess")]).status, 401);
    // Locked: even the right password is not checked now.
    for pw in ["guess", "reader", "admin"] {
        let r = get(c, &format!("/stat?password={pw}"), &[]);
        assert_eq!(r.status, 429, "{pw}: {}", r.text());
    }
    // Asking without a password is no login attempt: the usual 401.
    assert_eq!(get(c, "/stat", &[]).status, 401);
    assert_eq!(get(c, "/ping", &[]).status, 200);
    let lockouts = s
        .log()
        .iter()
        .filter(|l| l.contains("failed logins from 127.0.0.1"))
        .count();
    assert_eq!(lockouts, 1, "logged once: {:#?}", s.log());
}

#[test]
fn clients_that_need_no_password_are_never_locked_out() {
    // Localhost is secure_ip by default: a wrong password does not matter.
    let s = Sluice::start(&[("local.d/worker-controller.inc", "password = \"reader\";\n")]);
    for _ in 0..8 {
        assert_eq!(get(s.controller, "/stat?password=guess", &[]).status, 200);
    }
    assert!(s.log().iter().all(|l| !l.contains("failed logins")));
}
