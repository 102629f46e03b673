//! `sluice run`: load and validate everything before binding, bind, serve,
//! and turn signals into shutdown.
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::{Config, ConfigError, ListenAddr, LoadOptions, MilterSettings};
use crate::milter::session::SessionContext;
use crate::milter::{OversizeAction, SessionSettings};
use crate::scan::{LocalScanner, Pipeline, ScanConfigError};
use crate::server::{self, BindError};
use crate::stats::Stats;

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
    let signals = Signals::install()?;
    let stats = open_stats(&opts.load)?;
    let (ctx, config) = build_context(&opts.load, &stats)?;
    for w in &config.warnings {
        warn!("config: {w}");
    }
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
    let ctx = Arc::new(ctx);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ctx_tx, ctx_rx) = watch::channel(ctx);
    let signals = tokio::spawn(handle_signals(
        signals,
        opts.load.clone(),
        stats,
        stop_tx,
        ctx_tx,
    ));
    server::serve(
        bound,
        ctx_rx,
        config.milter.max_sessions,
        SHUTDOWN_GRACE,
        stop_rx,
    )
    .await;
    signals.abort();
    info!("sluice stopped");
    Ok(())
}

/// SIGTERM/SIGINT flip the shutdown flag; SIGHUP reloads config and rules;
/// SIGUSR1 (logrotate) is acknowledged: logs go to stderr, nothing to reopen.
async fn handle_signals(
    mut signals: Signals,
    load: LoadOptions,
    stats: Option<Arc<Stats>>,
    stop: watch::Sender<bool>,
    ctx: watch::Sender<Arc<SessionContext>>,
) {
    loop {
        tokio::select! {
            _ = signals.term.recv() => { info!("SIGTERM: draining"); break; }
            _ = signals.int.recv() => { info!("SIGINT: draining"); break; }
            _ = signals.hup.recv() => reload(&load, &stats, &ctx),
            _ = signals.usr1.recv() => info!("SIGUSR1: logging to stderr, nothing to reopen"),
        }
    }
    let _ = stop.send(true);
}

/// The signal streams, installed before anything binds so that a signal
/// arriving early never meets the default action (termination).
struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
    usr1: Signal,
}

impl Signals {
    fn install() -> Result<Signals, DaemonError> {
        let on = |kind| signal(kind).map_err(DaemonError::Signal);
        Ok(Signals {
            term: on(SignalKind::terminate())?,
            int: on(SignalKind::interrupt())?,
            hup: on(SignalKind::hangup())?,
            usr1: on(SignalKind::user_defined1())?,
        })
    }
}

/// Builds a new session context from the files; on any error the running
/// one stays. Sessions in flight keep the snapshot they started with;
/// listener addresses are not rebound.
fn reload(
    load: &LoadOptions,
    stats: &Option<Arc<Stats>>,
    ctx: &watch::Sender<Arc<SessionContext>>,
) {
    match build_context(load, stats) {
        Ok((fresh, config)) => {
            for w in &config.warnings {
                warn!("config: {w}");
            }
            ctx.send_replace(Arc::new(fresh));
            info!("SIGHUP: configuration reloaded");
        }
        Err(e) => warn!("SIGHUP: reload failed, keeping the running configuration: {e}"),
    }
}

/// Loads and validates everything a session needs; nothing is bound here.
fn build_context(
    load: &LoadOptions,
    stats: &Option<Arc<Stats>>,
) -> Result<(SessionContext, Config), DaemonError> {
    let config = Config::load(load)?;
    let pipeline = Arc::new(Pipeline::from_config(&config.tree)?.with_stats(stats.clone()));
    let ctx = SessionContext {
        settings: session_settings(&config.milter),
        scanner: Arc::new(LocalScanner::new(pipeline)),
    };
    Ok((ctx, config))
}

/// Opens the Bayes store once for the process (reloads keep it). A store
/// that cannot be opened costs Bayes, not mail flow: the daemon warns and
/// scans without it.
fn open_stats(load: &LoadOptions) -> Result<Option<Arc<Stats>>, DaemonError> {
    let config = Config::load(load)?;
    Ok(Stats::from_tree(&config.tree).unwrap_or_else(|e| {
        warn!("bayes: disabled: {e}");
        None
    }))
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
