//! Session threads: the milter sessions of an in-process pipeline run here,
//! one single-threaded runtime per core, each serving the sessions handed
//! to it and scanning their messages in place ([`Placement::Inline`]).
//!
//! Why: with sessions on the daemon's reactor and scans on the pool, every
//! message crossed threads twice (scan out, verdict back), each crossing a
//! wakeup and a context switch. Here a connection crosses once, when the
//! accept loop hands it over; all its messages are then read, scanned and
//! answered on one thread. Which threads take new sessions is up to
//! [`super::placement`]; among those, the one with the fewest gets it.
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use tokio::sync::{mpsc, watch};
use tracing::warn;

use super::listener::Detached;
use super::placement::{spawn_sampler, Load};
use super::table::Ticket;
use crate::milter::session::SessionContext;
use crate::verdict::Placement;

/// A connection on its way to a session thread, with what its session needs.
pub struct Handoff {
    pub stream: Detached,
    pub peer: String,
    pub ctx: Arc<SessionContext>,
    pub shutdown: watch::Receiver<bool>,
    /// The session's place under `max_sessions`, released when it ends.
    pub ticket: Ticket,
}

/// Handles to the running session threads.
pub struct SessionThreads {
    threads: Vec<Thread>,
    /// How many of `threads`, from the first, take new sessions.
    open: Arc<AtomicUsize>,
}

struct Thread {
    tx: mpsc::UnboundedSender<Handoff>,
    load: Arc<Load>,
}

impl SessionThreads {
    /// The process's session threads, started on first use, one per core.
    pub fn global() -> &'static SessionThreads {
        static THREADS: OnceLock<SessionThreads> = OnceLock::new();
        THREADS.get_or_init(|| {
            let n = std::thread::available_parallelism().map_or(2, |n| n.get());
            let threads = SessionThreads::start(n);
            let loads = threads
                .threads
                .iter()
                .map(|t| Arc::clone(&t.load))
                .collect();
            spawn_sampler(loads, Arc::clone(&threads.open));
            threads
        })
    }

    /// Starts up to `n` threads (those the OS refuses are left out), with
    /// the first open to sessions.
    pub fn start(n: usize) -> SessionThreads {
        let threads = (0..n.max(1)).filter_map(spawn_thread).collect();
        SessionThreads {
            threads,
            open: Arc::new(AtomicUsize::new(1)),
        }
    }

    /// Opens the first `n` threads to new sessions, as the placer does.
    #[cfg(test)]
    fn set_open(&self, n: usize) {
        self.open.store(n, Ordering::Relaxed);
    }

    /// Number of running threads.
    #[cfg(test)]
    fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Hands a session to the open thread with the fewest; gives it back
    /// when no thread takes it (none started, or the chosen one is gone).
    pub fn hand_over(&self, h: Handoff) -> Result<(), Handoff> {
        let open = self.open.load(Ordering::Relaxed).max(1);
        let Some(t) = self
            .threads
            .iter()
            .take(open)
            .min_by_key(|t| t.load.sessions.load(Ordering::Relaxed))
        else {
            return Err(h);
        };
        t.load.sessions.fetch_add(1, Ordering::Relaxed);
        t.tx.send(h).map_err(|e| {
            t.load.sessions.fetch_sub(1, Ordering::Relaxed);
            e.0
        })
    }

    /// Sessions each thread serves now.
    #[cfg(test)]
    fn sessions(&self) -> Vec<usize> {
        let load = |t: &Thread| t.load.sessions.load(Ordering::Relaxed);
        self.threads.iter().map(load).collect()
    }
}

fn spawn_thread(i: usize) -> Option<Thread> {
    let (tx, rx) = mpsc::unbounded_channel();
    let load = Arc::new(Load::default());
    let shared = Arc::clone(&load);
    let spawned = std::thread::Builder::new()
        .name(format!("sluice-milter-{i}"))
        .spawn(move || thread_main(rx, shared));
    match spawned {
        Ok(_) => Some(Thread { tx, load }),
        Err(e) => {
            warn!(error = %e, "cannot start a milter session thread");
            None
        }
    }
}

/// One thread: its own runtime, serving the sessions it is handed until
/// the daemon exits.
fn thread_main(mut rx: mpsc::UnboundedReceiver<Handoff>, load: Arc<Load>) {
    UNPARKED.set(Some(Instant::now()));
    let busy = Arc::clone(&load);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_unpark(|| UNPARKED.set(Some(Instant::now())))
        .on_thread_park(move || {
            if let Some(t) = UNPARKED.take() {
                let ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
                busy.busy_ns.fetch_add(ns, Ordering::Relaxed);
            }
        })
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            // Dropping `rx` makes hand_over give sessions back.
            warn!(error = %e, "cannot start a milter session runtime");
            return;
        }
    };
    rt.block_on(async move {
        while let Some(h) = rx.recv().await {
            let done = Ended(Arc::clone(&load));
            tokio::spawn(async move {
                let _done = done;
                super::serve_handoff(h, Placement::Inline).await
            });
        }
    });
}

thread_local! {
    /// When this session thread last woke up (busy time runs from there).
    static UNPARKED: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Counts a session as ended when dropped, however its task ends.
struct Ended(Arc<Load>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.sessions.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::super::listener::Stream;
    use super::*;
    use crate::server::table::SessionTable;
    use crate::verdict::{ScanFuture, ScanRequest, Scanner};
    use std::time::Duration;

    struct Never;

    impl Scanner for Never {
        fn scan(&self, _: Arc<ScanRequest>) -> ScanFuture {
            Box::pin(std::future::pending())
        }
    }

    /// The MTA ends of some sessions, and their shutdown switch.
    type Open = (Vec<tokio::net::UnixStream>, watch::Sender<bool>);

    /// Hands `n` connections over; the sessions wait for their first
    /// packet while the MTA ends stay open.
    async fn connect(threads: &SessionThreads, n: usize) -> Open {
        let ctx = Arc::new(SessionContext {
            settings: Default::default(),
            scanner: Arc::new(Never),
        });
        let (stop, shutdown) = watch::channel(false);
        let table = SessionTable::new(64);
        let mut mta_ends = Vec::new();
        for _ in 0..n {
            let (a, b) = tokio::net::UnixStream::pair().unwrap();
            let handoff = Handoff {
                stream: Stream::Unix(a).detach().unwrap(),
                peer: "test".into(),
                ctx: Arc::clone(&ctx),
                shutdown: shutdown.clone(),
                ticket: table.admit().unwrap(),
            };
            assert!(threads.hand_over(handoff).is_ok());
            mta_ends.push(b);
        }
        (mta_ends, stop)
    }

    async fn wait_for(threads: &SessionThreads, want: &[usize]) {
        for _ in 0..200 {
            if threads.sessions() == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("sessions {:?}, wanted {want:?}", threads.sessions());
    }

    #[tokio::test]
    async fn sessions_go_to_open_threads_only_and_are_counted_until_they_end() {
        let threads = SessionThreads::start(2);
        assert_eq!(threads.threads(), 2);
        let first = connect(&threads, 3).await;
        wait_for(&threads, &[3, 0]).await;
        threads.set_open(2);
        let second = connect(&threads, 3).await;
        // The least loaded open thread takes each new session.
        wait_for(&threads, &[3, 3]).await;
        drop(first);
        wait_for(&threads, &[0, 3]).await;
        drop(second);
        wait_for(&threads, &[0, 0]).await;
    }
}
