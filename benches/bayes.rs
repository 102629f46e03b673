//! Bayes cost per message: tokenizing and classifying against an embedded
//! store trained on the shared corpus (in memory, so the figure is the
//! classifier's and redb's, not the disk's), and the whole scan with and
//! without Bayes.
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mail_parser::MessageParser;
use sluice::config::{load_tree, LoadOptions};
use sluice::message::Envelope;
use sluice::message::MessageView;
use sluice::scan::Pipeline;
use sluice::stats::store::EmbeddedStore;
use sluice::stats::{tokenizer, Class, Stats, StatsConfig};

fn corpus(label: &str) -> Vec<Vec<u8>> {
    let dir = std::env::var_os("SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
        .join("corpus")
        .join(label);
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("corpus present")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn bench(c: &mut Criterion) {
    let tree = load_tree(&LoadOptions {
        config_file: None,
        vars: vec![("LOCAL_CONFDIR".into(), "/nonexistent".into())],
    })
    .expect("shipped config");
    let cfg = StatsConfig::from_tree(&tree)
        .unwrap()
        .expect("bayes section");
    let stats = Arc::new(Stats::with_store(
        cfg,
        Box::new(EmbeddedStore::in_memory().unwrap()),
    ));
    let (spam, ham) = (corpus("spam"), corpus("ham"));
    let env = Envelope::default();
    // Train on even-numbered files, measure on odd ones.
    for m in spam.iter().step_by(2) {
        stats.learn(Class::Spam, &env, m).unwrap();
    }
    for m in ham.iter().step_by(2) {
        stats.learn(Class::Ham, &env, m).unwrap();
    }
    let test: Vec<&Vec<u8>> = spam
        .iter()
        .skip(1)
        .step_by(10)
        .chain(ham.iter().skip(1).step_by(10))
        .collect();
    let parser = MessageParser::default();
    let parsed: Vec<_> = test.iter().map(|m| parser.parse(&m[..])).collect();
    let views: Vec<MessageView<'_>> = test
        .iter()
        .zip(&parsed)
        .map(|(m, p)| MessageView::new(m, p.as_ref()))
        .collect();

    let mut g = c.benchmark_group("bayes");
    g.throughput(Throughput::Elements(views.len() as u64));
    g.bench_function("tokenize", |b| {
        b.iter(|| {
            views
                .iter()
                .map(|v| tokenizer::tokenize(v).len())
                .sum::<usize>()
        })
    });
    g.bench_function("tokenize+classify", |b| {
        b.iter(|| {
            views
                .iter()
                .filter(|v| stats.classify(&env, v).is_some())
                .count()
        })
    });
    let plain = Pipeline::from_config(&tree).unwrap();
    let with = Pipeline::from_config(&tree)
        .unwrap()
        .with_stats(Some(Arc::clone(&stats)));
    g.bench_function("scan without bayes", |b| {
        b.iter(|| test.iter().map(|m| plain.scan(&env, m).score).sum::<f64>())
    });
    g.bench_function("scan with bayes", |b| {
        b.iter(|| test.iter().map(|m| with.scan(&env, m).score).sum::<f64>())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
