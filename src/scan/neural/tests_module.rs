//! The module in a pipeline: config, autolearn, training on the thread,
//! the swap, and retirement when the symbol set changes.
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::config::{rules, NeuralConfigError, RuleConfig};
use super::module::autolearn_class;
use super::store::{decode_vector, encode_vector, Ann, AnnStore, Class};
use super::worker::{may_store, ready};
use super::*;
use crate::message::Envelope;
use crate::scan::Pipeline;
use crate::state::store::{Lazy, Store};
use crate::verdict::{Action, Symbol, Verdict};

#[test]
fn no_section_or_no_rules_means_no_rule() {
    assert_eq!(rules(None).unwrap(), vec![]);
    assert_eq!(rules(Some(&json!({"timeout": 20}))).unwrap(), vec![]);
    let off = json!({"enabled": false, "rules": {"a": {}}});
    assert_eq!(rules(Some(&off)).unwrap(), vec![]);
}

#[test]
fn rules_take_rspamd_defaults_and_keys() {
    let got = rules(Some(&json!({"rules": {
        "LONG": {"train": {"max_trains": "5k", "max_usages": 200, "learning_rate": 0.001,
                           "max_iterations": 50, "spam_score": 8, "ham_score": "-2"},
                 "symbol_spam": "NEURAL_SPAM_LONG", "symbol_ham": "NEURAL_HAM_LONG",
                 "ann_expire": "100d"},
        "SHORT": {}
    }})))
    .unwrap();
    let long = &got[0];
    assert_eq!(long.name, "LONG");
    assert_eq!(long.train.max_trains, 5000);
    assert_eq!(long.train.max_usages, 200);
    assert!((long.train.learning_rate - 0.001).abs() < 1e-12);
    assert_eq!(long.train.max_iterations, 50);
    assert_eq!(long.train.spam_score, Some(8.0));
    assert_eq!(long.train.ham_score, Some(-2.0));
    assert_eq!(long.symbol_spam, "NEURAL_SPAM_LONG");
    assert_eq!(long.ann_expire, Duration::from_secs(100 * 86_400));
    assert_eq!(got[1], RuleConfig::named("SHORT"));
    let d = &got[1];
    assert_eq!(
        (
            d.train.max_trains,
            d.train.max_usages,
            d.train.max_iterations
        ),
        (1000, 10, 25)
    );
    assert_eq!(d.ann_expire, Duration::from_secs(2 * 86_400));
    assert_eq!(
        (d.symbol_spam.as_str(), d.symbol_ham.as_str()),
        ("NEURAL_SPAM", "NEURAL_HAM")
    );
    // The legacy form: `train` at the top is one rule named `default`.
    let legacy = rules(Some(&json!({"train": {"max_trains": 10}}))).unwrap();
    assert_eq!(
        (legacy[0].name.as_str(), legacy[0].train.max_trains),
        ("default", 10)
    );
}

#[test]
fn bad_rules_name_their_key() {
    let e = rules(Some(
        &json!({"rules": {"x": {"train": {"max_trains": "lots"}}}}),
    ))
    .unwrap_err();
    assert!(
        matches!(&e, NeuralConfigError::Shape { key, .. } if key == "neural.rules.x.train.max_trains"),
        "{e}"
    );
    let e = rules(Some(&json!({"rules": {"a": {}, "b": {}}}))).unwrap_err();
    assert!(
        matches!(e, NeuralConfigError::DuplicateSymbol { .. }),
        "{e}"
    );
    // The training run's share of a core under scans: a fraction, 0.1 unless set.
    let share = |v: serde_json::Value| {
        rules(Some(&json!({"rules": {"x": {"train": {"cpu_share": v}}}})))
            .map(|r| r[0].train.cpu_share)
    };
    assert_eq!(share(json!(0.5)), Ok(0.5));
    assert_eq!(share(json!("1")), Ok(1.0));
    for bad in [json!(0), json!(1.5), json!(-0.1)] {
        let e = share(bad).unwrap_err();
        assert!(
            matches!(&e, NeuralConfigError::Shape { key, .. } if key == "neural.rules.x.train.cpu_share"),
            "{e}"
        );
    }
    let d = rules(Some(&json!({"rules": {"x": {}}}))).unwrap();
    assert!((d[0].train.cpu_share - 0.1).abs() < 1e-12);
}

fn verdict(action: Action, score: f64, scores: &[f64]) -> Verdict {
    let mut v = Verdict::empty(15.0);
    v.action = action;
    v.score = score;
    v.symbols = scores
        .iter()
        .enumerate()
        .map(|(i, &s)| Symbol {
            name: format!("S{i}"),
            score: s,
            metric_score: s,
            description: None,
            options: Vec::new(),
        })
        .collect();
    v
}

#[test]
fn autolearn_follows_rspamd_verdicts_or_the_scores() {
    let by_verdict = RuleConfig::named("r");
    let spam = verdict(Action::Reject, 20.0, &[10.0, 10.0]);
    let lone = verdict(Action::Reject, 20.0, &[20.0]);
    let junk = verdict(Action::AddHeader, 7.0, &[3.0, 3.0, 1.0]);
    let ham = verdict(Action::NoAction, -0.5, &[-0.5]);
    let unsure = verdict(Action::NoAction, 1.0, &[1.0]);
    let cls = |v: &Verdict| autolearn_class(&by_verdict, v);
    assert_eq!(cls(&spam), Some(Class::Spam));
    assert_eq!(cls(&lone), None);
    assert_eq!(cls(&junk), Some(Class::Spam));
    assert_eq!(cls(&ham), Some(Class::Ham));
    assert_eq!(cls(&unsure), None);
    let mut by_score = RuleConfig::named("r");
    by_score.train.spam_score = Some(10.0);
    by_score.train.ham_score = Some(0.0);
    assert_eq!(autolearn_class(&by_score, &junk), None);
    assert_eq!(autolearn_class(&by_score, &lone), Some(Class::Spam));
    assert_eq!(autolearn_class(&by_score, &ham), Some(Class::Ham));
    by_score.train.autotrain = false;
    assert_eq!(autolearn_class(&by_score, &lone), None);
}

#[test]
fn storing_keeps_the_classes_balanced_and_bounded() {
    let mut cfg = RuleConfig::named("r");
    cfg.train.max_trains = 10;
    // Behind or even: always stored; a full class: never.
    assert!(may_store(&cfg, Class::Spam, (3, 3), 0.0));
    assert!(may_store(&cfg, Class::Ham, (5, 2), 0.0));
    assert!(!may_store(&cfg, Class::Spam, (10, 10), 0.99));
    // Ahead 4 to 1: skipped unless the coin is past 1 - 1/5.
    assert!(!may_store(&cfg, Class::Spam, (4, 1), 0.7));
    assert!(may_store(&cfg, Class::Spam, (4, 1), 0.9));
    assert!(!ready(&cfg, (10, 9)));
    assert!(ready(&cfg, (10, 10)));
    cfg.train.classes_bias = 0.2;
    assert!(ready(&cfg, (10, 8)));
}

#[test]
fn vectors_are_stored_sparse_and_damage_is_refused() {
    let v = vec![0.0, 0.5, 0.0, 1.0];
    assert_eq!(encode_vector(&v), "1:0.5;3:1");
    assert_eq!(decode_vector("1:0.5;3:1", 4), Some(v));
    assert_eq!(decode_vector("", 2), Some(vec![0.0, 0.0]));
    assert_eq!(decode_vector("4:1", 4), None);
    assert_eq!(decode_vector("1:x", 4), None);
    assert_eq!(decode_vector("1:NaN", 4), None);
}

#[test]
fn a_network_of_another_symbol_set_is_retired() {
    let a = Profile::new(["A", "B"]);
    let b = Profile::new(["A", "B", "C"]);
    let samples = vec![
        Sample {
            inputs: vec![1.0, 0.0],
            spam: true,
        },
        Sample {
            inputs: vec![0.0, 1.0],
            spam: false,
        },
    ];
    let ann = Ann {
        digest: a.digest().to_string(),
        version: 3,
        net: train(&samples, &TrainParams::default()).unwrap(),
    };
    let text = ann.encode();
    assert_eq!(Ann::decode("k", &text, &a).unwrap(), ann);
    assert!(matches!(
        Ann::decode("k", &text, &b),
        Err(NeuralStoreError::Retired { .. })
    ));
    // The same digest claimed over a network of the wrong width: retired too.
    let forged = text.replacen(a.digest(), b.digest(), 1);
    assert!(matches!(
        Ann::decode("k", &forged, &b),
        Err(NeuralStoreError::Retired { .. })
    ));
    assert!(matches!(
        Ann::decode("k", "sluice-ann 1 x", &a),
        Err(NeuralStoreError::Record { .. } | NeuralStoreError::Retired { .. })
    ));
}

fn tree(extra_rule: bool) -> Value {
    let mut regexp = json!({
        "T_PILLS": {"re": "Subject=/cheap pills/i", "score": 8.0},
        "T_NOTES": {"re": "Subject=/meeting notes/i", "score": -2.0},
    });
    if extra_rule {
        regexp["T_EXTRA"] = json!({"re": "Subject=/never seen/", "score": 1.0});
    }
    json!({
        "regexp": regexp,
        "symbols": {"NEURAL_SPAM": {"weight": 3.0}, "NEURAL_HAM": {"weight": -3.0}},
        "neural": {"rules": {"r": {
            "watch_interval": 0.2,
            "train": {"max_trains": 4, "spam_score": 5, "ham_score": -1,
                      "max_iterations": 200, "learning_rate": 0.05}
        }}}
    })
}

fn pipeline(tree: &Value, path: &std::path::Path) -> Pipeline {
    let store = AnnStore {
        store: Store::Embedded(Arc::new(Lazy::new(path.to_path_buf()))),
        timeout: Duration::from_secs(5),
    };
    Pipeline::from_config(tree).unwrap().with_neural(store)
}

fn message(subject: &str, n: usize) -> Vec<u8> {
    format!(
        "From: a@example.com\r\nTo: b@example.org\r\nSubject: {subject}\r\n\
         Message-ID: <{n}@example.com>\r\n\r\nHello {n}\r\n"
    )
    .into_bytes()
}

fn scan(p: &Pipeline, subject: &str, n: usize) -> Verdict {
    let env = Envelope::default();
    p.scan_outcome(&env, &message(subject, n), Default::default())
        .learned_by(None)
}

fn wait_for(what: &str, f: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn neural_symbols(v: &Verdict) -> Vec<&str> {
    v.symbols
        .iter()
        .map(|s| s.name.as_str())
        .filter(|n| n.starts_with("NEURAL_"))
        .collect()
}

#[test]
fn autolearned_mail_trains_a_network_that_is_applied_and_retired_on_a_new_symbol_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let p = pipeline(&tree(false), &path);
    let n = p.neural().unwrap();
    assert_eq!(n.version(0), 0);
    // No network yet: nothing added.
    assert!(neural_symbols(&scan(&p, "cheap pills", 0)).is_empty());
    for k in 1..=4 {
        scan(&p, "cheap pills", k);
        scan(&p, "meeting notes", 100 + k);
    }
    wait_for("training", || n.version(0) > 0);
    let spam = scan(&p, "cheap pills", 50);
    let ham = scan(&p, "meeting notes", 150);
    assert_eq!(neural_symbols(&spam), ["NEURAL_SPAM"], "{:?}", spam.symbols);
    assert_eq!(neural_symbols(&ham), ["NEURAL_HAM"], "{:?}", ham.symbols);
    let s = spam
        .symbols
        .iter()
        .find(|s| s.name == "NEURAL_SPAM")
        .unwrap();
    assert!(s.score > 0.0 && s.score <= 3.0, "{s:?}");
    let without = spam.score - s.score;
    assert!(spam.score > without && without >= 8.0, "{spam:?}");

    // The same config again (a reload): the stored network is loaded.
    let again = pipeline(&tree(false), &path);
    scan(&again, "cheap pills", 60);
    wait_for("the stored network", || {
        again.neural().unwrap().version(0) > 0
    });
    assert_eq!(
        neural_symbols(&scan(&again, "cheap pills", 61)),
        ["NEURAL_SPAM"]
    );

    // One more rule: another symbol set, and the network is never applied.
    let changed = pipeline(&tree(true), &path);
    let cn = changed.neural().unwrap();
    assert_ne!(
        cn.rules().profiles().next().unwrap().1.digest(),
        n.rules().profiles().next().unwrap().1.digest()
    );
    scan(&changed, "cheap pills", 70);
    wait_for("a look at the store", || cn.refreshes(0) >= 2);
    assert_eq!(cn.version(0), 0);
    assert!(neural_symbols(&scan(&changed, "cheap pills", 71)).is_empty());
}

#[test]
fn forced_actions_and_unattached_pipelines_learn_nothing() {
    let p = Pipeline::from_config(&tree(false)).unwrap();
    assert!(p.neural().is_none());
    assert_eq!(p.neural_rules().unwrap().profiles().count(), 1);
    let env = Envelope::default();
    let s = p.scan_outcome(&env, &message("cheap pills", 1), Default::default());
    assert!(s.neural.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&tree(false), &dir.path().join("s.redb"));
    let gtube = b"Subject: t\r\n\r\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n";
    let s = p.scan_outcome(&env, gtube, Default::default());
    assert!(s.verdict.passthrough_module.is_some());
    assert!(s.neural.is_empty());
    let s = p.scan_outcome(&env, &message("cheap pills", 2), Default::default());
    assert_eq!(s.neural.len(), 1);
    assert_eq!(s.neural[0].class(), Class::Spam);
    // Neither autolearn class, but an explicit `ANN-Train: ham`.
    let unsure = message("nothing special", 3);
    assert!(p
        .scan_outcome(&env, &unsure, Default::default())
        .neural
        .is_empty());
    let opts = crate::verdict::ScanOptions {
        ann_train: Some(crate::verdict::AnnTrain::Ham),
        ..Default::default()
    };
    let s = p.scan_outcome(&env, &unsure, opts);
    assert_eq!(s.neural.len(), 1);
    assert_eq!(s.neural[0].class(), Class::Ham);
}
