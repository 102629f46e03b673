//! Pre-HTTP sessions on the scan listener: `CHECK RSPAMC/1.3` (Exim's
//! `variant=rspamd`) and `SYMBOLS SPAMC/1.2` (spamc). The request is read
//! like HTTP (header lines, blank line, `Content-length` bytes of body, or
//! everything until the client half-closes), scanned like `/checkv2`, and
//! answered in the protocol's text layout ([`sluice_proto::rspamd::spamc`]);
//! then the connection is closed, as Rspamd does.
use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use sluice_proto::rspamd::spamc::{self, Dialect, RequestLine};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tracing::{debug, warn};

use super::body::{push_counted, BodyError, BodyLimits};
use super::budget::Share;
use super::request::ScanHeaders;
use super::scan;
use super::shared::Shared;
use crate::verdict::checkv2;

/// Why a legacy request got an error line instead of a verdict.
#[derive(Debug, thiserror::Error)]
pub enum LegacyError {
    #[error("IO read error: {0}")]
    Io(#[from] std::io::Error),
    #[error("header block larger than {0} bytes")]
    HeadersTooLarge(usize),
    #[error("no complete header block within {0:?}")]
    HeaderTimeout(std::time::Duration),
    #[error("bad Content-length {0:?}")]
    BadLength(String),
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("{0}")]
    Request(String),
    #[error("{0}")]
    Scan(String),
}

/// The first line of a connection, if it opens a legacy session.
pub fn detect(first_line: &[u8]) -> Option<RequestLine> {
    spamc::parse_request_line(first_line)
}

/// Serves one legacy request on `stream` (positioned after the request
/// line) and closes it.
pub async fn serve<S>(stream: S, line: RequestLine, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut io = BufReader::new(stream);
    let text = match answer(&mut io, line.dialect, &shared).await {
        Ok(t) => t,
        Err(e) => {
            warn!(command = %line.command, "legacy {:?} request failed: {e}", line.dialect);
            spamc::error_reply(line.dialect, &e.to_string())
        }
    };
    let stream = io.get_mut();
    if let Err(e) = stream.write_all(text.as_bytes()).await {
        debug!("legacy reply not delivered: {e}");
    }
    let _ = stream.shutdown().await;
}

async fn answer<S>(
    io: &mut BufReader<S>,
    dialect: Dialect,
    shared: &Shared,
) -> Result<String, LegacyError>
where
    S: AsyncRead + Unpin,
{
    let limits = &shared.scan.limits;
    let map = tokio::time::timeout(
        limits.header_timeout,
        read_headers(io, limits.max_header_size),
    )
    .await
    .map_err(|_| LegacyError::HeaderTimeout(limits.header_timeout))??;
    let headers =
        ScanHeaders::parse(&map, None).map_err(|e| LegacyError::Request(e.to_string()))?;
    let length = match map.get("content-length") {
        Some(v) => {
            let text = String::from_utf8_lossy(v.as_bytes()).trim().to_string();
            Some(
                text.parse::<usize>()
                    .map_err(|_| LegacyError::BadLength(text))?,
            )
        }
        None => None,
    };
    let body = &shared.scan.body;
    let mut share = body.budget.share();
    let message = read_body(io, length, body, &mut share).await?;
    // The share is held until the reply: the scan works on these bytes.
    let mut held = if headers.compressed {
        let raw = super::body::Body {
            bytes: message,
            share,
        };
        super::body::inflate_off_thread(raw, body.max).await?
    } else {
        super::body::Body {
            bytes: message,
            share,
        }
    };
    super::body::for_the_scan(&mut held)?;
    let message = held.bytes.clone();
    let ctx = shared.ctx.borrow().clone();
    let verdict = scan::verdict(&headers, message, &ctx)
        .await
        .map_err(LegacyError::Scan)?;
    crate::metrics::global().record_scan(verdict.action.rank(), verdict.scan_time);
    if !headers.no_log {
        let row = crate::history::Row::new(&headers.envelope, &held.bytes, &verdict);
        crate::history::record(row);
    }
    scan::log_scan(&headers, &verdict);
    let reply = checkv2::to_reply(&verdict);
    Ok(match dialect {
        Dialect::Rspamc => spamc::rspamc_reply(&reply),
        Dialect::Spamc => spamc::spamc_reply(&reply),
    })
}

/// Header lines up to the blank line; lines that are not `Name: value`
/// are skipped, as Rspamd's parser does with junk.
async fn read_headers<S>(io: &mut BufReader<S>, max: usize) -> Result<HeaderMap, LegacyError>
where
    S: AsyncRead + Unpin,
{
    let mut map = HeaderMap::new();
    let mut total = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = io.read_until(b'\n', &mut line).await?;
        total += n;
        if total > max {
            return Err(LegacyError::HeadersTooLarge(max));
        }
        let trimmed = trim_eol(&line);
        if n == 0 || trimmed.is_empty() {
            return Ok(map);
        }
        let Some(colon) = trimmed.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = HeaderName::from_bytes(trim(&trimmed[..colon]));
        let value = HeaderValue::from_bytes(trim(&trimmed[colon + 1..]));
        if let (Ok(name), Ok(value)) = (name, value) {
            map.append(name, value);
        }
    }
}

/// Exactly `length` bytes, or everything until EOF (spamc half-closes),
/// read as it arrives: each pause is bounded and the buffer is counted
/// against the body budget before it grows.
async fn read_body<S>(
    io: &mut BufReader<S>,
    length: Option<usize>,
    limits: &BodyLimits,
    share: &mut Share,
) -> Result<Bytes, LegacyError>
where
    S: AsyncRead + Unpin,
{
    let max = limits.max;
    if length.is_some_and(|n| n > max) {
        return Err(BodyError::TooLarge { limit: max }.into());
    }
    let want = length.unwrap_or(max + 1);
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; READ_STEP];
    while buf.len() < want {
        let room = (want - buf.len()).min(READ_STEP);
        let n = tokio::time::timeout(limits.idle, io.read(&mut chunk[..room]))
            .await
            .map_err(|_| BodyError::Stalled(limits.idle))??;
        if n == 0 {
            if length.is_some() {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
            break;
        }
        push_counted(&mut buf, &chunk[..n], max, share)?;
    }
    Ok(buf.into())
}

/// Bytes read from the socket at a time.
const READ_STEP: usize = 64 << 10;

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn headers_then_body() {
        let raw: &[u8] =
            b"Content-length: 5\r\nRcpt: a@b\r\nRcpt: c@d\r\njunk line\r\nFrom:  x@y \r\n\r\nhello+rest";
        let mut io = BufReader::new(raw);
        let map = read_headers(&mut io, 1024).await.unwrap();
        assert_eq!(map.get_all("rcpt").iter().count(), 2);
        assert_eq!(map.get("from").unwrap(), "x@y");
        let limits = |max| BodyLimits {
            max,
            idle: std::time::Duration::from_secs(5),
            budget: crate::http::budget::BodyBudget::new(1 << 20),
        };
        let l = limits(100);
        let mut share = l.budget.share();
        let body = read_body(&mut io, Some(5), &l, &mut share).await.unwrap();
        assert_eq!(&body[..], b"hello");
        assert!(share.bytes() >= 5, "the body is counted");
        let mut io = BufReader::new(&b"no length, to EOF"[..]);
        let got = read_body(&mut io, None, &l, &mut share).await.unwrap();
        assert_eq!(got.len(), 17);
        let l = limits(5);
        let too_large = |r: Result<Bytes, LegacyError>| {
            matches!(r, Err(LegacyError::Body(BodyError::TooLarge { limit: 5 })))
        };
        let mut io = BufReader::new(&b"0123456789"[..]);
        assert!(too_large(read_body(&mut io, None, &l, &mut share).await));
        assert!(too_large(read_body(&mut io, Some(6), &l, &mut share).await));
        let mut io = BufReader::new(&b"Rcpt: a@b\r\n"[..]);
        assert!(matches!(
            read_headers(&mut io, 8).await,
            Err(LegacyError::HeadersTooLarge(8))
        ));
    }
}
