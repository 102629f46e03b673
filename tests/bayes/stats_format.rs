//! The embedded store's file format: a store of the first format (64-bit
//! (user, token) keys and 64-bit counts in a `tokens` table) is converted
//! on open, and classifies every message exactly as the same learned
//! counts did before; `sluice learn` leaves a compacted file.
use std::path::{Path, PathBuf};

use mail_parser::MessageParser;
use redb::{Database, ReadableTable, TableDefinition};
use sluice::message::{Envelope, MessageView};
use sluice::stats::store::layout::{COUNTS, LEARNED, LEARNS, META};
use sluice::stats::store::EmbeddedStore;
use sluice::stats::{BayesHit, Class, Stats, StatsConfig};

const OLD_TOKENS: TableDefinition<(u64, u64), (u64, u64)> = TableDefinition::new("tokens");

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

fn config(path: &Path) -> StatsConfig {
    let tree = serde_json::json!({"classifier": {"bayes": {
        "path": path, "min_learns": 50
    }}});
    StatsConfig::from_tree(&tree).unwrap().unwrap()
}

fn classify(stats: &Stats, files: &[PathBuf]) -> Vec<Option<BayesHit>> {
    let parser = MessageParser::default();
    files
        .iter()
        .map(|f| {
            let raw = std::fs::read(f).unwrap();
            let msg = parser.parse(&raw[..]);
            stats.classify(&Envelope::default(), &MessageView::new(&raw, msg.as_ref()))
        })
        .collect()
}

/// Writes the counts of the (global) store at `from` as the first format
/// wrote them, at `to`.
fn write_first_format(from: &Path, to: &Path) {
    let src = Database::create(from).unwrap();
    let read = src.begin_read().unwrap();
    let dst = Database::create(to).unwrap();
    let txn = dst.begin_write().unwrap();
    {
        let mut tokens = txn.open_table(OLD_TOKENS).unwrap();
        for row in read.open_table(COUNTS).unwrap().iter().unwrap() {
            let (k, v) = row.unwrap();
            let (spam, ham, _) = v.value();
            tokens
                .insert((0, k.value()), (u64::from(spam), u64::from(ham)))
                .unwrap();
        }
        let mut learns = txn.open_table(LEARNS).unwrap();
        for row in read.open_table(LEARNS).unwrap().iter().unwrap() {
            let (k, v) = row.unwrap();
            learns.insert(k.value(), v.value()).unwrap();
        }
        let mut learned = txn.open_table(LEARNED).unwrap();
        for row in read.open_table(LEARNED).unwrap().iter().unwrap() {
            let (k, v) = row.unwrap();
            learned.insert(k.value(), v.value()).unwrap();
        }
        txn.open_table(META).unwrap();
    }
    txn.commit().unwrap();
}

#[test]
fn a_first_format_store_converts_and_classifies_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (new, old) = (dir.path().join("new.redb"), dir.path().join("old.redb"));
    let (spam, ham) = (corpus("spam"), corpus("ham"));
    let held_out: Vec<PathBuf> = spam[100..130]
        .iter()
        .chain(&ham[100..130])
        .cloned()
        .collect();
    let before = {
        let stats = Stats::open(config(&new)).unwrap();
        stats.bulk(true).unwrap();
        for (files, class) in [(&spam[..80], Class::Spam), (&ham[..80], Class::Ham)] {
            for f in files {
                let raw = std::fs::read(f).unwrap();
                stats.learn(class, &Envelope::default(), &raw).unwrap();
            }
        }
        stats.bulk(false).unwrap();
        classify(&stats, &held_out)
    };
    assert!(
        before.iter().filter(|h| h.is_some()).count() >= 30,
        "enough messages get a Bayes symbol to compare: {before:?}"
    );
    write_first_format(&new, &old);
    let tokens = EmbeddedStore::open(&new).unwrap();
    let want = sluice::stats::Store::stat(&tokens).unwrap();
    drop(tokens);
    let stats = Stats::open(config(&old)).unwrap();
    let got = stats.stat().unwrap();
    assert_eq!((got.tokens, got.learns), (want.tokens, want.learns));
    assert_eq!(classify(&stats, &held_out), before);
}
