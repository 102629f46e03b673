//! Rspamd's HTTP protocol: the scan listener (Rspamd's normal worker:
//! `/checkv2`, the legacy `/check` family, `/ping`, `/metrics`) and the
//! controller ([`controller`]), over hyper's HTTP/1.1 with optional rustls.
//!
//! Unlike Rspamd, connections are kept alive (HTTP/1.1 default; HTTP/1.0
//! clients and `Connection: close` get the connection closed after the
//! reply). Every request takes the scanner current at that moment from the
//! same `watch` channel the milter uses, so a SIGHUP reload applies to
//! kept-alive connections from their next request on. A reload opens and
//! closes listeners whose address changed (see `daemon::listeners`); a new
//! listener reads its TLS files when it opens. Passwords, `max_message`
//! and the connection and body limits ([`config::Limits`]) are read at
//! start only.
//!
//! The scan listener also speaks the pre-HTTP `RSPAMC/1.x` and `SPAMC`
//! protocols ([`legacy`]), told apart by the connection's first line.
//!
//! Not implemented: HTTPCrypt, msgpack replies (clients fall back to JSON), zstd
//! dictionaries, `/checkv3`; `Settings` / `Settings-ID` apply to in-process
//! scans only (forward mode does not pass them upstream yet).
pub mod body;
pub mod budget;
/// The worker sections' typed settings, read by the config layer.
pub use crate::config::http as config;
pub mod conns;
pub mod controller;
pub mod legacy;
pub mod prefixed;
pub mod query;
pub mod reply;
pub mod request;
pub mod scan;
pub mod tls;

mod listen;

pub use config::{HttpConfigError, HttpSettings};
#[doc(hidden)]
pub use listen::serve_stream;
pub use listen::{bind, planned, spawn, HttpError, HttpListener, Planned, Role};

use std::net::IpAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::Request;
use tokio::sync::watch;

use self::body::BodyLimits;
use self::budget::BodyBudget;
use self::config::{AccessSettings, Limits};
use self::conns::ConnTable;
use self::reply::{Domain, Reply};
use self::scan::Shape;
use crate::milter::session::SessionContext;

/// Who is on the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// `None` for unix sockets.
    pub ip: Option<IpAddr>,
    pub unix: bool,
}

/// What every request handler shares.
pub struct Shared {
    /// The current session context (scanner); replaced on SIGHUP.
    pub ctx: watch::Receiver<Arc<SessionContext>>,
    pub access: AccessSettings,
    /// The Bayes store opened once at start (reloads keep it), for the
    /// controller's learn endpoints and `/stat`; `None` when Bayes is off.
    pub stats: Option<Arc<crate::stats::Stats>>,
    pub scan: RoleState,
    pub controller: RoleState,
    /// Failed controller logins per client, for the lockout.
    pub logins: controller::logins::Logins,
}

/// One role's limits and open connections, shared by its listeners.
pub struct RoleState {
    pub limits: Limits,
    pub body: BodyLimits,
    pub conns: Arc<ConnTable>,
}

impl Shared {
    /// The state for `settings`; one body budget for both roles.
    pub fn new(
        ctx: watch::Receiver<Arc<SessionContext>>,
        settings: &HttpSettings,
        stats: Option<Arc<crate::stats::Stats>>,
    ) -> Shared {
        let budget = BodyBudget::new(settings.body_budget);
        let role = |r: Role, limits: Limits| RoleState {
            limits,
            body: BodyLimits {
                max: settings.max_message,
                idle: limits.body_timeout,
                budget: Arc::clone(&budget),
            },
            conns: ConnTable::new(r.name(), limits.max_connections),
        };
        Shared {
            ctx,
            access: settings.access.clone(),
            stats,
            scan: role(Role::Scan, settings.normal.limits),
            controller: role(Role::Controller, settings.controller.limits),
            logins: Default::default(),
        }
    }

    pub fn role(&self, r: Role) -> &RoleState {
        match r {
            Role::Scan => &self.scan,
            Role::Controller => &self.controller,
        }
    }
}

/// The command word of a path: leading `/` optional, case-insensitive.
pub fn command(path: &str) -> String {
    path.trim_start_matches('/')
        .trim_end_matches('/')
        .to_ascii_lowercase()
}

/// Routes one request on the scan listener.
pub async fn handle_scan(req: Request<Incoming>, shared: Arc<Shared>) -> Reply {
    let cmd = command(req.uri().path());
    let ctx = shared.ctx.borrow().clone();
    let body = &shared.scan.body;
    match cmd.as_str() {
        "ping" => reply::pong(),
        "checkv2" => scan::handle(req, Shape::V2, false, ctx, body).await,
        "check" | "symbols" | "scan" | "process" | "report" | "report_ifspam" => {
            scan::handle(req, Shape::Legacy, false, ctx, body).await
        }
        "skip" => scan::handle(req, Shape::V2, true, ctx, body).await,
        "metrics" => reply::text(
            controller::views::OPENMETRICS,
            controller::views::metrics_text(ctx.scanner.pipeline().as_deref()),
        ),
        _ => reply::error(500, "invalid command", Domain::Protocol),
    }
}
