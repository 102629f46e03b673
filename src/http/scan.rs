//! The scan commands (`/checkv2` and the legacy `/check` family) on either
//! listener: headers -> envelope, body -> message, the current scanner,
//! the verdict rendered in the shape the path asks for.
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::Request;
use sluice_proto::rspamd::request::Flag;
use sluice_proto::rspamd::LegacyReply;
use tracing::{info, warn};

use super::body;
use super::reply::{self, Domain, Reply};
use super::request::ScanHeaders;
use crate::milter::session::SessionContext;
use crate::scan::report::checkv2_reply;
use crate::scan::ScanRequest;
use crate::verdict::Verdict;

/// Which reply shape the path asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `/checkv2`.
    V2,
    /// `/check`, `/symbols`, `/scan`, `/process`, `/report`, `/report_ifspam`.
    Legacy,
}

/// Runs one scan request to its reply; every failure is an Rspamd-style
/// error reply, never a dropped connection.
pub async fn handle(
    req: Request<Incoming>,
    shape: Shape,
    force_skip: bool,
    ctx: Arc<SessionContext>,
    max_message: usize,
) -> Reply {
    let (parts, body) = req.into_parts();
    let mut headers = match ScanHeaders::parse(&parts.headers, parts.uri.query()) {
        Ok(h) => h,
        Err(e) => return reply::error(e.status(), &e.to_string(), Domain::Task),
    };
    if force_skip {
        headers.flags.insert(Flag::Skip);
    }
    let message = match body::read(body, max_message, headers.compressed).await {
        Ok(m) => m,
        Err(e) => return reply::error(e.status(), &e.to_string(), Domain::Task),
    };
    let verdict = match verdict(&headers, message, &ctx).await {
        Ok(v) => v,
        Err(why) => {
            warn!(
                queue_id = headers.envelope.queue_id.as_deref().unwrap_or("-"),
                "http scan failed: {why}"
            );
            return reply::error(500, &why, Domain::Task);
        }
    };
    if !headers.flags.has(Flag::NoStat) {
        crate::metrics::global().record_scan(&verdict);
    }
    if !headers.no_log {
        log_scan(&headers, &verdict);
    }
    let v2 = checkv2_reply(&verdict);
    let compress = headers.compress_reply();
    match shape {
        Shape::V2 => reply::json(&v2, compress),
        Shape::Legacy => reply::json(&LegacyReply::from(v2), compress),
    }
}

/// The scanner's verdict; Rspamd's near-empty one for `Flags: skip`, and
/// for an empty body, which Rspamd does not scan either (score 0).
async fn verdict(
    headers: &ScanHeaders,
    message: bytes::Bytes,
    ctx: &SessionContext,
) -> Result<Verdict, String> {
    let skip = headers.flags.has(Flag::Skip);
    if skip || message.is_empty() {
        let pipeline = ctx.scanner.pipeline();
        let mut v = Verdict::empty(pipeline.as_ref().map_or(0.0, |p| p.required_score()));
        v.is_skipped = skip;
        v.thresholds = pipeline
            .map(|p| p.thresholds().to_vec())
            .unwrap_or_default();
        return Ok(v);
    }
    let req = Arc::new(ScanRequest {
        envelope: headers.envelope.clone(),
        message,
    });
    let limit = ctx.settings.scan_timeout;
    match tokio::time::timeout(limit, ctx.scanner.scan(req)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("scan failed: {e}")),
        Err(_) => Err(format!("timeout processing message (after {limit:?})")),
    }
}

/// One line per message, like the milter's.
fn log_scan(h: &ScanHeaders, v: &Verdict) {
    let e = &h.envelope;
    info!(
        queue_id = e.queue_id.as_deref().unwrap_or("-"),
        log_tag = h.log_tag.as_deref().unwrap_or("-"),
        ip = %e.client_ip.map_or_else(|| "-".to_string(), |ip| ip.to_string()),
        from = e.from.as_deref().unwrap_or("-"),
        rcpts = e.rcpts.len(),
        settings_id = h.settings_id.as_deref().unwrap_or("-"),
        action = %v.action,
        score = format!("{:.2}/{:.2}", v.score, v.required_score),
        symbols = %v.symbol_list(),
        time_ms = v.scan_time.as_secs_f64() * 1e3,
        ignored = ?h.ignored,
        unknown_flags = ?h.flags.unknown,
        "http scanned"
    );
}
