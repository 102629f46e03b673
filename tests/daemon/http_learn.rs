//! `/learnspam` and `/learnham` on the controller of a real `sluice run`:
//! learns land in the daemon's own Bayes store (the counts in `/stat`
//! move, the next scan classifies with them), relearning follows Rspamd's
//! replies, and only the controller serves them.
use crate::support::http as http_support;

use http_support::*;

/// Bayes scores after one learn per class, so a few messages suffice.
const BAYES: (&str, &str) = ("local.d/classifier-bayes.conf", "min_learns = 1;\n");

const SPAM_WORDS: &str = "cheap pills discount pharmacy offer winner prize claim \
    casino bonus credit unsecured loan refinance mortgage bargain replica watches";
const HAM_WORDS: &str = "quarterly report agenda meeting minutes project review \
    budget schedule deadline milestone colleagues feedback draft proposal slides";

fn message(id: &str, words: &str) -> Vec<u8> {
    format!(
        "From: a@example.org\r\nTo: b@example.net\r\nSubject: note {id}\r\n\
         Message-ID: <{id}@example.org>\r\n\r\n{words}\r\n{words}\r\n"
    )
    .into_bytes()
}

fn learned(s: &Sluice) -> (u64, u64, u64) {
    let stat = get(s.controller, "/stat", &[]).json();
    let files = stat["statfiles"].as_array().expect("statfiles").clone();
    let revision = |sym: &str| {
        files
            .iter()
            .find(|f| f["symbol"] == sym)
            .unwrap_or_else(|| panic!("{sym} in {stat}"))["revision"]
            .as_u64()
            .unwrap()
    };
    (
        stat["learned"].as_u64().unwrap(),
        revision("BAYES_SPAM"),
        revision("BAYES_HAM"),
    )
}

#[test]
fn learns_change_the_store_and_the_next_scan() {
    let s = Sluice::start(&[BAYES]);
    let c = s.controller;
    assert_eq!(learned(&s), (0, 0, 0));
    for i in 0..3 {
        let r = post(c, "/learnspam", &[], &message(&format!("s{i}"), SPAM_WORDS));
        assert_eq!(
            (r.status, r.json()),
            (200, serde_json::json!({"success": true}))
        );
        let r = post(
            c,
            "/learnham",
            &[("Rcpt", "b@example.net")],
            &message(&format!("h{i}"), HAM_WORDS),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(learned(&s), (6, 3, 3));

    let scan = post(s.http, "/checkv2", &[], &message("new-spam", SPAM_WORDS)).json();
    assert!(scan["symbols"].get("BAYES_SPAM").is_some(), "{scan}");
    let scan = post(s.http, "/checkv2", &[], &message("new-ham", HAM_WORDS)).json();
    assert!(scan["symbols"].get("BAYES_HAM").is_some(), "{scan}");
}

#[test]
fn relearning_follows_rspamd() {
    let s = Sluice::start(&[BAYES]);
    let c = s.controller;
    let m = message("twice", SPAM_WORDS);
    assert_eq!(post(c, "/learnspam", &[], &m).status, 200);
    let r = post(c, "/learnspam", &[], &m);
    assert_eq!(r.status, 208);
    assert_eq!(
        r.json()["error"],
        "<twice@example.org> has been already learned as spam, ignore it"
    );
    assert_eq!(learned(&s), (1, 1, 0), "a repeated learn counts once");
    // The other class moves the message.
    assert_eq!(post(c, "/learnham", &[], &m).status, 200);
    assert_eq!(learned(&s), (1, 0, 1));

    let r = post(c, "/learnspam", &[("Classifier", "neural")], &m);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("Unknown classifier neural"))
    );
    let r = post(
        c,
        "/learnspam",
        &[("Compression", "zstd")],
        &zstd::encode_all(&m[..], 1).unwrap(),
    );
    assert_eq!(r.status, 200, "zstd bodies are learned too: {}", r.text());
    assert_eq!(learned(&s), (1, 1, 0));
    // /metrics counts each request by class and outcome.
    let metrics = get(c, "/metrics", &[]).text();
    for (class, outcome, n) in [
        ("spam", "learned", 1),
        ("spam", "already_learned", 1),
        ("ham", "moved", 1),
        ("spam", "moved", 1),
    ] {
        let want =
            format!("sluice_bayes_learns_total{{class=\"{class}\",outcome=\"{outcome}\"}} {n}\n");
        assert!(metrics.contains(&want), "{want} missing from {metrics}");
    }
}

#[test]
fn only_the_controller_learns() {
    let s = Sluice::start(&[BAYES]);
    let r = post(s.http, "/learnspam", &[], &message("x", SPAM_WORDS));
    assert_eq!(r.status, 500, "the scan listener has no password check");
    assert_eq!(learned(&s), (0, 0, 0));
}

#[test]
fn without_bayes_learning_is_refused() {
    let s = Sluice::start(&[("local.d/classifier-bayes.conf", "enabled = false;\n")]);
    let r = post(s.controller, "/learnham", &[], &message("x", HAM_WORDS));
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "Bayes statistics are not configured");
    let stat = get(s.controller, "/stat", &[]).json();
    assert!(stat.get("statfiles").is_none(), "{stat}");
}
