//! Per-rule counters shared by every scan: evaluations, hits and (sampled)
//! time. Lock-free so scans on many threads never contend.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug, Default)]
struct Counter {
    evals: AtomicU64,
    hits: AtomicU64,
    timed: AtomicU64,
    nanos: AtomicU64,
}

/// One rule's counters, as read at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleStat {
    pub rule: usize,
    pub evaluations: u64,
    pub hits: u64,
    /// Average over the timed evaluations; `None` if none was timed.
    pub avg_time: Option<Duration>,
}

#[derive(Debug, Default)]
pub struct RuleStats {
    counters: Vec<Counter>,
}

impl RuleStats {
    pub fn new(rules: usize) -> RuleStats {
        RuleStats {
            counters: (0..rules).map(|_| Counter::default()).collect(),
        }
    }

    pub fn record(&self, rule: usize, hit: bool, time: Option<Duration>) {
        let c = &self.counters[rule];
        c.evals.fetch_add(1, Ordering::Relaxed);
        if hit {
            c.hits.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(t) = time {
            c.timed.fetch_add(1, Ordering::Relaxed);
            c.nanos.fetch_add(t.as_nanos() as u64, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> Vec<RuleStat> {
        self.counters
            .iter()
            .enumerate()
            .map(|(rule, c)| {
                let timed = c.timed.load(Ordering::Relaxed);
                RuleStat {
                    rule,
                    evaluations: c.evals.load(Ordering::Relaxed),
                    hits: c.hits.load(Ordering::Relaxed),
                    avg_time: (timed > 0)
                        .then(|| Duration::from_nanos(c.nanos.load(Ordering::Relaxed) / timed)),
                }
            })
            .collect()
    }
}
