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

use super::request::ScanHeaders;
use super::scan;
use super::Shared;
use crate::scan::report::checkv2_reply;

/// Bound on the header block: legacy clients send a handful of lines.
const MAX_HEADERS: usize = 64 * 1024;

/// Why a legacy request got an error line instead of a verdict.
#[derive(Debug, thiserror::Error)]
pub enum LegacyError {
    #[error("IO read error: {0}")]
    Io(#[from] std::io::Error),
    #[error("header block larger than {MAX_HEADERS} bytes")]
    HeadersTooLarge,
    #[error("bad Content-length {0:?}")]
    BadLength(String),
    #[error("Message is too large: more than {0} bytes")]
    TooLarge(usize),
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
    let map = read_headers(io).await?;
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
    let message = read_body(io, length, shared.max_message).await?;
    let message = if headers.compressed {
        super::body::decompress(&message, shared.max_message)
            .map_err(|e| LegacyError::Request(e.to_string()))?
    } else {
        message
    };
    let ctx = shared.ctx.borrow().clone();
    let verdict = scan::verdict(&headers, message, &ctx)
        .await
        .map_err(LegacyError::Scan)?;
    crate::metrics::global().record_scan(&verdict);
    scan::log_scan(&headers, &verdict);
    let reply = checkv2_reply(&verdict);
    Ok(match dialect {
        Dialect::Rspamc => spamc::rspamc_reply(&reply),
        Dialect::Spamc => spamc::spamc_reply(&reply),
    })
}

/// Header lines up to the blank line; lines that are not `Name: value`
/// are skipped, as Rspamd's parser does with junk.
async fn read_headers<S>(io: &mut BufReader<S>) -> Result<HeaderMap, LegacyError>
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
        if total > MAX_HEADERS {
            return Err(LegacyError::HeadersTooLarge);
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

/// Exactly `length` bytes, or everything until EOF (spamc half-closes).
async fn read_body<S>(
    io: &mut BufReader<S>,
    length: Option<usize>,
    max: usize,
) -> Result<Bytes, LegacyError>
where
    S: AsyncRead + Unpin,
{
    match length {
        Some(n) if n > max => Err(LegacyError::TooLarge(max)),
        Some(n) => {
            let mut buf = vec![0; n];
            io.read_exact(&mut buf).await?;
            Ok(buf.into())
        }
        None => {
            let mut buf = Vec::new();
            io.take(max as u64 + 1).read_to_end(&mut buf).await?;
            if buf.len() > max {
                return Err(LegacyError::TooLarge(max));
            }
            Ok(buf.into())
        }
    }
}

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
        let map = read_headers(&mut io).await.unwrap();
        assert_eq!(map.get_all("rcpt").iter().count(), 2);
        assert_eq!(map.get("from").unwrap(), "x@y");
        let body = read_body(&mut io, Some(5), 100).await.unwrap();
        assert_eq!(&body[..], b"hello");
        let mut io = BufReader::new(&b"no length, to EOF"[..]);
        assert_eq!(read_body(&mut io, None, 100).await.unwrap().len(), 17);
        let mut io = BufReader::new(&b"0123456789"[..]);
        assert!(matches!(
            read_body(&mut io, None, 5).await,
            Err(LegacyError::TooLarge(5))
        ));
        assert!(matches!(
            read_body(&mut io, Some(6), 5).await,
            Err(LegacyError::TooLarge(5))
        ));
    }
}
