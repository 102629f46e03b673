//! One ARC set (RFC 8617) for relayed mail: `ARC-Seal`,
//! `ARC-Message-Signature` and `ARC-Authentication-Results`, added at the
//! top through the milter as Rspamd's arc module does.
//!
//! A message without an ARC chain gets instance 1 (`cv=none`). A message with one gets
//! instance i+1, its `cv=` what the auth phase's ARC check found (Rspamd's rule: `pass` after
//! `ARC_ALLOW`, `fail` after `ARC_REJECT` or `ARC_DNSFAIL`). A chain the check did not
//! validate (the check did not run), a broken one (`ARC_INVALID`, sets that do not pair up)
//! and one already sealed `cv=fail` are not sealed again.
use mail_auth::arc::{ArcError, ArcSealer, ChainValidation, Set};
use mail_auth::common::headers::{Header, HeaderWriter};
use mail_auth::dkim::Canonicalization;
use mail_auth::{ArcOutput, AuthenticatedMessage, AuthenticationResults, DkimResult, Error};

use super::dkim::{header_list, header_value};
use super::error::SignError;
use super::key::SharedKey;
use crate::verdict::AddHeader;

/// What the auth phase's ARC check found of the message's chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chain {
    /// `ARC_ALLOW`: the chain validated.
    Pass,
    /// `ARC_REJECT` or `ARC_DNSFAIL`: it did not.
    Fail,
    /// `ARC_INVALID`: the chain is broken (Rspamd does not seal it).
    Broken,
    /// No check ran, or it found no chain.
    Unchecked,
}

impl Chain {
    /// The check's result from the verdict's symbols.
    pub fn of(symbols: &[crate::verdict::Symbol]) -> Chain {
        let has = |n: &str| symbols.iter().any(|s| s.name == n);
        if has("ARC_ALLOW") {
            Chain::Pass
        } else if has("ARC_REJECT") || has("ARC_DNSFAIL") {
            Chain::Fail
        } else if has("ARC_INVALID") {
            Chain::Broken
        } else {
            Chain::Unchecked
        }
    }
}

/// What the seal covers.
pub struct Sealing<'a> {
    pub parsed: &'a AuthenticatedMessage<'a>,
    /// Header names of the message, in order.
    pub names: &'a [&'a [u8]],
    /// The `authserv-id` of the new `ARC-Authentication-Results`.
    pub authserv_id: &'a str,
    /// The incoming chain's validation.
    pub chain: Chain,
}

/// The three headers to insert at the top, in insertion order (each at
/// index 0, so the seal ends up first).
#[derive(Debug, Clone, PartialEq)]
pub struct SealedHeaders {
    pub instance: u32,
    pub headers: Vec<AddHeader>,
}

/// Seals `msg`; `Ok(None)` when its ARC chain is not to be sealed.
pub fn seal(
    key: SharedKey,
    domain: &str,
    selector: &str,
    sign_headers: &str,
    msg: &Sealing<'_>,
) -> Result<Option<SealedHeaders>, SignError> {
    let Some(incoming) = incoming(msg) else {
        return Ok(None);
    };
    // This host's own checks are not wired into the seal yet: the results
    // say `none`, which a validator reads as "no checks reported".
    let results = AuthenticationResults::new(msg.authserv_id);
    let set = ArcSealer::from_key(key)
        .domain(domain)
        .selector(selector)
        .headers(header_list(sign_headers, msg.names))
        .header_canonicalization(Canonicalization::Relaxed)
        .body_canonicalization(Canonicalization::Relaxed)
        .seal(msg.parsed, &results, &incoming)
        .map_err(|e| SignError::Crypto(e.to_string()))?;
    let instance = set.seal.i;
    let mut headers = split_headers(&set.to_header());
    // Written seal first; inserted at the top one by one, last goes first.
    headers.reverse();
    Ok(Some(SealedHeaders { instance, headers }))
}

/// The incoming chain as mail-auth's sealer takes it (its sets and their validation), or
/// `None` when it is not to be sealed.
fn incoming<'x>(msg: &Sealing<'x>) -> Option<ArcOutput<'x>> {
    let m = msg.parsed;
    let n = m.as_headers.len();
    if n == 0 && m.ams_headers.is_empty() && m.aar_headers.is_empty() {
        return Some(ArcOutput::default());
    }
    let result = match msg.chain {
        Chain::Pass => DkimResult::Pass,
        Chain::Fail => DkimResult::Fail(Error::Arc(ArcError::BrokenChain)),
        Chain::Broken | Chain::Unchecked => return None,
    };
    if m.has_arc_errors || m.ams_headers.len() != n || m.aar_headers.len() != n {
        return None;
    }
    let mut out = ArcOutput::default().with_result(result);
    let sets = m.as_headers.iter().zip(&m.ams_headers).zip(&m.aar_headers);
    for (pos, ((seal, sig), res)) in sets.enumerate() {
        let i = pos as u32 + 1;
        if seal.header.i != i || sig.header.i != i || res.header.i != i {
            return None;
        }
        out = out.with_set(Set {
            signature: Header::new(sig.name, sig.value, &sig.header),
            seal: Header::new(seal.name, seal.value, &seal.header),
            results: Header::new(res.name, res.value, &res.header),
        });
    }
    let last_failed = m.as_headers.last().map(|h| &h.header.cv) == Some(&ChainValidation::Fail);
    (!last_failed && out.can_be_sealed()).then_some(out)
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
