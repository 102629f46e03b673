//! The session cap: every open milter session, oldest first, so that at
//! `max_sessions` a new connection can take the place of the oldest
//! session outside a message instead of waiting unanswered.
//!
//! Why evict rather than make new connections wait: an MTA opens one milter
//! connection per SMTP session and holds it while the SMTP client idles, so
//! idle connections (or a flood of them) would otherwise lock out the
//! MTA's new ones. A session inside a message is never evicted; when every
//! session is inside one, the new connection is closed at once, and the
//! MTA applies its default action (`milter_default_action`) to it.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tracing::warn;

use crate::milter::control::SessionControl;

/// At most one warning about the cap per this interval, with counts.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The open sessions of every milter listener.
pub struct SessionTable {
    max: usize,
    inner: Mutex<Inner>,
    /// Sessions not yet ended, evicted ones still closing included.
    live: AtomicUsize,
    /// Woken when `live` drops to zero.
    emptied: Notify,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    /// Admitted sessions not yet evicted, by age (ids only grow).
    open: BTreeMap<u64, Arc<SessionControl>>,
    warned_at: Option<Instant>,
    evicted_since_warn: u64,
    refused_since_warn: u64,
}

/// A session's place in the table, given up when dropped.
pub struct Ticket {
    table: Arc<SessionTable>,
    id: u64,
    pub control: Arc<SessionControl>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.table.lock().open.remove(&self.id);
        if self.table.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.table.emptied.notify_waiters();
        }
    }
}

impl SessionTable {
    pub fn new(max: usize) -> Arc<SessionTable> {
        Arc::new(SessionTable {
            max: max.max(1),
            inner: Mutex::new(Inner::default()),
            live: AtomicUsize::new(0),
            emptied: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a new connection: free, or made by evicting the oldest
    /// session outside a message. `None` when every session is inside one.
    pub fn admit(self: &Arc<Self>) -> Option<Ticket> {
        let mut inner = self.lock();
        if inner.open.len() >= self.max {
            let victim = inner
                .open
                .iter()
                .find(|(_, c)| c.evict())
                .map(|(id, _)| *id);
            let Some(id) = victim else {
                inner.refused_since_warn += 1;
                crate::metrics::global().milter_session_refused();
                self.warn_at_cap(&mut inner);
                return None;
            };
            inner.open.remove(&id);
            inner.evicted_since_warn += 1;
            crate::metrics::global().milter_session_evicted();
            self.warn_at_cap(&mut inner);
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let control = Arc::new(SessionControl::default());
        inner.open.insert(id, Arc::clone(&control));
        self.live.fetch_add(1, Ordering::AcqRel);
        Some(Ticket {
            table: Arc::clone(self),
            id,
            control,
        })
    }

    /// One line per [`WARN_EVERY`] at most, however many connections hit
    /// the cap meanwhile.
    fn warn_at_cap(&self, inner: &mut Inner) {
        let now = Instant::now();
        if inner
            .warned_at
            .is_some_and(|t| now.duration_since(t) < WARN_EVERY)
        {
            return;
        }
        warn!(
            max_sessions = self.max,
            evicted = inner.evicted_since_warn,
            refused = inner.refused_since_warn,
            "milter session cap reached: idle sessions evicted for new connections; \
             refused when every session is inside a message"
        );
        inner.warned_at = Some(now);
        inner.evicted_since_warn = 0;
        inner.refused_since_warn = 0;
    }

    /// Sessions not yet ended.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Resolves once no session is left.
    pub async fn emptied(&self) {
        loop {
            let notified = self.emptied.notified();
            if self.live() == 0 {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_oldest_idle_session_makes_room() {
        let t = SessionTable::new(3);
        let a = t.admit().unwrap();
        let b = t.admit().unwrap();
        let c = t.admit().unwrap();
        assert!(a.control.begin_message(), "a is inside a message");
        let d = t.admit().expect("room made");
        assert!(!a.control.is_evicted(), "inside a message: kept");
        assert!(b.control.is_evicted(), "oldest idle: evicted");
        assert!(!c.control.is_evicted());
        assert_eq!(t.live(), 4, "b still closing");
        drop(b);
        assert_eq!(t.live(), 3);
        assert!(c.control.begin_message());
        assert!(d.control.begin_message());
        assert!(t.admit().is_none(), "every session inside a message");
        d.control.end_message();
        let _e = t.admit().expect("d left its message");
        assert!(d.control.is_evicted());
    }

    #[tokio::test]
    async fn emptied_resolves_when_the_last_session_ends() {
        let t = SessionTable::new(2);
        let a = t.admit().unwrap();
        let waiter = tokio::spawn({
            let t = Arc::clone(&t);
            async move { t.emptied().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(a);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("emptied")
            .unwrap();
    }
}
