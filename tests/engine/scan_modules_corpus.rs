//! The whole shared corpus through the full shipped rule set (regexp rules
//! and content modules): nothing panics, the label x action table meets the
//! issue's goals against Rspamd 3.4's content rules on the same corpus, and
//! every shipped symbol fires on the corpus or in a golden case.
use crate::common;
use crate::golden;

use std::collections::{BTreeMap, BTreeSet};

use sluice::config::rules::ScanConfig;
use sluice::message::Envelope;
use sluice::scan::modules::ModuleSet;
use sluice::scan::rules::RuleSet;
use sluice::scan::symbols::Registry;
use sluice::verdict::Action;

/// Rspamd 3.4 on this corpus: 34% of ham above "no action", 65% of spam
/// at "add header" or worse.
const RSPAMD_HAM_FLAGGED: f64 = 0.34;
const RSPAMD_SPAM_ADD_HEADER: f64 = 0.65;

#[test]
fn corpus_accuracy_beats_rspamd_content_rules_and_every_rule_is_live() {
    let pipeline = common::shipped_pipeline();
    let dir = common::corpus_dir();
    let labels = std::fs::read_to_string(dir.join("labels.tsv")).unwrap();
    let env = Envelope::default();
    let mut table: BTreeMap<(String, &'static str), usize> = BTreeMap::new();
    let mut totals: BTreeMap<String, usize> = BTreeMap::new();
    let mut fired: BTreeSet<String> = BTreeSet::new();
    for line in labels.lines().skip(1) {
        let mut cols = line.split('\t');
        let (file, label) = (cols.next().unwrap(), cols.next().unwrap());
        let v = pipeline.scan(&env, &std::fs::read(dir.join(file)).unwrap());
        assert!(v.score.is_finite(), "{file}");
        if label == "ham" {
            assert_ne!(
                v.action,
                Action::Reject,
                "ham rejected: {file}: {}",
                v.symbol_list()
            );
        }
        fired.extend(v.symbols.iter().map(|s| s.name.clone()));
        *table
            .entry((label.to_string(), v.action.as_str()))
            .or_default() += 1;
        *totals.entry(label.to_string()).or_default() += 1;
    }
    println!("label x action (shipped rules + modules):");
    for ((label, action), n) in &table {
        let pct = 100.0 * *n as f64 / totals[label] as f64;
        println!("  {label:5} {action:16} {n:5} ({pct:4.1}%)");
    }
    let share = |label: &str, f: &dyn Fn(&str) -> bool| {
        let n: usize = table
            .iter()
            .filter(|((l, a), _)| l == label && f(a))
            .map(|(_, n)| n)
            .sum();
        n as f64 / totals[label] as f64
    };
    let ham_flagged = share("ham", &|a| a != Action::NoAction.as_str());
    let spam_caught = share("spam", &|a| {
        [Action::AddHeader, Action::RewriteSubject, Action::Reject]
            .iter()
            .any(|x| x.as_str() == a)
    });
    assert!(
        ham_flagged < RSPAMD_HAM_FLAGGED,
        "ham flagged {ham_flagged:.3}"
    );
    assert!(
        spam_caught > RSPAMD_SPAM_ADD_HEADER,
        "spam caught {spam_caught:.3}"
    );

    // Every shipped symbol is live: it fires on the corpus or in a golden case.
    let mut positive = fired;
    for p in golden::files(&common::repo_file("tests/rules/modules")) {
        let name = p.display().to_string();
        for c in golden::parse(&name, &std::fs::read_to_string(&p).unwrap()) {
            positive.extend(c.must);
        }
    }
    let tree = common::shipped_tree();
    let cfg = ScanConfig::from_tree(&tree).unwrap();
    let mut registry = Registry::new(&cfg);
    RuleSet::compile(&cfg, &mut registry).unwrap();
    let modules = ModuleSet::from_config(&cfg, &mut registry).unwrap();
    let shipped: Vec<String> = cfg
        .regexp
        .keys()
        .cloned()
        .chain(modules.symbol_names().into_iter().map(str::to_string))
        .collect();
    assert!(
        shipped.len() >= 300,
        "at least 300 shipped rules: {}",
        shipped.len()
    );
    let dead: Vec<&String> = shipped.iter().filter(|s| !positive.contains(*s)).collect();
    assert!(dead.is_empty(), "rules that never fire: {dead:?}");
}
