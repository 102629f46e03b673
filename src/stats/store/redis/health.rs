//! Whether Redis is worth asking, and the background probe that finds out
//! when it answers again.
//!
//! A failed exchange marks the store down: from then on scans do not touch
//! Redis at all (they go on without Bayes at once, instead of each waiting
//! out its own timeout on a session thread), and a probe thread reconnects
//! with a growing pause until a `PING` is answered. The store is then up
//! again with that connection in its pool. A store opened while Redis is
//! unreachable starts down, with the probe running.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, Weak};
use std::time::{Duration, Instant};

use crate::metrics;
use crate::warn_throttled;

/// First pause of the probe after a failure; doubled after each failed try.
const PROBE_FIRST: Duration = Duration::from_millis(100);
/// Longest pause between probes: Bayes is back this long (plus one
/// timeout) after Redis is.
const PROBE_MAX: Duration = Duration::from_secs(1);

/// Up or down, and since when; shared by all scans and the probe.
#[derive(Debug, Default)]
pub struct Health {
    down: AtomicBool,
    probing: AtomicBool,
    /// When it went down and the first reason, for the log line when it is back.
    outage: Mutex<Option<(Instant, String)>>,
    /// Requests refused while down.
    skipped: AtomicU64,
}

/// What the probe thread needs from the store: one attempt to reach the
/// server, which on success leaves its connection in the pool.
pub trait Probe: Send + Sync + 'static {
    fn health(&self) -> &Health;
    /// `Err(reason)` while unreachable.
    fn try_once(&self) -> Result<(), String>;
    /// For log lines: the server's address.
    fn name(&self) -> &str;
}

impl Health {
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Counts a request turned away while down.
    pub fn skip(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }

    /// Marks the store down (once per outage) and starts the probe.
    pub fn mark_down<P: Probe>(&self, store: Weak<P>, name: &str, reason: &str) {
        if self.down.swap(true, Ordering::AcqRel) {
            return;
        }
        metrics::global().bayes_store.down();
        if let Ok(mut o) = self.outage.lock() {
            *o = Some((Instant::now(), reason.to_string()));
        }
        warn_throttled!(
            "bayes: redis {name}: {reason}; scanning without Bayes until it answers again"
        );
        if !self.probing.swap(true, Ordering::AcqRel) {
            let spawned = std::thread::Builder::new()
                .name("redis-probe".into())
                .spawn(move || probe(store));
            if let Err(e) = spawned {
                self.probing.store(false, Ordering::Release);
                warn_throttled!("bayes: redis {name}: cannot start the reconnect thread: {e}");
            }
        }
    }

    /// Back up: the probe got an answer.
    fn mark_up(&self, name: &str) {
        let outage = self.outage.lock().ok().and_then(|mut o| o.take());
        let skipped = self.skipped.swap(0, Ordering::Relaxed);
        // Probing ends before the store is up: a failure right after
        // starts a new probe rather than finding this one still flagged.
        self.probing.store(false, Ordering::Release);
        self.down.store(false, Ordering::Release);
        metrics::global().bayes_store.up();
        let took = outage.map_or(0.0, |(at, _)| at.elapsed().as_secs_f64());
        tracing::info!(
            "bayes: redis {name} answers again after {took:.1} s; \
             {skipped} requests went without it"
        );
    }
}

/// Reconnects with a growing pause until the server answers or the store
/// is gone.
fn probe<P: Probe>(store: Weak<P>) {
    let mut pause = PROBE_FIRST;
    loop {
        std::thread::sleep(pause);
        let Some(s) = store.upgrade() else {
            return;
        };
        match s.try_once() {
            Ok(()) => return s.health().mark_up(s.name()),
            Err(reason) => {
                warn_throttled!("bayes: redis {}: still unreachable: {reason}", s.name());
            }
        }
        pause = (pause * 2).min(PROBE_MAX);
    }
}
