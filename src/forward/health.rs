//! Health of one upstream: an error window, a dead time, revival.
//!
//! Time is passed in by the caller (never read here) so the state machine is
//! tested with exact instants. The rule that the last live upstream is never
//! marked dead lives in the pool, which sees all members.
use std::time::{Duration, Instant};

use crate::config::forward::HealthSettings;

/// Error accounting of one upstream.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// Errors in the current window.
    errors: u32,
    window_start: Option<Instant>,
    dead_until: Option<Instant>,
}

impl Health {
    /// Alive now: never marked dead, or its dead time is over (revived).
    pub fn is_alive(&self, now: Instant) -> bool {
        match self.dead_until {
            Some(t) => now >= t,
            None => true,
        }
    }

    /// Errors counted in the current window, for least-loaded choices.
    pub fn errors(&self) -> u32 {
        self.errors
    }

    /// A completed exchange: the slate is wiped.
    pub fn ok(&mut self) {
        *self = Health::default();
    }

    /// Counts a failure; true when the window now holds `max_errors` errors,
    /// that is when the upstream should go dead. An error after the window
    /// (`error_time`) has passed opens a new window instead.
    pub fn fail(&mut self, now: Instant, s: &HealthSettings) -> bool {
        match self.window_start {
            Some(start) if now.saturating_duration_since(start) <= s.error_time => {
                self.errors += 1;
            }
            _ => {
                self.window_start = Some(now);
                self.errors = 1;
            }
        }
        self.errors >= s.max_errors
    }

    /// Takes the upstream out of rotation for `dead_for`; it comes back with
    /// a clean window.
    pub fn kill(&mut self, now: Instant, dead_for: Duration) {
        self.errors = 0;
        self.window_start = None;
        self.dead_until = Some(now + dead_for);
    }

    /// Keeps a failing upstream in rotation (it is the last live one): the
    /// window restarts so it is not re-judged on every single error.
    pub fn spare(&mut self) {
        self.errors = 0;
        self.window_start = None;
    }
}

/// `revive_time` ±40 %, from a uniform draw `u` in 0..1, so that upstreams
/// killed together do not all come back in the same instant.
pub fn jittered(revive: Duration, u: f64) -> Duration {
    revive.mul_f64(0.6 + 0.8 * u.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> HealthSettings {
        HealthSettings {
            max_errors: 3,
            error_time: Duration::from_secs(10),
            revive_time: Duration::from_secs(60),
        }
    }

    #[test]
    fn errors_inside_the_window_kill() {
        let t0 = Instant::now();
        let mut h = Health::default();
        let s = settings();
        assert!(!h.fail(t0, &s));
        assert!(!h.fail(t0 + Duration::from_secs(1), &s));
        assert!(h.fail(t0 + Duration::from_secs(2), &s));
        assert!(h.is_alive(t0 + Duration::from_secs(2)), "pool decides");
        h.kill(t0 + Duration::from_secs(2), Duration::from_secs(60));
        assert!(!h.is_alive(t0 + Duration::from_secs(61)));
        assert!(h.is_alive(t0 + Duration::from_secs(62)), "revived");
        assert_eq!(h.errors(), 0, "revived with a clean window");
    }

    #[test]
    fn slow_errors_open_new_windows() {
        let t0 = Instant::now();
        let mut h = Health::default();
        let s = settings();
        for i in 0..10 {
            assert!(!h.fail(t0 + Duration::from_secs(11 * i), &s), "error {i}");
        }
        assert_eq!(h.errors(), 1);
    }

    #[test]
    fn success_resets_the_window() {
        let t0 = Instant::now();
        let mut h = Health::default();
        let s = settings();
        h.fail(t0, &s);
        h.fail(t0, &s);
        h.ok();
        assert!(!h.fail(t0, &s));
        assert!(!h.fail(t0, &s));
        assert!(h.fail(t0, &s));
        h.spare();
        assert!(!h.fail(t0, &s), "spared upstream restarts its window");
    }

    #[test]
    fn jitter_stays_within_forty_percent() {
        let r = Duration::from_secs(100);
        assert_eq!(jittered(r, 0.0), Duration::from_secs(60));
        assert_eq!(jittered(r, 1.0), Duration::from_secs(140));
        assert_eq!(jittered(r, 0.5), Duration::from_secs(100));
        assert_eq!(jittered(r, 7.0), Duration::from_secs(140));
    }
}
