//! The whole shared corpus through the shipped rules: nothing panics, and the
//! label x action table stays sane (no ham rejected, ham mostly clean).
use crate::common;

use std::collections::BTreeMap;

use sluice::message::Envelope;
use sluice::verdict::Action;

#[test]
fn every_corpus_file_scans_and_ham_is_not_rejected() {
    let pipeline = common::shipped_pipeline();
    let dir = common::corpus_dir();
    let labels = std::fs::read_to_string(dir.join("labels.tsv")).unwrap();
    let env = Envelope::default();
    let mut table: BTreeMap<(String, &'static str), usize> = BTreeMap::new();
    let mut per_label: BTreeMap<String, usize> = BTreeMap::new();
    let mut symbol_hits: BTreeMap<(String, String), usize> = BTreeMap::new();
    for line in labels.lines().skip(1) {
        let mut cols = line.split('\t');
        let (file, label) = (cols.next().unwrap(), cols.next().unwrap().to_string());
        let raw = std::fs::read(dir.join(file)).unwrap();
        let v = pipeline.scan(&env, &raw);
        assert!(v.score.is_finite(), "{file}: score {}", v.score);
        assert!(
            v.milter
                .add_headers
                .iter()
                .any(|h| h.name == "X-Spamd-Result")
                || v.is_skipped,
            "{file}"
        );
        if label == "ham" {
            assert_ne!(
                v.action,
                Action::Reject,
                "ham rejected: {file}: {}",
                v.symbol_list()
            );
        }
        for s in &v.symbols {
            *symbol_hits
                .entry((label.clone(), s.name.clone()))
                .or_default() += 1;
        }
        *table.entry((label.clone(), v.action.as_str())).or_default() += 1;
        *per_label.entry(label).or_default() += 1;
    }
    assert_eq!(
        per_label.values().sum::<usize>(),
        3293,
        "every corpus file was scanned"
    );
    println!("label x action:");
    for ((label, action), n) in &table {
        println!("  {label:5} {action:16} {n:5}");
    }
    println!("label x symbol:");
    for ((label, sym), n) in &symbol_hits {
        println!("  {label:5} {sym:22} {n:5}");
    }
    let ham_clean = table
        .get(&("ham".to_string(), "no action"))
        .copied()
        .unwrap_or(0);
    // The full shipped set flags some commercial newsletters of the ham
    // half; the goal (well under Rspamd's 34% of ham flagged) is
    // asserted in scan_modules_corpus.rs.
    assert!(
        ham_clean * 100 >= per_label["ham"] * 90,
        "ham with no action: {ham_clean}"
    );
    let spam_flagged: usize = table
        .iter()
        .filter(|((l, a), _)| l == "spam" && *a != "no action")
        .map(|(_, n)| n)
        .sum();
    assert!(spam_flagged > 0, "the rules catch some spam");
}

/// A message parsed ahead of the scan (as when the DNS lists read it first) scans exactly as
/// its raw bytes do: same symbols, options, score and action.
#[test]
fn a_parse_handed_over_scans_as_the_raw_message() {
    use sluice::scan::auth::AuthOutcome;
    use sluice::verdict::ScanOptions;
    let pipeline = common::shipped_pipeline();
    let dir = common::corpus_dir();
    let labels = std::fs::read_to_string(dir.join("labels.tsv")).unwrap();
    let env = Envelope::default();
    let auth = AuthOutcome::default();
    let mut n = 0;
    for line in labels.lines().skip(1).step_by(25) {
        let file = line.split('\t').next().unwrap();
        let raw = bytes::Bytes::from(std::fs::read(dir.join(file)).unwrap());
        let direct = pipeline
            .scan_authenticated(&env, &raw, ScanOptions::default(), &auth)
            .verdict;
        let parsed = pipeline.parse(raw.clone());
        let handed = pipeline
            .scan_parsed(&env, &parsed, ScanOptions::default(), &auth)
            .verdict;
        let seen = |v: &sluice::verdict::Verdict| {
            let mut s: Vec<_> = v
                .symbols
                .iter()
                .map(|s| (s.name.clone(), s.score.to_bits(), s.options.clone()))
                .collect();
            s.sort();
            (s, v.score.to_bits(), v.action.as_str(), v.urls.clone())
        };
        assert_eq!(seen(&handed), seen(&direct), "{file}");
        n += 1;
    }
    assert!(n > 100, "{n} files compared");
}
