//! Development tool: k-fold cross-validation of the Bayes classifier alone,
//! on pre-tokenized messages and in-memory counts, so a tuning change is
//! measured in seconds rather than the minute a full `sluice eval-bayes`
//! takes. It prints the classifier's confusion, the probability histogram
//! and the misclassified files. `sluice eval-bayes` stays the reference.
//!
//! Usage: `cargo run --release --example bayes_cv [CORPUS_DIR] [FOLDS]`;
//! `MPS`, `MTH`, `MINTOK` override min_prob_strength, min_token_hits and
//! min_tokens; `SHOW=1` lists the files Bayes got wrong, `SHOW_RULES=1` the
//! ham the rules score at 4 or more. The "+bayes" rows add the symbol the
//! way the shipped weights (BAYES_SPAM 5.1, BAYES_HAM -3.0) would, to the
//! rules-only score: close to, not the same as, a scan with Bayes.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mail_parser::{HeaderName, MessageParser};
use sluice::config::{load_tree, LoadOptions};
use sluice::message::Envelope;
use sluice::message::MessageView;
use sluice::scan::Pipeline;
use sluice::stats::classifier::{self, Counts, Learns, Tuning};
use sluice::stats::tokenizer::{self, Token};

struct Msg {
    name: String,
    spam: bool,
    tokens: Vec<Token>,
    rules: f64,
}

fn load(dir: &Path, spam: bool, parser: &MessageParser, rules: &Pipeline, out: &mut Vec<Msg>) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for f in files {
        let raw = std::fs::read(&f).expect("read");
        let msg = parser.parse(&raw[..]);
        let view = MessageView::new(&raw, msg.as_ref());
        out.push(Msg {
            name: f.display().to_string(),
            spam,
            tokens: tokenizer::tokenize(&view),
            rules: rules.scan(&Envelope::default(), &raw).score,
        });
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let corpus = PathBuf::from(args.next().unwrap_or_else(|| "../shared/corpus".into()));
    let folds: usize = args.next().map_or(5, |f| f.parse().expect("folds"));
    let parser = MessageParser::new()
        .with_mime_headers()
        .with_address_headers()
        .header_id(HeaderName::MessageId)
        .header_text(HeaderName::Subject)
        .default_header_text();
    let opts = LoadOptions {
        config_file: None,
        vars: vec![("LOCAL_CONFDIR".into(), "/nonexistent".into())],
    };
    let tree = load_tree(&opts).expect("shipped configuration loads");
    let rules = Pipeline::from_config(&tree).expect("shipped rules compile");
    let mut msgs = Vec::new();
    load(&corpus.join("spam"), true, &parser, &rules, &mut msgs);
    load(&corpus.join("ham"), false, &parser, &rules, &mut msgs);
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<f64>().ok());
    let d = Tuning::default();
    let tuning = Tuning {
        min_prob_strength: env("MPS").unwrap_or(d.min_prob_strength),
        min_token_hits: env("MTH").map_or(d.min_token_hits, |v| v as u64),
        min_tokens: env("MINTOK").map_or(d.min_tokens, |v| v as usize),
        ..d
    };
    let mut probs = vec![None; msgs.len()];
    for fold in 0..folds {
        let mut counts: HashMap<u64, Counts> = HashMap::new();
        let mut learns = Learns::default();
        for m in msgs.iter().enumerate().filter(|(i, _)| i % folds != fold) {
            let m = m.1;
            if m.spam {
                learns.spam += 1;
            } else {
                learns.ham += 1;
            }
            for t in &m.tokens {
                let c = counts.entry(t.hash).or_default();
                if m.spam {
                    c.spam += 1;
                } else {
                    c.ham += 1;
                }
            }
        }
        for (i, m) in msgs.iter().enumerate().filter(|(i, _)| i % folds == fold) {
            let c: Vec<Counts> = m
                .tokens
                .iter()
                .map(|t| counts.get(&t.hash).copied().unwrap_or_default())
                .collect();
            probs[i] = classifier::classify(&tuning, learns, &m.tokens, &c).ok();
        }
    }
    let mut conf = [[0usize; 3]; 2];
    let mut hist = [[0usize; 10]; 2];
    for (m, o) in msgs.iter().zip(&probs) {
        let row = usize::from(!m.spam);
        let col = match o.and_then(|o| o.decision()) {
            Some((true, _)) => 0,
            Some((false, _)) => 1,
            None => 2,
        };
        conf[row][col] += 1;
        if let Some(o) = o {
            hist[row][((o.spam_prob * 10.0) as usize).min(9)] += 1;
        }
        if std::env::var_os("TSV").is_some() {
            println!(
                "tsv\t{}\t{}\t{:.2}\t{}\t{}",
                m.name,
                u8::from(m.spam),
                m.rules,
                o.map_or(-1.0, |o| o.spam_prob),
                o.map_or(0, |o| o.tokens)
            );
        }
        let wrong = (m.spam && col != 0) || (!m.spam && col == 0);
        if wrong && std::env::var_os("SHOW").is_some() {
            println!(
                "{} {} {:?}",
                if m.spam { "spam" } else { "ham " },
                m.name,
                o.map(|o| (o.spam_prob, o.tokens))
            );
        }
    }
    println!("class  BAYES_SPAM BAYES_HAM none");
    for (name, c) in ["spam", "ham"].iter().zip(conf) {
        println!("{name:5} {:>10} {:>9} {:>4}", c[0], c[1], c[2]);
    }
    combined(&msgs, &probs, &rules.thresholds());
    if std::env::var_os("SHOW_RULES").is_some() {
        for (m, o) in msgs.iter().zip(&probs) {
            if !m.spam && m.rules >= 4.0 {
                println!(
                    "ham rules {:6.2} {} {:?}",
                    m.rules,
                    m.name,
                    o.map(|o| (o.spam_prob, o.tokens))
                );
            }
        }
    }
    println!("histogram of spam_prob (deciles)");
    for (name, h) in ["spam", "ham"].iter().zip(hist) {
        println!("{name:5} {h:?}");
    }
}

/// Rules score plus the Bayes symbol as the shipped weights would add it.
fn combined(
    msgs: &[Msg],
    probs: &[Option<classifier::Outcome>],
    thresholds: &[(sluice::verdict::Action, f64)],
) {
    let (ws, wh) = (5.1, -3.0);
    let spam = msgs.iter().filter(|m| m.spam).count();
    let ham = msgs.len() - spam;
    let pct = |n: usize, of: usize| 100.0 * n as f64 / of.max(1) as f64;
    for (action, t) in thresholds {
        let (name, t) = (action.as_str(), *t);
        let mut hits = [[0usize; 2]; 2];
        for (m, o) in msgs.iter().zip(probs) {
            let b = match o.and_then(|o| o.decision()) {
                Some((true, c)) => ws * c,
                Some((false, c)) => wh * c,
                None => 0.0,
            };
            let row = usize::from(!m.spam);
            if name == "reject" && std::env::var_os("DUMP_BAYES").is_some() {
                println!("bayes {} {:.3}", m.name, b);
            }
            hits[row][0] += usize::from(m.rules >= t);
            hits[row][1] += usize::from(m.rules + b >= t);
        }
        println!(
            "{name:10} rules: spam {:5.2}% ham {:5.2}% | +bayes: spam {:5.2}% ham {:5.2}% ({} ham)",
            pct(hits[0][0], spam),
            pct(hits[1][0], ham),
            pct(hits[0][1], spam),
            pct(hits[1][1], ham),
            hits[1][1]
        );
    }
}
