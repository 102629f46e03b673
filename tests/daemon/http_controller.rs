//! The controller listener of a real `sluice run`: Rspamd's password
//! levels, the read-only views built from the pipeline and the shared
//! counters, `/metrics` (milter sessions included), scans behind auth.
use crate::support::http as http_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use http_support::*;

const GUARDED: &str =
    "password = \"reader\";\nenable_password = \"admin\";\nsecure_ip = \"192.0.2.1\";\n";

#[test]
fn password_levels_follow_rspamd() {
    let s = Sluice::start(&[("override.d/worker-controller.inc", GUARDED)]);
    let c = s.controller;
    let unauthorized = |r: Response| {
        assert_eq!((r.status, r.reason.as_str()), (401, "Unauthorized"));
        assert_eq!(r.json(), serde_json::json!({"error": "Unauthorized"}));
    };
    assert_eq!(
        get(c, "/ping", &[]).body,
        b"pong\r\n",
        "ping needs no password"
    );
    unauthorized(get(c, "/stat", &[]));
    unauthorized(get(c, "/stat", &[("Password", "wrong")]));
    unauthorized(get(c, "/stat", &[("Password", "q1")]));
    unauthorized(get(c, "/stat?password=q2", &[]));
    unauthorized(post(c, "/checkv2", &[], &ham_message()));

    let r = get(c, "/stat", &[("Password", "reader")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.json()["read_only"], true);
    let r = get(c, "/stat?password=admin", &[]);
    assert_eq!(r.json()["read_only"], false);

    // Privileged: the read password is not enough (403, nothing reset).
    post(s.http, "/checkv2", &[], &ham_message());
    let r = get(c, "/statreset", &[("Password", "reader")]);
    assert_eq!(r.status, 403, "{}", r.text());
    let r = get(c, "/stat", &[("Password", "reader")]);
    assert_eq!(r.json()["scanned"], 1, "{}", r.text());
    assert_eq!(get(c, "/statreset", &[("Password", "admin")]).status, 200);

    let r = post(c, "/checkv2", &[("Password", "reader")], &gtube_message());
    assert_eq!(r.json()["action"], "reject");
    // Learning is privileged too; with the right password an empty body
    // gets Rspamd's 400.
    let r = post(c, "/learnspam", &[("Password", "reader")], &ham_message());
    assert_eq!(r.status, 403, "{}", r.text());
    let r = post(c, "/learnspam", &[("Password", "admin")], b"");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "Empty body is not permitted");
}

#[test]
fn localhost_is_secure_by_default() {
    let s = Sluice::start(&[]);
    let r = get(s.controller, "/stat", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["read_only"], false);
    // ... unless a proxy in front says the client is elsewhere.
    let r = get(s.controller, "/stat", &[("X-Forwarded-For", "203.0.113.7")]);
    assert_eq!(r.status, 401);
}

#[test]
fn views_reflect_rules_and_scans() {
    let s = Sluice::start(&[
        (
            "local.d/actions.conf",
            "greylist = null;\nadd_header = 5;\n",
        ),
        (
            "local.d/groups.conf",
            "group \"headers\" { symbols { MISSING_MID { weight = 4.0; } } }\n",
        ),
    ]);
    let c = s.controller;
    post(s.http, "/checkv2", &[], &gtube_message());
    post(s.http, "/checkv2", &[], &ham_message());
    post(
        s.http,
        "/checkv2",
        &[("Flags", "no_stat")],
        &gtube_message(),
    );

    let stat = get(c, "/stat", &[]).json();
    assert_eq!(stat["scanned"], 2, "no_stat is not counted: {stat}");
    assert_eq!(stat["actions"]["reject"], 1);
    assert_eq!(stat["actions"]["no action"], 1);
    assert_eq!(stat["actions"]["greylist"], 0);
    assert_eq!(
        (stat["spam_count"].clone(), stat["ham_count"].clone()),
        (1.into(), 1.into())
    );
    assert!(stat["connections"].as_u64().unwrap() >= 3);
    assert_eq!(
        stat["learned"], 0,
        "the shipped Bayes store starts empty: {stat}"
    );

    let actions = get(c, "/actions", &[]).json();
    let value = |name: &str| {
        actions
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["action"] == name)
            .unwrap_or_else(|| panic!("{name} missing in {actions}"))["value"]
            .clone()
    };
    assert_eq!(value("add header"), 5.0);
    assert_eq!(value("reject"), 15.0);
    assert_eq!(value("greylist"), serde_json::Value::Null);
    assert_eq!(value("soft reject"), serde_json::Value::Null);

    let symbols = get(c, "/symbols", &[]).json();
    let groups = symbols.as_array().unwrap();
    let headers = groups
        .iter()
        .find(|g| g["group"] == "headers")
        .unwrap_or_else(|| panic!("group from local.d missing: {symbols}"));
    let mid = headers["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["symbol"] == "MISSING_MID")
        .unwrap_or_else(|| panic!("MISSING_MID not in headers: {headers}"));
    assert_eq!(
        mid["weight"], 4.0,
        "the group's weight wins over the rule's score"
    );
    let all: Vec<&serde_json::Value> = groups
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    let gtube = all
        .iter()
        .find(|r| r["symbol"] == "GTUBE")
        .expect("GTUBE listed");
    assert_eq!(
        gtube["description"],
        "Generic Test for Unsolicited Bulk Email"
    );
    assert!(all.iter().all(|r| r["weight"].is_number()));

    let counters = get(c, "/counters", &[]).json();
    let hits = |name: &str| {
        counters
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["symbol"] == name)
            .map(|r| r["hits"].as_u64().unwrap())
    };
    assert_eq!(hits("GTUBE"), Some(2), "no_stat scans still hit rules");
    assert!(counters.as_array().unwrap().len() == all.len());

    let auth = get(c, "/auth", &[]).json();
    assert_eq!(
        (
            auth["auth"].clone(),
            auth["reject"].clone(),
            auth["clean"].clone()
        ),
        ("ok".into(), 1.into(), 1.into())
    );

    // /statreset answers the old figures, then starts over.
    assert_eq!(get(c, "/statreset", &[]).json()["scanned"], 2);
    assert_eq!(get(c, "/stat", &[]).json()["scanned"], 0);
    assert_eq!(get(c, "/nope", &[]).status, 404);
}

#[test]
fn metrics_count_scans_and_milter_sessions() {
    let s = Sluice::start(&[]);
    post(s.http, "/checkv2", &[], &gtube_message());
    // One milter session that ends cleanly (EOF between messages), one
    // that sends garbage.
    let mut ok = TcpStream::connect(s.milter).unwrap();
    ok.shutdown(std::net::Shutdown::Write).unwrap();
    let mut bad = TcpStream::connect(s.milter).unwrap();
    bad.write_all(&[0xff, 0xff, 0xff, 0xff, b'X']).unwrap();
    for c in [&mut ok, &mut bad] {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = c.read_to_end(&mut Vec::new());
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let r = get(s.controller, "/metrics", &[]);
        assert_eq!(
            r.header("content-type"),
            Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
        );
        let text = r.text();
        // The client sees EOF before the session's end is counted.
        let settled = text.contains("sluice_milter_sessions_total 2\n")
            && text.contains("sluice_milter_sessions_open 0\n");
        if settled || std::time::Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    for want in [
        "sluice_scanned_total{action=\"reject\"} 1\n",
        "sluice_scan_seconds_count 1\n",
        "sluice_milter_sessions_total 2\n",
        "sluice_milter_sessions_failed_total{reason=\"frame\"} 1\n",
        "sluice_milter_sessions_failed_total{reason=\"protocol\"} 0\n",
        "sluice_bayes_learns_total{class=\"spam\",outcome=\"learned\"} 0\n",
        "sluice_milter_sessions_open 0\n",
        "sluice_symbol_hits_total{symbol=\"GTUBE\"} 1\n",
    ] {
        assert!(text.contains(want), "{want:?} missing in\n{text}");
    }
    assert!(text.ends_with("# EOF\n"));
    // The scan listener serves the same exposition.
    assert!(get(s.http, "/metrics", &[])
        .text()
        .contains("sluice_scan_seconds_count 1\n"));
}
