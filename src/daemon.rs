//! `sluice run`: load and validate everything before binding, bind, serve,
//! and turn signals into shutdown.
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::{Config, ConfigError, ListenAddr, LoadOptions, MilterSettings};
use crate::milter::session::SessionContext;
use crate::milter::{OversizeAction, SessionSettings};
use crate::scan::{LocalScanner, Pipeline, ScanConfigError};
use crate::server::{self, BindError};

/// Everything `sluice run` needs beyond the config file.
#[derive(Debug, Default, Clone)]
pub struct RunOptions {
    pub load: LoadOptions,
    /// Replaces the configured milter listeners when not empty.
    pub milter: Vec<ListenAddr>,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("rules: {0}")]
    Scan(#[from] ScanConfigError),
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("signal handler: {0}")]
    Signal(std::io::Error),
}

/// How long sessions inside a message may take to finish on SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Loads the config and the rules, then serves until SIGTERM or SIGINT.
pub async fn run(opts: RunOptions) -> Result<(), DaemonError> {
    let config = Config::load(&opts.load)?;
    for w in &config.warnings {
        warn!("config: {w}");
    }
    let pipeline = Arc::new(Pipeline::from_config(&config.tree)?);
    let settings = session_settings(&config.milter);
    let addrs = if opts.milter.is_empty() {
        config.milter.bind_socket.clone()
    } else {
        opts.milter.clone()
    };
    let mut bound = Vec::new();
    for addr in &addrs {
        let b = server::bind(addr, config.milter.socket_mode).await?;
        info!("milter listening on {}", b.local());
        bound.push(b);
    }
    let ctx = Arc::new(SessionContext {
        settings,
        scanner: Arc::new(LocalScanner::new(pipeline)),
    });
    let (tx, rx) = watch::channel(false);
    let signals = tokio::spawn(wait_for_stop(tx));
    server::serve(bound, ctx, config.milter.max_sessions, SHUTDOWN_GRACE, rx).await;
    signals.abort();
    info!("sluice stopped");
    Ok(())
}

/// Flips the shutdown flag on SIGTERM or SIGINT.
async fn wait_for_stop(tx: watch::Sender<bool>) -> Result<(), DaemonError> {
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signal)?;
    tokio::select! {
        _ = term.recv() => info!("SIGTERM: draining"),
        _ = int.recv() => info!("SIGINT: draining"),
    }
    let _ = tx.send(true);
    Ok(())
}

/// Maps the config section onto what a session obeys.
pub fn session_settings(m: &MilterSettings) -> SessionSettings {
    SessionSettings {
        idle_timeout: m.timeout,
        command_timeout: SessionSettings::default().command_timeout.min(m.timeout),
        max_packet: m.max_packet,
        max_message: m.max_message,
        oversize_action: match m.oversize_action {
            crate::config::OversizeAction::Accept => OversizeAction::Accept,
            crate::config::OversizeAction::Tempfail => OversizeAction::Tempfail,
            crate::config::OversizeAction::Reject => OversizeAction::Reject,
        },
        scan_timeout: m.scan_timeout,
        fail_open: m.fail_open,
        progress_interval: m.progress_interval,
        discard_on_reject: m.discard_on_reject,
        quarantine_on_reject: m.quarantine_on_reject,
        spam_header: m.spam_header.clone(),
        reject_message: m.reject_message.clone(),
        tempfail_message: m.tempfail_message.clone(),
        quarantine_message: m.quarantine_message.clone(),
    }
}
