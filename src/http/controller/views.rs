//! The controller's read-only views: `/stat`, `/auth`, `/actions`,
//! `/symbols`, `/counters`, `/metrics`.
//!
//! Only what sluice measures is reported. With Bayes on, `/stat` carries
//! Rspamd's `learned`, `total_learns` and one `statfiles` entry per class
//! (read from the store, so they count every learn: HTTP, `sluice learn`,
//! autolearn). Rspamd's `fuzzy_hashes` and memory-pool figures are absent
//! (rspamc prints 0 for missing numbers); symbol `frequency` and `time`
//! (Rspamd's symbol-cache profiler) are absent too.
use std::sync::Arc;

use serde_json::{json, Map, Value};
use sluice_proto::rspamd::controller::{ActionThreshold, SymbolCounter, SymbolGroup, SymbolRule};

use crate::metrics::{self, Snapshot};
use crate::stats::{Stats, StoreStat, HAM_SYMBOL, SPAM_SYMBOL};
use crate::verdict::{Action, RuleBook};

// Metrics count scans by `Action::rank`; every action needs a slot.
const _: () = assert!(Action::ALL.len() <= metrics::ACTION_SLOTS);

/// Scanned messages per action, in Rspamd's report order.
fn by_action(s: &Snapshot) -> impl Iterator<Item = (&'static Action, u64)> + '_ {
    Action::report_order().map(|a| (a, s.by_action[a.rank()]))
}

/// Rspamd's `spam_count`: every action that marks or refuses the message.
fn spam_count(s: &Snapshot) -> u64 {
    by_action(s)
        .filter(|(a, _)| !matches!(a, Action::NoAction | Action::Greylist))
        .map(|(_, n)| n)
        .sum()
}

/// Rspamd's group name for symbols outside any group.
const UNGROUPED: &str = "ungrouped";

/// `/stat`: scanned counts by action and connection counts, plus the Bayes
/// store's learn counts when there is one.
pub fn stat(s: &Snapshot, bayes: Option<&StoreStat>, read_only: bool) -> Value {
    let mut actions = Map::new();
    for (a, n) in by_action(s) {
        if Action::BUILTIN.contains(a) || n > 0 {
            actions.insert(a.as_str().to_string(), json!(n));
        }
    }
    let mut out = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime": s.uptime.as_secs(),
        "read_only": read_only,
        "scanned": s.scanned,
        "actions": actions,
        "spam_count": spam_count(s),
        // Accepted untouched (no action, greylist).
        "ham_count": s.scanned - spam_count(s),
        "connections": s.http_connections,
        "control_connections": s.control_connections,
        "milter_sessions": s.milter_total,
    });
    if let (Some(up), Some(obj)) = (s.bayes_store.up, out.as_object_mut()) {
        // sluice's own key: whether scans can use the store right now.
        obj.insert("bayes_store".into(), json!(if up { "up" } else { "down" }));
    }
    let lists = crate::metrics::rbl::snapshots();
    if let (false, Some(obj)) = (lists.is_empty(), out.as_object_mut()) {
        // sluice's own key: the DNS lists and whether each answers normally.
        obj.insert("dns_lists".into(), dns_lists(&lists));
    }
    if let (Some(b), Some(obj)) = (bayes, out.as_object_mut()) {
        let total = b.learns.spam + b.learns.ham;
        obj.insert("learned".into(), json!(total));
        obj.insert("total_learns".into(), json!(total));
        obj.insert("statfiles".into(), statfiles(b));
    }
    out
}

fn dns_lists(lists: &[crate::metrics::rbl::ListSnapshot]) -> Value {
    let one = |l: &crate::metrics::rbl::ListSnapshot| {
        json!({
            "name": l.name,
            "zone": l.zone,
            "healthy": l.healthy,
            "queries": l.queries,
            "listed": l.listed,
            "failures": l.failures,
            "refused": l.refused,
        })
    };
    Value::Array(lists.iter().map(one).collect())
}

/// Rspamd's `statfiles`: one per class; rspamc prints `revision` as
/// `learned`. Tokens are shared by both classes here, so `used`/`total`
/// are the distinct tokens of the whole store.
fn statfiles(b: &StoreStat) -> Value {
    let one = |symbol: &str, learned: u64| {
        json!({
            "symbol": symbol,
            "type": b.backend,
            "revision": learned,
            "used": b.tokens,
            "total": b.tokens,
            "size": b.size_bytes,
            "languages": 0,
            "users": b.users,
        })
    };
    json!([
        one(SPAM_SYMBOL, b.learns.spam),
        one(HAM_SYMBOL, b.learns.ham)
    ])
}

/// The store's figures for `/stat`, read on the blocking pool (the store
/// may wait on disk or Redis). A failing store only loses these fields.
pub async fn bayes_stat(stats: Option<Arc<Stats>>) -> Option<StoreStat> {
    let stats = stats?;
    match tokio::task::spawn_blocking(move || stats.stat()).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(crate::stats::StatsError::Store(e))) if e.is_unavailable() => None,
        Ok(Err(e)) => {
            crate::warn_throttled!("/stat: bayes store: {e}");
            None
        }
        Err(e) => {
            tracing::warn!("/stat: bayes store task: {e}");
            None
        }
    }
}

/// `/auth`: what the WebUI asks first, with Rspamd's per-action key names.
pub fn auth(s: &Snapshot, read_only: bool) -> Value {
    let count = |a: Action| s.by_action[a.rank()];
    json!({
        "auth": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime": s.uptime.as_secs(),
        "clean": count(Action::NoAction),
        "probable": count(Action::AddHeader) + count(Action::RewriteSubject),
        "greylist": count(Action::Greylist),
        "reject": count(Action::Reject),
        "soft_reject": count(Action::SoftReject),
        "scanned": s.scanned,
        "read_only": read_only,
    })
}

/// `/actions`: every scored action, threshold-less ones with `null`.
pub fn actions(r: &dyn RuleBook) -> Vec<ActionThreshold> {
    let thresholds = r.thresholds();
    Action::SCORED
        .iter()
        .map(|a| ActionThreshold {
            action: a.as_str().to_string(),
            value: thresholds.iter().find(|(x, _)| x == a).map(|t| t.1),
        })
        .collect()
}

/// `/symbols`: symbols by group, groups in config order, `ungrouped` last.
pub fn symbols(r: &dyn RuleBook) -> Vec<SymbolGroup> {
    let mut groups: Vec<SymbolGroup> = r
        .group_names()
        .into_iter()
        .map(|group| SymbolGroup {
            group,
            rules: Vec::new(),
        })
        .chain(std::iter::once(SymbolGroup {
            group: UNGROUPED.to_string(),
            rules: Vec::new(),
        }))
        .collect();
    for s in r.symbols() {
        let name = s.group.as_deref().unwrap_or(UNGROUPED);
        if let Some(g) = groups.iter_mut().find(|g| g.group == name) {
            g.rules.push(SymbolRule {
                symbol: s.name,
                weight: s.weight,
                description: s.description,
            });
        }
    }
    groups.retain(|g| !g.rules.is_empty());
    groups
}

/// `/counters`: hits per symbol since the rules were (re)loaded, and their
/// rate over the daemon's uptime (`uptime`; a reload zeroes the hits, so
/// the rate after one is low until the uptime is mostly past it).
pub fn counters(r: &dyn RuleBook, uptime: std::time::Duration) -> Vec<SymbolCounter> {
    let secs = uptime.as_secs_f64().max(1.0);
    r.symbols()
        .into_iter()
        .map(|s| SymbolCounter {
            symbol: s.name,
            weight: s.weight,
            frequency: s.hits as f64 / secs,
            hits: s.hits,
        })
        .collect()
}

/// `/metrics`: the shared counters, Rspamd's families
/// ([`super::rspamd_metrics`]), and per-symbol hits when rules are local.
pub fn metrics_text(
    r: Option<&dyn RuleBook>,
    bayes: Option<&StoreStat>,
    read_only: bool,
) -> String {
    let labels: Vec<(&str, usize)> = Action::report_order()
        .map(|a| (a.as_str(), a.rank()))
        .collect();
    let snapshot = metrics::global().snapshot();
    let mut text = metrics::render_openmetrics(&snapshot, &labels);
    // Insert before the terminating `# EOF`.
    text.truncate(text.len() - "# EOF\n".len());
    super::rspamd_metrics::render(&mut text, &snapshot, bayes, read_only);
    if let Some(r) = r {
        text.push_str(
            "# HELP sluice_symbol_hits Times each symbol fired since the rules were loaded.\n",
        );
        text.push_str("# TYPE sluice_symbol_hits counter\n");
        for s in r.symbols() {
            text.push_str(&format!(
                "sluice_symbol_hits_total{{symbol=\"{}\"}} {}\n",
                metrics::label_value(&s.name),
                s.hits
            ));
        }
        rule_families(&mut text, r);
    }
    text.push_str("# EOF\n");
    text
}

/// Per-rule evaluations and (sampled) time of the regexp rules, so an
/// admin can find the rule that costs the most.
fn rule_families(text: &mut String, r: &dyn RuleBook) {
    use std::fmt::Write;
    let rules = r.rule_costs();
    text.push_str("# HELP sluice_rule_evaluations Times each regexp rule was evaluated since the rules were loaded.\n# TYPE sluice_rule_evaluations counter\n");
    for st in &rules {
        let _ = writeln!(
            text,
            "sluice_rule_evaluations_total{{symbol=\"{}\"}} {}",
            metrics::label_value(&st.symbol),
            st.evaluations
        );
    }
    text.push_str("# HELP sluice_rule_seconds_average Average time of one evaluation of each regexp rule, over sampled scans.\n# TYPE sluice_rule_seconds_average gauge\n");
    for st in &rules {
        if let Some(t) = st.avg_time {
            let _ = writeln!(
                text,
                "sluice_rule_seconds_average{{symbol=\"{}\"}} {:.9}",
                metrics::label_value(&st.symbol),
                t.as_secs_f64()
            );
        }
    }
}

/// Content type of `/metrics`, as Rspamd sends it.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{RuleCost, ScanSettings, SymbolInfo};

    /// Rules whose one symbol has a name no config would choose, but Lua
    /// can register.
    struct Odd;

    const NAME: &str = "ODD\"SYM\\BOL\nNEXT";

    impl RuleBook for Odd {
        fn required_score(&self) -> f64 {
            15.0
        }
        fn thresholds(&self) -> Vec<(Action, f64)> {
            Vec::new()
        }
        fn group_names(&self) -> Vec<String> {
            Vec::new()
        }
        fn symbols(&self) -> Vec<SymbolInfo> {
            vec![SymbolInfo {
                name: NAME.into(),
                weight: 1.0,
                description: None,
                group: None,
                hits: 3,
            }]
        }
        fn rule_costs(&self) -> Vec<RuleCost> {
            vec![RuleCost {
                symbol: NAME.into(),
                evaluations: 7,
                avg_time: Some(std::time::Duration::from_micros(2)),
            }]
        }
        fn settings_profile(&self, _id: &str) -> Option<Arc<ScanSettings>> {
            None
        }
    }

    #[test]
    fn symbol_names_are_escaped_as_label_values() {
        let text = metrics_text(Some(&Odd), None, false);
        let label = r#"symbol="ODD\"SYM\\BOL\nNEXT""#;
        assert!(
            text.contains(&format!("sluice_symbol_hits_total{{{label}}} 3\n")),
            "{text}"
        );
        assert!(text.contains(&format!("sluice_rule_evaluations_total{{{label}}} 7\n")));
        assert!(text.contains(&format!(
            "sluice_rule_seconds_average{{{label}}} 0.000002000\n"
        )));
        // Every line of the exposition is one sample, comment or the end.
        for line in text.lines() {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            let value = line.rsplit(' ').next().unwrap_or_default();
            assert!(
                line.starts_with("# ")
                    || (!name.is_empty()
                        && name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                        && value.parse::<f64>().is_ok()),
                "a label value broke a line: {line:?}"
            );
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
