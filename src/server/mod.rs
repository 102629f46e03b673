//! Listeners: TCP and unix sockets, a cap on concurrent sessions, and
//! draining on shutdown.
//!
//! Every connection is accepted at once and takes a place in the session
//! table ([`table`]): at `max_sessions` the oldest session outside a
//! message is evicted to make room, so idle connections can never lock
//! out the MTA's new ones. One table covers every milter listener, however
//! many a reload opens.
//!
//! Two signals stop an accept loop: the daemon's shutdown flag, after which
//! idle sessions close and sessions inside a message finish it, and the
//! listener's own retirement (a SIGHUP removed its address), after which
//! only the listening socket closes: its sessions run on untouched. Either
//! way the connections already in the listen backlog are accepted and
//! served before the socket closes, so closing it resets none of them.
mod listener;
mod placement;
mod session_threads;
mod table;

pub use listener::{bind, BindError, Bound, Stream};
pub use session_threads::SessionThreads;

use listener::Detached;
use session_threads::Handoff;
use table::{SessionTable, Ticket};

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::milter::session::{run_controlled, SessionContext, SessionEnd};
use crate::verdict::Placement;

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

/// Most connections taken from one listener's backlog when it closes
/// (the kernel's backlog is smaller; this only bounds the loop).
const BACKLOG_MAX: usize = 65_536;

/// What every milter accept loop shares.
#[derive(Clone)]
pub struct MilterServer {
    table: Arc<SessionTable>,
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
            table: SessionTable::new(max_sessions),
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
        match tokio::time::timeout(self.drain_bound(), self.table.emptied()).await {
            Ok(()) => info!("all milter sessions finished"),
            Err(_) => warn!(
                left = self.table.live(),
                "grace period over, closing remaining milter sessions"
            ),
        }
    }

    /// How long [`MilterServer::drain`] waits at most: the configured grace
    /// and the margin for the last replies.
    pub fn drain_bound(&self) -> Duration {
        self.ctx.borrow().settings.shutdown_grace + DRAIN_MARGIN
    }

    /// Starts a session for an accepted connection, or closes it when the
    /// table has no place (every session is inside a message).
    fn admit(&self, stream: Detached, peer: String) {
        let Some(ticket) = self.table.admit() else {
            return;
        };
        // Each session keeps the snapshot current when it was accepted.
        let ctx = self.ctx.borrow().clone();
        start_session(stream, peer, ctx, self.shutdown.clone(), ticket);
    }
}

async fn accept_loop(listener: Bound, server: MilterServer, mut retire: watch::Receiver<bool>) {
    let mut shutdown = server.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped(&mut shutdown, &mut retire) => break,
        };
        let (stream, peer) = match accepted.and_then(|(s, p)| Ok((s.detach()?, p))) {
            Ok(pair) => pair,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        server.admit(stream, peer);
    }
    let backlog = listener.close_taking_backlog(BACKLOG_MAX).await;
    if !backlog.is_empty() {
        info!(
            connections = backlog.len(),
            "milter listener closed; connections waiting in its backlog are served"
        );
    }
    for (stream, peer) in backlog {
        server.admit(stream, peer);
    }
}

/// Starts the session of an accepted connection: on a session thread when
/// its messages are scanned in process (see [`SessionThreads`]), else on
/// this reactor (forwarding only moves bytes).
fn start_session(
    stream: Detached,
    peer: String,
    ctx: Arc<SessionContext>,
    shutdown: watch::Receiver<bool>,
    ticket: Ticket,
) {
    let handoff = Handoff {
        stream,
        peer,
        ctx,
        shutdown,
        ticket,
    };
    if !handoff.ctx.scanner.in_process() {
        tokio::spawn(serve_handoff(handoff, Placement::Pool));
        return;
    }
    if let Err(h) = SessionThreads::global().hand_over(handoff) {
        tokio::spawn(serve_handoff(h, Placement::Pool));
    }
}

/// Serves a handed-over connection on the current runtime; `placement` says
/// whether its scans may hold up this runtime's thread.
async fn serve_handoff(h: Handoff, placement: Placement) {
    match Stream::attach(h.stream) {
        Ok(stream) => serve(stream, h.peer, h.ctx, h.shutdown, h.ticket, placement).await,
        Err(e) => warn!(peer = %h.peer, error = %e, "cannot take over a milter connection"),
    }
}

/// One session, counted in the metrics, holding its place in the table
/// until it ends.
async fn serve(
    stream: Stream,
    peer: String,
    ctx: Arc<SessionContext>,
    shutdown: watch::Receiver<bool>,
    ticket: Ticket,
    placement: Placement,
) {
    let metrics = crate::metrics::global();
    metrics.milter_session_started();
    let end = run_controlled(stream, peer, ctx, shutdown, &ticket.control, placement).await;
    let failed = match end {
        SessionEnd::Failed(kind, _) => Some(kind),
        _ => None,
    };
    metrics.milter_session_ended(failed);
    drop(ticket);
}
