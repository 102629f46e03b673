//! Listeners: TCP and unix sockets, a cap on concurrent sessions, and
//! draining on shutdown.
//!
//! The cap is a semaphore whose permit is taken *before* `accept`, so an
//! overloaded daemon stops accepting and lets the kernel backlog (and the
//! MTA's connect timeout) push back, instead of accepting work it cannot do.
//! Shutdown is a `watch` flag: listeners stop accepting, idle sessions close,
//! sessions inside a message finish it; `serve` returns when every session
//! has dropped its permit or the grace period is over.
mod listener;

pub use listener::{bind, BindError, Bound};

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tracing::{info, warn};

use crate::milter::session::{run_session, SessionContext, SessionEnd};

/// Runs the accept loops until `shutdown` flips, then drains.
pub async fn serve(
    listeners: Vec<Bound>,
    ctx: watch::Receiver<Arc<SessionContext>>,
    max_sessions: usize,
    grace: Duration,
    shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(max_sessions));
    let mut loops = Vec::new();
    for listener in listeners {
        let permits = permits.clone();
        let ctx = ctx.clone();
        let shutdown = shutdown.clone();
        loops.push(tokio::spawn(accept_loop(listener, permits, ctx, shutdown)));
    }
    for l in loops {
        let _ = l.await;
    }
    let all = u32::try_from(max_sessions).unwrap_or(u32::MAX);
    match tokio::time::timeout(grace, permits.clone().acquire_many_owned(all)).await {
        Ok(_) => info!("all milter sessions finished"),
        Err(_) => warn!(
            left = max_sessions - permits.available_permits(),
            "grace period over, closing remaining milter sessions"
        ),
    }
}

async fn accept_loop(
    listener: Bound,
    permits: Arc<Semaphore>,
    ctx: watch::Receiver<Arc<SessionContext>>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("semaphore never closed"),
            _ = shutdown.changed() => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
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
        let ctx = ctx.borrow().clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let metrics = crate::metrics::global();
            metrics.milter_session_started();
            let end = run_session(stream, peer, ctx, shutdown).await;
            metrics.milter_session_ended(matches!(end, SessionEnd::Failed(_)));
            drop(permit);
        });
    }
    listener.cleanup();
}
