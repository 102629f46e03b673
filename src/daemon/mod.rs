//! `sluice run`: load and validate everything before binding, bind, serve,
//! and turn signals into reloads (config, rules, changed listeners) and
//! shutdown.
use std::sync::Arc;

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::{Config, ConfigError, ListenAddr, LoadOptions};
use crate::forward::ForwardBuildError;
use crate::http::shared::ReloadAsk;
use crate::log::LogHandle;
use crate::milter::session::SessionContext;
use crate::notify::{notify, PidFile, State};
use crate::scan::ScanConfigError;
use crate::server::{BindError, MilterServer};
use crate::stats::Stats;
use crate::verdict::Placement;

mod build;
mod fds;
mod listeners;
pub use build::{auth_checks, check};
use build::{build_context, build_from, open_stats};
use listeners::Listeners;

/// Everything `sluice run` needs beyond the config file.
#[derive(Debug, Default, Clone)]
pub struct RunOptions {
    pub load: LoadOptions,
    /// Replaces the configured milter listeners when not empty (also
    /// across reloads: the command line wins over the files).
    pub milter: Vec<ListenAddr>,
    /// Replaces the configured scan (Rspamd normal worker) listeners when
    /// not empty, as `milter` does.
    pub http: Vec<ListenAddr>,
    /// Replaces the configured controller listeners when not empty, as
    /// `milter` does.
    pub controller: Vec<ListenAddr>,
    /// Written once the listeners are bound, removed on exit.
    pub pid_file: Option<std::path::PathBuf>,
    /// Install the configured logging (`logging` section) as the global
    /// subscriber; off when the caller installed its own.
    pub install_logging: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("rules: {0}")]
    Scan(#[from] ScanConfigError),
    #[error(transparent)]
    Dns(#[from] crate::config::dns::DnsSettingsError),
    #[error("forward mode: {0}")]
    Forward(#[from] ForwardBuildError),
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error(
        "the {listener} listener cannot bind {addr}: the address is already in use (Rspamd, \
         or another sluice, may listen there); choose another with bind_socket in \
         $LOCAL_CONFDIR/local.d/{file} or with {flag} ADDR"
    )]
    AddrInUse {
        listener: &'static str,
        addr: String,
        file: &'static str,
        flag: &'static str,
    },
    #[error("worker sections: {0}")]
    HttpConfig(#[from] crate::http::HttpConfigError),
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),
    #[error("signal handler: {0}")]
    Signal(std::io::Error),
    #[error(transparent)]
    LogConfig(#[from] crate::log::LogConfigError),
    #[error(transparent)]
    Log(#[from] crate::log::LogError),
    #[error("reload: building the configuration failed: {0}")]
    Reload(String),
    #[error("pid file {path}: {source}")]
    PidFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("bayes: {0}")]
    Stats(#[from] crate::stats::StatsError),
    #[error(transparent)]
    State(#[from] crate::state::StateConfigError),
    #[error(transparent)]
    History(#[from] crate::history::shared::HistoryConfigError),
    #[error("signing: {0}")]
    Sign(#[from] crate::sign::SignConfigError),
    #[error(transparent)]
    FuzzyStorage(#[from] crate::fuzzy_storage::StorageError),
    /// A setting's error with the file and line that set it in front.
    #[error("{at}: {error}")]
    Located { at: String, error: Box<DaemonError> },
}

/// The daemon's runtime: one thread for all socket I/O, apart from the
/// milter sessions of an in-process pipeline, which run on their own
/// threads and scan in place (`server::SessionThreads`).
///
/// Why not tokio's default (one worker per core): the daemon's tasks only
/// move bytes (milter packets, HTTP requests, upstream exchanges); scans run
/// on their own pool (`scan::workers`). With several workers, every wakeup
/// of a parked one costs an eventfd write, a futex and a context switch, and
/// a session's tasks hop between threads: on the forward path that churn was
/// a quarter of the CPU per message (`docs/performance.md`). One
/// thread that parks only when nothing is runnable does the same I/O with
/// no cross-thread handoffs.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Loads the config and the rules, then serves until SIGTERM or SIGINT.
pub async fn run(opts: RunOptions) -> Result<(), DaemonError> {
    let mut signals = Signals::install()?;
    let config = Config::load(&opts.load)?;
    let log = if opts.install_logging {
        Some(crate::log::install(&config.logging)?)
    } else {
        None
    };
    let stats = open_stats(&config)?;
    let (built, config) = build_from(config, &stats)?;
    let _fuzzy = fuzzy_storage(&config, &opts)?;
    let mut http_settings = config.http.clone();
    for w in &config.warnings {
        warn!("config: {w}");
    }
    let ctx = built.ctx;
    let forwarding = built.forwarding;
    fds::apply(&mut http_settings, config.milter.max_sessions, forwarding);
    let wants = listeners::wanted(&config.milter, &http_settings, &opts)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (http_tx, http_rx) = watch::channel(Arc::new(http_context(&ctx)));
    let (ctx_tx, ctx_rx) = watch::channel(Arc::new(ctx));
    let (ask_tx, mut asks) = tokio::sync::mpsc::channel(4);
    let mut http_shared = crate::http::Shared::new(http_rx, &http_settings, stats.clone());
    http_shared.admin = crate::http::shared::Admin {
        dynamic_conf: crate::config::dynamic::path(&config.tree, opts.load.var("DBDIR").as_deref()),
        reload: Some(ask_tx),
    };
    let http_shared = Arc::new(http_shared);
    let milter = MilterServer::new(ctx_rx, config.milter.max_sessions, stop_rx.clone());
    let mut listeners = Listeners::new(milter.clone(), http_shared.clone(), stop_rx);
    let opened = listeners.open(&wants, config.milter.socket_mode).await?;
    let _pid = pid_file(&opts)?;
    listeners.apply(&wants, opened);
    crate::metrics::global().config_loaded();
    let _graph = keep_graph(&opts);
    history_store(&config.tree);
    let ops = Ops {
        opts,
        log,
        stats,
        ctx: ctx_tx,
        http: http_tx,
    };
    tell(State::Ready, &serving(&listeners));
    handle_signals(&mut signals, &mut asks, &ops, &mut listeners).await;
    tell(State::Stopping, "draining");
    let _ = stop_tx.send(true);
    listeners.join().await;
    tokio::join!(milter.drain(), http_shared.drain(milter.drain_bound()));
    // The last scans' background writes (greylisting renewals, rate limit multipliers).
    crate::redis::deferred::settle(SETTLE).await;
    if let Err(e) = crate::history::graph::global().save() {
        warn!("graph: {e}");
    }
    info!("sluice stopped");
    Ok(())
}

/// The history backend, chosen at start: Redis when `history_redis` has servers
/// (shared with every node on it), otherwise the in-memory ring.
fn history_store(tree: &serde_json::Value) {
    use crate::history::shared::{host_name, HistorySettings, RedisHistory};
    // The section was checked by `build_from` already.
    match HistorySettings::from_tree(tree) {
        Ok(Some((settings, redis))) => {
            let servers = redis.describe();
            let store = RedisHistory::start(settings, redis, &host_name());
            info!("history: rows in redis {servers}, list {}", store.key());
            crate::history::set_store(Arc::new(store));
        }
        Ok(None) => history_rows(tree),
        Err(e) => {
            warn!("history_redis: {e}; history kept in memory");
            history_rows(tree);
        }
    }
}

/// The fuzzy storage worker, when `worker "fuzzy"` enables it; it runs
/// until the daemon stops (its section is read at start only).
fn fuzzy_storage(
    config: &Config,
    opts: &RunOptions,
) -> Result<Option<crate::fuzzy_storage::Running>, DaemonError> {
    let db_dir = opts
        .load
        .var("DBDIR")
        .unwrap_or_else(|| "/var/lib/sluice".to_string());
    let mut warnings = Vec::new();
    let running =
        crate::fuzzy_storage::start(&config.tree, std::path::Path::new(&db_dir), &mut warnings)?;
    for w in warnings {
        warn!("config: {w}");
    }
    Ok(running)
}

/// `options.history_rows` (Rspamd's key): the size of the history ring,
/// read at start.
fn history_rows(tree: &serde_json::Value) {
    let Some(v) = tree.get("options").and_then(|o| o.get("history_rows")) else {
        return;
    };
    match v.as_u64().filter(|n| *n > 0) {
        Some(n) => crate::history::set_store(Arc::new(crate::history::ring::Ring::new(
            usize::try_from(n).unwrap_or(usize::MAX),
        ))),
        None => warn!(
            "options.history_rows: expected a positive number, got {v}; keeping {}",
            crate::history::DEFAULT_ROWS
        ),
    }
}

/// How long a stop waits for the background Redis writes queued by the last scans.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// How often the graph's counts are written to `$DBDIR`.
const GRAPH_SAVE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Reads the graph's counts from `$DBDIR` and writes them back there
/// every minute until the returned guard is dropped (and at exit).
fn keep_graph(opts: &RunOptions) -> Option<tokio_util::sync::DropGuard> {
    let dir = opts.load.var("DBDIR")?;
    if !std::path::Path::new(&dir).is_dir() {
        warn!("graph: DBDIR {dir} is not a directory; the graph starts over on each restart");
        return None;
    }
    let graph = crate::history::graph::global();
    if let Err(e) = graph.load(std::path::Path::new(&dir)) {
        warn!("graph: {e}; counting starts over");
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(GRAPH_SAVE_EVERY);
        tick.tick().await;
        // A failure is logged when it starts or changes, not every minute.
        let mut failing: Option<String> = None;
        loop {
            tokio::select! {
                _ = token.cancelled() => break,
                _ = tick.tick() => {}
            }
            let saved = tokio::task::spawn_blocking(|| crate::history::graph::global().save());
            let error = match saved.await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(e) => Some(e.to_string()),
            };
            if error.is_some() && error != failing {
                warn!("graph: {}", error.as_deref().unwrap_or_default());
            }
            failing = error;
        }
    });
    Some(stop.drop_guard())
}

fn pid_file(opts: &RunOptions) -> Result<Option<PidFile>, DaemonError> {
    let Some(path) = &opts.pid_file else {
        return Ok(None);
    };
    PidFile::create(path)
        .map(Some)
        .map_err(|source| DaemonError::PidFile {
            path: path.clone(),
            source,
        })
}

/// The status line systemd shows: where the milter is served.
fn serving(l: &Listeners) -> String {
    format!("serving milter on {}", l.milter_locals().join(", "))
}

/// What the signal handler acts on besides the listeners.
struct Ops {
    opts: RunOptions,
    log: Option<LogHandle>,
    /// Opened once for the process; reloads keep it.
    stats: Option<Arc<Stats>>,
    ctx: watch::Sender<Arc<SessionContext>>,
    http: watch::Sender<Arc<crate::http::ScanContext>>,
}

/// Returns on SIGTERM/SIGINT; SIGHUP (or the controller) reloads config,
/// rules and listeners; SIGUSR1 (logrotate) reopens the log file.
async fn handle_signals(
    signals: &mut Signals,
    asks: &mut tokio::sync::mpsc::Receiver<ReloadAsk>,
    ops: &Ops,
    listeners: &mut Listeners,
) {
    loop {
        let (asked, why) = tokio::select! {
            _ = signals.term.recv() => { info!("SIGTERM: draining"); break; }
            _ = signals.int.recv() => { info!("SIGINT: draining"); break; }
            _ = signals.hup.recv() => (None, "SIGHUP"),
            Some(ask) = asks.recv() => (Some(ask), "controller"),
            _ = signals.usr1.recv() => { reopen_log(ops.log.as_ref()); continue; }
        };
        tell(State::Reloading, "reloading configuration");
        // A stop signal wins over a reload still building: the
        // half-built configuration is dropped.
        let done = tokio::select! {
            r = reload(ops, listeners) => r,
            _ = signals.term.recv() => { info!("SIGTERM during reload: draining"); break; }
            _ = signals.int.recv() => { info!("SIGINT during reload: draining"); break; }
        };
        let answer = match done {
            Ok(()) => {
                info!("{why}: configuration reloaded");
                Ok(())
            }
            Err(e) => {
                warn!("{why}: reload failed, keeping the running configuration: {e}");
                Err(e.to_string())
            }
        };
        crate::metrics::global().reload(answer.is_ok());
        if let Some(ask) = asked {
            let _ = ask.send(answer);
        }
        tell(State::Ready, &serving(listeners));
    }
}

fn reopen_log(log: Option<&LogHandle>) {
    match log {
        Some(h) => match h.reopen() {
            Ok(()) => info!("SIGUSR1: reopened log {}", h.describe()),
            Err(e) => warn!("SIGUSR1: {e}; still writing to the old file"),
        },
        None => info!("SIGUSR1: logging is not ours to reopen"),
    }
}

/// Tells systemd (when it asked) about a state change.
fn tell(state: State, status: &str) {
    if let Err(e) = notify(state, status) {
        warn!("sd_notify {state:?}: {e}");
    }
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

/// Builds a new session context from the files and binds the listeners
/// whose address is new; on any error the running configuration stays.
/// Sessions in flight keep the snapshot they started with.
///
/// The files are read and the rules built (Lua top levels run) on a
/// blocking thread, so the reactor keeps serving and still hears signals.
async fn reload(ops: &Ops, listeners: &mut Listeners) -> Result<(), DaemonError> {
    let (load, stats) = (ops.opts.load.clone(), ops.stats.clone());
    let built = tokio::task::spawn_blocking(move || build_context(&load, &stats)).await;
    let (fresh, config) = built.map_err(|e| DaemonError::Reload(e.to_string()))??;
    let wants = listeners::wanted(&config.milter, &config.http, &ops.opts)?;
    let opened = listeners.open(&wants, config.milter.socket_mode).await?;
    for w in &config.warnings {
        warn!("config: {w}");
    }
    apply_logging(ops.log.as_ref(), &config);
    ops.http.send_replace(Arc::new(http_context(&fresh.ctx)));
    ops.ctx.send_replace(Arc::new(fresh.ctx));
    listeners.apply(&wants, opened);
    Ok(())
}

/// The reloaded `logging` section: level and `debug_ip` at once.
fn apply_logging(log: Option<&LogHandle>, config: &Config) {
    let settings = &config.logging;
    match log {
        Some(h) => match h.apply(settings) {
            Ok(Some(note)) => warn!("SIGHUP: {note}"),
            Ok(None) => {}
            Err(e) => warn!("SIGHUP: log level kept: {e}"),
        },
        None => crate::log::set_debug_ips(settings.debug_ips.iter().copied()),
    }
}

/// What the HTTP listeners scan with: the milter's scanner and deadline;
/// their scans run on the pool (the listeners share the reactor thread).
fn http_context(ctx: &SessionContext) -> crate::http::ScanContext {
    crate::http::ScanContext {
        scanner: Arc::clone(&ctx.scanner),
        scan_timeout: ctx.settings.scan_timeout,
        placement: Placement::Pool,
    }
}
