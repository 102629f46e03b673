//! The neural module on a real `sluice run`: autolearn-eligible mail fills
//! the training sets, a network is trained off the scan path and NEURAL_*
//! appears in the next scans; after a reload with another symbol set the
//! stored network is retired, never applied.
use crate::support::http as http_support;

use http_support::*;

const NEURAL: (&str, &str) = (
    "local.d/neural.conf",
    "rules { t { watch_interval = 0.2; train { max_trains = 5; spam_score = 15; ham_score = -5; \
     max_iterations = 150; learning_rate = 0.05; } } }\n",
);
const WEIGHTS: (&str, &str) = (
    "local.d/neural_group.conf",
    "symbols { NEURAL_SPAM { weight = 2.0; } NEURAL_HAM { weight = -2.0; } }\n",
);
const RULES: &str = "T_PILLS { re = \"Subject=/cheap pills/i\"; score = 20.0; }\n\
    T_NOTES { re = \"Subject=/meeting notes/i\"; score = -10.0; }\n";

fn message(subject: &str, id: &str) -> Vec<u8> {
    format!(
        "From: a@example.org\r\nTo: b@example.net\r\nSubject: {subject}\r\n\
         Date: Mon, 7 Dec 2026 10:00:00 +0000\r\nMessage-ID: <{id}@example.org>\r\n\r\nHello.\r\n"
    )
    .into_bytes()
}

fn scan(s: &Sluice, subject: &str, id: &str) -> serde_json::Value {
    let r = post(s.http, "/checkv2", &[], &message(subject, id));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn neural(v: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = v["symbols"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("NEURAL_"))
        .cloned()
        .collect();
    names.sort();
    names
}

fn count(s: &Sluice, needle: &str) -> usize {
    s.log().iter().filter(|l| l.contains(needle)).count()
}

#[test]
fn autolearned_mail_trains_a_network_that_a_new_symbol_set_retires() {
    let mut s = Sluice::start(&[NEURAL, WEIGHTS, ("local.d/regexp.conf", RULES)]);
    let first = scan(&s, "cheap pills", "s0");
    assert!(first["score"].as_f64().unwrap() >= 15.0, "{first}");
    assert!(neural(&first).is_empty(), "{first}");
    let ham = scan(&s, "meeting notes", "h0");
    assert!(ham["score"].as_f64().unwrap() <= -5.0, "{ham}");
    for i in 1..5 {
        scan(&s, "cheap pills", &format!("s{i}"));
        scan(&s, "meeting notes", &format!("h{i}"));
    }
    s.wait_log("neural: rule t: trained network version 1 on 10 vectors");
    let spam = scan(&s, "cheap pills", "s9");
    let ham = scan(&s, "meeting notes", "h9");
    assert_eq!(neural(&spam), ["NEURAL_SPAM"], "{spam}");
    assert_eq!(neural(&ham), ["NEURAL_HAM"], "{ham}");
    let weight = spam["symbols"]["NEURAL_SPAM"]["score"].as_f64().unwrap();
    assert!(weight > 0.0 && weight <= 2.0, "{spam}");

    // Another rule: another symbol set. The stored network is not applied.
    let none = "no stored network for symbol set";
    assert_eq!(count(&s, none), 1);
    let more = format!("{RULES}T_OTHER {{ re = \"Subject=/unrelated/\"; score = 1.0; }}\n");
    std::fs::write(s.path("local.d/regexp.conf"), more).unwrap();
    s.hup();
    s.wait_log("configuration reloaded");
    let start = std::time::Instant::now();
    // The new config's first scan starts its module, which finds nothing.
    while count(&s, none) < 2 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "{:#?}",
            s.log()
        );
        scan(&s, "cheap pills", "after");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let lines: Vec<String> = s.log().into_iter().filter(|l| l.contains(none)).collect();
    assert_ne!(lines[0], lines[1]);
    let spam = scan(&s, "cheap pills", "s10");
    assert!(neural(&spam).is_empty(), "{spam}");
}

/// Explicit learns feed the training sets: with autotrain off, scans store
/// nothing, and mail learned through the controller alone (whatever its
/// score) trains the network. A message learned again adds no vector.
#[test]
fn controller_learns_fill_the_sets_and_train_the_network() {
    const EXPLICIT: (&str, &str) = (
        "local.d/neural.conf",
        "rules { t { watch_interval = 0.2; train { max_trains = 3; autotrain = false; \
         max_iterations = 150; learning_rate = 0.05; } } }\n",
    );
    // Mild scores: no autolearn would pick these, by score or by action.
    const MILD: &str = "T_PILLS { re = \"Subject=/cheap pills/i\"; score = 1.0; }\n\
        T_NOTES { re = \"Subject=/meeting notes/i\"; score = -0.5; }\n";
    let mut s = Sluice::start(&[EXPLICIT, WEIGHTS, ("local.d/regexp.conf", MILD)]);
    for i in 0..3 {
        scan(&s, "cheap pills", &format!("scan-s{i}"));
        scan(&s, "meeting notes", &format!("scan-h{i}"));
    }
    let learn = |path: &str, subject: &str, id: &str| {
        let r = post(s.controller, path, &[], &message(subject, id));
        assert_eq!(r.status, 200, "{path} {id}: {}", r.text());
    };
    // Interleaved: the sets are kept balanced, as Rspamd keeps them.
    learn("/learnspam", "cheap pills", "s0");
    learn("/learnham", "meeting notes", "h0");
    learn("/learnspam", "cheap pills", "s1");
    // Already learned (208): no second vector of the same message.
    let again = post(
        s.controller,
        "/learnspam",
        &[],
        &message("cheap pills", "s1"),
    );
    assert_eq!(again.status, 208, "{}", again.text());
    learn("/learnham", "meeting notes", "h1");
    assert_eq!(count(&s, "trained network version"), 0, "{:#?}", s.log());
    learn("/learnspam", "cheap pills", "s2");
    learn("/learnham", "meeting notes", "h2");
    s.wait_log("neural: rule t: trained network version 1 on 6 vectors");
    let spam = scan(&s, "cheap pills", "s9");
    let ham = scan(&s, "meeting notes", "h9");
    assert_eq!(neural(&spam), ["NEURAL_SPAM"], "{spam}");
    assert_eq!(neural(&ham), ["NEURAL_HAM"], "{ham}");
}
