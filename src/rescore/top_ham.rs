//! The ham that score highest in the cross-validation, with the symbols
//! behind their held-out scores: what an admin reads to tell label noise
//! and newsletters from rules that misfire on the site's mail.
use std::fmt::Write as _;

use super::report::Variant;
use super::samples::{Sample, SymbolTable};

/// Symbols listed per message, the largest scores first.
const SYMBOLS: usize = 8;

/// The `n` ham highest under the last variant, with every variant's score
/// and their largest held-out symbols.
pub fn render(
    labels: &[bool],
    variants: &[Variant],
    held_out: &[Sample],
    table: &SymbolTable,
    origins: &[String],
    n: usize,
) -> String {
    let Some(last) = variants.last() else {
        return String::new();
    };
    let mut ham: Vec<usize> = (0..labels.len()).filter(|&i| !labels[i]).collect();
    ham.sort_by(|&a, &b| last.scores[b].total_cmp(&last.scores[a]));
    let mut s = format!(
        "ham scored highest ({}), with every variant's score and the held-out scan's largest symbols:\n",
        last.name
    );
    for &i in ham.iter().take(n) {
        let scores: Vec<String> = variants
            .iter()
            .map(|v| format!("{} {:.2}", v.name, v.scores[i]))
            .collect();
        let _ = writeln!(
            s,
            "  {}: {}",
            origins.get(i).map_or("?", String::as_str),
            scores.join(", ")
        );
        if let Some(sample) = held_out.get(i) {
            let _ = writeln!(s, "    {}", symbols(sample, table));
        }
    }
    s
}

/// `NAME(score)` of the sample's symbols, largest absolute score first.
fn symbols(sample: &Sample, table: &SymbolTable) -> String {
    let mut scored: Vec<(&str, f64)> = sample
        .values
        .iter()
        .map(|&(j, v)| (table.names[j].as_str(), table.weights[j] * v))
        .filter(|(_, x)| *x != 0.0)
        .collect();
    scored.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    scored
        .iter()
        .take(SYMBOLS)
        .map(|(n, x)| format!("{n}({x:.2})"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_the_highest_ham_with_their_largest_symbols() {
        let mut t = SymbolTable::default();
        t.add("A", 2.0, None);
        t.add("B", -1.0, None);
        t.add("C", 0.5, None);
        let sample = |spam, values: Vec<(usize, f64)>| Sample {
            spam,
            score: 0.0,
            values,
        };
        let labels = [true, false, false, false];
        let held = vec![
            sample(true, vec![(0, 1.0)]),
            sample(false, vec![(1, 1.0)]),
            sample(false, vec![(2, 1.0), (0, 3.0), (1, 1.0)]),
            sample(false, vec![]),
        ];
        let variants = vec![
            Variant {
                name: "baseline".into(),
                scores: vec![9.0, 1.0, 5.0, 0.0],
            },
            Variant {
                name: "rescored".into(),
                scores: vec![9.0, 2.0, 7.0, 0.0],
            },
        ];
        let origins: Vec<String> = ["s1", "h1", "h2", "h3"].map(String::from).to_vec();
        let text = render(&labels, &variants, &held, &t, &origins, 2);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines[0].contains("(rescored)"), "{text}");
        assert_eq!(lines[1], "  h2: baseline 5.00, rescored 7.00");
        assert_eq!(lines[2], "    A(6.00) B(-1.00) C(0.50)");
        assert_eq!(lines[3], "  h1: baseline 1.00, rescored 2.00");
        assert!(!text.contains("s1"), "{text}");
    }
}
