//! The scan commands (`/checkv2` and the legacy `/check` family) on either
//! listener: headers -> envelope, body -> message, the current scanner,
//! the verdict rendered in the shape the path asks for.
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::Request;
use sluice_proto::rspamd::request::Flag;
use sluice_proto::rspamd::{HeaderSpec, LegacyReply, MilterBlock, OneOrMany};
use tracing::{info, warn};

use super::body;
use super::reply::{self, Domain, Reply};
use super::request::ScanHeaders;
use super::shared::ScanContext;
use crate::verdict::checkv2;
use crate::verdict::{ScanOptions, ScanRequest, ScanSettings, Verdict};

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
    ctx: Arc<ScanContext>,
    limits: &body::BodyLimits,
) -> Reply {
    let (parts, body) = req.into_parts();
    let mut headers = match ScanHeaders::parse(&parts.headers, parts.uri.query()) {
        Ok(h) => h,
        Err(e) => return reply::error(e.status(), &e.to_string(), Domain::Task),
    };
    if force_skip {
        headers.flags.insert(Flag::Skip);
    }
    // The share is held until the reply: the scan works on these bytes.
    let body::Body {
        bytes: message,
        share: _share,
    } = match body::read(body, limits, headers.compressed).await {
        Ok(m) => m,
        Err(e) => return reply::error(e.status(), &e.to_string(), Domain::Task),
    };
    let crlf = uses_crlf(&message);
    let empty = message.is_empty();
    let kept = message.clone();
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
        crate::metrics::global().record_scan(verdict.action.rank(), verdict.scan_time);
        if !headers.no_log {
            let row = crate::history::Row::new(&headers.envelope, &kept, &verdict);
            crate::history::record(row);
        }
    }
    if !headers.no_log {
        log_scan(&headers, &verdict);
    }
    let mut v2 = checkv2::to_reply(&verdict);
    if empty {
        // Rspamd omits `message-id` for an empty body rather than saying `undef`.
        v2.message_id = None;
    }
    if crlf && !headers.flags.has(Flag::Milter) {
        if let Some(m) = v2.milter.as_mut() {
            fold_with_crlf(m);
        }
        if let Some(sigs) = v2.dkim_signature.as_mut() {
            let values: &mut [String] = match sigs {
                OneOrMany::One(one) => std::slice::from_mut(one),
                OneOrMany::Many(many) => many,
            };
            for value in values {
                *value = value.replace('\n', "\r\n");
            }
        }
    }
    let compress = headers.compress_reply();
    match shape {
        Shape::V2 => reply::json(&v2, compress),
        Shape::Legacy => reply::json(&LegacyReply::from(v2), compress),
    }
}

/// The scanner's verdict; Rspamd's near-empty one for `Flags: skip`, and
/// for an empty body, which Rspamd does not scan either (score 0).
pub(super) async fn verdict(
    headers: &ScanHeaders,
    message: bytes::Bytes,
    ctx: &ScanContext,
) -> Result<Verdict, String> {
    let skip = headers.flags.has(Flag::Skip);
    if skip || message.is_empty() {
        let rules = ctx.scanner.rules();
        let mut v = Verdict::empty(rules.as_ref().map_or(0.0, |r| r.required_score()));
        v.is_skipped = skip;
        v.thresholds = rules.map(|r| r.thresholds()).unwrap_or_default();
        return Ok(v);
    }
    let req = Arc::new(ScanRequest {
        envelope: headers.envelope.clone(),
        message,
        options: scan_options(headers, ctx),
        placement: ctx.placement,
    });
    let limit = ctx.scan_timeout;
    match tokio::time::timeout(limit, ctx.scanner.scan(req)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("scan failed: {e}")),
        Err(_) => Err(format!("timeout processing message (after {limit:?})")),
    }
}

/// `Pass: all` and the request's settings: an inline `Settings` header wins
/// over a `Settings-ID` profile, as in Rspamd. Unusable settings (bad JSON,
/// an unknown ID) are logged and the scan goes on with the configured ones,
/// as Rspamd does. Forwarding scanners have no profiles and ignore both.
fn scan_options(h: &ScanHeaders, ctx: &ScanContext) -> ScanOptions {
    let inline = h.settings.as_deref().and_then(|text| {
        ScanSettings::from_header(text)
            .map_err(|e| warn!("http scan: {e}; scanning with the configured settings"))
            .ok()
            .map(Arc::new)
    });
    let by_id = || {
        let id = h.settings_id.as_deref()?;
        let found = ctx.scanner.rules()?.settings_profile(id);
        if found.is_none() {
            warn!("http scan: unknown Settings-ID {id:?}; scanning with the configured settings");
        }
        found
    };
    ScanOptions {
        pass_all: h.flags.has(Flag::PassAll),
        settings: inline.or_else(by_id),
        ann_train: h.ann_train,
        learn_only: false,
    }
}

/// Whether the message's first line ends with CRLF.
fn uses_crlf(message: &[u8]) -> bool {
    message
        .iter()
        .position(|b| *b == b'\n')
        .is_some_and(|i| i > 0 && message[i - 1] == b'\r')
}

/// Header values come folded milter style (`\n\t`); Rspamd folds with the
/// message's own line ending unless the client is a milter bridge
/// (`Flags: milter`), so a CRLF message gets `\r\n\t`.
fn fold_with_crlf(m: &mut MilterBlock) {
    for spec in m.add_headers.values_mut() {
        let specs: &mut [HeaderSpec] = match spec {
            OneOrMany::One(one) => std::slice::from_mut(one),
            OneOrMany::Many(many) => many,
        };
        for h in specs {
            let (HeaderSpec::Ordered { value, .. } | HeaderSpec::Plain(value)) = h;
            if value.contains('\n') && !value.contains('\r') {
                *value = value.replace('\n', "\r\n");
            }
        }
    }
}

/// One line per message, like the milter's.
pub(super) fn log_scan(h: &ScanHeaders, v: &Verdict) {
    let e = &h.envelope;
    info!(
        queue_id = e.queue_id.as_deref().unwrap_or("-"),
        log_tag = h.log_tag.as_deref().unwrap_or("-"),
        ip = %e.client_ip.map_or_else(|| "-".to_string(), |ip| ip.to_string()),
        from = e.from.as_deref().unwrap_or("-"),
        rcpts = e.rcpts.len(),
        settings_id = h.settings_id.as_deref().unwrap_or("-"),
        action = %v.action,
        score = %v.score_pair(),
        symbols = %v.symbol_list(),
        upstream = v.upstream.as_deref().map(tracing::field::display),
        time_ms = v.scan_time.as_secs_f64() * 1e3,
        ignored = ?h.ignored,
        unknown_flags = ?h.flags.unknown,
        "http scanned"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_follows_the_message_line_ending() {
        assert!(uses_crlf(b"Subject: a\r\n\r\nbody"));
        assert!(!uses_crlf(b"Subject: a\n\r\n"));
        assert!(!uses_crlf(b"\n"));
        assert!(!uses_crlf(b""));
        let mut m = MilterBlock::default();
        m.add_headers.insert(
            "X-Spamd-Result".into(),
            OneOrMany::One(HeaderSpec::Ordered {
                value: "default: False [1.00 / 15.00];\n\tA(1.00)".into(),
                order: -1,
            }),
        );
        m.add_headers.insert(
            "X-Two".into(),
            OneOrMany::Many(vec![
                HeaderSpec::Plain("a\n\tb".into()),
                HeaderSpec::Plain("c".into()),
            ]),
        );
        fold_with_crlf(&mut m);
        let OneOrMany::One(HeaderSpec::Ordered { value, .. }) = &m.add_headers["X-Spamd-Result"]
        else {
            panic!("shape changed");
        };
        assert_eq!(value, "default: False [1.00 / 15.00];\r\n\tA(1.00)");
        assert_eq!(
            m.add_headers["X-Two"].as_slice()[0],
            HeaderSpec::Plain("a\r\n\tb".into())
        );
    }
}
