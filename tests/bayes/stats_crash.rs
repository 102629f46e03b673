//! kill -9 during `sluice learn`: the store reopens, is consistent, and
//! lost at most the message in flight.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sluice::stats::store::journal::{self, Journal};
use sluice::stats::store::{EmbeddedStore, Store};

fn spam_dir() -> PathBuf {
    std::env::var_os("SLUICE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"))
        .join("spam")
}

#[test]
fn kill_9_mid_learn_loses_at_most_the_message_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bayes.redb");
    let jpath = Journal::path_for(&db);
    let mut child = Command::new(crate::support::sluice_bin())
        .args(["learn", "--quiet", "--var"])
        .arg(format!("DBDIR={}", dir.path().display()))
        .arg("--spam")
        .arg(spam_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until a few messages are journaled, note how many, then kill.
    let start = Instant::now();
    let seen = loop {
        let n = journal::read(&jpath).map(|r| r.len()).unwrap_or(0);
        if n >= 8 {
            break n;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "learn made no progress"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let store = EmbeddedStore::open(&db).expect("store opens after kill -9");
    assert!(!jpath.exists(), "journal replayed and removed");
    let learned = store.stat().unwrap().learns.spam as usize;
    assert!(
        learned >= seen,
        "{learned} learned < {seen} journaled before the kill"
    );

    // Consistent: exactly the first `learned` messages (in learn order) are
    // known as spam, and the class counter agrees with the digests.
    let stats = sluice::stats::Stats::with_store(
        sluice::stats::StatsConfig::from_tree(&serde_json::json!({"classifier": {"bayes": {}}}))
            .unwrap()
            .unwrap(),
        Box::new(store),
    );
    let items = sluice::stats::learn::collect(&[spam_dir()], sluice::stats::Class::Spam).unwrap();
    for (i, item) in items.iter().enumerate().take(learned + 3) {
        let outcome = stats
            .learn(sluice::stats::Class::Spam, &Default::default(), &item.raw)
            .unwrap();
        let want = if i < learned {
            sluice::stats::LearnOutcome::AlreadyLearned
        } else {
            sluice::stats::LearnOutcome::Learned
        };
        assert_eq!(outcome, want, "message {i} ({})", item.origin);
    }
}

#[test]
fn learn_and_stat_commands_report_counts() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = {
        let mut v: Vec<PathBuf> = std::fs::read_dir(spam_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v.truncate(5);
        v
    };
    let var = format!("DBDIR={}", dir.path().display());
    let out = Command::new(crate::support::sluice_bin())
        .args(["learn", "--quiet", "--var", &var, "--ham"])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("5 learned"), "{text}");
    let out = Command::new(crate::support::sluice_bin())
        .args(["stat", "--var", &var])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("BAYES_HAM, learned: 5"), "{text}");
    assert!(text.contains("BAYES_SPAM, learned: 0"), "{text}");
}
