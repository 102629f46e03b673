//! Routing of the scan listener's requests by their command word.
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::Request;

use super::controller::views;
use super::reply::{self, Domain, Reply};
use super::scan::{self, Shape};
use super::shared::Shared;

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
        "metrics" => {
            let bayes = views::bayes_stat(shared.stats.clone()).await;
            let text = views::metrics_text(ctx.scanner.rules().as_deref(), bayes.as_ref(), false);
            reply::text(views::OPENMETRICS, text)
        }
        _ => reply::error(500, "invalid command", Domain::Protocol),
    }
}
