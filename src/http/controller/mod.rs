//! The controller listener: Rspamd's controller endpoints that sluice has
//! data for, behind Rspamd's password semantics ([`auth`]).
//!
//! `/statreset` (privileged) answers like `/stat`, then zeroes the scan
//! counters. `/learnspam` and `/learnham` (privileged) learn into the
//! daemon's Bayes store ([`learn`]); the scan listener does not serve them,
//! as Rspamd's normal worker does not: only the controller checks passwords.
//! `/fuzzyadd` and `/fuzzydel` (privileged) answer 404 with
//! [`FUZZY_MISSING`]: sluice has no fuzzy storage yet. `GET` of any other path is a web page
//! ([`crate::http::ui`]), served without a password as Rspamd serves its
//! `static_dir`.
pub mod auth;
pub mod learn;
pub mod logins;
pub mod rspamd_metrics;
pub mod views;

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL};
use hyper::Request;
use sluice_proto::rspamd::request::header;

use self::auth::{Access, Credentials, Level};
use super::query;
use super::reply::{self, Domain, Reply};
use super::route::command;
use super::scan::{self, Shape};
use super::shared::{Peer, Shared};
use super::ui;
use crate::stats::Class;

/// Why the fuzzy endpoints refuse (rspamc prints it).
pub const FUZZY_MISSING: &str = "fuzzy hashes are not supported: sluice has no fuzzy_check module";

/// Routes one controller request. Every reply carries `Cache-Control: no-store`.
pub async fn handle(req: Request<Incoming>, peer: Peer, shared: Arc<Shared>) -> Reply {
    let mut r = route(req, peer, shared).await;
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn route(req: Request<Incoming>, peer: Peer, shared: Arc<Shared>) -> Reply {
    let cmd = command(req.uri().path());
    let level = match cmd.as_str() {
        "ping" => return reply::pong(),
        "stat" | "auth" | "actions" | "symbols" | "counters" | "metrics" | "checkv2" | "check"
        | "scan" => Level::Read,
        "statreset" | "learnspam" | "learnham" | "fuzzyadd" | "fuzzydel" => Level::Enable,
        _ => return ui::serve(&shared.ui, req.method(), req.uri().path()).await,
    };
    let read_only = match authorize(&req, &peer, &shared, level) {
        Ok(Access::Granted { read_only }) => read_only,
        Ok(Access::Denied) => return reply::error(401, "Unauthorized", Domain::None),
        Err(LockedOut) => {
            return reply::error(429, "Too many failed logins, try later", Domain::None)
        }
    };
    let ctx = shared.ctx.borrow().clone();
    let rules = ctx.scanner.rules();
    let snapshot = || crate::metrics::global().snapshot();
    let max = &shared.controller.body;
    match cmd.as_str() {
        "stat" => {
            let bayes = views::bayes_stat(shared.stats.clone()).await;
            reply::json(&views::stat(&snapshot(), bayes.as_ref(), read_only), false)
        }
        "statreset" => {
            let bayes = views::bayes_stat(shared.stats.clone()).await;
            let before = snapshot();
            crate::metrics::global().reset_scans();
            reply::json(&views::stat(&before, bayes.as_ref(), read_only), false)
        }
        "fuzzyadd" | "fuzzydel" => reply::error(404, FUZZY_MISSING, Domain::None),
        "learnspam" => learn::handle(req, Class::Spam, shared.stats.clone(), max).await,
        "learnham" => learn::handle(req, Class::Ham, shared.stats.clone(), max).await,
        "auth" => reply::json(&views::auth(&snapshot(), read_only), false),
        "metrics" => {
            let bayes = views::bayes_stat(shared.stats.clone()).await;
            let text = views::metrics_text(rules.as_deref(), bayes.as_ref(), read_only);
            reply::text(views::OPENMETRICS, text)
        }
        "checkv2" => scan::handle(req, Shape::V2, false, ctx, max).await,
        "check" | "scan" => scan::handle(req, Shape::Legacy, false, ctx, max).await,
        _ => match rules {
            Some(r) => match cmd.as_str() {
                "actions" => reply::json(&views::actions(r.as_ref()), false),
                "symbols" => reply::json(&views::symbols(r.as_ref()), false),
                _ => reply::json(&views::counters(r.as_ref(), snapshot().uptime), false),
            },
            None => reply::error(404, "no local rules: scanning is forwarded", Domain::None),
        },
    }
}

/// A client whose password attempts are refused for now ([`logins`]).
struct LockedOut;

/// Checks the request's password, unless its client is locked out after
/// too many wrong ones; counts the outcome of every password checked.
fn authorize(
    req: &Request<Incoming>,
    peer: &Peer,
    shared: &Shared,
    level: Level,
) -> Result<Access, LockedOut> {
    let headers = req.headers();
    let from_query = query::get(req.uri().query(), "password");
    let password = headers
        .get(header::PASSWORD)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(from_query);
    let forwarded_for = ["x-forwarded-for", "x-real-ip"]
        .iter()
        .filter_map(|h| headers.get(*h)?.to_str().ok())
        .filter_map(|v| v.split(',').next()?.trim().parse().ok())
        .next();
    let creds = Credentials {
        password: password.as_deref(),
        forwarded_for,
    };
    let without = Credentials {
        password: None,
        ..creds
    };
    let (Some(ip), Some(_)) = (peer.ip, creds.password) else {
        return Ok(auth::check(&shared.access, peer, &creds, level));
    };
    // Clients that need no password are never locked out.
    if let granted @ Access::Granted { .. } = auth::check(&shared.access, peer, &without, level) {
        if auth::check(&shared.access, peer, &creds, level) == granted {
            return Ok(granted);
        }
    }
    let now = std::time::Instant::now();
    if shared.logins.locked(ip, now) {
        return Err(LockedOut);
    }
    let access = auth::check(&shared.access, peer, &creds, level);
    match access {
        Access::Granted { .. } => shared.logins.succeeded(ip),
        Access::Denied => shared.logins.failed(ip, now),
    }
    Ok(access)
}
