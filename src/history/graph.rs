//! Messages per action over time for the controller's `/graph`: counts in
//! time bins at four resolutions (Rspamd's `day`, `week`, `month` and
//! `year` archives), answered as Rspamd's rate per second per action.
//!
//! Kept across restarts in a file under `$DBDIR` ([`Graph::save`]), which
//! the daemon writes now and then and when it stops; a crash loses at
//! most the time since the last write.
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The series, in Rspamd's order (its action enum).
pub const ACTIONS: [&str; 6] = [
    "reject",
    "soft reject",
    "rewrite subject",
    "add header",
    "greylist",
    "no action",
];

/// The file under `$DBDIR`.
pub const FILE: &str = "sluice-graph.json";

/// One resolution: `bins` bins of `bin_secs` seconds each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub name: &'static str,
    pub bin_secs: u64,
    pub bins: usize,
}

/// Rspamd's archive names, each with its alias.
pub const SPANS: [Span; 4] = [
    Span {
        name: "day",
        bin_secs: 300,
        bins: 288,
    },
    Span {
        name: "week",
        bin_secs: 1800,
        bins: 336,
    },
    Span {
        name: "month",
        bin_secs: 7200,
        bins: 372,
    },
    Span {
        name: "year",
        bin_secs: 86400,
        bins: 366,
    },
];

/// The span a `type=` value names: Rspamd's `day|week|month|year`, or
/// `hourly|daily|weekly|monthly` (hourly bins over a day, and so on).
pub fn span(kind: &str) -> Option<Span> {
    let name = match kind.to_ascii_lowercase().as_str() {
        "day" | "hourly" => "day",
        "week" | "daily" => "week",
        "month" | "weekly" => "month",
        "year" | "monthly" | "yearly" => "year",
        _ => return None,
    };
    SPANS.iter().copied().find(|s| s.name == name)
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct Bins {
    /// (bin start, counts per action in [`ACTIONS`] order), oldest first.
    bins: VecDeque<(u64, [u64; 6])>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Series {
    /// When counting started: earlier bins are unknown (null), not zero.
    since: u64,
    spans: Vec<Bins>,
}

impl Series {
    fn new(now: u64) -> Series {
        Series {
            since: now,
            spans: vec![Bins::default(); SPANS.len()],
        }
    }
}

/// The counts of the process.
pub struct Graph {
    series: Mutex<Series>,
    dirty: AtomicBool,
    path: Mutex<Option<PathBuf>>,
}

/// The daemon's graph.
pub fn global() -> &'static Graph {
    static GRAPH: OnceLock<Graph> = OnceLock::new();
    GRAPH.get_or_init(|| Graph::new(unix_now()))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why the file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum GraphFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a graph file: {source}")]
    Format {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl Graph {
    pub fn new(now: u64) -> Graph {
        Graph {
            series: Mutex::new(Series::new(now)),
            dirty: AtomicBool::new(false),
            path: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Series> {
        self.series.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one message with `action` at `ts` (unix seconds); actions
    /// outside Rspamd's six are not drawn.
    pub fn record(&self, action: &str, ts: u64) {
        let Some(a) = ACTIONS.iter().position(|x| *x == action) else {
            return;
        };
        let mut s = self.lock();
        for (span, bins) in SPANS.iter().zip(s.spans.iter_mut()) {
            let start = ts - ts % span.bin_secs;
            match bins.bins.back_mut() {
                // A message for an older bin (the clock stepped back) is
                // counted in the newest.
                Some((b, counts)) if *b >= start => counts[a] += 1,
                _ => {
                    let mut counts = [0; 6];
                    counts[a] = 1;
                    bins.bins.push_back((start, counts));
                }
            }
            let oldest = start.saturating_sub(span.bin_secs * span.bins as u64);
            while bins.bins.front().is_some_and(|(b, _)| *b <= oldest) {
                bins.bins.pop_front();
            }
        }
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// Rspamd's `/graph` reply: one array per action in [`ACTIONS`]
    /// order, each point `{x: bin start, y: messages per second}`; `y` is
    /// null before counting started.
    pub fn query(&self, span: Span, now: u64) -> Value {
        let s = self.lock();
        let idx = SPANS.iter().position(|x| *x == span).unwrap_or(0);
        let bins = &s.spans[idx];
        let last = now - now % span.bin_secs;
        let first = last.saturating_sub(span.bin_secs * (span.bins as u64 - 1));
        let mut out = vec![Vec::with_capacity(span.bins); ACTIONS.len()];
        let mut it = bins.bins.iter().peekable();
        let mut t = first;
        while t <= last {
            while it.peek().is_some_and(|(b, _)| *b < t) {
                it.next();
            }
            let counts = match it.peek() {
                Some((b, c)) if *b == t => Some(*c),
                _ => None,
            };
            let known = t + span.bin_secs > s.since;
            for (a, series) in out.iter_mut().enumerate() {
                let y = if known {
                    json!(counts.map_or(0, |c| c[a]) as f64 / span.bin_secs as f64)
                } else {
                    Value::Null
                };
                series.push(json!({"x": t, "y": y}));
            }
            t += span.bin_secs;
        }
        Value::Array(out.into_iter().map(Value::Array).collect())
    }

    /// Reads the counts kept in `dir` (none yet is no error) and writes
    /// them back there from now on.
    pub fn load(&self, dir: &Path) -> Result<(), GraphFileError> {
        let path = dir.join(FILE);
        *self.path.lock().unwrap_or_else(|p| p.into_inner()) = Some(path.clone());
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(GraphFileError::Io { path, source }),
        };
        let mut read: Series = serde_json::from_slice(&text)
            .map_err(|source| GraphFileError::Format { path, source })?;
        read.spans.resize(SPANS.len(), Bins::default());
        *self.lock() = read;
        Ok(())
    }

    /// Writes the counts when they changed since the last write (to a
    /// temporary file, then renamed over the old one).
    pub fn save(&self) -> Result<(), GraphFileError> {
        let Some(path) = self.path.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
            return Ok(());
        };
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        let text = serde_json::to_vec(&*self.lock()).expect("counts serialize");
        let tmp = path.with_extension("json.tmp");
        let io = |source| GraphFileError::Io {
            path: path.clone(),
            source,
        };
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_100;

    fn ys(v: &Value, action: usize) -> Vec<Value> {
        v[action]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["y"].clone())
            .collect()
    }

    #[test]
    fn rates_per_bin_and_unknown_before_start() {
        let g = Graph::new(T0);
        g.record("reject", T0);
        g.record("reject", T0 + 1);
        g.record("no action", T0 + 2);
        g.record("custom", T0 + 2);
        let day = span("day").unwrap();
        let v = g.query(day, T0 + 10);
        assert_eq!(v.as_array().unwrap().len(), 6);
        let reject = ys(&v, 0);
        assert_eq!(reject.len(), day.bins);
        assert_eq!(reject.last().unwrap(), &json!(2.0 / 300.0));
        assert_eq!(ys(&v, 5).last().unwrap(), &json!(1.0 / 300.0));
        assert_eq!(ys(&v, 3).last().unwrap(), &json!(0.0));
        assert_eq!(reject[0], Value::Null, "before counting started");
        // Next bin: the old one is still there, the new one is zero.
        let v = g.query(day, T0 + 300);
        let reject = ys(&v, 0);
        assert_eq!(reject[reject.len() - 2], json!(2.0 / 300.0));
        assert_eq!(reject[reject.len() - 1], json!(0.0));
    }

    #[test]
    fn old_bins_are_dropped() {
        let g = Graph::new(T0);
        g.record("reject", T0);
        g.record("reject", T0 + 2 * 86_400);
        let s = g.lock();
        assert_eq!(s.spans[0].bins.len(), 1, "a day span keeps one day");
        assert_eq!(s.spans[1].bins.len(), 2);
    }

    #[test]
    fn kept_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let g = Graph::new(T0);
        g.load(dir.path()).unwrap();
        g.record("add header", T0);
        g.save().unwrap();
        let again = Graph::new(T0 + 50);
        again.load(dir.path()).unwrap();
        let v = again.query(span("weekly").unwrap(), T0 + 60);
        assert_eq!(ys(&v, 3).last().unwrap(), &json!(1.0 / 7200.0));
        std::fs::write(dir.path().join(FILE), "nonsense").unwrap();
        assert!(matches!(
            Graph::new(T0).load(dir.path()),
            Err(GraphFileError::Format { .. })
        ));
    }

    #[test]
    fn type_names() {
        assert_eq!(span("day").unwrap().name, "day");
        assert_eq!(span("hourly").unwrap().name, "day");
        assert_eq!(span("monthly").unwrap().name, "year");
        assert!(span("decade").is_none());
    }
}
