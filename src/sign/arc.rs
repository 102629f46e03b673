//! One ARC set (RFC 8617) for relayed mail: `ARC-Seal`,
//! `ARC-Message-Signature` and `ARC-Authentication-Results`, added at the
//! top through the milter as Rspamd's arc module does.
//!
//! Only a message without an ARC chain is sealed (instance 1, `cv=none`):
//! the `cv` of a later instance states whether the incoming chain
//! validated, which takes DNS lookups this side does not make.
use mail_auth::arc::ArcSealer;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::Canonicalization;
use mail_auth::{ArcOutput, AuthenticatedMessage, AuthenticationResults};

use super::dkim::{header_list, header_value};
use super::error::SignError;
use super::key::SharedKey;
use crate::verdict::AddHeader;

/// What the seal covers.
pub struct Sealing<'a> {
    pub parsed: &'a AuthenticatedMessage<'a>,
    /// Header names of the message, in order.
    pub names: &'a [&'a [u8]],
    /// The `authserv-id` of the new `ARC-Authentication-Results`.
    pub authserv_id: &'a str,
}

/// The three headers to insert at the top, in insertion order (each at
/// index 0, so the seal ends up first).
#[derive(Debug, Clone, PartialEq)]
pub struct SealedHeaders {
    pub instance: u32,
    pub headers: Vec<AddHeader>,
}

/// Seals `msg`; `Ok(None)` when it already has an ARC chain.
pub fn seal(
    key: SharedKey,
    domain: &str,
    selector: &str,
    sign_headers: &str,
    msg: &Sealing<'_>,
) -> Result<Option<SealedHeaders>, SignError> {
    if !msg.parsed.as_headers.is_empty() || !msg.parsed.ams_headers.is_empty() {
        return Ok(None);
    }
    // This host's own checks are not wired into the seal yet: the results
    // say `none`, which a validator reads as "no checks reported".
    let results = AuthenticationResults::new(msg.authserv_id);
    let set = ArcSealer::from_key(key)
        .domain(domain)
        .selector(selector)
        .headers(header_list(sign_headers, msg.names))
        .header_canonicalization(Canonicalization::Relaxed)
        .body_canonicalization(Canonicalization::Relaxed)
        .seal(msg.parsed, &results, &ArcOutput::default())
        .map_err(|e| SignError::Crypto(e.to_string()))?;
    let instance = set.seal.i;
    let mut headers = split_headers(&set.to_header());
    // Written seal first; inserted at the top one by one, last goes first.
    headers.reverse();
    Ok(Some(SealedHeaders { instance, headers }))
}

/// `Name: value\r\n` blocks (folded lines start with whitespace) as headers
/// to insert at index 0.
fn split_headers(written: &str) -> Vec<AddHeader> {
    let mut out: Vec<String> = Vec::new();
    for line in written.split_inclusive("\r\n") {
        match out.last_mut() {
            Some(cur) if line.starts_with([' ', '\t']) => cur.push_str(line),
            _ => out.push(line.to_string()),
        }
    }
    out.into_iter()
        .filter_map(|h| {
            let (name, _) = h.split_once(':')?;
            let name = name.trim().to_string();
            let value = header_value(&h, &format!("{name}:"));
            Some(AddHeader {
                name,
                value,
                order: 0,
            })
        })
        .collect()
}
