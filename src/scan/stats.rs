//! Per-rule counters shared by every scan: evaluations, hits and (sampled)
//! time. Lock-free, and cheap on the hot path: rules run in schedule
//! order and a scan stops at some position, so one counter per stop
//! position records every evaluation of the scan with one atomic add
//! (per-rule evaluation counters cost an atomic per rule per message, and
//! their cache lines bounce between the scan threads). Hits and timings
//! are per rule, but rare (fired rules, sampled scans).
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug, Default)]
struct Counter {
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
    /// Rule index at each schedule position.
    order: Vec<usize>,
    /// `stops[k]`: scans that evaluated exactly the first `k` rules of
    /// `order`.
    stops: Vec<AtomicU64>,
}

impl RuleStats {
    /// Counters for rules evaluated in `order` (rule indexes).
    pub fn new(order: &[usize]) -> RuleStats {
        let rules = order.iter().max().map_or(0, |&m| m + 1);
        RuleStats {
            counters: (0..rules).map(|_| Counter::default()).collect(),
            order: order.to_vec(),
            stops: (0..=order.len()).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// A scan evaluated the first `evaluated` rules of the order.
    pub fn record_scan(&self, evaluated: usize) {
        if let Some(c) = self.stops.get(evaluated) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `rule` fired, taking `time` when it was timed.
    pub fn record(&self, rule: usize, hit: bool, time: Option<Duration>) {
        let Some(c) = self.counters.get(rule) else {
            return;
        };
        if hit {
            c.hits.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(t) = time {
            c.timed.fetch_add(1, Ordering::Relaxed);
            c.nanos.fetch_add(t.as_nanos() as u64, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> Vec<RuleStat> {
        // Rule at position k was evaluated by every scan that stopped
        // after it: a suffix sum over the stop positions.
        let mut evals = vec![0u64; self.counters.len()];
        let mut reached = 0u64;
        for k in (0..self.order.len()).rev() {
            reached += self.stops[k + 1].load(Ordering::Relaxed);
            evals[self.order[k]] = reached;
        }
        self.counters
            .iter()
            .enumerate()
            .map(|(rule, c)| {
                let timed = c.timed.load(Ordering::Relaxed);
                RuleStat {
                    rule,
                    evaluations: evals[rule],
                    hits: c.hits.load(Ordering::Relaxed),
                    avg_time: (timed > 0)
                        .then(|| Duration::from_nanos(c.nanos.load(Ordering::Relaxed) / timed)),
                }
            })
            .collect()
    }
}
