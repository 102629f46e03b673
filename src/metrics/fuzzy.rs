//! fuzzy_check's counters: queries sent, matches, and exchanges that failed
//! (storage unreachable, no reply in time), per rule; `/metrics` shows them
//! as `sluice_fuzzy_*`. A failure is logged at most once a minute per rule,
//! so a storage that is down does not flood the log.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds between two logged failures of one rule.
const LOG_EVERY_SECS: u64 = 60;

/// One rule's counters.
#[derive(Debug, Default)]
pub struct RuleCounters {
    pub name: String,
    queries: AtomicU64,
    matches: AtomicU64,
    failures: AtomicU64,
    last_logged: AtomicU64,
}

impl RuleCounters {
    pub fn new(name: &str) -> RuleCounters {
        RuleCounters {
            name: name.to_string(),
            ..RuleCounters::default()
        }
    }

    pub fn queries(&self, n: usize) {
        self.queries.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn matched(&self) {
        self.matches.fetch_add(1, Ordering::Relaxed);
    }

    /// A failed exchange: counted, and logged unless one was logged within
    /// the last minute.
    pub fn failure(&self, reason: &dyn std::fmt::Display) {
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.last_logged.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= LOG_EVERY_SECS)
            && self
                .last_logged
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                rule = %self.name,
                failures = n,
                "fuzzy_check: {reason}; scanning without this rule's symbols"
            );
        }
    }

    pub fn snapshot(&self) -> (String, u64, u64, u64) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        (
            self.name.clone(),
            load(&self.queries),
            load(&self.matches),
            load(&self.failures),
        )
    }
}

fn current() -> &'static Mutex<Vec<Arc<RuleCounters>>> {
    static RULES: OnceLock<Mutex<Vec<Arc<RuleCounters>>>> = OnceLock::new();
    RULES.get_or_init(Mutex::default)
}

/// Publishes the running configuration's rules (replaced on reload).
pub fn publish(rules: &[Arc<RuleCounters>]) {
    let mut cur = current().lock().unwrap_or_else(|e| e.into_inner());
    *cur = rules.to_vec();
}

/// Prometheus text for the running rules.
pub fn render(out: &mut String) {
    let rules: Vec<_> = {
        let cur = current().lock().unwrap_or_else(|e| e.into_inner());
        cur.iter().map(|r| r.snapshot()).collect()
    };
    if rules.is_empty() {
        return;
    }
    type Get = fn(&(String, u64, u64, u64)) -> u64;
    let series: [(&str, &str, Get); 3] = [
        (
            "sluice_fuzzy_queries_total",
            "fuzzy hashes sent to the storage",
            |r| r.1,
        ),
        (
            "sluice_fuzzy_matches_total",
            "fuzzy hashes the storage knew",
            |r| r.2,
        ),
        (
            "sluice_fuzzy_failures_total",
            "fuzzy exchanges without a reply in time (storage unreachable)",
            |r| r.3,
        ),
    ];
    for (name, help, get) in series {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        for r in &rules {
            let _ = writeln!(
                out,
                "{name}{{rule=\"{}\"}} {}",
                super::label_value(&r.0),
                get(r)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_per_rule() {
        let r = Arc::new(RuleCounters::new("local"));
        r.queries(3);
        r.matched();
        r.failure(&"timeout");
        r.failure(&"timeout");
        publish(&[Arc::clone(&r)]);
        let mut text = String::new();
        render(&mut text);
        assert!(
            text.contains("sluice_fuzzy_queries_total{rule=\"local\"} 3"),
            "{text}"
        );
        assert!(text.contains("sluice_fuzzy_matches_total{rule=\"local\"} 1"));
        assert!(text.contains("sluice_fuzzy_failures_total{rule=\"local\"} 2"));
        publish(&[]);
    }
}
