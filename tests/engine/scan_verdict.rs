//! Verdicts of the pipeline end to end: GTUBE variants, thresholds and
//! group caps from config, milter header edits, Subject rewriting, and the
//! async scanner wrapper.
use std::sync::Arc;

use serde_json::{json, Value};
use sluice::message::Envelope;
use sluice::scan::{LocalScanner, Pipeline, ScanConfigError, ScanRequest, Scanner};
use sluice::verdict::{Action, RemoveHeader, Verdict};

const TAIL: &str = "JS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

fn message(extra_headers: &str, subject: &str, body: &str) -> String {
    format!(
        "From: a@example.org\nTo: b@example.net\nSubject: {subject}\nDate: Mon, 1 Jun 2026 10:00:00 +0000\n\
         Message-ID: <id.1@example.org>\n{extra_headers}\n{body}\n"
    )
}

fn scan(tree: &Value, msg: &str) -> Verdict {
    Pipeline::from_config(tree)
        .unwrap()
        .scan(&Envelope::default(), msg.as_bytes())
}

fn gtube_body(first: char) -> String {
    format!("This is a test message.\n\n{first}{TAIL}\n")
}

#[test]
fn gtube_standard_pattern_is_a_reject_pre_result() {
    let v = scan(&json!({}), &message("X-Spam: Yes\n", "t", &gtube_body('X')));
    assert_eq!(v.action, Action::Reject);
    assert!(v.is_skipped);
    assert_eq!(v.score, 15.0);
    assert_eq!(v.smtp_message.as_deref(), Some("Gtube pattern"));
    assert_eq!(v.passthrough_module.as_deref(), Some("gtube"));
    assert_eq!(v.symbols.len(), 1);
    assert_eq!(
        (v.symbols[0].name.as_str(), v.symbols[0].score),
        ("GTUBE", 0.0)
    );
    // Spoof protection and X-Spamd-Result apply to test messages too.
    assert_eq!(v.milter.remove_headers.len(), 1);
    assert_eq!(v.milter.remove_headers[0].name, "X-Spam");
    let result = &v.milter.add_headers[0];
    assert_eq!(result.name, "X-Spamd-Result");
    assert!(
        result.value.starts_with("default: True [15.00 / 15.00]"),
        "{}",
        result.value
    );
    assert_eq!(v.message_id.as_deref(), Some("id.1@example.org"));
}

#[test]
fn gtube_variants_need_gtube_patterns_all() {
    let default = json!({});
    let all = json!({"options": {"gtube_patterns": "all"}, "actions": {"rewrite_subject": 8}});
    let cases = [
        ('Y', Action::AddHeader, 6.0),
        ('Z', Action::RewriteSubject, 8.0),
        ('A', Action::NoAction, 0.0),
    ];
    for (first, action, score) in cases {
        let msg = message("", "hello", &gtube_body(first));
        let v = scan(&default, &msg);
        assert!(!v.is_skipped, "{first}: variant ignored by default");
        assert!(v.symbols.iter().all(|s| s.name != "GTUBE"));
        let v = scan(&all, &msg);
        assert_eq!(v.action, action, "{first}");
        assert!(v.is_skipped, "{first}");
        assert_eq!(v.score, score, "{first}");
    }
    let v = scan(&all, &message("", "hello", &gtube_body('Z')));
    assert_eq!(v.subject.as_deref(), Some("*** SPAM *** hello"));
    let off = json!({"options": {"gtube_patterns": "disabled"}});
    assert_eq!(
        scan(&off, &message("", "t", &gtube_body('X'))).action,
        Action::NoAction
    );
}

#[test]
fn gtube_in_html_part_counts_but_not_in_attachment() {
    let html = format!(
        "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html\n\n<p>{}</p>\n--b--\n",
        gtube_body('X')
    );
    let msg = format!("From: a@example.org\nSubject: t\n{html}");
    assert_eq!(scan(&json!({}), &msg).action, Action::Reject);
    let att = format!(
        "From: a@example.org\nSubject: t\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\
         Content-Type: text/plain\n\nhi\n--b\nContent-Type: text/plain\nContent-Disposition: attachment; filename=g.txt\n\n{}\n--b--\n",
        gtube_body('X')
    );
    assert_eq!(scan(&json!({}), &att).action, Action::NoAction);
}

fn rules_tree(actions: Value) -> Value {
    json!({
        // Every rule runs, so zero-weight symbols are listed too.
        "options": {"pass_all": true},
        "actions": actions,
        "regexp": {
            "A_ONE": {"re": "Subject=/one/i", "score": 2.0, "group": "g"},
            "A_TWO": {"re": "Subject=/two/i", "score": 2.0, "group": "g"},
            "BODY_BIG": {"re": "/big/P", "score": 5.0, "description": "says big"},
            "NEG": {"re": "/friendly/P", "score": -1.0},
            "NO_WEIGHT": {"re": "/plain/P"},
        },
        "group": {"g": {"max_score": 3.0}},
        "symbols": {"BODY_BIG": {"weight": 4.5}},
    })
}

#[test]
fn weights_caps_and_actions_from_config() {
    let tree = rules_tree(json!({}));
    let v = scan(
        &tree,
        &message("", "one two", "big and friendly plain words"),
    );
    let names: Vec<_> = v
        .symbols
        .iter()
        .map(|s| (s.name.as_str(), s.score))
        .collect();
    // BODY_BIG weight from `symbols` overrides the rule score; group g capped at 3.
    assert_eq!(
        names,
        [
            ("BODY_BIG", 4.5),
            ("A_ONE", 2.0),
            ("A_TWO", 1.0),
            ("NEG", -1.0),
            ("NO_WEIGHT", 0.0)
        ]
    );
    assert_eq!(v.symbols[0].description.as_deref(), Some("says big"));
    assert!((v.score - 6.5).abs() < 1e-9);
    assert_eq!(v.action, Action::AddHeader);
    assert_eq!(v.required_score, 15.0);
    assert_eq!(
        v.thresholds,
        vec![
            (Action::Greylist, 4.0),
            (Action::AddHeader, 6.0),
            (Action::Reject, 15.0)
        ]
    );

    let strict = rules_tree(json!({"reject": 6, "add_header": 3, "unknown_weight": 0.25}));
    let v = scan(
        &strict,
        &message("", "one two", "big and friendly plain words"),
    );
    assert_eq!(v.action, Action::Reject);
    assert_eq!(v.required_score, 6.0);
    assert!(v
        .symbols
        .iter()
        .any(|s| s.name == "NO_WEIGHT" && s.score == 0.25));
}

#[test]
fn rewrite_subject_uses_template() {
    let tree = rules_tree(json!({"rewrite subject": 4, "subject": "[SPAM %d] %s"}));
    let v = scan(&tree, &message("", "lunch", "big news"));
    assert_eq!(v.action, Action::RewriteSubject);
    assert_eq!(v.subject.as_deref(), Some("[SPAM 4.50] lunch"));
    let v = scan(&rules_tree(json!({})), &message("", "lunch", "big news"));
    assert_eq!(v.subject, None, "no rewrite without that action");
}

#[test]
fn milter_edits_remove_spoofed_headers_and_add_result() {
    let tree = rules_tree(json!({}));
    let extra = "X-Spam: Yes\nx-spam-status: No\nX-SPAM: again\nX-Spamd-Result: forged\nX-Spammy-Other: 1\nX-Not-Spam: keep\n";
    let v = scan(&tree, &message(extra, "one", "big"));
    let removed: Vec<RemoveHeader> = v.milter.remove_headers.clone();
    let names: Vec<_> = removed.iter().map(|r| (r.name.as_str(), r.index)).collect();
    assert_eq!(
        names,
        [
            ("X-Spam", 0),
            ("x-spam-status", 0),
            ("X-Spamd-Result", 0),
            ("X-Spammy-Other", 0)
        ]
    );
    assert_eq!(v.milter.add_headers.len(), 1);
    let h = &v.milter.add_headers[0];
    assert_eq!((h.name.as_str(), h.order), ("X-Spamd-Result", -1));
    assert_eq!(
        h.value,
        "default: False [6.50 / 15.00];\n\tBODY_BIG(4.50);\n\tA_ONE(2.00)"
    );
}

#[test]
fn urls_and_emails_are_reported() {
    let v = scan(
        &json!({}),
        &message(
            "",
            "x",
            "see http://Shop.Example.com/a and write to info@shop.example.com",
        ),
    );
    assert_eq!(v.urls, vec!["shop.example.com"]);
    assert_eq!(v.emails, vec!["info@shop.example.com"]);
}

#[test]
fn config_errors_name_the_rule() {
    let bad = |re: &str| {
        Pipeline::from_config(&json!({"regexp": {"BAD_RULE": {"re": re, "score": 1}}})).unwrap_err()
    };
    let e = bad("Subject=/(/");
    assert!(
        matches!(e, ScanConfigError::Regex { ref symbol, .. } if symbol == "BAD_RULE"),
        "{e}"
    );
    let e = bad("Subject=/x/ &");
    assert!(
        matches!(e, ScanConfigError::Expression { ref symbol, .. } if symbol == "BAD_RULE"),
        "{e}"
    );
    let e = bad("from:frobnicate=/x/{selector}");
    assert!(
        matches!(e, ScanConfigError::Regex { ref symbol, ref reason, .. }
            if symbol == "BAD_RULE" && reason.contains("frobnicate")),
        "{e}"
    );
}

#[test]
fn garbage_input_still_gives_a_verdict() {
    let p = Pipeline::from_config(&rules_tree(json!({}))).unwrap();
    for raw in [
        &b""[..],
        b"\0\0\xff\xfe",
        b"no headers at all",
        b"Subject: \xff\xfe\n\n\xc3\x28 big",
        b"\n\n\n",
    ] {
        let v = p.scan(&Envelope::default(), raw);
        assert!(v.score.is_finite());
    }
}

#[tokio::test]
async fn local_scanner_runs_on_blocking_pool() {
    let p = Arc::new(Pipeline::from_config(&json!({})).unwrap());
    let scanner: Arc<dyn Scanner> = Arc::new(LocalScanner::new(p));
    let req = Arc::new(ScanRequest {
        envelope: Envelope::default(),
        message: bytes::Bytes::from(message("", "t", &gtube_body('X'))),
        options: Default::default(),
        placement: Default::default(),
    });
    let v = scanner.scan(req).await.unwrap();
    assert_eq!(v.action, Action::Reject);
}
