//! What the resolver did, as counters read through [`DnsMetrics::snapshot`] and rendered for
//! `/metrics` by [`render`]. Lock-free: every lookup of every session bumps them.
//!
//! Queries are the cache's misses (hickory's own cache is off, so each miss is a query);
//! latency is timed per typed lookup that missed the cache, and per check (SPF, DKIM, ARC,
//! DMARC) of the auth phase, whose lookups run inside mail-auth.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::DnsError;

/// Upper bounds (inclusive, in milliseconds) of the latency histogram's buckets; one more bucket
/// takes everything slower. Spaced for a local recursor (sub-millisecond cache hits) up to
/// retries against a dead server.
pub const LATENCY_BUCKETS_MS: [u64; 12] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

/// Why a lookup failed, for the failure counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    NxDomain,
    NoData,
    ServFail,
    Timeout,
    Other,
}

impl FailureKind {
    const ALL: [FailureKind; 5] = [
        FailureKind::NxDomain,
        FailureKind::NoData,
        FailureKind::ServFail,
        FailureKind::Timeout,
        FailureKind::Other,
    ];

    pub fn of(err: &DnsError) -> Self {
        match err {
            DnsError::NxDomain { .. } => FailureKind::NxDomain,
            DnsError::NoData { .. } => FailureKind::NoData,
            DnsError::ServFail { .. } => FailureKind::ServFail,
            DnsError::Timeout { .. } => FailureKind::Timeout,
            DnsError::BadName { .. } | DnsError::Failed { .. } => FailureKind::Other,
        }
    }

    /// The kind of a resolver failure from its message, as mail-auth passes hickory's errors
    /// on (as text) to the checks.
    pub fn of_message(message: &str) -> Self {
        if message.contains("timed out") {
            FailureKind::Timeout
        } else if message.contains("error response") {
            FailureKind::ServFail
        } else {
            FailureKind::Other
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FailureKind::NxDomain => "nxdomain",
            FailureKind::NoData => "nodata",
            FailureKind::ServFail => "servfail",
            FailureKind::Timeout => "timeout",
            FailureKind::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The live counters, shared by the resolver and whoever reports them.
#[derive(Debug, Default)]
pub struct DnsMetrics {
    lookups: AtomicU64,
    queries: AtomicU64,
    cache_hits: AtomicU64,
    failures: [AtomicU64; 5],
    latency: [AtomicU64; LATENCY_BUCKETS_MS.len() + 1],
    latency_sum_us: AtomicU64,
}

/// A copy of the counters at one moment, as plain data.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DnsMetricsSnapshot {
    /// Lookups asked of the resolver (each typed call counts once).
    pub lookups: u64,
    /// Queries sent to a nameserver, retransmits and fallbacks to TCP included.
    pub queries: u64,
    /// Lookups answered from the cache without a query.
    pub cache_hits: u64,
    /// Failed lookups by kind name (`nxdomain`, `nodata`, `servfail`, `timeout`, `other`).
    pub failures: Vec<(&'static str, u64)>,
    /// Lookup latency: the count per bucket of [`LATENCY_BUCKETS_MS`], then the overflow.
    pub latency_buckets: Vec<u64>,
    /// Sum of all lookup latencies, in microseconds.
    pub latency_sum_us: u64,
}

impl DnsMetricsSnapshot {
    /// Failures of one kind.
    pub fn failures_of(&self, kind: FailureKind) -> u64 {
        self.failures
            .iter()
            .find(|(name, _)| *name == kind.name())
            .map_or(0, |(_, n)| *n)
    }
}

impl DnsMetrics {
    pub(crate) fn lookup(&self) {
        self.lookups.fetch_add(1, Relaxed);
    }

    pub(crate) fn query_sent(&self) {
        self.queries.fetch_add(1, Relaxed);
    }

    pub(crate) fn cache_hit(&self) {
        self.cache_hits.fetch_add(1, Relaxed);
    }

    pub(crate) fn failure(&self, kind: FailureKind) {
        self.failures[kind.index()].fetch_add(1, Relaxed);
    }

    pub(crate) fn latency(&self, took: Duration) {
        let ms = took.as_millis();
        let bucket = LATENCY_BUCKETS_MS
            .iter()
            .position(|&bound| ms <= u128::from(bound))
            .unwrap_or(LATENCY_BUCKETS_MS.len());
        self.latency[bucket].fetch_add(1, Relaxed);
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_us.fetch_add(us, Relaxed);
    }

    pub fn snapshot(&self) -> DnsMetricsSnapshot {
        DnsMetricsSnapshot {
            lookups: self.lookups.load(Relaxed),
            queries: self.queries.load(Relaxed),
            cache_hits: self.cache_hits.load(Relaxed),
            failures: FailureKind::ALL
                .iter()
                .map(|k| (k.name(), self.failures[k.index()].load(Relaxed)))
                .collect(),
            latency_buckets: self.latency.iter().map(|c| c.load(Relaxed)).collect(),
            latency_sum_us: self.latency_sum_us.load(Relaxed),
        }
    }
}

/// The daemon's counters: one set for the process, kept across reloads (each reload builds a
/// new resolver on them).
pub fn process() -> Arc<DnsMetrics> {
    static METRICS: OnceLock<Arc<DnsMetrics>> = OnceLock::new();
    Arc::clone(METRICS.get_or_init(Arc::default))
}

/// The counters in the OpenMetrics text format, as `/metrics` shows them.
pub fn render(out: &mut String, s: &DnsMetricsSnapshot) {
    let counters = [
        (
            "sluice_dns_lookups",
            "DNS lookups asked of the cache.",
            s.lookups,
        ),
        (
            "sluice_dns_queries",
            "DNS queries sent (cache misses).",
            s.queries,
        ),
        (
            "sluice_dns_cache_hits",
            "DNS lookups answered from the cache.",
            s.cache_hits,
        ),
    ];
    for (name, help, v) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name}_total {v}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP sluice_dns_failures DNS lookups that failed, by kind.\n# TYPE sluice_dns_failures counter"
    );
    for (kind, n) in &s.failures {
        let _ = writeln!(out, "sluice_dns_failures_total{{kind=\"{kind}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP sluice_dns_latency_seconds Time of a DNS lookup (cache miss) or of one auth check.\n# TYPE sluice_dns_latency_seconds histogram"
    );
    let mut cumulative = 0;
    for (bound, n) in LATENCY_BUCKETS_MS.iter().zip(&s.latency_buckets) {
        cumulative += n;
        let le = *bound as f64 / 1000.0;
        let _ = writeln!(
            out,
            "sluice_dns_latency_seconds_bucket{{le=\"{le}\"}} {cumulative}"
        );
    }
    cumulative += s.latency_buckets.last().copied().unwrap_or(0);
    let _ = writeln!(
        out,
        "sluice_dns_latency_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
    );
    let secs = s.latency_sum_us as f64 / 1e6;
    let _ = writeln!(out, "sluice_dns_latency_seconds_sum {secs}");
    let _ = writeln!(out, "sluice_dns_latency_seconds_count {cumulative}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_land_in_their_bucket() {
        let m = DnsMetrics::default();
        m.latency(Duration::from_micros(300));
        m.latency(Duration::from_millis(150));
        m.latency(Duration::from_secs(60));
        let s = m.snapshot();
        assert_eq!(s.latency_buckets[0], 1);
        assert_eq!(s.latency_buckets[7], 1, "150 ms is in the 200 ms bucket");
        assert_eq!(s.latency_buckets[LATENCY_BUCKETS_MS.len()], 1);
        assert_eq!(s.latency_buckets.iter().sum::<u64>(), 3);
    }

    #[test]
    fn failures_are_counted_by_kind() {
        let m = DnsMetrics::default();
        m.failure(FailureKind::Timeout);
        m.failure(FailureKind::Timeout);
        m.failure(FailureKind::NxDomain);
        let s = m.snapshot();
        assert_eq!(s.failures_of(FailureKind::Timeout), 2);
        assert_eq!(s.failures_of(FailureKind::NxDomain), 1);
        assert_eq!(s.failures_of(FailureKind::ServFail), 0);
    }

    #[test]
    fn the_rendering_counts_queries_hits_failures_and_latency() {
        let m = DnsMetrics::default();
        m.lookup();
        m.query_sent();
        m.failure(FailureKind::ServFail);
        m.latency(Duration::from_millis(3));
        let mut out = String::new();
        render(&mut out, &m.snapshot());
        assert!(out.contains("sluice_dns_queries_total 1\n"), "{out}");
        assert!(out.contains("sluice_dns_cache_hits_total 0\n"), "{out}");
        assert!(
            out.contains("sluice_dns_failures_total{kind=\"servfail\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("sluice_dns_latency_seconds_bucket{le=\"0.005\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("sluice_dns_latency_seconds_count 1\n"),
            "{out}"
        );
    }
}
