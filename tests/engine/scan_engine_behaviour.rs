//! Engine behaviour beyond single verdicts: scheduling and early stop,
//! per-rule counters, map hot reload, custom actions through the milter
//! replies, and the explain report.
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use sluice::message::Envelope;
use sluice::milter::envelope::Transaction;
use sluice::milter::negotiate::Negotiated;
use sluice::milter::respond::respond;
use sluice::milter::SessionSettings;
use sluice::scan::Pipeline;
use sluice::verdict::Action;
use sluice_proto::milter::Reply;

fn pipeline(tree: &Value) -> Pipeline {
    Pipeline::from_config(tree).expect("config compiles")
}

fn msg(subject: &str, body: &str) -> String {
    format!("From: a@example.org\nSubject: {subject}\n\n{body}\n")
}

fn stop_tree(pass_all: bool) -> Value {
    json!({
        "options": {"pass_all": pass_all},
        "actions": {"reject": 10, "add header": 5, "greylist": null},
        "regexp": {
            "HUGE": {"re": "Subject=/huge/", "score": 20},
            "MEDIUM": {"re": "Subject=/medium/", "score": 4},
            "BODY_WORD": {"re": "/word/P", "score": 1},
            "RAW_WORD": {"re": "/word/M", "score": 1},
            "HAM": {"re": "/meeting/P", "score": -2},
        }
    })
}

fn names(p: &Pipeline, rules: &[usize]) -> Vec<String> {
    rules
        .iter()
        .map(|&r| {
            p.registry().symbols[p.rule_set().rules[r].symbol]
                .name
                .clone()
        })
        .collect()
}

#[test]
fn early_stop_skips_rules_that_cannot_change_the_action() {
    let p = pipeline(&stop_tree(false));
    let env = Envelope::default();
    let (v, t) = p.explain(&env, msg("huge", "word").as_bytes());
    assert_eq!(v.action, Action::Reject);
    // Negative first, then the cheap header rules; after HUGE the score is
    // 20 and the remaining +6 cannot move it below reject.
    let ran: Vec<usize> = t.rules.iter().map(|r| r.rule).collect();
    assert_eq!(names(&p, &ran), ["HAM", "HUGE"]);
    assert_eq!(names(&p, &t.skipped), ["MEDIUM", "BODY_WORD", "RAW_WORD"]);
    // Low end too: at 0 with +2 left, nothing reaches add header (5).
    let (v, t) = p.explain(&env, msg("small", "word").as_bytes());
    assert_eq!(names(&p, &t.skipped), ["BODY_WORD", "RAW_WORD"]);
    assert_eq!(v.score, 0.0);
    // At 4 with +2 left, add header is reachable: BODY_WORD runs, and once
    // it reaches 5 the last rule cannot change the action any more.
    let (v, t) = p.explain(&env, msg("medium", "word").as_bytes());
    assert_eq!(names(&p, &t.skipped), ["RAW_WORD"]);
    assert_eq!(v.score, 5.0);
    assert_eq!(v.action, Action::AddHeader);
}

#[test]
fn pass_all_evaluates_everything() {
    let p = pipeline(&stop_tree(true));
    let (v, t) = p.explain(&Envelope::default(), msg("huge", "word").as_bytes());
    assert!(t.skipped.is_empty());
    assert_eq!(t.rules.len(), 5);
    assert_eq!(v.score, 22.0);
    // Per request too (Rspamd's `Pass: all`).
    let p = pipeline(&stop_tree(false));
    let raw = msg("huge", "word");
    assert_eq!(p.scan(&Envelope::default(), raw.as_bytes()).score, 20.0);
    let all = sluice::scan::ScanOptions {
        pass_all: true,
        ..Default::default()
    };
    assert_eq!(
        p.scan_with(&Envelope::default(), raw.as_bytes(), all).score,
        22.0
    );
}

#[test]
fn composites_and_force_actions_keep_their_inputs() {
    let mut tree = stop_tree(false);
    tree["composites"] = json!({"HUGE_WORD": {"expression": "HUGE & RAW_WORD", "score": -30}});
    let p = pipeline(&tree);
    let (v, t) = p.explain(&Envelope::default(), msg("huge", "word").as_bytes());
    // A composite could remove HUGE and add -30: no early stop.
    assert!(t.skipped.is_empty(), "{:?}", names(&p, &t.skipped));
    assert_eq!(v.action, Action::NoAction);
    assert_eq!(v.score, 1.0 - 30.0);

    let mut tree = stop_tree(false);
    tree["actions"]["phishing"] = json!({"flags": ["no_threshold"], "milter": "discard"});
    tree["force_actions"] =
        json!({"rules": {"F": {"expression": "BODY_WORD", "action": "phishing"}}});
    let p = pipeline(&tree);
    let (v, t) = p.explain(&Envelope::default(), msg("huge", "word").as_bytes());
    assert!(
        names(&p, &t.rules.iter().map(|r| r.rule).collect::<Vec<_>>())
            .contains(&"BODY_WORD".to_string())
    );
    assert_eq!(v.action, Action::Discard);
    assert_eq!(v.passthrough_module.as_deref(), Some("force_actions"));
}

#[test]
fn per_rule_counters() {
    let p = pipeline(&stop_tree(true));
    let env = Envelope::default();
    for _ in 0..3 {
        p.scan(&env, msg("huge", "nothing").as_bytes());
    }
    p.explain(&env, msg("x", "word").as_bytes());
    let stats = p.stats().snapshot();
    let by_name = |n: &str| {
        stats
            .iter()
            .find(|s| p.registry().symbols[p.rule_set().rules[s.rule].symbol].name == n)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("HUGE").evaluations, 4);
    assert_eq!(by_name("HUGE").hits, 3);
    assert_eq!(by_name("BODY_WORD").hits, 1);
    assert!(
        by_name("BODY_WORD").avg_time.is_some(),
        "explain scans are timed"
    );
}

fn set_mtime(path: &std::path::Path, t: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[test]
fn map_files_reload_when_they_change() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("senders.map");
    std::fs::write(&map, "first@example.org\n").unwrap();
    set_mtime(&map, SystemTime::now() - Duration::from_secs(60));
    let tree = json!({
        "options": {"map_watch_interval": 0},
        "multimap": {"BAD_SENDER": {"type": "from", "map": map.display().to_string(), "score": 5}}
    });
    let p = pipeline(&tree);
    let env = |from: &str| Envelope {
        from: Some(from.into()),
        ..Envelope::default()
    };
    let body = msg("x", "y");
    let has = |v: &sluice::verdict::Verdict| v.symbols.iter().any(|s| s.name == "BAD_SENDER");
    assert!(has(&p.scan(&env("first@example.org"), body.as_bytes())));
    assert!(!has(&p.scan(&env("second@example.org"), body.as_bytes())));

    std::fs::write(&map, "second@example.org\n").unwrap();
    set_mtime(&map, SystemTime::now());
    assert!(has(&p.scan(&env("second@example.org"), body.as_bytes())));
    assert!(!has(&p.scan(&env("first@example.org"), body.as_bytes())));

    // A vanished file keeps the last good contents.
    std::fs::remove_file(&map).unwrap();
    assert!(has(&p.scan(&env("second@example.org"), body.as_bytes())));
}

#[test]
fn a_map_file_absent_at_start_fills_when_it_appears() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("later.map");
    let tree = json!({
        "options": {"map_watch_interval": 0},
        "multimap": {"LATER": {"type": "ip", "map": map.display().to_string(), "score": 1}}
    });
    let p = pipeline(&tree);
    assert!(!p.warnings().is_empty(), "missing map is reported");
    let env = Envelope {
        client_ip: Some("192.0.2.9".parse().unwrap()),
        ..Envelope::default()
    };
    let body = msg("x", "y");
    assert!(p.scan(&env, body.as_bytes()).symbols.is_empty());
    std::fs::write(&map, "192.0.2.0/24\n").unwrap();
    assert_eq!(p.scan(&env, body.as_bytes()).symbols[0].name, "LATER");
}

fn replies(v: &sluice::verdict::Verdict) -> Vec<Reply> {
    let agreed = Negotiated {
        version: 6,
        actions: 0x1ff,
        protocol: 0,
    };
    respond(
        v,
        &Transaction::new(1 << 20),
        &agreed,
        &SessionSettings::default(),
    )
    .packets
}

#[test]
fn custom_actions_reach_the_milter_replies() {
    let tree = json!({
        "actions": {
            "reject": 50,
            "add header": 6,
            "greylist": null,
            "my_quarantine": {"score": 10, "milter": "quarantine"},
            "phishing": {"flags": ["no_threshold"], "milter": "discard"},
            "hold": {"flags": ["no_threshold"], "milter": "tempfail"},
        },
        "regexp": {
            "SPAM": {"re": "Subject=/spam/", "score": 12},
            "PHISH": {"re": "Subject=/phish/", "score": 1},
            "HOLD": {"re": "Subject=/hold/", "score": 0},
        },
        "force_actions": {"rules": {
            "P": {"expression": "PHISH", "action": "phishing"},
            "H": {"expression": "HOLD", "action": "hold", "message": "try later"},
        }},
    });
    let p = pipeline(&tree);
    let env = Envelope::default();
    let v = p.scan(&env, msg("spam", "x").as_bytes());
    assert_eq!(v.action, Action::Quarantine);
    let r = replies(&v);
    assert!(matches!(r[r.len() - 2], Reply::Quarantine(_)), "{r:?}");
    assert_eq!(r.last(), Some(&Reply::Accept));

    let v = p.scan(&env, msg("phish", "x").as_bytes());
    assert_eq!(replies(&v).last(), Some(&Reply::Discard));

    let v = p.scan(&env, msg("hold", "x").as_bytes());
    assert_eq!(v.action, Action::SoftReject);
    match replies(&v).last() {
        Some(Reply::ReplyCode(t)) => {
            let t = String::from_utf8_lossy(t);
            assert!(t.starts_with("451") && t.contains("try later"), "{t}");
        }
        other => panic!("expected a 451 reply, got {other:?}"),
    }
    // No threshold: a high score alone never reaches `phishing`.
    assert!(v.thresholds.iter().all(|(a, _)| *a != Action::Discard));
}

#[test]
fn explain_lists_symbols_options_weights_and_rule_times() {
    let tree = json!({
        "options": {"pass_all": true},
        "regexp": {"HUGE": {"re": "Subject=/huge/", "score": 20}, "NOPE": {"re": "/nope/P", "score": 1}},
        "multimap": {"MM": {"type": "header", "header": "X-Tag", "map": ["blue"], "score": 0.5}},
    });
    let p = pipeline(&tree);
    let raw = "X-Tag: blue\nSubject: huge\n\nbody\n";
    let (v, t) = p.explain(&Envelope::default(), raw.as_bytes());
    let text = sluice::scan::explain::render(&p, &v, &t, "m.eml");
    assert!(text.contains("File: m.eml"), "{text}");
    assert!(text.contains("Action: reject"), "{text}");
    assert!(text.contains("MM") && text.contains("[blue]"), "{text}");
    assert!(text.contains("(weight 20.00)"), "{text}");
    let hit_line = text
        .lines()
        .find(|l| l.contains("HIT") && l.contains("HUGE"));
    assert!(hit_line.is_some_and(|l| l.ends_with("us")), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("NOPE") && !l.contains("HIT")),
        "{text}"
    );
}

use crate::common;

/// The early stop must never change an action: on a corpus sample the
/// default pipeline and a `pass_all` one agree on every verdict's action.
#[test]
fn early_stop_never_changes_the_action_on_the_corpus() {
    let full = common::shipped_pipeline();
    let mut tree = common::shipped_tree();
    tree["options"]["pass_all"] = json!(false);
    let fast = pipeline(&tree);
    let env = Envelope::default();
    let mut n = 0;
    for label in ["ham", "spam", "mime"] {
        let mut files: Vec<_> = std::fs::read_dir(common::corpus_dir().join(label))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        for f in files.iter().step_by(10) {
            let raw = std::fs::read(f).unwrap();
            let a = full.scan(&env, &raw);
            let b = fast.scan(&env, &raw);
            assert_eq!(a.action, b.action, "{}", f.display());
            n += 1;
        }
    }
    assert!(n > 50, "sampled {n} messages");
}
