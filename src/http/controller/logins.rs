//! Failed controller logins, per client address: after a few wrong
//! passwords in a short time, that address's password attempts are refused
//! (429) for a while without being checked, so a password cannot be
//! guessed at network speed. What is not affected: clients that need no
//! password (unix sockets, `secure_ip`), other addresses, and an address
//! whose login succeeds before the limit (its count starts over). The
//! lockout is logged once when it starts, not per refused attempt. The
//! address is the TCP peer's: `X-Forwarded-For` costs nothing to forge.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::warn;

/// Wrong passwords within [`WINDOW`] that start a lockout.
pub const MAX_FAILURES: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(60);
pub const LOCKOUT: Duration = Duration::from_secs(300);
/// Addresses tracked at most; past it, expired entries are dropped first
/// and then new addresses are not tracked until room frees up.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    first: Instant,
    locked_until: Option<Instant>,
}

/// The failure counts of the controller's clients.
#[derive(Debug, Default)]
pub struct Logins {
    by_ip: Mutex<HashMap<IpAddr, Entry>>,
}

impl Logins {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Entry>> {
        self.by_ip.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `ip`'s password attempts are refused at `now`.
    pub fn locked(&self, ip: IpAddr, now: Instant) -> bool {
        self.lock()
            .get(&ip)
            .and_then(|e| e.locked_until)
            .is_some_and(|until| now < until)
    }

    /// A correct password: the count starts over.
    pub fn succeeded(&self, ip: IpAddr) {
        self.lock().remove(&ip);
    }

    /// A wrong password; starts the lockout at the limit.
    pub fn failed(&self, ip: IpAddr, now: Instant) {
        let mut map = self.lock();
        if map.len() >= MAX_TRACKED && !map.contains_key(&ip) {
            map.retain(|_, e| !expired(e, now));
            if map.len() >= MAX_TRACKED {
                return;
            }
        }
        let e = map.entry(ip).or_insert(Entry {
            failures: 0,
            first: now,
            locked_until: None,
        });
        if expired(e, now) {
            *e = Entry {
                failures: 0,
                first: now,
                locked_until: None,
            };
        }
        e.failures += 1;
        if e.failures >= MAX_FAILURES && e.locked_until.is_none() {
            e.locked_until = Some(now + LOCKOUT);
            warn!(
                "controller: {} failed logins from {ip} within {WINDOW:?}; its password \
                 attempts are refused for {LOCKOUT:?}",
                e.failures
            );
        }
    }
}

/// An entry that no longer counts: its window passed with no lockout, or
/// its lockout ended.
fn expired(e: &Entry, now: Instant) -> bool {
    match e.locked_until {
        Some(until) => now >= until,
        None => now.duration_since(e.first) > WINDOW,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_failures_then_a_lockout_that_ends() {
        let l = Logins::default();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let t = Instant::now();
        for i in 0..MAX_FAILURES - 1 {
            l.failed(a, t + Duration::from_secs(u64::from(i)));
        }
        assert!(!l.locked(a, t + Duration::from_secs(5)));
        l.failed(a, t + Duration::from_secs(5));
        assert!(l.locked(a, t + Duration::from_secs(6)));
        assert!(!l.locked(b, t + Duration::from_secs(6)), "other clients");
        assert!(!l.locked(a, t + LOCKOUT + Duration::from_secs(6)), "ends");
        // After it ends, the count starts over.
        l.failed(a, t + LOCKOUT + Duration::from_secs(7));
        assert!(!l.locked(a, t + LOCKOUT + Duration::from_secs(8)));
    }

    #[test]
    fn success_and_a_passed_window_start_the_count_over() {
        let l = Logins::default();
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let t = Instant::now();
        for _ in 0..MAX_FAILURES - 1 {
            l.failed(a, t);
        }
        l.succeeded(a);
        l.failed(a, t);
        assert!(!l.locked(a, t));
        for _ in 0..MAX_FAILURES - 2 {
            l.failed(a, t);
        }
        l.failed(a, t + WINDOW + Duration::from_secs(1));
        assert!(!l.locked(a, t + WINDOW + Duration::from_secs(1)));
    }
}
