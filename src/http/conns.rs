//! The connection cap of one listener role. Every open connection has a
//! slot, in the order they were accepted; a slot is busy while one of its
//! requests is being handled. At the cap a new connection takes the slot
//! of the oldest idle one (a kept-alive connection between requests, or
//! one still sending its request head), which is told to close; with no
//! idle slot the new connection is refused. So idle clients cannot lock
//! out new ones, and the listener never holds more file descriptors than
//! its cap, which the daemon keeps below the process limit so the milter
//! always has its own.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;
use tracing::warn;

/// One connection's slot.
#[derive(Debug, Default)]
pub struct Slot {
    busy: AtomicUsize,
    evict: Notify,
}

impl Slot {
    /// Marks a request in progress until the guard drops.
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        Busy(Arc::clone(self))
    }

    /// Whether a request is in progress.
    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Acquire) > 0
    }

    /// Completes once the table wants this connection closed.
    pub async fn evicted(&self) {
        self.evict.notified().await;
    }
}

/// A request in progress on a slot.
#[derive(Debug)]
pub struct Busy(Arc<Slot>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The open connections of one role.
#[derive(Debug)]
pub struct ConnTable {
    role: &'static str,
    cap: usize,
    next: AtomicU64,
    open: Mutex<BTreeMap<u64, Arc<Slot>>>,
    /// Woken when the last connection closes (the drain at shutdown).
    emptied: Notify,
    /// Refusals since the last warning, and when it was logged.
    refused: AtomicU64,
    warned: Mutex<Option<Instant>>,
}

/// How often a refusal is logged at most (with the count since).
const WARN_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// What [`ConnTable::admit`] decided.
#[derive(Debug)]
pub enum Admission {
    /// Served; `evicted` tells whether an idle connection made room.
    Admitted { guard: ConnGuard, evicted: bool },
    /// At the cap with every connection busy.
    Refused,
}

impl ConnTable {
    pub fn new(role: &'static str, cap: usize) -> Arc<ConnTable> {
        Arc::new(ConnTable {
            role,
            cap: cap.max(1),
            next: AtomicU64::new(0),
            open: Mutex::new(BTreeMap::new()),
            emptied: Notify::new(),
            refused: AtomicU64::new(0),
            warned: Mutex::new(None),
        })
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Open connections right now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Completes once no connection is open.
    pub async fn emptied(&self) {
        loop {
            let woken = self.emptied.notified();
            if self.is_empty() {
                return;
            }
            woken.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Slot>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a slot for a new connection, evicting the oldest idle one at
    /// the cap.
    pub fn admit(self: &Arc<Self>) -> Admission {
        let mut open = self.lock();
        let mut evicted = false;
        if open.len() >= self.cap {
            let idle = open
                .iter()
                .find(|(_, s)| s.busy.load(Ordering::Acquire) == 0)
                .map(|(id, _)| *id);
            let Some(id) = idle else {
                drop(open);
                self.note_refusal();
                return Admission::Refused;
            };
            if let Some(slot) = open.remove(&id) {
                slot.evict.notify_one();
            }
            evicted = true;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot::default());
        open.insert(id, Arc::clone(&slot));
        Admission::Admitted {
            guard: ConnGuard {
                table: Arc::clone(self),
                id,
                slot,
            },
            evicted,
        }
    }

    /// One WARN per interval, with the number refused since the last one.
    fn note_refusal(&self) {
        let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if warned.is_some_and(|t| now.duration_since(t) < WARN_EVERY) {
            return;
        }
        *warned = Some(now);
        self.refused.fetch_sub(n, Ordering::Relaxed);
        warn!(
            "{} listener: {} connections open, all busy (max_connections); refused {n} new \
             connection(s)",
            self.role, self.cap
        );
    }
}

/// A connection's hold on its slot; the slot is freed when it drops.
#[derive(Debug)]
pub struct ConnGuard {
    table: Arc<ConnTable>,
    id: u64,
    slot: Arc<Slot>,
}

impl ConnGuard {
    pub fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut open = self.table.lock();
        open.remove(&self.id);
        if open.is_empty() {
            self.table.emptied.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(a: Admission) -> (ConnGuard, bool) {
        match a {
            Admission::Admitted { guard, evicted } => (guard, evicted),
            Admission::Refused => panic!("refused"),
        }
    }

    #[tokio::test]
    async fn emptied_waits_for_the_last_connection() {
        let t = ConnTable::new("test", 4);
        t.emptied().await;
        let (a, _) = admitted(t.admit());
        let (b, _) = admitted(t.admit());
        let waiter = tokio::spawn({
            let t = Arc::clone(&t);
            async move { t.emptied().await }
        });
        drop(a);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "one connection is still open");
        drop(b);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken when the last one closed")
            .unwrap();
    }

    #[tokio::test]
    async fn oldest_idle_goes_first_then_refusal() {
        let t = ConnTable::new("test", 2);
        let (old, _) = admitted(t.admit());
        let (young, _) = admitted(t.admit());
        let _busy_young = young.slot().busy();
        let (third, evicted) = admitted(t.admit());
        assert!(evicted);
        // The oldest idle one was told to close; its wakeup is stored.
        tokio::time::timeout(std::time::Duration::from_secs(1), old.slot().evicted())
            .await
            .expect("oldest idle evicted");
        assert_eq!(t.len(), 2);
        drop(old);
        assert_eq!(t.len(), 2, "an evicted slot is already gone");
        let _busy_third = third.slot().busy();
        assert!(matches!(t.admit(), Admission::Refused), "all busy");
        drop(_busy_third);
        let (_fourth, evicted) = admitted(t.admit());
        assert!(evicted);
        drop(third);
        drop(young);
        assert_eq!(t.len(), 1);
    }
}
