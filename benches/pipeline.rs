//! Pipeline::scan over a sample of the shared corpus (ham, spam, mime),
//! with the shipped rules, then the same without the shipped Lua rules
//! (`lua_rules { enabled = false; }`). Reports time per message; also what
//! recording each scan for the controller (history row and graph point)
//! adds per message.
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sluice::config::{load_tree, LoadOptions};
use sluice::message::Envelope;
use sluice::scan::Pipeline;

/// `$SHARED/corpus`, else the shared folder beside the checkout.
fn corpus() -> PathBuf {
    std::env::var_os("SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
        .join("corpus")
}

fn sample() -> Vec<Vec<u8>> {
    let dir = corpus();
    let mut out = Vec::new();
    for label in ["ham", "spam", "mime"] {
        let mut files: Vec<_> = std::fs::read_dir(dir.join(label))
            .expect("corpus present")
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        out.extend(files.iter().step_by(15).map(|p| std::fs::read(p).unwrap()));
    }
    out
}

/// The shipped configuration, as `sluice run` loads it without `-c`;
/// `lua` false turns the shipped Lua rules off.
fn pipeline(lua: bool) -> Pipeline {
    let opts = LoadOptions {
        config_file: None,
        vars: vec![("LOCAL_CONFDIR".into(), "/nonexistent".into())],
    };
    let mut tree = load_tree(&opts).expect("shipped config");
    tree["lua_rules"]["enabled"] = serde_json::Value::Bool(lua);
    Pipeline::from_config(&tree).expect("shipped rules")
}

fn bench(c: &mut Criterion) {
    let msgs = sample();
    let env = Envelope::default();
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(msgs.len() as u64));
    for (suffix, lua) in [("", true), ("_without_lua_rules", false)] {
        let p = pipeline(lua);
        g.bench_function(
            format!("scan_{}_corpus_messages{suffix}", msgs.len()),
            |b| {
                b.iter(|| {
                    for m in &msgs {
                        criterion::black_box(p.scan(&env, m));
                    }
                })
            },
        );
    }
    g.finish();
    history(c, &msgs);
}

/// The controller's per-scan cost: the history row (a header parse for the
/// MIME sender, recipients and subject) and the graph's counters.
fn history(c: &mut Criterion, msgs: &[Vec<u8>]) {
    let env = Envelope::default();
    let p = pipeline(true);
    let verdicts: Vec<_> = msgs.iter().map(|m| p.scan(&env, m)).collect();
    let mut g = c.benchmark_group("history");
    g.throughput(Throughput::Elements(msgs.len() as u64));
    g.bench_function(format!("record_{}_corpus_messages", msgs.len()), |b| {
        b.iter(|| {
            for (m, v) in msgs.iter().zip(&verdicts) {
                sluice::history::record(sluice::history::Row::new(&env, m, v));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
