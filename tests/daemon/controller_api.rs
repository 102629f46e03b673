//! The controller endpoints Rspamd's WebUI uses, on the real daemon, in
//! Rspamd 3.4's shapes: history with symbols (and its reset), errors,
//! graph and pie, saved thresholds and weights (applied to the next scan,
//! kept across SIGHUP and restarts), neighbours, selectors, classifiers
//! and the fuzzy endpoints' clear refusal. Privileged endpoints refuse a
//! read-only password (403) and change nothing.
use crate::support::http as http_support;

use std::time::Duration;

use http_support::*;
use serde_json::{json, Value};

const GUARDED: &str =
    "password = \"reader\";\nenable_password = \"admin\";\nsecure_ip = \"192.0.2.1\";\n";
const RO: (&str, &str) = ("Password", "reader");
const RW: (&str, &str) = ("Password", "admin");

fn history(c: std::net::SocketAddr) -> Vec<Value> {
    let r = get(c, "/history?from=0&to=100", &[RO]);
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["version"], 2, "{j}");
    j["rows"].as_array().unwrap().clone()
}

#[test]
fn history_rows_with_symbols_and_reset() {
    let s = Sluice::start(&[("override.d/worker-controller.inc", GUARDED)]);
    let c = s.controller;
    post(
        s.http,
        "/checkv2",
        &[("From", "env@example.org"), ("IP", "192.0.2.9")],
        &ham_message(),
    );
    post(s.http, "/checkv2", &[], &gtube_message());
    post(s.http, "/checkv2", &[("Flags", "no_log")], &ham_message());
    let rows = history(c);
    assert_eq!(rows.len(), 2, "newest first, no_log left out: {rows:?}");
    let (gtube, ham) = (&rows[0], &rows[1]);
    assert_eq!(gtube["message-id"], "gtube@example.org");
    assert_eq!(gtube["action"], "reject");
    assert!(gtube["symbols"]["GTUBE"]["score"].is_number(), "{gtube}");
    assert_eq!(gtube["symbols"]["GTUBE"]["name"], "GTUBE");
    assert_eq!(gtube["subject"], "test");
    assert_eq!(ham["ip"], "192.0.2.9");
    assert_eq!(ham["sender_smtp"], "env@example.org");
    assert_eq!(ham["sender_mime"], "a@example.org");
    assert_eq!(ham["rcpt_mime"], json!(["b@example.net"]));
    assert_eq!(ham["size"], ham_message().len());
    for key in ["unix_time", "time_real", "score", "required_score"] {
        assert!(ham[key].is_number(), "{key}: {ham}");
    }
    let r = get(c, "/history?from=1&to=2", &[RO]).json();
    assert_eq!(r["rows"].as_array().unwrap().len(), 1);

    // Reset: privileged; a read-only password changes nothing.
    assert_eq!(get(c, "/historyreset", &[RO]).status, 403);
    assert_eq!(history(c).len(), 2);
    let r = get(c, "/historyreset", &[RW]);
    assert_eq!(r.json(), json!({"success": true}));
    assert!(history(c).is_empty());
}

#[test]
fn pie_graph_and_errors() {
    let s = Sluice::start(&[("override.d/worker-controller.inc", GUARDED)]);
    let c = s.controller;
    post(s.http, "/checkv2", &[], &gtube_message());
    post(s.http, "/checkv2", &[], &gtube_message());
    let pie = get(c, "/pie", &[RO]).json();
    let labels: Vec<&str> = pie
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "Clean",
            "Temporarily rejected",
            "Probable spam",
            "Greylisted",
            "Rejected"
        ]
    );
    assert_eq!(pie[4]["value"], 2.0);
    assert_eq!(pie[4]["data"], 2.0);
    assert_eq!(pie[0]["value"], 0.0);

    for kind in ["day", "week", "month", "year", "hourly", "daily"] {
        let g = get(c, &format!("/graph?type={kind}"), &[RO]);
        assert_eq!(g.status, 200, "{kind}: {}", g.text());
        let g = g.json();
        let series = g.as_array().unwrap();
        assert_eq!(series.len(), 6, "one per action");
        let reject = series[0].as_array().unwrap();
        let last = reject.last().unwrap();
        assert!(last["x"].is_u64(), "{last}");
        assert!(last["y"].as_f64().unwrap() > 0.0, "{kind}: {last}");
        assert_eq!(series[5].as_array().unwrap().last().unwrap()["y"], 0.0);
    }
    assert_eq!(get(c, "/graph", &[RO]).status, 400);
    assert_eq!(get(c, "/graph?type=decade", &[RO]).status, 400);

    // Errors: privileged, Rspamd's row shape; a refused save is in it.
    assert_eq!(post(c, "/saveactions", &[RW], b"[1, 2]").status, 400);
    assert_eq!(get(c, "/errors", &[RO]).status, 403);
    let e = get(c, "/errors", &[RW]);
    assert_eq!(e.status, 200, "{}", e.text());
    let rows = e.json();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["message"]
                .as_str()
                .unwrap()
                .contains("Cannot parse input")
        })
        .unwrap_or_else(|| panic!("the refused save is not in {rows}"))
        .clone();
    assert_eq!(row["type"], "warning");
    assert_eq!(row["pid"], s.pid());
    assert!(row["ts"].as_f64().unwrap() > 1.6e9, "{row}");
    assert!(
        row["module"].as_str().unwrap().starts_with("sluice"),
        "{row}"
    );
}

fn threshold(c: std::net::SocketAddr, action: &str) -> Value {
    let actions = get(c, "/actions", &[RO]).json();
    actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == action)
        .unwrap_or_else(|| panic!("{action} missing in {actions}"))["value"]
        .clone()
}

#[test]
fn saved_thresholds_apply_to_the_next_scan_and_persist() {
    let mut s = Sluice::start(&[("override.d/worker-controller.inc", GUARDED)]);
    let c = s.controller;
    let ham = || post(s.http, "/checkv2", &[], &ham_message()).json()["action"].clone();
    assert_eq!(ham(), "no action");
    let body = br#"[-1000, null, 500, null]"#;
    // Refusals change nothing.
    assert_eq!(post(c, "/saveactions", &[RO], body).status, 403);
    assert_eq!(
        post(c, "/saveactions", &[("Password", "nope")], body).status,
        401
    );
    assert_eq!(post(c, "/saveactions", &[RW], b"[1, 2]").status, 400);
    assert_eq!(post(c, "/saveactions", &[RW], b"").status, 400);
    assert_eq!(threshold(c, "reject"), 15.0);
    assert!(!s.path("rspamd_dynamic").exists());

    let r = post(c, "/saveactions", &[RW], body);
    assert_eq!(r.json(), json!({"success": true}), "{}", r.text());
    assert_eq!(threshold(c, "reject"), -1000.0);
    assert_eq!(threshold(c, "add header"), 500.0);
    assert_eq!(threshold(c, "greylist"), Value::Null);
    assert_eq!(ham(), "reject", "the next scan uses the saved threshold");
    let saved: Value =
        serde_json::from_slice(&std::fs::read(s.path("rspamd_dynamic")).unwrap()).unwrap();
    assert_eq!(saved[0]["metric"], "default", "{saved}");

    // SIGHUP rebuilds from the files and keeps the saved values.
    s.hup();
    s.wait_log("SIGHUP: configuration reloaded");
    assert_eq!(threshold(c, "reject"), -1000.0);

    // A restart on the same DBDIR too.
    s.signal("TERM");
    s.wait_exit(Duration::from_secs(30)).expect("stops");
    let dbdir = format!("DBDIR={}", s.dir.path().display());
    let again = Sluice::start_with(
        &[("override.d/worker-controller.inc", GUARDED)],
        &["--var".to_string(), dbdir],
    );
    assert_eq!(threshold(again.controller, "reject"), -1000.0);
    // The graph kept the first run's scans (written at exit).
    let g = get(again.controller, "/graph?type=week", &[RO]).json();
    let seen = |series: usize| {
        g[series]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["y"].as_f64().is_some_and(|y| y > 0.0))
    };
    assert!(
        seen(0) && seen(5),
        "reject and no action before the restart: {g}"
    );
    let r = post(again.http, "/checkv2", &[], &ham_message()).json();
    assert_eq!(r["action"], "reject");
}

#[test]
fn saved_weights_apply() {
    let s = Sluice::start(&[
        ("override.d/worker-controller.inc", GUARDED),
        (
            "local.d/groups.conf",
            "group \"headers\" { symbols { MISSING_MID { weight = 4.0; } } }\n",
        ),
    ]);
    let c = s.controller;
    let weight = || {
        let symbols = get(c, "/symbols", &[RO]).json();
        symbols
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap().clone())
            .find(|r| r["symbol"] == "MISSING_MID")
            .unwrap_or_else(|| panic!("MISSING_MID not in {symbols}"))["weight"]
            .clone()
    };
    assert_eq!(weight(), 4.0);
    let body =
        br#"[{"name": "MISSING_MID", "value": 7.5}, {"name": "NO_SUCH_SYMBOL", "value": 1}]"#;
    assert_eq!(post(c, "/savesymbols", &[RO], body).status, 403);
    assert_eq!(weight(), 4.0);
    let r = post(c, "/savesymbols", &[RW], body);
    assert_eq!(r.json(), json!({"success": true}), "{}", r.text());
    assert_eq!(weight(), 7.5);
    let unknown = br#"[{"name": "NO_SUCH_SYMBOL", "value": 1}]"#;
    assert_eq!(post(c, "/savesymbols", &[RW], unknown).status, 404);
}

#[test]
fn neighbours_selectors_classifiers_and_fuzzy() {
    let s = Sluice::start(&[
        ("override.d/worker-controller.inc", GUARDED),
        (
            "local.d/options.inc",
            "neighbours { peer1 { host = \"192.0.2.20\"; } }\n",
        ),
    ]);
    let c = s.controller;
    assert_eq!(
        get(c, "/neighbours", &[RO]).json(),
        json!({"peer1": {"host": "192.0.2.20", "url": "http://192.0.2.20:11334/"}})
    );
    let ok = get(
        c,
        "/plugins/selectors/check_selector?selector=from('mime'):domain",
        &[RO],
    );
    assert_eq!(ok.json(), json!({"success": true}), "{}", ok.text());
    let bad = get(
        c,
        "/plugins/selectors/check_selector?selector=nonsense(",
        &[RO],
    );
    assert_eq!(bad.json(), json!({"success": false}));
    assert_eq!(
        get(c, "/plugins/selectors/check_selector", &[RO]).status,
        404
    );
    // check_message: what a selector takes from a posted message.
    let msg = b"From: Alice <alice@Mail.Example.ORG>\r\nTo: bob@example.net\r\nSubject: Hi there\r\n\r\nbody\r\n";
    let got = post(
        c,
        "/plugins/selectors/check_message?selector=from('mime'):domain.lower",
        &[RO],
        msg,
    );
    assert_eq!(
        got.json(),
        json!({"success": true, "data": ["mail.example.org"]}),
        "{}",
        got.text()
    );
    let subject = post(
        c,
        "/plugins/selectors/check_message?selector=subject",
        &[RO],
        msg,
    );
    assert_eq!(subject.json()["data"], json!(["Hi there"]));
    let bad = post(
        c,
        "/plugins/selectors/check_message?selector=nonsense(",
        &[RO],
        msg,
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    let ex = get(c, "/plugins/selectors/list_extractors", &[RO]).json();
    assert!(ex["header"]["description"].is_string(), "{ex}");
    assert_eq!(get(c, "/bayes/classifiers", &[RO]).json(), json!(["bayes"]));
    for path in ["/fuzzyadd", "/fuzzydel"] {
        assert_eq!(get(c, path, &[RO]).status, 403);
        let r = post(c, path, &[RW], &ham_message());
        assert_eq!(r.status, 500, "{path}");
        assert!(r.json()["error"].as_str().unwrap().contains("fuzzy"));
    }
    assert_eq!(get(c, "/healthy", &[RO]).json(), json!({"success": true}));
}

#[test]
fn maps_listed_read_and_saved() {
    let s = Sluice::start(&[
        ("override.d/worker-controller.inc", GUARDED),
        (
            "local.d/multimap.conf",
            "BAD_SENDER { type = \"from\"; map = \"${LOCAL_CONFDIR}/bad-senders.map\"; score = 20; }\n",
        ),
        ("bad-senders.map", "nobody@example.com\n"),
    ]);
    let c = s.controller;
    let scan = || {
        post(
            s.http,
            "/checkv2",
            &[("From", "a@example.org")],
            &ham_message(),
        )
        .json()["symbols"]["BAD_SENDER"]
            .clone()
    };
    assert_eq!(scan(), Value::Null);
    let maps = get(c, "/maps", &[RO]).json();
    let list = maps.as_array().unwrap();
    assert_eq!(list.len(), 1, "{maps}");
    assert_eq!(list[0]["editable"], true);
    assert!(list[0]["uri"]
        .as_str()
        .unwrap()
        .ends_with("bad-senders.map"));
    let id = list[0]["map"].to_string();
    let r = get(c, "/getmap", &[RO, ("Map", &id)]);
    assert_eq!(r.text(), "nobody@example.com\n");
    assert_eq!(get(c, "/getmap", &[RO]).status, 400);
    assert_eq!(get(c, "/getmap", &[RO, ("Map", "12")]).status, 404);

    let new = b"nobody@example.com\na@example.org\n";
    assert_eq!(post(c, "/savemap", &[RO, ("Map", &id)], new).status, 403);
    assert_eq!(
        get(c, "/getmap", &[RO, ("Map", &id)]).text(),
        "nobody@example.com\n"
    );
    let r = post(c, "/savemap", &[RW, ("Map", &id)], new);
    assert_eq!(r.json(), json!({"success": true}), "{}", r.text());
    assert_eq!(
        std::fs::read(s.path("bad-senders.map")).unwrap(),
        new.to_vec()
    );
    assert!(scan().is_object(), "the next scan reads the saved map");
}

#[tokio::test]
async fn milter_scans_are_in_the_history_and_the_graph() {
    use sluice_proto::milter::client::{Envelope, MtaClient};
    use sluice_proto::milter::optneg::OptNeg;
    let s = Sluice::start(&[]);
    let mut m = MtaClient::connect_tcp(s.milter).await.unwrap();
    m.negotiate(OptNeg {
        version: 6,
        actions: 0x1ff,
        protocol: 0x1f_ffff,
    })
    .await
    .unwrap();
    let env = Envelope {
        from: "alice@example.org",
        rcpts: &["bob@example.net"],
        queue_id: Some("4ABC123"),
    };
    m.send_message(&env, &gtube_message()).await.unwrap();
    m.quit().await.unwrap();
    // Localhost is in the shipped secure_ip: no password.
    let h = get(s.controller, "/history", &[]).json();
    let rows = h["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{h}");
    assert_eq!(rows[0]["sender_smtp"], "alice@example.org");
    assert_eq!(rows[0]["rcpt_smtp"], json!(["bob@example.net"]));
    assert_eq!(rows[0]["action"], "reject");
    assert!(rows[0]["symbols"]["GTUBE"].is_object(), "{h}");
    let g = get(s.controller, "/graph?type=day", &[]).json();
    assert!(
        g[0].as_array().unwrap().last().unwrap()["y"]
            .as_f64()
            .unwrap()
            > 0.0
    );
}

#[test]
fn history_rows_bounds_the_history() {
    let s = Sluice::start(&[("local.d/options.inc", "history_rows = 1;\n")]);
    post(s.http, "/checkv2", &[], &ham_message());
    post(s.http, "/checkv2", &[], &gtube_message());
    let h = get(s.controller, "/history", &[]).json();
    let rows = h["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{h}");
    assert_eq!(rows[0]["message-id"], "gtube@example.org");
}
