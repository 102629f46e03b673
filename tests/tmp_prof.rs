use serde_json::json;
use sluice::message::Envelope;
use sluice::scan::Pipeline;
use std::time::Instant;

#[test]
#[ignore]
fn prof() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut msgs = Vec::new();
    for label in ["ham", "spam", "mime"] {
        let mut files: Vec<_> = std::fs::read_dir(format!("/work/shared/corpus/{label}"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        msgs.extend(files.iter().step_by(15).map(|p| std::fs::read(p).unwrap()));
    }
    let env = Envelope::default();
    let variants: Vec<(String, serde_json::Value)> = vec![
        ("none".into(), json!({})),
        (
            "trivial".into(),
            json!({"lua": format!("{root}/tests/rules/lua/bench_trivial.lua")}),
        ),
        (
            "all".into(),
            json!({"lua_rules": {"dir": format!("{root}/conf/lua")}}),
        ),
    ]
    .into_iter()
    .chain(["headers", "urls", "parts", "prefilter"].iter().map(|f| {
        (
            f.to_string(),
            json!({"lua": format!("{root}/conf/lua/{f}.lua")}),
        )
    }))
    .chain(
        [
            "get_text_parts",
            "get_parts",
            "get_urls",
            "content",
            "from",
            "rcpt",
            "subj",
            "rcptname",
        ]
        .iter()
        .map(|f| {
            (
                f.to_string(),
                json!({"lua": format!("/tmp/luaprof/{f}.lua")}),
            )
        }),
    )
    .collect();
    for (name, tree) in variants {
        let p = Pipeline::from_config(&tree).unwrap();
        for m in &msgs {
            p.scan(&env, m);
        }
        let mut best = f64::MAX;
        for _ in 0..7 {
            let t = Instant::now();
            for m in &msgs {
                std::hint::black_box(p.scan(&env, m));
            }
            best = best.min(t.elapsed().as_secs_f64() * 1e6 / msgs.len() as f64);
        }
        println!("{name:15} {best:8.1} us/msg");
    }
}
