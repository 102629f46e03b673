//! Logging: the `logging` section in Rspamd's shape, installed as the
//! process-wide `tracing` subscriber.
//!
//! Output goes to stderr, a file or the local syslog socket, as text or one
//! JSON object per line. The file is held behind a lock so SIGUSR1 can swap
//! in a freshly opened one after logrotate renamed the old: each event is
//! written with a single `write` on an `O_APPEND` descriptor, so lines never
//! interleave and never land in the rotated file once reopen returned.
//!
//! Per-client debugging: addresses listed in `debug_ip` make the milter
//! session log its exchange on the `debug_ip` target, which the filter always
//! lets through at debug level. Sessions from other clients pay one set
//! lookup per command and log nothing extra.
mod json;
mod sink;
pub mod throttle;

pub use crate::config::logging::{
    LogConfigError, LogFormat, LogKind, LogLevel, LogSettings, SyslogFacility,
};
pub use sink::{LogSink, SinkWriter};

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock, RwLock};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// The target per-client exchange logging uses; see [`debug_client`].
pub const DEBUG_IP_TARGET: &str = "debug_ip";

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log file {path}: {source}")]
    Open {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("syslog socket {path}: {source}")]
    Syslog {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("a log subscriber is already installed in this process")]
    AlreadyInstalled,
}

/// Swaps the level filter of the installed subscriber.
type SetFilter = Arc<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>;

/// What SIGUSR1 and SIGHUP act on after [`install`].
#[derive(Clone)]
pub struct LogHandle {
    sink: Arc<LogSink>,
    installed: LogSettings,
    set_filter: SetFilter,
}

impl std::fmt::Debug for LogHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogHandle")
            .field("sink", &self.sink)
            .finish_non_exhaustive()
    }
}

impl LogHandle {
    /// Reopens the log file by name (logrotate's `postrotate`); a no-op for
    /// stderr and syslog. On error the old descriptor stays in use.
    pub fn reopen(&self) -> Result<(), LogError> {
        self.sink.reopen()
    }

    /// Where the log goes, for the reopen message.
    pub fn describe(&self) -> String {
        self.sink.describe()
    }

    /// Applies a reloaded `logging` section: the level and `debug_ip` take
    /// effect at once. The output (type, file, format) stays as it was
    /// opened; the returned note says so when it changed.
    pub fn apply(&self, settings: &LogSettings) -> Result<Option<&'static str>, String> {
        set_debug_ips(settings.debug_ips.iter().copied());
        (self.set_filter)(filter(settings))?;
        let same_output =
            settings.kind == self.installed.kind && settings.format == self.installed.format;
        Ok((!same_output).then_some("logging.type, filename and format apply after a restart"))
    }
}

/// What `sluice configtest` builds of the logging: the output `run` would
/// open, except that a log file not there yet is not created (its directory
/// must exist), so a test run leaves no file behind.
pub fn check(settings: &LogSettings) -> Result<(), LogError> {
    match &settings.kind {
        LogKind::File(path) if !path.exists() => {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => std::path::Path::new("."),
            };
            if dir.is_dir() {
                Ok(())
            } else {
                Err(LogError::Open {
                    path: path.clone(),
                    source: std::io::ErrorKind::NotFound.into(),
                })
            }
        }
        _ => LogSink::open(settings).map(drop),
    }
}

/// Opens the output and installs the global subscriber. `SLUICE_LOG`, when
/// set, replaces the configured level with an `EnvFilter` directive list.
pub fn install(settings: &LogSettings) -> Result<LogHandle, LogError> {
    let sink = Arc::new(LogSink::open(settings)?);
    set_debug_ips(settings.debug_ips.iter().copied());
    let filter = filter(settings);
    let ansi = matches!(settings.kind, LogKind::Console)
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(SinkWriter::from(sink.clone()))
        .with_target(false)
        .with_ansi(ansi);
    // Each formatter gives the subscriber another type, hence the macro.
    macro_rules! start {
        ($b:expr) => {{
            let b = $b.with_filter_reloading();
            let handle = b.reload_handle();
            // Warnings and errors are kept for the controller's `/errors` too.
            b.finish()
                .with(crate::history::errors::Capture)
                .try_init()
                .map_err(|_| LogError::AlreadyInstalled)?;
            let set: SetFilter = Arc::new(move |f| handle.reload(f).map_err(|e| e.to_string()));
            set
        }};
    }
    let set_filter = match (settings.format, &settings.kind) {
        (LogFormat::Json, _) => start!(builder.event_format(json::JsonFormat)),
        // syslogd stamps the time itself.
        (LogFormat::Text, LogKind::Syslog { .. }) => start!(builder.without_time()),
        (LogFormat::Text, _) => start!(builder),
    };
    Ok(LogHandle {
        sink,
        installed: settings.clone(),
        set_filter,
    })
}

fn filter(settings: &LogSettings) -> EnvFilter {
    let base = std::env::var("SLUICE_LOG").unwrap_or_else(|_| settings.level.directive().into());
    let with_debug = format!("{base},{DEBUG_IP_TARGET}=debug");
    EnvFilter::try_new(&with_debug).unwrap_or_else(|_| EnvFilter::new("info"))
}

fn debug_ips() -> &'static RwLock<HashSet<IpAddr>> {
    static IPS: OnceLock<RwLock<HashSet<IpAddr>>> = OnceLock::new();
    IPS.get_or_init(|| RwLock::new(HashSet::new()))
}

/// Replaces the set of client addresses whose milter exchange is logged
/// (called by [`install`] and on reload).
pub fn set_debug_ips(ips: impl IntoIterator<Item = IpAddr>) {
    let mut set = debug_ips().write().unwrap_or_else(|p| p.into_inner());
    *set = ips.into_iter().collect();
}

/// Whether a session from this SMTP client logs its milter exchange.
pub fn debug_client(ip: Option<IpAddr>) -> bool {
    let Some(ip) = ip else { return false };
    let set = debug_ips().read().unwrap_or_else(|p| p.into_inner());
    !set.is_empty() && set.contains(&canonical(ip))
}

/// `::ffff:1.2.3.4` is the IPv4 client Postfix saw on a dual-stack socket.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_client_matches_listed_and_mapped_addresses() {
        set_debug_ips(["192.0.2.7".parse().unwrap()]);
        assert!(debug_client(Some("192.0.2.7".parse().unwrap())));
        assert!(debug_client(Some("::ffff:192.0.2.7".parse().unwrap())));
        assert!(!debug_client(Some("192.0.2.8".parse().unwrap())));
        assert!(!debug_client(None));
        set_debug_ips([]);
        assert!(!debug_client(Some("192.0.2.7".parse().unwrap())));
    }
}
