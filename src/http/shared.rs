//! What every request handler of both roles shares: who the peer is, the
//! scan context of the moment, each role's limits and open connections.
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::body::BodyLimits;
use super::budget::BodyBudget;
use super::conns::ConnTable;
use super::controller::logins::Logins;
use super::ui::Ui;
use crate::config::http::{AccessSettings, HttpSettings, Limits};
use crate::verdict::{Placement, Scanner};

/// Which protocol a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Rspamd's normal worker protocol.
    Scan,
    Controller,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Scan => "http",
            Role::Controller => "controller",
        }
    }
}

/// Who is on the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// `None` for unix sockets.
    pub ip: Option<IpAddr>,
    pub unix: bool,
}

/// What scan requests are served with: the scanner of the moment and the
/// time each request waits for it. Replaced on SIGHUP.
pub struct ScanContext {
    pub scanner: Arc<dyn Scanner>,
    /// How long a request waits for its verdict before it gets an error.
    pub scan_timeout: Duration,
    /// Where in-process scans run: on the pool, since the listeners share
    /// the daemon's one reactor thread.
    pub placement: Placement,
}

/// What every request handler shares.
pub struct Shared {
    /// The current scan context; replaced on SIGHUP.
    pub ctx: watch::Receiver<Arc<ScanContext>>,
    pub access: AccessSettings,
    /// The Bayes store opened once at start (reloads keep it), for the
    /// controller's learn endpoints and `/stat`; `None` when Bayes is off.
    pub stats: Option<Arc<crate::stats::Stats>>,
    pub scan: RoleState,
    pub controller: RoleState,
    /// Failed controller logins per client, for the lockout.
    pub logins: Logins,
    /// Where the controller's web pages come from.
    pub ui: Ui,
    /// What the controller's save endpoints need from the daemon.
    pub admin: Admin,
    /// The cluster's other nodes (`/neighbours`).
    pub neighbours: serde_json::Map<String, serde_json::Value>,
}

/// A reload asked for by the controller (saved thresholds, weights or
/// maps), answered when it is done.
pub type ReloadAsk = tokio::sync::oneshot::Sender<Result<(), String>>;

/// What the controller's save endpoints need from the daemon; empty
/// (saves refused) outside a running daemon.
#[derive(Debug, Default)]
pub struct Admin {
    /// Where saved thresholds and weights go (Rspamd's `dynamic_conf`).
    pub dynamic_conf: Option<std::path::PathBuf>,
    /// Asks the daemon for a reload, as SIGHUP does; answered when done.
    pub reload: Option<tokio::sync::mpsc::Sender<ReloadAsk>>,
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
        ctx: watch::Receiver<Arc<ScanContext>>,
        settings: &HttpSettings,
        stats: Option<Arc<crate::stats::Stats>>,
    ) -> Shared {
        warn_unusable_hashes(&settings.access);
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
            ui: Ui::new(settings.static_dir.clone()),
            admin: Admin::default(),
            neighbours: settings.neighbours.clone(),
        }
    }

    /// After shutdown: waits (at most `grace`) until every connection of
    /// both roles has finished its request and closed, so that none is
    /// cut off by the exit.
    pub async fn drain(&self, grace: Duration) {
        let both = async {
            self.scan.conns.emptied().await;
            self.controller.conns.emptied().await;
        };
        match tokio::time::timeout(grace, both).await {
            Ok(()) => tracing::info!("all HTTP connections finished"),
            Err(_) => tracing::warn!(
                scan = self.scan.conns.len(),
                controller = self.controller.conns.len(),
                "grace period over, closing remaining HTTP connections"
            ),
        }
    }

    pub fn role(&self, r: Role) -> &RoleState {
        match r {
            Role::Scan => &self.scan,
            Role::Controller => &self.controller,
        }
    }
}

/// A configured password that looks like a hash but cannot be one
/// matches nothing, as in Rspamd: say so once at start, not per login.
fn warn_unusable_hashes(access: &AccessSettings) {
    use super::controller::password::Stored;
    let keys = [
        ("password", &access.password),
        ("enable_password", &access.enable_password),
    ];
    for (key, value) in keys {
        if let Some(why) = value.as_deref().and_then(|v| Stored::parse(v).problem()) {
            tracing::warn!(
                "worker.controller.{key} looks like an rspamadm hash but is unusable ({why}): \
                 no password matches it"
            );
        }
    }
}
