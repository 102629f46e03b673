//! Repeated identical log lines, logged once per interval with a count.
//!
//! An outage of a dependency (Redis, an upstream) fails every message the
//! same way; one line per message floods the log and hides everything else.
//! A [`Throttle`] lets the first occurrence of a line through, counts the
//! identical ones that follow within the interval, and lets the next one
//! after the interval through with the count of those it held back:
//! `... (repeated 1234 times in 10 s)`.
//!
//! Lines are told apart by their full text, so callers should keep
//! per-message details (queue ids, timings) out of a throttled line.
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Distinct lines tracked at once; past this, windows that have run out are
/// forgotten first, then the oldest.
const MAX_LINES: usize = 256;

/// How often each distinct line may be logged. `const`, so it can be a
/// `static` next to the code that logs.
#[derive(Debug)]
pub struct Throttle {
    interval: Duration,
    seen: Mutex<Vec<Seen>>,
}

#[derive(Debug)]
struct Seen {
    line: String,
    /// When the line was last let through.
    since: Instant,
    /// Occurrences held back since then.
    held: u64,
}

/// What was held back before a line let through; its `Display` is the
/// suffix to append (empty when nothing was held back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeats {
    pub count: u64,
    pub over: Duration,
}

impl fmt::Display for Repeats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.count == 0 {
            return Ok(());
        }
        let times = if self.count == 1 { "time" } else { "times" };
        write!(
            f,
            " (repeated {} {times} in {} s)",
            self.count,
            self.over.as_secs().max(1)
        )
    }
}

impl Throttle {
    pub const fn new(interval: Duration) -> Throttle {
        Throttle {
            interval,
            seen: Mutex::new(Vec::new()),
        }
    }

    /// `Some` when `line` should be logged now, with what was held back
    /// since it was last logged; `None`: counted, stay quiet.
    pub fn admit(&self, line: &str) -> Option<Repeats> {
        self.admit_at(line, Instant::now())
    }

    fn admit_at(&self, line: &str, now: Instant) -> Option<Repeats> {
        // A poisoned lock only means another thread panicked mid-update:
        // the counts are still usable.
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = seen.iter_mut().find(|s| s.line == line) {
            let over = now.saturating_duration_since(s.since);
            if over < self.interval {
                s.held += 1;
                return None;
            }
            let out = Repeats {
                count: s.held,
                over,
            };
            s.since = now;
            s.held = 0;
            return Some(out);
        }
        if seen.len() >= MAX_LINES {
            self.forget(&mut seen, now);
        }
        seen.push(Seen {
            line: line.to_string(),
            since: now,
            held: 0,
        });
        Some(Repeats {
            count: 0,
            over: Duration::ZERO,
        })
    }

    /// Makes room: drops lines whose interval ran out, else the oldest.
    fn forget(&self, seen: &mut Vec<Seen>, now: Instant) {
        seen.retain(|s| now.saturating_duration_since(s.since) < self.interval);
        if seen.len() >= MAX_LINES {
            if let Some(oldest) = (0..seen.len()).min_by_key(|&i| seen[i].since) {
                seen.swap_remove(oldest);
            }
        }
    }
}

/// The process's shared throttle for warnings, one line per 10 s; see
/// [`warn_throttled`](crate::warn_throttled).
pub fn warnings() -> &'static Throttle {
    static WARNINGS: Throttle = Throttle::new(Duration::from_secs(10));
    &WARNINGS
}

/// `tracing::warn!` through [`warnings`]: an identical line is logged at
/// most once per interval, then with the count of those held back.
#[macro_export]
macro_rules! warn_throttled {
    ($($arg:tt)+) => {{
        let line = format!($($arg)+);
        if let Some(r) = $crate::log::throttle::warnings().admit(&line) {
            tracing::warn!("{line}{r}");
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_lines_are_counted_and_reported_after_the_interval() {
        let t = Throttle::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let first = t.admit_at("redis down", t0).unwrap();
        assert_eq!(first.to_string(), "");
        for i in 1..=1234 {
            let at = t0 + Duration::from_millis(i);
            assert_eq!(t.admit_at("redis down", at), None);
        }
        // Another line has its own window.
        assert!(t.admit_at("other", t0 + Duration::from_secs(1)).is_some());
        let later = t.admit_at("redis down", t0 + Duration::from_secs(10));
        assert_eq!(later.unwrap().to_string(), " (repeated 1234 times in 10 s)");
        // The count starts over with the new window.
        assert_eq!(t.admit_at("redis down", t0 + Duration::from_secs(11)), None);
        let r = t
            .admit_at("redis down", t0 + Duration::from_secs(25))
            .unwrap();
        assert_eq!(r.to_string(), " (repeated 1 time in 15 s)");
    }

    #[test]
    fn the_table_of_lines_stays_bounded() {
        let t = Throttle::new(Duration::from_secs(10));
        let t0 = Instant::now();
        for i in 0..(MAX_LINES * 3) {
            assert!(t.admit_at(&format!("line {i}"), t0).is_some());
        }
        assert!(t.seen.lock().unwrap().len() <= MAX_LINES);
        // The newest line is still tracked, so a repeat is held back.
        let last = format!("line {}", MAX_LINES * 3 - 1);
        assert_eq!(t.admit_at(&last, t0), None);
    }
}
