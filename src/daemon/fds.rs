//! File descriptors: the milter must never run out of them because HTTP
//! clients took them all. At start the soft `RLIMIT_NOFILE` is raised to
//! the hard limit, and the HTTP connection caps are fitted so that, with
//! every milter session, every HTTP connection (and in forward mode one
//! upstream connection for each) open at once, a reserve is still left for
//! Redis, idle upstream connections, log and store files and the listeners.
//! Caps that do not fit are lowered, with a WARN that says why.
use tracing::{info, warn};

use crate::http::HttpSettings;

/// Descriptors kept for everything that is not a session: listeners, log
/// and Bayes store files, Redis, idle upstream connections, the runtime's
/// own (epoll, eventfd, signal pipe) and the process's inherited ones.
pub const RESERVE: u64 = 256;

/// The limit in force and what the caps need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdPlan {
    pub limit: u64,
    pub needed: u64,
}

/// Raises the soft limit as far as the hard limit allows; returns the soft
/// limit in force (the old one if raising failed).
pub fn raise_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap_or((1024, 1024));
            warn!("could not raise the open files limit ({e}); it stays at {soft}");
            soft
        }
    }
}

/// Fits the HTTP caps of `http` under `limit` next to `milter_sessions`;
/// `forward`: every session may also hold an upstream connection.
pub fn fit(http: &mut HttpSettings, milter_sessions: usize, forward: bool, limit: u64) -> FdPlan {
    let per = if forward { 2 } else { 1 };
    let scan = http.normal.limits.max_connections as u64;
    let control = http.controller.limits.max_connections as u64;
    let milter = milter_sessions as u64;
    let needed = (milter + scan + control) * per + RESERVE;
    let plan = FdPlan { limit, needed };
    if needed <= limit {
        return plan;
    }
    let room = (limit.saturating_sub(RESERVE) / per).saturating_sub(milter);
    if room < 2 {
        warn!(
            "open files limit {limit} is below what max_sessions = {milter_sessions} alone \
             needs ({}); raise LimitNOFILE or lower max_sessions. HTTP listeners keep one \
             connection each",
            milter * per + RESERVE
        );
        http.normal.limits.max_connections = 1;
        http.controller.limits.max_connections = 1;
        return plan;
    }
    let new_control = (control * room / (scan + control)).max(1);
    let new_scan = (room - new_control).max(1);
    warn!(
        "open files limit {limit} cannot hold max_sessions = {milter_sessions} plus HTTP \
         max_connections {scan} (scan) and {control} (controller){} and a reserve of \
         {RESERVE}: HTTP caps lowered to {new_scan} and {new_control} so the milter keeps \
         its file descriptors",
        if forward {
            ", each with an upstream connection,"
        } else {
            ""
        }
    );
    http.normal.limits.max_connections = new_scan as usize;
    http.controller.limits.max_connections = new_control as usize;
    plan
}

/// Raises the limit and fits the caps; logs the outcome.
pub fn apply(http: &mut HttpSettings, milter_sessions: usize, forward: bool) {
    let limit = raise_limit();
    let plan = fit(http, milter_sessions, forward, limit);
    info!(
        "open files limit {}; milter sessions {milter_sessions}, HTTP connections {} + {}",
        plan.limit, http.normal.limits.max_connections, http.controller.limits.max_connections
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> HttpSettings {
        HttpSettings::from_tree(&serde_json::json!({}), &mut vec![]).unwrap()
    }

    #[test]
    fn caps_that_fit_are_kept() {
        let mut s = settings();
        let plan = fit(&mut s, 1024, false, 65536);
        assert!(plan.needed <= plan.limit);
        assert_eq!(s.normal.limits.max_connections, 1024);
        assert_eq!(s.controller.limits.max_connections, 128);
    }

    #[test]
    fn caps_are_lowered_below_the_limit() {
        for (limit, forward) in [(1024, false), (4096, true), (2000, false)] {
            let mut s = settings();
            fit(&mut s, 512, forward, limit);
            let per = if forward { 2 } else { 1 };
            let used = (512
                + s.normal.limits.max_connections as u64
                + s.controller.limits.max_connections as u64)
                * per
                + RESERVE;
            assert!(used <= limit, "{limit} {forward}: {used}");
            assert!(s.normal.limits.max_connections > s.controller.limits.max_connections);
        }
        let mut s = settings();
        fit(&mut s, 1024, false, 1024);
        assert_eq!(s.normal.limits.max_connections, 1, "milter alone is over");
    }
}
