//! Process-wide counters shared by every transport: the milter sessions and
//! the HTTP listeners update them, the controller's `/stat` and `/metrics`
//! read them.
//!
//! Plain relaxed atomics in one static: updating costs a few nanoseconds per
//! message and needs no plumbing through the session types. Counters live for
//! the process; a SIGHUP reload keeps them (per-symbol hits live in the
//! pipeline and restart with it).
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod failure;
pub mod fuzzy;
mod learn;
pub mod rbl;
mod store;
mod upstream;

pub use failure::FailReason;
pub use learn::{LearnCounters, LearnResult};
pub use store::{StoreHealth, StoreSnapshot};
pub use upstream::{UpstreamCounters, UpstreamSnapshot};

/// A label value as the Prometheus text format writes it: `\`, `"` and
/// newline escaped (`\\`, `\"`, `\n`); borrowed when there is nothing to
/// escape, which is nearly always.
pub fn label_value(v: &str) -> std::borrow::Cow<'_, str> {
    if !v.contains(['\\', '"', '\n']) {
        return std::borrow::Cow::Borrowed(v);
    }
    let mut out = String::with_capacity(v.len() + 4);
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Upper bounds (seconds) of the scan time histogram buckets.
pub const SCAN_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// Slots for scanned messages by action. The caller names an action by its
/// index in its own ordering (the verdict room's); this module knows no action
/// types, only that there are at most this many.
pub const ACTION_SLOTS: usize = 8;

/// Which listener a connection arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// Rspamd's normal worker protocol.
    Scan,
    Controller,
}

/// The counters. Use [`global`].
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    /// By the caller's action index.
    by_action: [AtomicU64; ACTION_SLOTS],
    /// Cumulative per bucket is computed on read; each slot counts scans
    /// falling in that bucket only (the last slot: above every bound).
    scan_buckets: [AtomicU64; SCAN_BUCKETS.len() + 1],
    scan_micros: AtomicU64,
    milter_open: AtomicI64,
    milter_total: AtomicU64,
    /// By [`FailReason::index`].
    milter_failed: [AtomicU64; FailReason::ALL.len()],
    /// Idle sessions closed at the session cap to serve a new connection.
    milter_evicted: AtomicU64,
    /// Connections closed at the cap because every session was in a message.
    milter_refused: AtomicU64,
    http_connections: AtomicU64,
    control_connections: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    /// Per upstream host, registered when a forward pool is built.
    pub upstreams: upstream::Registry,
    pub learns: LearnCounters,
    /// Whether the Bayes store is usable now.
    pub bayes_store: StoreHealth,
    /// Sections other layers render themselves (the DNS resolver's counters).
    pub sections: Sections,
    /// 1 when the last reload succeeded (or none happened yet), else 0.
    last_reload_ok: AtomicU64,
    /// Unix time of the last reload attempt; 0 before the first.
    last_reload_unix: AtomicU64,
}

/// The process's counters.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// A consistent-enough copy of the counters for one report.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub uptime: Duration,
    /// Scanned messages per action, by the index [`Metrics::record_scan`] was given.
    pub by_action: [u64; ACTION_SLOTS],
    pub scanned: u64,
    /// Per bucket of [`SCAN_BUCKETS`] plus the overflow bucket (not cumulative).
    pub scan_buckets: Vec<u64>,
    pub scan_seconds: f64,
    pub milter_open: i64,
    pub milter_total: u64,
    pub milter_failed: u64,
    /// Failed sessions by reason label.
    pub milter_failed_by: Vec<(&'static str, u64)>,
    pub milter_evicted: u64,
    pub milter_refused: u64,
    pub upstreams: Vec<UpstreamSnapshot>,
    /// Learned messages: (class, outcome, count).
    pub learns: Vec<(&'static str, &'static str, u64)>,
    pub bayes_store: StoreSnapshot,
    /// The registered sections, rendered when the snapshot was taken.
    pub sections: Vec<String>,
    pub http_connections: u64,
    pub control_connections: u64,
    pub reloads_ok: u64,
    pub reloads_failed: u64,
    pub last_reload_ok: bool,
    pub last_reload_unix: u64,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            started: Instant::now(),
            by_action: Default::default(),
            scan_buckets: Default::default(),
            scan_micros: AtomicU64::new(0),
            milter_open: AtomicI64::new(0),
            milter_total: AtomicU64::new(0),
            milter_failed: Default::default(),
            milter_evicted: AtomicU64::new(0),
            milter_refused: AtomicU64::new(0),
            http_connections: AtomicU64::new(0),
            control_connections: AtomicU64::new(0),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            upstreams: upstream::Registry::default(),
            learns: LearnCounters::default(),
            bayes_store: StoreHealth::default(),
            sections: Sections::default(),
            last_reload_ok: AtomicU64::new(1),
            last_reload_unix: AtomicU64::new(0),
        }
    }

    /// The configuration loaded at start: the reload gauges describe it
    /// until the first SIGHUP (it is not counted as a reload).
    pub fn config_loaded(&self) {
        self.last_reload_ok.store(1, Ordering::Relaxed);
        self.last_reload_unix.store(unix_now(), Ordering::Relaxed);
    }

    /// Counts one SIGHUP reload and its result, so an alert can fire on a
    /// config that failed to load (the daemon keeps running the old one,
    /// which is otherwise only visible in the log).
    pub fn reload(&self, ok: bool) {
        let c = if ok {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        };
        c.fetch_add(1, Ordering::Relaxed);
        self.last_reload_ok.store(u64::from(ok), Ordering::Relaxed);
        self.last_reload_unix.store(unix_now(), Ordering::Relaxed);
    }

    /// Counts one scanned message by its action (an index below
    /// [`ACTION_SLOTS`]; a scan with another is not counted) and scan time.
    pub fn record_scan(&self, action: usize, scan_time: Duration) {
        let Some(slot) = self.by_action.get(action) else {
            return;
        };
        slot.fetch_add(1, Ordering::Relaxed);
        let secs = scan_time.as_secs_f64();
        let slot = SCAN_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(SCAN_BUCKETS.len());
        self.scan_buckets[slot].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(scan_time.as_micros()).unwrap_or(u64::MAX);
        self.scan_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn milter_session_started(&self) {
        self.milter_open.fetch_add(1, Ordering::Relaxed);
        self.milter_total.fetch_add(1, Ordering::Relaxed);
    }

    /// `failed`: why the session was ended early (bad input, a timeout).
    pub fn milter_session_ended(&self, failed: Option<FailReason>) {
        // The failure is counted first, so a reader that sees the gauge
        // drop also sees why the session ended.
        if let Some(kind) = failed {
            self.milter_failed[kind.index()].fetch_add(1, Ordering::Release);
        }
        self.milter_open.fetch_sub(1, Ordering::Release);
    }

    pub fn milter_session_evicted(&self) {
        self.milter_evicted.fetch_add(1, Ordering::Relaxed);
    }

    pub fn milter_session_refused(&self) {
        self.milter_refused.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection(&self, on: Listener) {
        let c = match on {
            Listener::Scan => &self.http_connections,
            Listener::Controller => &self.control_connections,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Zeroes the scan counters (the controller's `/statreset`); session
    /// and connection counters keep counting.
    pub fn reset_scans(&self) {
        let zero = |a: &AtomicU64| a.store(0, Ordering::Relaxed);
        self.by_action.iter().for_each(zero);
        self.scan_buckets.iter().for_each(zero);
        zero(&self.scan_micros);
    }

    pub fn snapshot(&self) -> Snapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let by_action = std::array::from_fn(|i| load(&self.by_action[i]));
        Snapshot {
            uptime: self.started.elapsed(),
            scanned: self.by_action.iter().map(load).sum(),
            by_action,
            scan_buckets: self.scan_buckets.iter().map(load).collect(),
            scan_seconds: load(&self.scan_micros) as f64 / 1e6,
            milter_open: self.milter_open.load(Ordering::Acquire),
            milter_total: load(&self.milter_total),
            milter_failed: self.milter_failed.iter().map(load).sum(),
            milter_failed_by: FailReason::ALL
                .iter()
                .map(|k| (k.as_str(), load(&self.milter_failed[k.index()])))
                .collect(),
            milter_evicted: load(&self.milter_evicted),
            milter_refused: load(&self.milter_refused),
            upstreams: self.upstreams.snapshot(),
            learns: self.learns.snapshot(),
            bayes_store: self.bayes_store.snapshot(),
            sections: self.sections.render(),
            http_connections: load(&self.http_connections),
            control_connections: load(&self.control_connections),
            reloads_ok: load(&self.reloads_ok),
            reloads_failed: load(&self.reloads_failed),
            last_reload_ok: load(&self.last_reload_ok) == 1,
            last_reload_unix: load(&self.last_reload_unix),
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// The counters in the OpenMetrics text format (which Prometheus reads),
/// ending with `# EOF` as Rspamd's `/metrics` does. `actions`: each action's
/// label and index, in the order to list them.
pub fn render_openmetrics(s: &Snapshot, actions: &[(&str, usize)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP sluice_scanned Messages scanned, by action.\n# TYPE sluice_scanned counter"
    );
    for (a, i) in actions {
        let n = s.by_action.get(*i).copied().unwrap_or(0);
        let _ = writeln!(out, "sluice_scanned_total{{action=\"{a}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP sluice_scan_seconds Time to scan one message.\n# TYPE sluice_scan_seconds histogram"
    );
    let mut cumulative = 0;
    for (bound, n) in SCAN_BUCKETS.iter().zip(&s.scan_buckets) {
        cumulative += n;
        let _ = writeln!(
            out,
            "sluice_scan_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
        );
    }
    cumulative += s.scan_buckets.last().copied().unwrap_or(0);
    let _ = writeln!(
        out,
        "sluice_scan_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
    );
    let _ = writeln!(out, "sluice_scan_seconds_sum {}", s.scan_seconds);
    let _ = writeln!(out, "sluice_scan_seconds_count {cumulative}");
    let _ = writeln!(
        out,
        "# HELP sluice_config_reloads Configuration reloads (SIGHUP), by result.\n# TYPE sluice_config_reloads counter"
    );
    let _ = writeln!(
        out,
        "sluice_config_reloads_total{{result=\"ok\"}} {}",
        s.reloads_ok
    );
    let _ = writeln!(
        out,
        "sluice_config_reloads_total{{result=\"error\"}} {}",
        s.reloads_failed
    );
    let rows: [(&str, &str, &str, String); 7] = [
        (
            "sluice_config_last_reload_success",
            "gauge",
            "1 if the last load (start or SIGHUP reload) succeeded, 0 if it failed.",
            u8::from(s.last_reload_ok).to_string(),
        ),
        (
            "sluice_config_last_reload_timestamp_seconds",
            "gauge",
            "Unix time of the last load attempt (start or SIGHUP reload).",
            s.last_reload_unix.to_string(),
        ),
        (
            "sluice_milter_sessions_open",
            "gauge",
            "Milter sessions now open.",
            s.milter_open.to_string(),
        ),
        (
            "sluice_milter_sessions",
            "counter",
            "Milter sessions accepted.",
            s.milter_total.to_string(),
        ),
        (
            "sluice_http_connections",
            "counter",
            "Connections to the scan (normal worker) listeners.",
            s.http_connections.to_string(),
        ),
        (
            "sluice_controller_connections",
            "counter",
            "Connections to the controller listeners.",
            s.control_connections.to_string(),
        ),
        (
            "sluice_uptime_seconds",
            "gauge",
            "Seconds since start.",
            format!("{:.3}", s.uptime.as_secs_f64()),
        ),
    ];
    for (name, kind, help, value) in rows {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        let suffix = if kind == "counter" { "_total" } else { "" };
        let _ = writeln!(out, "{name}{suffix} {value}");
    }
    let _ = writeln!(
        out,
        "# HELP sluice_milter_sessions_failed Milter sessions ended by bad input or a timeout, by reason.\n# TYPE sluice_milter_sessions_failed counter"
    );
    for (reason, n) in &s.milter_failed_by {
        let _ = writeln!(
            out,
            "sluice_milter_sessions_failed_total{{reason=\"{reason}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP sluice_milter_sessions_evicted Idle milter sessions closed at max_sessions to serve a new connection.\n# TYPE sluice_milter_sessions_evicted counter\nsluice_milter_sessions_evicted_total {}",
        s.milter_evicted
    );
    let _ = writeln!(
        out,
        "# HELP sluice_milter_sessions_refused Milter connections closed at max_sessions because every session was inside a message.\n# TYPE sluice_milter_sessions_refused counter\nsluice_milter_sessions_refused_total {}",
        s.milter_refused
    );
    upstream::render(&mut out, &s.upstreams);
    learn::render(&mut out, &s.learns);
    store::render(&mut out, &s.bayes_store);
    for section in &s.sections {
        out.push_str(section);
    }
    out.push_str("# EOF\n");
    out
}

type Renderer = Box<dyn Fn(&mut String) + Send + Sync>;

/// Sections of `/metrics` that other layers render from their own counters, so this module
/// imports none of their types. Registered by name; registering a name again replaces it.
#[derive(Default)]
pub struct Sections(std::sync::Mutex<Vec<(&'static str, Renderer)>>);

impl std::fmt::Debug for Sections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.lock().iter().map(|(n, _)| *n).collect();
        f.debug_tuple("Sections").field(&names).finish()
    }
}

impl Sections {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(&'static str, Renderer)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn register(
        &self,
        name: &'static str,
        render: impl Fn(&mut String) + Send + Sync + 'static,
    ) {
        let mut all = self.lock();
        all.retain(|(n, _)| *n != name);
        all.push((name, Box::new(render)));
    }

    fn render(&self) -> Vec<String> {
        self.lock()
            .iter()
            .map(|(_, r)| {
                let mut out = String::new();
                r(&mut out);
                out
            })
            .collect()
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_ACTION: usize = 0;
    const GREYLIST: usize = 1;
    const ADD_HEADER: usize = 2;
    const REJECT: usize = 5;
    const LABELS: [(&str, usize); 2] = [("reject", REJECT), ("add header", ADD_HEADER)];

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn scans_are_counted_by_action_and_time() {
        let m = Metrics::new();
        m.record_scan(REJECT, ms(3));
        m.record_scan(NO_ACTION, ms(0));
        m.record_scan(GREYLIST, ms(5000));
        m.record_scan(ACTION_SLOTS, ms(1));
        let s = m.snapshot();
        assert_eq!(s.scanned, 3, "an index out of range is not counted");
        assert_eq!((s.by_action[REJECT], s.by_action[GREYLIST]), (1, 1));
        assert_eq!(s.scan_buckets[0], 1, "0 ms in the first bucket");
        assert_eq!(s.scan_buckets[3], 1, "3 ms in the 5 ms bucket");
        assert_eq!(s.scan_buckets[SCAN_BUCKETS.len()], 1, "5 s overflows");
        assert!((s.scan_seconds - 5.003).abs() < 1e-9);
        m.reset_scans();
        let s = m.snapshot();
        assert_eq!((s.scanned, s.scan_seconds), (0, 0.0));
        assert!(s.scan_buckets.iter().all(|n| *n == 0));
    }

    #[test]
    fn milter_sessions_open_and_failed() {
        let m = Metrics::new();
        m.milter_session_started();
        m.milter_session_started();
        m.milter_session_ended(Some(FailReason::Timeout));
        let s = m.snapshot();
        assert_eq!((s.milter_open, s.milter_total, s.milter_failed), (1, 2, 1));
        let text = render_openmetrics(&s, &LABELS);
        assert!(text.contains("sluice_milter_sessions_failed_total{reason=\"timeout\"} 1\n"));
        assert!(text.contains("sluice_milter_sessions_failed_total{reason=\"protocol\"} 0\n"));
    }

    #[test]
    fn upstreams_keep_counting_across_pools_and_learns_by_outcome() {
        let m = Metrics::new();
        let a = m.upstreams.register("scanners", "127.0.0.1:11333");
        a.attempt(true, Duration::from_millis(2), true);
        // A reload builds a new pool: same name, same counters.
        let again = m.upstreams.register("scanners", "127.0.0.1:11333");
        again.attempt(false, Duration::from_millis(1), false);
        m.learns.record(true, LearnResult::Learned);
        m.learns.record(false, LearnResult::Error);
        let text = render_openmetrics(&m.snapshot(), &LABELS);
        let host = "group=\"scanners\",host=\"127.0.0.1:11333\"";
        for line in [
            format!("sluice_upstream_requests_total{{{host},result=\"ok\"}} 1\n"),
            format!("sluice_upstream_requests_total{{{host},result=\"error\"}} 1\n"),
            format!("sluice_upstream_request_seconds_sum{{{host}}} 0.003\n"),
            format!("sluice_upstream_request_seconds_count{{{host}}} 2\n"),
            format!("sluice_upstream_alive{{{host}}} 0\n"),
            "sluice_bayes_learns_total{class=\"spam\",outcome=\"learned\"} 1\n".to_string(),
            "sluice_bayes_learns_total{class=\"ham\",outcome=\"error\"} 1\n".to_string(),
            "sluice_bayes_learns_total{class=\"ham\",outcome=\"learned\"} 0\n".to_string(),
        ] {
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert!(matches!(
            label_value("plain"),
            std::borrow::Cow::Borrowed("plain")
        ));
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn openmetrics_text_is_cumulative_and_terminated() {
        let m = Metrics::new();
        m.record_scan(ADD_HEADER, ms(3));
        m.record_scan(ADD_HEADER, ms(40));
        let text = render_openmetrics(&m.snapshot(), &LABELS);
        assert!(text.contains(
            "sluice_scanned_total{action=\"reject\"} 0\nsluice_scanned_total{action=\"add header\"} 2\n"
        ));
        assert!(text.contains("sluice_scan_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("sluice_scan_seconds_bucket{le=\"0.05\"} 2\n"));
        assert!(text.contains("sluice_scan_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("sluice_scan_seconds_count 2\n"));
        assert!(text
            .contains("# TYPE sluice_milter_sessions counter\nsluice_milter_sessions_total 0\n"));
        assert!(text.ends_with("# EOF\n"));
    }
}
