//! Per-list counters and health. A list that answers "query refused" (its refusal codes) is
//! unhealthy until it answers normally again; the first refusal is logged, later ones only
//! counted. Rendered on `/metrics` as `sluice_rbl_*` and listed by `sluice status`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// One list's counters.
#[derive(Debug, Default)]
pub struct ListHealth {
    pub name: String,
    pub zone: String,
    queries: AtomicU64,
    listed: AtomicU64,
    failures: AtomicU64,
    refused: AtomicU64,
    unhealthy: AtomicBool,
    logged: AtomicBool,
}

/// A list's counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSnapshot {
    pub name: String,
    pub zone: String,
    pub queries: u64,
    pub listed: u64,
    pub failures: u64,
    pub refused: u64,
    pub healthy: bool,
}

impl ListHealth {
    pub fn new(name: &str, zone: &str) -> ListHealth {
        ListHealth {
            name: name.to_string(),
            zone: zone.to_string(),
            ..ListHealth::default()
        }
    }

    pub fn query(&self) {
        self.queries.fetch_add(1, Ordering::Relaxed);
    }

    /// An answer that listed something: the list works.
    pub fn listed(&self) {
        self.listed.fetch_add(1, Ordering::Relaxed);
        self.unhealthy.store(false, Ordering::Relaxed);
    }

    /// "Not listed": the list works.
    pub fn answered(&self) {
        self.unhealthy.store(false, Ordering::Relaxed);
    }

    /// A timeout or server failure.
    pub fn failure(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// A refusal code: never scored, the list marked unhealthy, the first one logged.
    pub fn refused(&self, answer: &str) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        self.unhealthy.store(true, Ordering::Relaxed);
        if !self.logged.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                list = %self.name,
                zone = %self.zone,
                answer,
                "rbl: the list refuses our queries (blocked resolver?); its answers are not scored"
            );
        }
    }

    pub fn snapshot(&self) -> ListSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ListSnapshot {
            name: self.name.clone(),
            zone: self.zone.clone(),
            queries: load(&self.queries),
            listed: load(&self.listed),
            failures: load(&self.failures),
            refused: load(&self.refused),
            healthy: !self.unhealthy.load(Ordering::Relaxed),
        }
    }
}

/// The running configuration's lists (replaced on reload), for `/metrics` and `status`.
pub fn current() -> &'static Mutex<Vec<Arc<ListHealth>>> {
    static LISTS: OnceLock<Mutex<Vec<Arc<ListHealth>>>> = OnceLock::new();
    LISTS.get_or_init(Mutex::default)
}

/// Publishes `lists` as the running ones.
pub fn publish(lists: &[Arc<ListHealth>]) {
    let mut cur = current().lock().unwrap_or_else(|e| e.into_inner());
    *cur = lists.to_vec();
}

/// Snapshots of the running lists.
pub fn snapshots() -> Vec<ListSnapshot> {
    let cur = current().lock().unwrap_or_else(|e| e.into_inner());
    cur.iter().map(|l| l.snapshot()).collect()
}

/// A metric's name, type, help and value.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ListSnapshot) -> u64,
);

/// Prometheus text for `lists`.
pub fn render(out: &mut String, lists: &[ListSnapshot]) {
    if lists.is_empty() {
        return;
    }
    let series: [Series; 5] = [
        (
            "sluice_rbl_queries_total",
            "counter",
            "DNS list queries sent or answered from the cache",
            |l| l.queries,
        ),
        (
            "sluice_rbl_listed_total",
            "counter",
            "DNS list answers that listed the name or address",
            |l| l.listed,
        ),
        (
            "sluice_rbl_failures_total",
            "counter",
            "DNS list queries that timed out or failed",
            |l| l.failures,
        ),
        (
            "sluice_rbl_refused_total",
            "counter",
            "DNS list answers meaning the query was refused (not scored)",
            |l| l.refused,
        ),
        (
            "sluice_rbl_healthy",
            "gauge",
            "1 while the list answers normally, 0 after a refusal",
            |l| u64::from(l.healthy),
        ),
    ];
    for (name, kind, help, get) in series {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for l in lists {
            let _ = writeln!(
                out,
                "{name}{{list=\"{}\",zone=\"{}\"}} {}",
                super::label_value(&l.name),
                super::label_value(&l.zone),
                get(l)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_marks_the_list_unhealthy_until_it_answers() {
        let l = ListHealth::new("spamhaus", "zen.test");
        l.query();
        l.refused("127.255.255.254");
        l.refused("127.255.255.254");
        let s = l.snapshot();
        assert!(!s.healthy);
        assert_eq!((s.queries, s.refused), (1, 2));
        let mut text = String::new();
        render(&mut text, &[s]);
        assert!(
            text.contains("sluice_rbl_healthy{list=\"spamhaus\",zone=\"zen.test\"} 0"),
            "{text}"
        );
        assert!(text.contains("sluice_rbl_refused_total{list=\"spamhaus\",zone=\"zen.test\"} 2"));
        l.answered();
        assert!(l.snapshot().healthy);
    }
}
