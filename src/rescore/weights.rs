//! Fitted weights as configuration: applied to the rules sections in memory
//! (to scan with them) and written as the `local.d/groups.conf` an admin
//! reviews and loads, in the same form, so both have the same effect.
use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::samples::SymbolTable;
use crate::config::rules::ScanConfig;

/// The group Rspamd files symbols of no group under.
pub const UNGROUPED: &str = "ungrouped";

/// Weights written with two decimals, as Rspamd's own score files do; a
/// rule whose fitted weight rounds to its shipped one is left out.
pub fn round(w: f64) -> f64 {
    (w * 100.0).round() / 100.0
}

/// The rules whose weight changed: (index, new weight), by group then name.
pub fn changes(table: &SymbolTable, weights: &[f64]) -> Vec<(usize, f64)> {
    let mut out: Vec<(usize, f64)> = (0..table.len())
        .filter_map(|i| {
            let w = round(weights[i]);
            (w != round(table.weights[i])).then_some((i, w))
        })
        .collect();
    out.sort_by(|a, b| {
        (group_of(table, a.0), &table.names[a.0]).cmp(&(group_of(table, b.0), &table.names[b.0]))
    });
    out
}

fn group_of(table: &SymbolTable, i: usize) -> &str {
    table.groups[i].as_deref().unwrap_or(UNGROUPED)
}

/// `rules` with the changed weights set as `local.d/groups.conf` sets them:
/// in each symbol's group's `symbols` entry.
pub fn apply(rules: &ScanConfig, table: &SymbolTable, weights: &[f64]) -> ScanConfig {
    let mut out = rules.clone();
    for (i, w) in changes(table, weights) {
        let group = out
            .groups
            .entry(group_of(table, i).to_string())
            .or_default();
        group
            .symbols
            .entry(table.names[i].clone())
            .or_default()
            .weight = Some(w);
    }
    out
}

/// The `local.d/groups.conf` text: `header` as comment lines, then one
/// `group "G" { symbols { "SYM" { weight = W; } } }` block per group,
/// each line noting the shipped weight.
pub fn render(table: &SymbolTable, weights: &[f64], header: &str) -> String {
    let mut out = String::new();
    for line in header.lines() {
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            let _ = writeln!(out, "# {line}");
        }
    }
    let mut by_group: BTreeMap<&str, Vec<(usize, f64)>> = BTreeMap::new();
    for (i, w) in changes(table, weights) {
        by_group.entry(group_of(table, i)).or_default().push((i, w));
    }
    for (group, rules) in by_group {
        let _ = writeln!(out, "\ngroup \"{group}\" {{\n    symbols {{");
        for (i, w) in rules {
            let _ = writeln!(
                out,
                "        \"{}\" {{ weight = {w:.2}; }} # shipped {:.2}",
                table.names[i], table.weights[i]
            );
        }
        out.push_str("    }\n}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_weights_are_written_in_their_groups() {
        let mut t = SymbolTable::default();
        t.add("A", 2.0, Some("headers".into()));
        t.add("B", -1.0, None);
        t.add("C", 1.0, Some("headers".into()));
        let text = render(&t, &[2.5, -0.25, 1.001], "fitted\n\nby a test");
        assert!(text.starts_with("# fitted\n#\n# by a test\n"), "{text}");
        assert!(text.contains("group \"headers\" {\n    symbols {\n        \"A\" { weight = 2.50; } # shipped 2.00\n    }\n}\n"), "{text}");
        assert!(
            text.contains(
                "group \"ungrouped\" {\n    symbols {\n        \"B\" { weight = -0.25; }"
            ),
            "{text}"
        );
        assert!(!text.contains("\"C\""), "{text}");
        let rules = apply(&ScanConfig::default(), &t, &[2.5, -0.25, 1.001]);
        assert_eq!(rules.groups["headers"].symbols["A"].weight, Some(2.5));
        assert_eq!(rules.groups[UNGROUPED].symbols["B"].weight, Some(-0.25));
        assert!(!rules.groups["headers"].symbols.contains_key("C"));
    }
}
