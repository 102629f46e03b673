//! Listeners: TCP and unix sockets, a cap on concurrent sessions, and
//! draining on shutdown.
//!
//! The cap is a semaphore whose permit is taken *before* `accept`, so an
//! overloaded daemon stops accepting and lets the kernel backlog (and the
//! MTA's connect timeout) push back, instead of accepting work it cannot do.
//! One cap covers every milter listener, however many a reload opens.
//!
//! Two signals stop an accept loop: the daemon's shutdown flag, after which
//! idle sessions close and sessions inside a message finish it, and the
//! listener's own retirement (a SIGHUP removed its address), after which
//! only the listening socket closes: its sessions run on untouched.
mod listener;
mod placement;
mod session_threads;

pub use listener::{bind, BindError, Bound};
pub use session_threads::SessionThreads;

use listener::Stream;
use session_threads::Handoff;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::milter::session::{run_session, SessionContext, SessionEnd};

/// Time past the shutdown grace for sessions to write their tempfails.
const DRAIN_MARGIN: Duration = Duration::from_secs(2);

/// Resolves when the daemon shuts down or the listener is retired (its
/// sender flipped or dropped).
pub async fn stopped(shutdown: &mut watch::Receiver<bool>, retire: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = shutdown.changed() => {}
        _ = retire.changed() => {}
    }
}

/// What every milter accept loop shares.
#[derive(Clone)]
pub struct MilterServer {
    permits: Arc<Semaphore>,
    max_sessions: usize,
    ctx: watch::Receiver<Arc<SessionContext>>,
    shutdown: watch::Receiver<bool>,
}

impl MilterServer {
    pub fn new(
        ctx: watch::Receiver<Arc<SessionContext>>,
        max_sessions: usize,
        shutdown: watch::Receiver<bool>,
    ) -> MilterServer {
        MilterServer {
            permits: Arc::new(Semaphore::new(max_sessions)),
            max_sessions,
            ctx,
            shutdown,
        }
    }

    /// Accepts on `listener` until shutdown or retirement.
    pub fn spawn(&self, listener: Bound, retire: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(accept_loop(listener, self.clone(), retire))
    }

    /// After shutdown: waits for every session to end. Each session has the
    /// configured grace to finish its message and then tempfails it; the
    /// extra margin lets those last replies be written.
    pub async fn drain(&self) {
        let grace = self.ctx.borrow().settings.shutdown_grace + DRAIN_MARGIN;
        let all = u32::try_from(self.max_sessions).unwrap_or(u32::MAX);
        let permits = self.permits.clone();
        match tokio::time::timeout(grace, permits.acquire_many_owned(all)).await {
            Ok(_) => info!("all milter sessions finished"),
            Err(_) => warn!(
                left = self.max_sessions - self.permits.available_permits(),
                "grace period over, closing remaining milter sessions"
            ),
        }
    }
}

async fn accept_loop(listener: Bound, server: MilterServer, mut retire: watch::Receiver<bool>) {
    let mut shutdown = server.shutdown.clone();
    loop {
        let permit = tokio::select! {
            p = server.permits.clone().acquire_owned() => p.expect("semaphore never closed"),
            _ = stopped(&mut shutdown, &mut retire) => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped(&mut shutdown, &mut retire) => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Each session keeps the snapshot current when it was accepted.
        let ctx = server.ctx.borrow().clone();
        start_session(stream, peer, ctx, shutdown.clone(), permit);
    }
    listener.cleanup();
}

/// Starts the session of an accepted connection: on a session thread when
/// its messages are scanned in process (see [`SessionThreads`]), else on
/// this reactor (forwarding only moves bytes).
fn start_session(
    stream: Stream,
    peer: String,
    ctx: Arc<SessionContext>,
    shutdown: watch::Receiver<bool>,
    permit: OwnedSemaphorePermit,
) {
    if ctx.scanner.pipeline().is_none() {
        tokio::spawn(serve(stream, peer, ctx, shutdown, permit));
        return;
    }
    let stream = match stream.detach() {
        Ok(s) => s,
        Err(e) => return warn!(peer = %peer, error = %e, "cannot hand over a milter connection"),
    };
    let handoff = Handoff {
        stream,
        peer,
        ctx,
        shutdown,
        permit,
    };
    if let Err(h) = SessionThreads::global().hand_over(handoff) {
        tokio::spawn(serve_handoff(h));
    }
}

/// Serves a handed-over connection on the current runtime.
async fn serve_handoff(h: Handoff) {
    match Stream::attach(h.stream) {
        Ok(stream) => serve(stream, h.peer, h.ctx, h.shutdown, h.permit).await,
        Err(e) => warn!(peer = %h.peer, error = %e, "cannot take over a milter connection"),
    }
}

/// One session, counted in the metrics, holding its permit until it ends.
async fn serve(
    stream: Stream,
    peer: String,
    ctx: Arc<SessionContext>,
    shutdown: watch::Receiver<bool>,
    permit: OwnedSemaphorePermit,
) {
    let metrics = crate::metrics::global();
    metrics.milter_session_started();
    let end = run_session(stream, peer, ctx, shutdown).await;
    let failed = match end {
        SessionEnd::Failed(kind, _) => Some(kind),
        _ => None,
    };
    metrics.milter_session_ended(failed);
    drop(permit);
}
