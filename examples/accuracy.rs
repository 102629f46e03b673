//! Accuracy report: every file of the shared corpus through the shipped
//! rules, printed as a label x action table for the tuning half (odd file
//! numbers), the held-out half (even) and all, then per-symbol hit counts.
//!
//! Usage: `cargo run --release --example accuracy [CORPUS_DIR] [--symbols]`
//! (default corpus: `$SHARED/corpus`, else `../shared/corpus`).
use std::collections::BTreeMap;
use std::path::PathBuf;

use sluice::config::{load_tree, LoadOptions};
use sluice::message::Envelope;
use sluice::scan::Pipeline;

const ACTIONS: [&str; 5] = [
    "no action",
    "greylist",
    "add header",
    "rewrite subject",
    "reject",
];

#[derive(Default)]
struct Table {
    counts: BTreeMap<(String, String), usize>,
    totals: BTreeMap<String, usize>,
}

impl Table {
    fn add(&mut self, label: &str, action: &str) {
        *self
            .counts
            .entry((label.into(), action.into()))
            .or_default() += 1;
        *self.totals.entry(label.into()).or_default() += 1;
    }

    fn print(&self, title: &str) {
        println!("\n{title}");
        print!("{:6}", "label");
        for a in ACTIONS {
            print!(" {a:>17}");
        }
        println!();
        for (label, total) in &self.totals {
            print!("{label:6}");
            for a in ACTIONS {
                let n = self
                    .counts
                    .get(&(label.clone(), a.into()))
                    .copied()
                    .unwrap_or(0);
                let pct = 100.0 * n as f64 / *total as f64;
                print!(" {:>9} ({pct:4.1}%)", n);
            }
            println!();
        }
    }
}

fn corpus(arg: Option<String>) -> PathBuf {
    arg.map(PathBuf::from)
        .or_else(|| std::env::var_os("SHARED").map(|s| PathBuf::from(s).join("corpus")))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let show_symbols = args.iter().any(|a| a == "--symbols");
    // Ham above this score is listed with its symbols (false-positive review).
    let list_ham_from: Option<f64> = args
        .iter()
        .find_map(|a| a.strip_prefix("--ham-above=").and_then(|v| v.parse().ok()));
    let dir = corpus(args.into_iter().find(|a| !a.starts_with("--")));
    let opts = LoadOptions {
        config_file: None,
        vars: vec![("LOCAL_CONFDIR".into(), "/nonexistent".into())],
    };
    let tree = load_tree(&opts).expect("shipped configuration loads");
    let pipeline = Pipeline::from_config(&tree).expect("shipped rules compile");
    let labels = std::fs::read_to_string(dir.join("labels.tsv")).expect("labels.tsv in the corpus");
    let env = Envelope::default();
    let (mut odd, mut even, mut all) = (Table::default(), Table::default(), Table::default());
    let mut symbols: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut scan_time = std::time::Duration::ZERO;
    for line in labels.lines().skip(1) {
        let mut cols = line.split('\t');
        let (Some(file), Some(label)) = (cols.next(), cols.next()) else {
            continue;
        };
        let raw = std::fs::read(dir.join(file)).expect("corpus file reads");
        let v = pipeline.scan(&env, &raw);
        scan_time += v.scan_time;
        if label == "ham" && list_ham_from.is_some_and(|t| v.score >= t) {
            println!("{file} {:.1} {}", v.score, v.symbol_list());
        }
        let action = v.action.as_str();
        let number: u64 = file
            .rsplit('/')
            .next()
            .and_then(|f| f.split('.').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if number % 2 == 1 { &mut odd } else { &mut even }.add(label, action);
        all.add(label, action);
        for s in &v.symbols {
            *symbols
                .entry(s.name.clone())
                .or_default()
                .entry(label.into())
                .or_default() += 1;
        }
    }
    odd.print("tuning half (odd file numbers)");
    even.print("held-out half (even file numbers)");
    all.print("whole corpus");
    let n: usize = all.totals.values().sum();
    println!(
        "\n{n} messages, {:.1} us/message scan time",
        scan_time.as_secs_f64() * 1e6 / n.max(1) as f64
    );
    if show_symbols {
        println!("\n{:32} {:>6} {:>6} {:>6}", "symbol", "ham", "spam", "mime");
        for (sym, by) in &symbols {
            let g = |l: &str| by.get(l).copied().unwrap_or(0);
            println!("{sym:32} {:>6} {:>6} {:>6}", g("ham"), g("spam"), g("mime"));
        }
    }
}
