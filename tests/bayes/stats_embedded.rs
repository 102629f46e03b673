//! Bayes with the embedded store through the real config loader and the
//! real scan pipeline: learning, relearn moves, the min_learns gate,
//! per-user statistics, reopening, the single-writer lock, and autolearn
//! by the scanner after the verdict.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sluice::config::{Config, LoadOptions};
use sluice::message::Envelope;
use sluice::scan::{LocalScanner, Pipeline, ScanRequest, Scanner};
use sluice::stats::store::EmbeddedStore;
use sluice::stats::{Class, LearnOutcome, Stats, StoreError};

fn corpus(class: &str) -> Vec<PathBuf> {
    let dir = std::env::var_os("SLUICE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(class))
        .expect("corpus (set SLUICE_CORPUS)")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// The shipped config with `bayes` overrides in local.d and the store in a
/// temp DBDIR.
fn load(dir: &Path, bayes: &str) -> Config {
    std::fs::create_dir_all(dir.join("local.d")).unwrap();
    std::fs::write(dir.join("local.d/classifier-bayes.conf"), bayes).unwrap();
    Config::load(&LoadOptions {
        config_file: None,
        vars: vec![
            ("DBDIR".into(), dir.join("db").display().to_string()),
            ("LOCAL_CONFDIR".into(), dir.display().to_string()),
        ],
    })
    .expect("config")
}

fn stats(dir: &Path, bayes: &str) -> (Config, Arc<Stats>) {
    let cfg = load(dir, bayes);
    let stats = Stats::from_config(cfg.bayes.as_ref())
        .unwrap()
        .expect("bayes configured");
    (cfg, stats)
}

fn learn(stats: &Stats, files: &[PathBuf], class: Class) {
    for f in files {
        stats
            .learn(class, &Envelope::default(), &std::fs::read(f).unwrap())
            .unwrap();
    }
}

#[test]
fn learned_statistics_add_bayes_symbols_to_held_out_mail() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, stats) = stats(dir.path(), "min_learns = 40;");
    let (spam, ham) = (corpus("spam"), corpus("ham"));
    stats.bulk(true).unwrap();
    learn(&stats, &spam[..80], Class::Spam);
    learn(&stats, &ham[..80], Class::Ham);
    stats.bulk(false).unwrap();
    assert_eq!(stats.stat().unwrap().learns.spam, 80);
    let pipeline = Pipeline::from_config(&cfg.tree)
        .unwrap()
        .with_stats(Some(Arc::clone(&stats)));
    let env = Envelope::default();
    let symbol_of = |f: &PathBuf| {
        let v = pipeline.scan(&env, &std::fs::read(f).unwrap());
        v.symbols.into_iter().find(|s| s.name.starts_with("BAYES_"))
    };
    let mut spam_hits = 0;
    for f in &spam[100..130] {
        if let Some(s) = symbol_of(f).filter(|s| s.name == "BAYES_SPAM") {
            assert!(s.score > 0.0 && s.score <= 5.1, "{s:?}");
            assert!(s.options[0].ends_with('%'), "{s:?}");
            spam_hits += 1;
        }
    }
    let mut ham_hits = 0;
    for f in &ham[100..130] {
        if let Some(s) = symbol_of(f).filter(|s| s.name == "BAYES_HAM") {
            assert!(s.score < 0.0 && s.score >= -3.0, "{s:?}");
            ham_hits += 1;
        }
    }
    assert!(
        spam_hits >= 24,
        "BAYES_SPAM on {spam_hits}/30 held-out spam"
    );
    assert!(ham_hits >= 18, "BAYES_HAM on {ham_hits}/30 held-out ham");
}

#[test]
fn relearning_under_the_other_class_moves_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let (_, stats) = stats(dir.path(), "");
    let raw = std::fs::read(&corpus("spam")[0]).unwrap();
    let env = Envelope::default();
    assert_eq!(
        stats.learn(Class::Spam, &env, &raw).unwrap(),
        LearnOutcome::Learned
    );
    assert_eq!(
        stats.learn(Class::Spam, &env, &raw).unwrap(),
        LearnOutcome::AlreadyLearned
    );
    assert_eq!(
        stats.learn(Class::Ham, &env, &raw).unwrap(),
        LearnOutcome::Moved { from: Class::Spam }
    );
    let st = stats.stat().unwrap();
    assert_eq!((st.learns.spam, st.learns.ham), (0, 1));
    assert!(st.tokens > 20, "{st:?}");
}

#[test]
fn below_min_learns_bayes_stays_silent() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, stats) = stats(dir.path(), "");
    let (spam, ham) = (corpus("spam"), corpus("ham"));
    learn(&stats, &spam[..10], Class::Spam);
    learn(&stats, &ham[..10], Class::Ham);
    let pipeline = Pipeline::from_config(&cfg.tree)
        .unwrap()
        .with_stats(Some(stats));
    // Even a message learned as spam gets no Bayes symbol: 10 < 200.
    let v = pipeline.scan(&Envelope::default(), &std::fs::read(&spam[0]).unwrap());
    assert!(
        v.symbols.iter().all(|s| !s.name.starts_with("BAYES")),
        "{:?}",
        v.symbols
    );
}

#[test]
fn per_user_statistics_are_kept_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (_, stats) = stats(dir.path(), "per_user = true;");
    let raw = std::fs::read(&corpus("spam")[1]).unwrap();
    let alice = Envelope {
        user: Some("alice".into()),
        ..Envelope::default()
    };
    let bob = Envelope {
        rcpts: vec!["bob@example.org".into()],
        ..Envelope::default()
    };
    assert_eq!(
        stats.learn(Class::Spam, &alice, &raw).unwrap(),
        LearnOutcome::Learned
    );
    // Same message, another user: learned again, in bob's statistics.
    assert_eq!(
        stats.learn(Class::Spam, &bob, &raw).unwrap(),
        LearnOutcome::Learned
    );
    let st = stats.stat().unwrap();
    assert_eq!(st.users, 2);
    assert_eq!(st.learns.spam, 0, "global statistics untouched");
}

#[test]
fn store_reopens_with_its_counts_and_is_single_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db/bayes.redb");
    {
        let (_, stats) = stats(dir.path(), "");
        learn(&stats, &corpus("ham")[..3], Class::Ham);
        let second = EmbeddedStore::open(&path).unwrap_err();
        assert!(matches!(second, StoreError::Locked { .. }), "{second}");
    }
    let (_, stats) = stats(dir.path(), "");
    assert_eq!(stats.stat().unwrap().learns.ham, 3);
}

#[test]
fn max_tokens_from_the_config_bounds_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, bounded) = stats(dir.path(), "max_tokens = 3000;");
    assert_eq!(cfg.bayes.as_ref().unwrap().max_tokens, 3000);
    let spam = corpus("spam");
    learn(&bounded, &spam[..60], Class::Spam);
    let tokens = bounded.stat().unwrap().tokens;
    // Past 3000 the store drops to 2250, then grows by a message's tokens
    // at a time until it passes 3000 again.
    assert!((2250..=3000).contains(&tokens), "{tokens} tokens");
    // The shipped default keeps every token.
    let other = tempfile::tempdir().unwrap();
    let (cfg, unbounded) = stats(other.path(), "");
    assert_eq!(cfg.bayes.as_ref().unwrap().max_tokens, 0);
    learn(&unbounded, &spam[..60], Class::Spam);
    assert!(unbounded.stat().unwrap().tokens > 3000);
}

#[test]
fn a_foreign_file_is_a_typed_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bayes.redb");
    std::fs::write(&path, b"this is not a database file, just text").unwrap();
    let e = EmbeddedStore::open(&path).unwrap_err();
    assert!(matches!(e, StoreError::Embedded { .. }), "{e}");
}

/// The pipeline only proposes what to learn; the scanner that owns the
/// store learns it once the verdict is decided.
#[tokio::test]
async fn autolearn_is_learned_by_the_scanner_after_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, stats) = stats(
        dir.path(),
        "autolearn { spam_threshold = -1000.0; ham_threshold = -2000.0; }",
    );
    let raw = std::fs::read(&corpus("spam")[0]).unwrap();
    let learns = || stats.stat().unwrap().learns;
    let pipeline = Arc::new(
        Pipeline::from_config(&cfg.tree)
            .unwrap()
            .with_stats(Some(Arc::clone(&stats))),
    );
    let scanned = pipeline.scan_outcome(&Envelope::default(), &raw, Default::default());
    let candidate = scanned.autolearn.as_ref().expect("a score above -1000");
    assert_eq!(candidate.class, Class::Spam);
    assert_eq!((learns().spam, learns().ham), (0, 0), "the scan wrote");

    let scanner = LocalScanner::new(Arc::clone(&pipeline)).with_learner(Some(Arc::clone(&stats)));
    let req = Arc::new(ScanRequest {
        envelope: Envelope::default(),
        message: bytes::Bytes::from(raw.clone()),
        options: Default::default(),
        placement: Default::default(),
    });
    let v = scanner.scan(Arc::clone(&req)).await.unwrap();
    assert_eq!(v.score, scanned.verdict.score);
    assert_eq!((learns().spam, learns().ham), (1, 0));
    // The same message again is already learned, not counted twice.
    scanner.scan(req).await.unwrap();
    assert_eq!((learns().spam, learns().ham), (1, 0));

    // Without a learner, the scanner scans but does not learn.
    let other = corpus("spam")[1].clone();
    let bare = LocalScanner::new(pipeline);
    bare.scan(Arc::new(ScanRequest {
        envelope: Envelope::default(),
        message: bytes::Bytes::from(std::fs::read(other).unwrap()),
        options: Default::default(),
        placement: Default::default(),
    }))
    .await
    .unwrap();
    assert_eq!((learns().spam, learns().ham), (1, 0));
}
