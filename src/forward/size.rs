//! Requests an upstream will not take for their size. Mail to many
//! recipients makes a large request head (one `Rcpt` line each); an
//! upstream that refuses it will refuse it on every retry, so such a
//! refusal is permanent for that message, never a failed attempt. What
//! counts:
//!
//! - before sending: a head or body over what a sluice scanner accepts by
//!   default (`max_header_size` and its line limit, `max_message`), which
//!   is never sent;
//! - a `413` or `431` answer;
//! - from a scanner with a smaller head limit (Rspamd's HTTP parser stops
//!   at 80 KiB of head), a `400` answer or the connection closed while the
//!   request was being sent, when the head was over that smaller limit.
use hyper::header::{HeaderName, HeaderValue};
use hyper::StatusCode;
use sluice_proto::rspamd::request::{DEFAULT_MAX_HEAD, DEFAULT_MAX_MESSAGE, MAX_HEAD_LINES};

use super::client::ClientError;

/// The head limit of Rspamd's HTTP parser (its `HTTP_MAX_HEADER_SIZE`).
pub const RSPAMD_MAX_HEAD: usize = 80 << 10;

/// What the request line and the fixed headers the client adds take
/// (`POST /checkv2 HTTP/1.1`, `host`, `connection`, `content-length`).
const FIXED_HEAD: usize = 160;
/// Its lines (the request line not counted).
const FIXED_LINES: usize = 3;

/// Bytes of the request head with these headers.
pub fn head_bytes(headers: &[(HeaderName, HeaderValue)]) -> usize {
    FIXED_HEAD
        + headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum::<usize>()
}

/// Why a request with these header lines (the client's own not counted)
/// must not be sent at all: a sluice scanner on its defaults would refuse it.
pub fn over_defaults(head: usize, lines: usize, body: usize) -> Option<String> {
    let max_head = DEFAULT_MAX_HEAD;
    if head > max_head {
        return Some(format!(
            "a request head of {head} bytes, over the scanners' default max_header_size of \
             {max_head}; not sent"
        ));
    }
    let lines = lines + FIXED_LINES;
    if lines > MAX_HEAD_LINES {
        return Some(format!(
            "a request head of {lines} lines, over the {MAX_HEAD_LINES} a scanner takes; not sent"
        ));
    }
    if body > DEFAULT_MAX_MESSAGE {
        return Some(format!(
            "a body of {body} bytes, over the scanners' default max_message of \
             {DEFAULT_MAX_MESSAGE}; not sent"
        ));
    }
    None
}

/// An answer that refuses the request for its size.
pub fn refusal(status: StatusCode, head: usize) -> Option<String> {
    match status.as_u16() {
        413 | 431 => Some(format!("answered {status} to a {head}-byte request head")),
        400 if head > RSPAMD_MAX_HEAD => Some(format!(
            "answered {status} to a {head}-byte request head, over Rspamd's {RSPAMD_MAX_HEAD}"
        )),
        _ => None,
    }
}

/// A connection that broke while a head too large for some scanners was
/// being sent.
pub fn closed_on_large(head: usize, e: &ClientError) -> Option<String> {
    match e {
        ClientError::Http { reason, .. } if head > RSPAMD_MAX_HEAD => Some(format!(
            "closed the connection on a {head}-byte request head ({reason})"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_counts_as_a_size_refusal() {
        let h = |n: &'static str, v: &str| (HeaderName::from_static(n), v.parse().unwrap());
        let one = head_bytes(&[h("rcpt", "<a@example.org>")]);
        assert_eq!(one, FIXED_HEAD + 4 + 15 + 4);
        assert!(over_defaults(1 << 20, 10, 10).is_none());
        assert!(over_defaults((1 << 20) + 1, 10, 10)
            .unwrap()
            .contains("max_header_size"));
        assert!(over_defaults(1000, MAX_HEAD_LINES - FIXED_LINES, 10).is_none());
        assert!(over_defaults(1000, MAX_HEAD_LINES - FIXED_LINES + 1, 10)
            .unwrap()
            .contains("lines"));
        assert!(over_defaults(100, 10, DEFAULT_MAX_MESSAGE + 1).is_some());
        assert!(refusal(StatusCode::from_u16(431).unwrap(), 10).is_some());
        assert!(refusal(StatusCode::PAYLOAD_TOO_LARGE, 10).is_some());
        assert!(
            refusal(StatusCode::BAD_REQUEST, 10).is_none(),
            "a small bad request"
        );
        assert!(refusal(StatusCode::BAD_REQUEST, RSPAMD_MAX_HEAD + 1).is_some());
        assert!(refusal(StatusCode::OK, 1 << 20).is_none());
        let http = ClientError::Http {
            addr: "a".into(),
            reason: "connection reset".into(),
        };
        assert!(closed_on_large(RSPAMD_MAX_HEAD + 1, &http).is_some());
        assert!(closed_on_large(100, &http).is_none());
        let connect = ClientError::Connect {
            addr: "a".into(),
            source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        };
        assert!(closed_on_large(1 << 20, &connect).is_none(), "never sent");
    }
}
