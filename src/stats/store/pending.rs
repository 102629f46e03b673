//! A store that could not be opened at start (the embedded file locked by
//! another process, its directory not yet mounted), opened again in the
//! background until it works.
//!
//! Meanwhile every request is refused at once with
//! [`StoreError::Pending`]: scans go on without Bayes, learns get an
//! error. The first failure is logged once; the retries are throttled.
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use super::api::{LearnOutcome, LearnRequest, Store, StoreError, StoreStat};
use crate::stats::classifier::{Counts, Learns};
use crate::warn_throttled;

/// First pause before trying again; doubled after each failure.
const RETRY_FIRST: Duration = Duration::from_millis(100);
/// Longest pause between tries: the store opens this long after it can.
const RETRY_MAX: Duration = Duration::from_secs(1);

type Opener = Box<dyn Fn() -> Result<Box<dyn Store>, StoreError> + Send + Sync>;

/// Delegates to the store once it is open.
pub struct PendingStore {
    inner: Arc<Slot>,
}

struct Slot {
    store: OnceLock<Box<dyn Store>>,
    /// What the first failure said, for refused requests.
    reason: String,
}

impl std::fmt::Debug for PendingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingStore")
            .field("open", &self.inner.store.get().is_some())
            .finish()
    }
}

impl PendingStore {
    /// Opens with `open` now; if that fails, returns a store that keeps
    /// trying in a background thread and serves once it succeeds.
    pub fn open(open: Opener) -> Box<dyn Store> {
        let first = match open() {
            Ok(s) => {
                crate::metrics::global().bayes_store.up();
                return s;
            }
            Err(e) => e,
        };
        crate::metrics::global().bayes_store.down();
        tracing::warn!(
            "bayes: {first}; retrying in the background, scanning without Bayes meanwhile"
        );
        let inner = Arc::new(Slot {
            store: OnceLock::new(),
            reason: first.to_string(),
        });
        let weak = Arc::downgrade(&inner);
        let spawned = std::thread::Builder::new()
            .name("bayes-open".into())
            .spawn(move || retry(weak, open));
        if let Err(e) = spawned {
            tracing::warn!("bayes: cannot start the thread that opens the store again: {e}");
        }
        Box::new(PendingStore { inner })
    }

    fn get(&self) -> Result<&dyn Store, StoreError> {
        self.inner
            .store
            .get()
            .map(|s| s.as_ref())
            .ok_or_else(|| StoreError::Pending {
                reason: self.inner.reason.clone(),
            })
    }
}

/// Opens again with a growing pause until it works or the store is gone.
fn retry(slot: Weak<Slot>, open: Opener) {
    let mut pause = RETRY_FIRST;
    loop {
        std::thread::sleep(pause);
        let Some(s) = slot.upgrade() else {
            return;
        };
        match open() {
            Ok(store) => {
                let _ = s.store.set(store);
                crate::metrics::global().bayes_store.up();
                tracing::info!("bayes: statistics store open; Bayes is back");
                return;
            }
            Err(e) => warn_throttled!("bayes: still cannot open the store: {e}"),
        }
        pause = (pause * 2).min(RETRY_MAX);
    }
}

impl Store for PendingStore {
    fn lookup(&self, user: u64, tokens: &[u64]) -> Result<(Learns, Vec<Counts>), StoreError> {
        self.get()?.lookup(user, tokens)
    }
    fn learns(&self, user: u64) -> Result<Learns, StoreError> {
        self.get()?.learns(user)
    }
    fn learn(&self, req: &LearnRequest<'_>) -> Result<LearnOutcome, StoreError> {
        self.get()?.learn(req)
    }
    fn stat(&self) -> Result<StoreStat, StoreError> {
        self.get()?.stat()
    }
    fn sync(&self) -> Result<(), StoreError> {
        self.get()?.sync()
    }
    fn bulk(&self, on: bool) -> Result<(), StoreError> {
        self.get()?.bulk(on)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::store::EmbeddedStore;
    use std::time::Instant;

    #[test]
    fn a_locked_file_is_opened_once_the_lock_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bayes.redb");
        let holder = EmbeddedStore::open(&path).unwrap();
        let p = path.clone();
        let store = PendingStore::open(Box::new(move || {
            EmbeddedStore::open(&p).map(|s| Box::new(s) as Box<dyn Store>)
        }));
        let e = store.learns(0).unwrap_err();
        assert!(matches!(e, StoreError::Pending { .. }), "{e}");
        assert!(e.is_unavailable());
        assert!(e.to_string().contains("in use by another"), "{e}");
        drop(holder);
        let start = Instant::now();
        while store.learns(0).is_err() {
            assert!(start.elapsed() < Duration::from_secs(5), "never opened");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(store.learns(0).unwrap(), Learns::default());
    }
}
