//! The metric families Rspamd 3.4's controller puts on `/metrics`, with
//! its names, types and labels, so dashboards and alerts written for
//! Rspamd keep working. They sit beside sluice's own `sluice_*` families.
//!
//! One for one: `rspamd_build_info{version}` (sluice's version),
//! `process_start_time_seconds`, `rspamd_read_only`, `rspamd_scanned_total`,
//! `rspamd_learned_total` and `rspamd_learns_total` (both the store's
//! learns, as `/stat`'s `learned` and `total_learns`), `rspamd_spam_total`,
//! `rspamd_ham_total`, `rspamd_connections` (scan connections accepted),
//! `rspamd_control_connections_total`, `rspamd_actions_total{type}` for the
//! six actions, and with Bayes on `rspamd_statfiles_revision`, `_used`,
//! `_totals`, `_size`, `_languages` and `_users` per `{symbol,type}` (the
//! figures of `/stat`'s `statfiles`).
//!
//! Not exported, as sluice has nothing they could count: `rspamd_config{id}`
//! (no config checksum), the memory-pool gauges (`rspamd_pools_allocated`,
//! `rspamd_pools_freed`, `rspamd_allocated_bytes`, `rspamd_chunks_allocated`,
//! `rspamd_shared_chunks_allocated`, `rspamd_chunks_freed`,
//! `rspamd_chunks_oversized`, `rspamd_fragmented`: sluice has no memory
//! pools) and `rspamd_fuzzy_stat` (no fuzzy storage).
use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::metrics::Snapshot;
use crate::stats::{StoreStat, HAM_SYMBOL, SPAM_SYMBOL};
use crate::verdict::Action;

/// Rspamd's action order on `/metrics`.
const ACTIONS: [Action; 6] = [
    Action::Reject,
    Action::SoftReject,
    Action::RewriteSubject,
    Action::AddHeader,
    Action::Greylist,
    Action::NoAction,
];

/// Appends Rspamd's families for `s` (and the Bayes store's `bayes`).
pub fn render(out: &mut String, s: &Snapshot, bayes: Option<&StoreStat>, read_only: bool) {
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(
        out,
        "rspamd_build_info",
        "gauge",
        "A metric with a constant '1' value labeled by version from which the daemon was built.",
    );
    let _ = writeln!(
        out,
        "rspamd_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let start = now.saturating_sub(s.uptime).as_secs();
    family(
        out,
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
    );
    let _ = writeln!(out, "process_start_time_seconds {start}");
    family(
        out,
        "rspamd_read_only",
        "gauge",
        "Whether the instance is read-only.",
    );
    let _ = writeln!(out, "rspamd_read_only {}", u8::from(read_only));
    let spam: u64 = ACTIONS
        .iter()
        .filter(|a| !matches!(a, Action::NoAction | Action::Greylist))
        .map(|a| s.by_action[a.rank()])
        .sum();
    let learned = bayes.map_or(0, |b| b.learns.spam + b.learns.ham);
    let plain: [(&str, &str, &str, u64); 7] = [
        ("rspamd_scanned", "counter", "Scanned messages.", s.scanned),
        ("rspamd_learned", "counter", "Learned messages.", learned),
        (
            "rspamd_spam",
            "counter",
            "Messages classified as spam.",
            spam,
        ),
        (
            "rspamd_ham",
            "counter",
            "Messages classified as ham.",
            s.scanned.saturating_sub(spam),
        ),
        (
            "rspamd_connections",
            "gauge",
            "Active connections.",
            s.http_connections,
        ),
        (
            "rspamd_control_connections",
            "counter",
            "Control connections.",
            s.control_connections,
        ),
        ("rspamd_learns", "counter", "Total learns.", learned),
    ];
    for (name, kind, help, value) in plain {
        family(out, name, kind, help);
        let suffix = if kind == "counter" { "_total" } else { "" };
        let _ = writeln!(out, "{name}{suffix} {value}");
    }
    family(
        out,
        "rspamd_actions",
        "counter",
        "Actions labelled by action type.",
    );
    for a in ACTIONS {
        let _ = writeln!(
            out,
            "rspamd_actions_total{{type=\"{}\"}} {}",
            a.as_str(),
            s.by_action[a.rank()]
        );
    }
    if let Some(b) = bayes {
        statfiles(out, b);
    }
}

/// One statfile figure from the store's stat and the class's learns.
type StatfileField = fn(&StoreStat, u64) -> u64;

fn statfiles(out: &mut String, b: &StoreStat) {
    let classes = [(SPAM_SYMBOL, b.learns.spam), (HAM_SYMBOL, b.learns.ham)];
    let rows: [(&str, &str, StatfileField); 6] = [
        ("revision", "Stat files revision.", |_, learned| learned),
        ("used", "Stat files used.", |b, _| b.tokens),
        ("totals", "Stat files total.", |b, _| b.tokens),
        ("size", "Stat files size.", |b, _| b.size_bytes),
        ("languages", "Stat files languages.", |_, _| 0),
        ("users", "Stat files users.", |b, _| b.users),
    ];
    for (field, help, value) in rows {
        let name = format!("rspamd_statfiles_{field}");
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (symbol, learned) in classes {
            let _ = writeln!(
                out,
                "{name}{{symbol=\"{symbol}\",type=\"{}\"}} {}",
                b.backend,
                value(b, learned)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Learns;

    fn snapshot() -> Snapshot {
        let m = crate::metrics::Metrics::new();
        m.record_scan(Action::Reject.rank(), std::time::Duration::from_millis(1));
        m.record_scan(Action::NoAction.rank(), std::time::Duration::from_millis(1));
        m.record_scan(Action::NoAction.rank(), std::time::Duration::from_millis(1));
        m.snapshot()
    }

    fn value(text: &str, series: &str) -> Option<String> {
        text.lines().find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')
                .map(str::to_string)
        })
    }

    #[test]
    fn rspamd_names_and_values() {
        let mut out = String::new();
        let bayes = StoreStat {
            backend: "redis",
            location: String::new(),
            learns: Learns { spam: 4, ham: 3 },
            tokens: 900,
            size_bytes: 4096,
            users: 1,
        };
        render(&mut out, &snapshot(), Some(&bayes), true);
        for (series, want) in [
            ("rspamd_scanned_total", "3"),
            ("rspamd_spam_total", "1"),
            ("rspamd_ham_total", "2"),
            ("rspamd_learns_total", "7"),
            ("rspamd_learned_total", "7"),
            ("rspamd_read_only", "1"),
            ("rspamd_actions_total{type=\"reject\"}", "1"),
            ("rspamd_actions_total{type=\"soft reject\"}", "0"),
            ("rspamd_actions_total{type=\"no action\"}", "2"),
            (
                "rspamd_statfiles_revision{symbol=\"BAYES_SPAM\",type=\"redis\"}",
                "4",
            ),
            (
                "rspamd_statfiles_revision{symbol=\"BAYES_HAM\",type=\"redis\"}",
                "3",
            ),
            (
                "rspamd_statfiles_totals{symbol=\"BAYES_HAM\",type=\"redis\"}",
                "900",
            ),
            (
                "rspamd_statfiles_size{symbol=\"BAYES_SPAM\",type=\"redis\"}",
                "4096",
            ),
        ] {
            assert_eq!(
                value(&out, series).as_deref(),
                Some(want),
                "{series} in\n{out}"
            );
        }
        assert!(out.contains("# TYPE rspamd_actions counter\n"));
        let start: u64 = value(&out, "process_start_time_seconds")
            .unwrap()
            .parse()
            .unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(start <= now && start + 3600 > now);
    }

    #[test]
    fn no_statfiles_without_bayes() {
        let mut out = String::new();
        render(&mut out, &snapshot(), None, false);
        assert!(!out.contains("rspamd_statfiles_"));
        assert_eq!(value(&out, "rspamd_read_only").as_deref(), Some("0"));
    }
}
