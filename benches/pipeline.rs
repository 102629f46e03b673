//! Pipeline::scan over a sample of the shared corpus (ham, spam, mime),
//! with the shipped rules. Reports time per message.
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;
use sluice::message::Envelope;
use sluice::scan::Pipeline;

#[path = "../tests/rules/ucl.rs"]
mod ucl;

fn corpus() -> PathBuf {
    std::env::var_os("SLUICE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"))
}

fn sample() -> Vec<Vec<u8>> {
    let dir = corpus();
    let dir = if dir.is_dir() {
        dir
    } else {
        PathBuf::from("/work/shared/corpus")
    };
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

fn pipeline() -> Pipeline {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let read = |f: &str| ucl::parse(&std::fs::read_to_string(root.join(f)).unwrap());
    let tree =
        json!({"regexp": read("conf/rules/regexp.conf"), "group": read("conf/rules/groups.conf")});
    Pipeline::from_config(&tree).unwrap()
}

fn bench(c: &mut Criterion) {
    let p = pipeline();
    let msgs = sample();
    let env = Envelope::default();
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(msgs.len() as u64));
    g.bench_function(format!("scan_{}_corpus_messages", msgs.len()), |b| {
        b.iter(|| {
            for m in &msgs {
                criterion::black_box(p.scan(&env, m));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
