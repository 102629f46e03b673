//! `sluice scan --explain`: every symbol with its options and weight, and
//! every rule with the time it took, whether it fired or was skipped.
use std::fmt::Write;
use std::time::Duration;

use super::pipeline::Pipeline;
use super::schedule::Trace;
use crate::verdict::Verdict;

/// Renders one traced scan as text.
pub fn render(p: &Pipeline, v: &Verdict, t: &Trace, file: &str) -> String {
    let reg = p.registry();
    let mut out = String::new();
    let _ = writeln!(out, "File: {file}");
    let _ = writeln!(
        out,
        "Action: {}  Score: {:.2} / {:.2}  Time: {}",
        v.action,
        v.score,
        v.required_score,
        us(t.total)
    );
    if let Some(m) = &v.passthrough_module {
        let _ = writeln!(out, "Forced by: {m}");
    }
    let _ = writeln!(out, "Symbols:");
    for s in &v.symbols {
        let _ = write!(
            out,
            "  {:<32} {:>7.2} (weight {:.2})",
            s.name, s.score, s.metric_score
        );
        if !s.options.is_empty() {
            let _ = write!(out, " [{}]", s.options.join(", "));
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "Rules (evaluation order):");
    for r in &t.rules {
        let meta = &reg.symbols[r.symbol];
        let mark = if r.fired { "HIT " } else { "    " };
        let _ = writeln!(
            out,
            "  {mark}{:<32} {:>7.2} {:>10}",
            meta.name,
            meta.weight,
            us(r.time)
        );
    }
    if !t.skipped.is_empty() {
        let names: Vec<&str> = t
            .skipped
            .iter()
            .map(|&r| reg.symbols[p.rule_set().rules[r].symbol].name.as_str())
            .collect();
        let _ = writeln!(
            out,
            "Skipped {} rule(s), the action could no longer change: {}",
            names.len(),
            names.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "Multimap: {}  Modules: {}  Composites: {}",
        us(t.multimap),
        us(t.modules),
        us(t.composites)
    );
    out
}

fn us(d: Duration) -> String {
    format!("{:.1}us", d.as_secs_f64() * 1e6)
}
