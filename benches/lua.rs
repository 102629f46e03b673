//! Cost of Lua rules per message: the same corpus message scanned with no
//! Lua, with one trivial Lua rule, with one header-and-regexp rule, and
//! with the shipped rule set (`conf/lua`). The differences are the Lua
//! figures quoted in docs/lua-api.md.
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use sluice::message::Envelope;
use sluice::scan::Pipeline;

fn message() -> Vec<u8> {
    let shared = std::env::var_os("SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    std::fs::read(shared.join("corpus/ham/00001.eml")).expect("corpus present")
}

fn rules(file: Option<&str>) -> Pipeline {
    let root = env!("CARGO_MANIFEST_DIR");
    let tree = match file {
        Some("shipped") => json!({ "lua_rules": { "dir": format!("{root}/conf/lua") } }),
        Some(f) => json!({ "lua": format!("{root}/tests/rules/lua/{f}") }),
        None => json!({}),
    };
    Pipeline::from_config(&tree).expect("bench config compiles")
}

fn bench(c: &mut Criterion) {
    let msg = message();
    let env = Envelope::default();
    let mut g = c.benchmark_group("lua");
    for (name, file) in [
        ("no_lua", None),
        ("trivial_rule", Some("bench_trivial.lua")),
        ("header_regexp_rule", Some("bench_header_re.lua")),
        ("shipped_rules", Some("shipped")),
    ] {
        let p = rules(file);
        g.bench_function(name, |b| b.iter(|| p.scan(&env, &msg)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
