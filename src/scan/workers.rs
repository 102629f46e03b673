//! A fixed pool of scan threads, one per core, shared by every pipeline
//! of the process (reloads included): HTTP scans, and milter messages too
//! large to scan in place on their session thread ([`super::inline`]).
//!
//! Why not tokio's blocking pool: it grows a thread per concurrent scan and
//! lets idle ones die after seconds, so under a steady load the scans keep
//! landing on threads whose per-thread state is cold: the regex engines'
//! lazy-DFA caches are rebuilt state by state, and each new thread builds
//! its own Lua state. A scan is pure CPU work, so more threads than cores
//! only adds context switches. A fixed pool keeps those caches warm and
//! bounds its Lua states to the number of cores.
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Handle to the pool: submit closures, await their results.
#[derive(Debug)]
pub struct ScanPool {
    tx: Mutex<Sender<Job>>,
    threads: usize,
}

/// Why a pooled job gave no result.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PoolError {
    /// The closure panicked; the thread survived and took the next job.
    #[error("the scan panicked")]
    Panicked,
    /// The pool's threads are gone (process shutting down).
    #[error("the scan thread pool is not running")]
    Stopped,
}

impl ScanPool {
    /// The process-wide pool, started on first use with one thread per
    /// available core.
    pub fn global() -> &'static ScanPool {
        static POOL: OnceLock<ScanPool> = OnceLock::new();
        POOL.get_or_init(|| {
            let n = std::thread::available_parallelism().map_or(2, |n| n.get());
            ScanPool::start(n)
        })
    }

    /// Starts `threads` workers (at least one).
    pub fn start(threads: usize) -> ScanPool {
        let threads = threads.max(1);
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("sluice-scan-{i}"))
                .spawn(move || worker(&rx))
                .expect("spawning a scan thread");
        }
        ScanPool {
            tx: Mutex::new(tx),
            threads,
        }
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f` on a pool thread and waits (asynchronously) for its value.
    pub async fn run<T, F>(&self, f: F) -> Result<T, PoolError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            // A dropped sender tells the waiter the job panicked.
            if let Ok(v) = catch_unwind(AssertUnwindSafe(f)) {
                let _ = done.send(v);
            }
        });
        let sent = self
            .tx
            .lock()
            .map_err(|_| PoolError::Stopped)?
            .send(job)
            .is_ok();
        if !sent {
            return Err(PoolError::Stopped);
        }
        result.await.map_err(|_| PoolError::Panicked)
    }
}

/// A worker: takes jobs until the channel closes. The lock is held only
/// while waiting for the next job, never while running one.
fn worker(rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_and_survives_panics() {
        let pool = ScanPool::start(2);
        assert_eq!(pool.run(|| 6 * 7).await, Ok(42));
        let boom: Result<(), _> = pool.run(|| panic!("rule bug")).await;
        assert_eq!(boom, Err(PoolError::Panicked));
        // Both threads are still there: two jobs that wait for each other
        // can only finish if they run at the same time.
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let (a, b) = (Arc::clone(&barrier), Arc::clone(&barrier));
        let (x, y) = tokio::join!(
            pool.run(move || a.wait().is_leader()),
            pool.run(move || b.wait().is_leader())
        );
        assert!(x.unwrap() ^ y.unwrap());
    }

    #[tokio::test]
    async fn uses_at_most_its_threads() {
        let pool = ScanPool::start(3);
        assert_eq!(pool.threads(), 3);
        let names: Vec<String> = futures_util::future::join_all(
            (0..32).map(|_| pool.run(|| std::thread::current().name().unwrap_or("").to_string())),
        )
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
        assert!(names.iter().all(|n| n.starts_with("sluice-scan-")));
        let distinct: std::collections::BTreeSet<_> = names.iter().collect();
        assert!(distinct.len() <= 3, "{distinct:?}");
    }
}
