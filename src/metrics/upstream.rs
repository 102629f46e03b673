//! Per-upstream counters for `/metrics`: requests by outcome, latency and
//! whether the pool currently counts the host alive.
//!
//! Hosts register once, when a forward pool is built (at start and on each
//! reload); the pool keeps the returned counters, so the hot path is a few
//! relaxed atomics and never takes the registry's lock. A host removed by a
//! reload keeps its last values.
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One upstream host's counters.
#[derive(Debug)]
pub struct UpstreamCounters {
    ok: AtomicU64,
    failed: AtomicU64,
    /// Sum of the durations of every finished attempt, in microseconds.
    micros: AtomicU64,
    alive: AtomicU64,
}

impl Default for UpstreamCounters {
    fn default() -> Self {
        UpstreamCounters {
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            micros: AtomicU64::new(0),
            alive: AtomicU64::new(1),
        }
    }
}

impl UpstreamCounters {
    /// One attempt ended after `took`; `alive`: the pool's view after it.
    pub fn attempt(&self, ok: bool, took: Duration, alive: bool) {
        let c = if ok { &self.ok } else { &self.failed };
        c.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(micros, Ordering::Relaxed);
        self.alive.store(u64::from(alive), Ordering::Relaxed);
    }
}

/// One host's values at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamSnapshot {
    pub group: String,
    pub host: String,
    pub ok: u64,
    pub failed: u64,
    pub seconds: f64,
    pub alive: bool,
}

/// Every host ever registered, by (group, host).
#[derive(Debug, Default)]
pub struct Registry {
    hosts: Mutex<BTreeMap<(String, String), Arc<UpstreamCounters>>>,
}

impl Registry {
    /// The counters of `host` in `group`, shared with earlier pools of the
    /// same name so that a reload does not reset them.
    pub fn register(&self, group: &str, host: &str) -> Arc<UpstreamCounters> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(
            hosts
                .entry((group.to_string(), host.to_string()))
                .or_default(),
        )
    }

    pub fn snapshot(&self) -> Vec<UpstreamSnapshot> {
        let hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        hosts
            .iter()
            .map(|((group, host), c)| UpstreamSnapshot {
                group: group.clone(),
                host: host.clone(),
                ok: load(&c.ok),
                failed: load(&c.failed),
                seconds: load(&c.micros) as f64 / 1e6,
                alive: load(&c.alive) == 1,
            })
            .collect()
    }
}

/// The upstream families; nothing when no pool was ever built.
pub fn render(out: &mut String, hosts: &[UpstreamSnapshot]) {
    if hosts.is_empty() {
        return;
    }
    let label = |u: &UpstreamSnapshot| {
        format!(
            "group=\"{}\",host=\"{}\"",
            super::label_value(&u.group),
            super::label_value(&u.host)
        )
    };
    let _ = writeln!(
        out,
        "# HELP sluice_upstream_requests Requests to each upstream scanner, by result.\n# TYPE sluice_upstream_requests counter"
    );
    for u in hosts {
        let l = label(u);
        let _ = writeln!(
            out,
            "sluice_upstream_requests_total{{{l},result=\"ok\"}} {}",
            u.ok
        );
        let _ = writeln!(
            out,
            "sluice_upstream_requests_total{{{l},result=\"error\"}} {}",
            u.failed
        );
    }
    let _ = writeln!(
        out,
        "# HELP sluice_upstream_request_seconds Time spent in requests to each upstream scanner.\n# TYPE sluice_upstream_request_seconds summary"
    );
    for u in hosts {
        let l = label(u);
        let _ = writeln!(
            out,
            "sluice_upstream_request_seconds_sum{{{l}}} {}",
            u.seconds
        );
        let _ = writeln!(
            out,
            "sluice_upstream_request_seconds_count{{{l}}} {}",
            u.ok + u.failed
        );
    }
    let _ = writeln!(
        out,
        "# HELP sluice_upstream_alive 1 while the pool counts the upstream alive, 0 while it is marked dead.\n# TYPE sluice_upstream_alive gauge"
    );
    for u in hosts {
        let _ = writeln!(
            out,
            "sluice_upstream_alive{{{}}} {}",
            label(u),
            u8::from(u.alive)
        );
    }
}
