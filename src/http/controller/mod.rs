//! The controller listener: Rspamd's controller endpoints (what its
//! WebUI and rspamc use), behind Rspamd's password semantics ([`auth`]).
//!
//! Read endpoints: `/auth`, `/stat`, `/actions`, `/symbols`, `/counters`,
//! `/metrics`, `/history`, `/graph`, `/pie`, `/neighbours`, `/healthy`,
//! `/ready`, `/bayes/classifiers`, `/plugins/selectors/*`, `/maps` and
//! `/getmap` ([`maps`]) and the scans
//! (`/checkv2`, `/check`, `/scan`). Privileged ones: `/statreset` (answers
//! like `/stat`, then zeroes the scan counters), `/learnspam` and
//! `/learnham` ([`learn`]), `/historyreset`, `/errors`, `/saveactions` and
//! `/savesymbols` ([`save`]), `/savemap`, and `/fuzzyadd` / `/fuzzydel`
//! ([`fuzzy`]: fuzzy_check's writable rules). The scan listener serves none of
//! these, as Rspamd's normal worker does not: only the controller checks
//! passwords. `GET` of any other path is a web page
//! ([`crate::http::ui`]), served without a password as Rspamd serves its
//! `static_dir`.
pub mod auth;
pub mod fuzzy;
pub mod history;
pub mod learn;
pub mod logins;
pub mod maps;
pub mod password;
pub mod rspamd_metrics;
pub mod save;
pub mod selectors;
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

/// Routes one controller request. Every reply carries `Cache-Control: no-store`.
pub async fn handle(req: Request<Incoming>, peer: Peer, shared: Arc<Shared>) -> Reply {
    let mut r = route(req, peer, shared).await;
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn route(req: Request<Incoming>, peer: Peer, shared: Arc<Shared>) -> Reply {
    let cmd = command(req.uri().path());
    if cmd == "ping" {
        return reply::pong();
    }
    let Some(level) = level(&cmd) else {
        return ui::serve(&shared.ui, req.method(), req.uri().path()).await;
    };
    let read_only = match authorize(&req, &peer, &shared, level).await {
        Ok(read_only) => read_only,
        Err(Refused::Unauthorized) => return reply::error(401, "Unauthorized", Domain::None),
        Err(Refused::ReadOnly) => {
            return reply::error(403, "Forbidden: the password is read-only", Domain::None)
        }
        Err(Refused::LockedOut) => {
            return reply::error(429, "Too many failed logins, try later", Domain::None)
        }
    };
    serve(&cmd, req, &shared, read_only).await
}

/// What an endpoint needs, as in Rspamd's controller; `None`: no such
/// endpoint.
fn level(cmd: &str) -> Option<Level> {
    match cmd {
        "stat" | "auth" | "actions" | "symbols" | "counters" | "metrics" | "checkv2" | "check"
        | "scan" | "history" | "graph" | "pie" | "neighbours" | "healthy" | "ready"
        | "bayes/classifiers" | "maps" | "getmap" => Some(Level::Read),
        "statreset" | "learnspam" | "learnham" | "historyreset" | "errors" | "saveactions"
        | "savesymbols" | "savemap" | "fuzzyadd" | "fuzzydel" => Some(Level::Enable),
        _ if cmd.starts_with("plugins/selectors/") => Some(Level::Read),
        _ => None,
    }
}

/// Answers an authorized request.
async fn serve(cmd: &str, req: Request<Incoming>, shared: &Arc<Shared>, read_only: bool) -> Reply {
    let ctx = shared.ctx.borrow().clone();
    let rules = ctx.scanner.rules();
    let snapshot = || crate::metrics::global().snapshot();
    let max = &shared.controller.body;
    let q = req.uri().query().map(str::to_string);
    let q = q.as_deref();
    match cmd {
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
        "learnspam" | "learnham" => {
            let class = if cmd == "learnspam" {
                Class::Spam
            } else {
                Class::Ham
            };
            let to = learn::Learners {
                stats: shared.stats.clone(),
                ctx: Arc::clone(&ctx),
            };
            learn::handle(req, class, to, max).await
        }
        "auth" => reply::json(&views::auth(&snapshot(), read_only), false),
        "metrics" => {
            let bayes = views::bayes_stat(shared.stats.clone()).await;
            let text = views::metrics_text(rules.as_deref(), bayes.as_ref(), read_only);
            reply::text(views::OPENMETRICS, text)
        }
        "checkv2" => scan::handle(req, Shape::V2, false, ctx, max).await,
        "check" | "scan" => scan::handle(req, Shape::Legacy, false, ctx, max).await,
        "history" => history::rows(q).await,
        "historyreset" => history::reset().await,
        "errors" => history::errors(),
        "graph" => history::graph(q),
        "pie" => reply::json(&history::pie(&snapshot()), false),
        "healthy" | "ready" => reply::json(&serde_json::json!({"success": true}), false),
        "neighbours" => reply::json(&shared.neighbours, false),
        "bayes/classifiers" => {
            let names: &[&str] = if shared.stats.is_some() {
                &["bayes"]
            } else {
                &[]
            };
            reply::json(&names, false)
        }
        "fuzzyadd" => fuzzy::handle(req, true, max).await,
        "fuzzydel" => fuzzy::handle(req, false, max).await,
        "saveactions" => save::actions(req, shared).await,
        "plugins/selectors/check_message" => {
            selectors::check_message(req, q, rules.clone(), &shared.controller.body).await
        }
        _ if cmd.starts_with("plugins/selectors/") => selectors::handle(cmd, q, rules.as_deref()),
        _ => match rules {
            Some(r) => match cmd {
                "actions" => reply::json(&views::actions(r.as_ref()), false),
                "symbols" => reply::json(&views::symbols(r.as_ref()), false),
                "savesymbols" => save::symbols(req, shared, r.as_ref()).await,
                "maps" => reply::json(&maps::list(r.as_ref()), false),
                "getmap" => maps::get(req, r.as_ref()).await,
                "savemap" => maps::save(req, shared, r.as_ref()).await,
                _ => reply::json(&views::counters(r.as_ref(), snapshot().uptime), false),
            },
            None => reply::error(404, "no local rules: scanning is forwarded", Domain::None),
        },
    }
}

/// Why a request was refused before its handler ran.
enum Refused {
    /// No valid password (401, as Rspamd).
    Unauthorized,
    /// A valid read-only password on a privileged endpoint (403).
    ReadOnly,
    /// Its client's password attempts are refused for now ([`logins`]).
    LockedOut,
}

/// Checks the request's password, unless its client is locked out after
/// too many wrong ones; counts the outcome of every password checked.
/// Hashed passwords take a key derivation: checks run on the blocking pool.
async fn authorize(
    req: &Request<Incoming>,
    peer: &Peer,
    shared: &Arc<Shared>,
    level: Level,
) -> Result<bool, Refused> {
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
    let (shared, peer) = (Arc::clone(shared), *peer);
    let check = move || {
        let creds = Credentials {
            password: password.as_deref(),
            forwarded_for,
        };
        decide(&shared, &peer, &creds, level)
    };
    tokio::task::spawn_blocking(check)
        .await
        .unwrap_or(Err(Refused::Unauthorized))
}

fn decide(
    shared: &Shared,
    peer: &Peer,
    creds: &Credentials<'_>,
    level: Level,
) -> Result<bool, Refused> {
    let granted = |a: Access| match a {
        Access::Granted { read_only } => Ok(read_only),
        Access::Denied => Err(Refused::Unauthorized),
    };
    let without = Credentials {
        password: None,
        ..creds.clone()
    };
    let (Some(ip), Some(_)) = (peer.ip, creds.password) else {
        return granted(auth::check(&shared.access, peer, creds, level));
    };
    // Clients that need no password are never locked out.
    if let g @ Access::Granted { .. } = auth::check(&shared.access, peer, &without, level) {
        if auth::check(&shared.access, peer, creds, level) == g {
            return granted(g);
        }
    }
    let now = std::time::Instant::now();
    if shared.logins.locked(ip, now) {
        return Err(Refused::LockedOut);
    }
    let access = auth::check(&shared.access, peer, creds, level);
    // A read-only password is a login, refused for what it asks.
    if access == Access::Denied
        && level == Level::Enable
        && auth::check(&shared.access, peer, creds, Level::Read) != Access::Denied
    {
        shared.logins.succeeded(ip);
        return Err(Refused::ReadOnly);
    }
    match access {
        Access::Granted { .. } => shared.logins.succeeded(ip),
        Access::Denied => shared.logins.failed(ip, now),
    }
    granted(access)
}
