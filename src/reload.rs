//! `sluice reload`: SIGHUP to the running daemon, then wait for the result.
//!
//! systemd's `ExecReload=` must not return before the reload is done, or
//! `systemctl reload` reports success for a reload that has not happened
//! yet (or that will fail); systemd before 253 has no `Type=notify-reload`
//! to do it for us. The daemon counts its reloads by result on the
//! controller's `/metrics`; this command reads the counts, sends the signal
//! and waits until one of them moves.
use std::time::{Duration, Instant};

use crate::status::{Controller, StatusError};

/// How often the counts are read while waiting.
const POLL: Duration = Duration::from_millis(100);
const OK: &str = "sluice_config_reloads_total{result=\"ok\"}";
const FAILED: &str = "sluice_config_reloads_total{result=\"error\"}";

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("reload: {0} is not a process id")]
    BadPid(i32),
    #[error("reload: cannot signal process {pid}: {source}")]
    Signal { pid: i32, source: std::io::Error },
    #[error("reload: the daemon's /metrics has no {OK} counter")]
    NoCounter,
    #[error(
        "reload failed: the daemon keeps its running configuration; its log says why \
         (`sluice configtest` names the file and line)"
    )]
    Failed,
    #[error("reload: no result within {0:?}; the daemon may still be building the configuration")]
    Timeout(Duration),
    #[error("reload: {0}")]
    Controller(#[from] StatusError),
}

/// How a confirmed reload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Reloaded,
    /// The controller could not be asked before the signal: sent, not confirmed.
    Unconfirmed,
}

/// The reload counts, ok and failed, from the text of `/metrics`.
pub fn counts(metrics: &str) -> Option<(u64, u64)> {
    let read = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
    };
    Some((read(OK)?, read(FAILED).unwrap_or(0)))
}

/// Sends SIGHUP to `pid` and, when `controller` answers, waits up to `timeout` for the reload's
/// result.
pub fn reload(
    pid: i32,
    controller: Option<&Controller>,
    timeout: Duration,
) -> Result<Outcome, ReloadError> {
    let before = match controller.map(|c| c.get("/metrics")) {
        Some(Ok(text)) => Some(counts(&text).ok_or(ReloadError::NoCounter)?),
        Some(Err(e)) => {
            tracing::warn!("{e}: sending SIGHUP without waiting for the result");
            None
        }
        None => None,
    };
    signal(pid)?;
    let (Some(before), Some(controller)) = (before, controller) else {
        return Ok(Outcome::Unconfirmed);
    };
    let start = Instant::now();
    loop {
        std::thread::sleep(POLL);
        // The controller may be rebinding (a changed bind_socket): keep asking.
        if let Some(now) = controller.get("/metrics").ok().and_then(|t| counts(&t)) {
            if now.1 > before.1 {
                return Err(ReloadError::Failed);
            }
            if now.0 > before.0 {
                return Ok(Outcome::Reloaded);
            }
        }
        if start.elapsed() > timeout {
            return Err(ReloadError::Timeout(timeout));
        }
    }
}

fn signal(pid: i32) -> Result<(), ReloadError> {
    // Zero and negative numbers would signal process groups.
    let target = (pid > 0)
        .then(|| rustix::process::Pid::from_raw(pid))
        .flatten()
        .ok_or(ReloadError::BadPid(pid))?;
    rustix::process::kill_process(target, rustix::process::Signal::HUP).map_err(|e| {
        ReloadError::Signal {
            pid,
            source: e.into(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_read_from_the_metrics_text() {
        let text = "# TYPE sluice_config_reloads_total counter\n\
                    sluice_config_reloads_total{result=\"ok\"} 3\n\
                    sluice_config_reloads_total{result=\"error\"} 1\n";
        assert_eq!(counts(text), Some((3, 1)));
        assert_eq!(counts("sluice_up 1\n"), None);
    }

    #[test]
    fn a_pid_that_is_not_one_is_an_error() {
        assert!(matches!(signal(0), Err(ReloadError::BadPid(0))));
        assert!(matches!(signal(-5), Err(ReloadError::BadPid(-5))));
    }
}
