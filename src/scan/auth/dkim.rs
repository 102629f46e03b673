//! DKIM (RFC 6376) as Rspamd's `dkim` module reports it: every signature verified, each
//! result one of `R_DKIM_ALLOW` (`+`), `R_DKIM_REJECT` (`-`), `R_DKIM_TEMPFAIL` (`?`),
//! `R_DKIM_PERMFAIL` (`~`) with `domain:s=selector` in its options, and every signature's
//! `domain:result` in `DKIM_TRACE`'s (what DMARC reads); `R_DKIM_NA` without a signature.

use mail_auth::dkim::{Canonicalization, DkimError};
use mail_auth::{AuthenticatedMessage, DkimOutput, DkimResult, Error};

use super::hit::Hit;
use crate::dns::{Budget, Resolver};

/// One signature's outcome, as Rspamd's trace letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allow,
    Reject,
    TempFail,
    PermFail,
}

impl Outcome {
    pub fn symbol(self) -> &'static str {
        match self {
            Outcome::Allow => "R_DKIM_ALLOW",
            Outcome::Reject => "R_DKIM_REJECT",
            Outcome::TempFail => "R_DKIM_TEMPFAIL",
            Outcome::PermFail => "R_DKIM_PERMFAIL",
        }
    }

    pub fn letter(self) -> char {
        match self {
            Outcome::Allow => '+',
            Outcome::Reject => '-',
            Outcome::TempFail => '?',
            Outcome::PermFail => '~',
        }
    }
}

/// One verified signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// `d=`, lowercased; empty when the header could not be read.
    pub domain: String,
    pub selector: String,
    pub outcome: Outcome,
}

/// Every signature of the message; `None` when the check did not finish within the budget.
pub async fn check(
    resolver: &Resolver,
    message: &AuthenticatedMessage<'_>,
    budget: &Budget,
) -> Vec<Signature> {
    let outputs = verify(resolver, message).await;
    for o in &outputs {
        if let DkimResult::TempError(e) = o.result() {
            count_failure(resolver, e);
        }
    }
    let mut out: Vec<(Signature, bool)> = outputs
        .iter()
        .filter_map(|o| Some((signature(o)?, relaxed_body_mismatch(o))))
        .collect();
    if out.iter().any(|(_, mismatch)| *mismatch) {
        retry_trimmed(resolver, message, &mut out).await;
    }
    for ((s, _), o) in out
        .iter_mut()
        .zip(outputs.iter().filter(|o| signature(o).is_some()))
    {
        if let Some(rsa) = bad_signature(o) {
            if !super::dkim_key::usable(resolver, &s.domain, &s.selector, rsa, budget).await {
                s.outcome = Outcome::PermFail;
            }
        }
    }
    let mut out: Vec<Signature> = out.into_iter().map(|(s, _)| s).collect();
    // Headers that do not parse at all give no output; Rspamd counts each as a permanent
    // failure of an unknown signer.
    if out.is_empty() && message.has_dkim_errors {
        out.push(Signature {
            domain: String::new(),
            selector: String::new(),
            outcome: Outcome::PermFail,
        });
    }
    out
}

async fn verify<'x>(
    resolver: &'x Resolver,
    message: &'x AuthenticatedMessage<'x>,
) -> Vec<DkimOutput<'x>> {
    resolver
        .authenticator()
        .verify_dkim(resolver.auth_cache().with(message))
        .await
}

/// For a signature that failed its cryptographic check (a bad signature, a key ring cannot
/// read, a key of the other kind): whether it is an RSA one.
fn bad_signature(o: &DkimOutput<'_>) -> Option<bool> {
    let DkimResult::Fail(Error::Crypto(_)) = o.result() else {
        return None;
    };
    o.signature().map(|s| {
        matches!(
            s.a,
            mail_auth::common::crypto::Algorithm::RsaSha256
                | mail_auth::common::crypto::Algorithm::RsaSha1
        )
    })
}

/// Whether a relaxed-body signature failed on its body hash.
fn relaxed_body_mismatch(o: &DkimOutput<'_>) -> bool {
    matches!(
        o.result(),
        DkimResult::Neutral(Error::Dkim(DkimError::FailedBodyHashMatch))
    ) && o
        .signature()
        .is_some_and(|s| s.cb == Canonicalization::Relaxed)
}

/// mail-auth's relaxed body canonicalization keeps the line breaks before a whitespace-only
/// line that ends the body, where RFC 6376 3.4.4 drops them, so such a body never matches a
/// relaxed body hash (Rspamd and dkimpy match it). The message without those lines has the
/// same relaxed canonical body: the relaxed-body signatures that failed on their body hash
/// take their result from it. Simple-body signatures keep theirs (the lines count there).
async fn retry_trimmed(
    resolver: &Resolver,
    message: &AuthenticatedMessage<'_>,
    first: &mut [(Signature, bool)],
) {
    let Some(raw) = without_trailing_blank_lines(message.raw_message, message.body_offset as usize)
    else {
        return;
    };
    let Some(copy) = AuthenticatedMessage::parse(&raw) else {
        return;
    };
    let again: Vec<Option<Signature>> = verify(resolver, &copy)
        .await
        .iter()
        .map(signature)
        .collect();
    let again: Vec<Signature> = again.into_iter().flatten().collect();
    if again.len() != first.len() {
        return;
    }
    for ((s, mismatch), retried) in first.iter_mut().zip(again) {
        if *mismatch && s.domain == retried.domain && s.selector == retried.selector {
            s.outcome = retried.outcome;
        }
    }
}

/// `raw` cut after the last body line that holds more than whitespace, when the lines cut
/// include a space or a tab (blank lines alone mail-auth canonicalizes right).
fn without_trailing_blank_lines(raw: &[u8], body_offset: usize) -> Option<Vec<u8>> {
    let body = raw.get(body_offset..)?;
    let keep = match body
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    {
        Some(last) => last + 2 + body[last + 1..].iter().position(|&b| b == b'\n')?,
        None => 0,
    };
    body[keep..]
        .iter()
        .any(|b| matches!(b, b' ' | b'\t'))
        .then(|| raw[..body_offset + keep].to_vec())
}

/// A resolver failure mail-auth reports (negative answers are counted by the cache).
pub fn count_failure(resolver: &Resolver, e: &Error) {
    if let Error::Dns(mail_auth::DnsError::Resolver(message)) = e {
        resolver
            .metrics()
            .failure(crate::dns::FailureKind::of_message(message));
    }
}

/// Whether the message carries a `DKIM-Signature` at all (what the budget's fallback needs).
pub fn signed(message: &AuthenticatedMessage<'_>) -> bool {
    !message.dkim_headers.is_empty() || message.has_dkim_errors
}

fn signature(o: &DkimOutput<'_>) -> Option<Signature> {
    let outcome = outcome(o.result())?;
    let (domain, selector) = o
        .signature()
        .map(|s| (s.d.to_ascii_lowercase(), s.s.clone()))
        .unwrap_or_default();
    Some(Signature {
        domain,
        selector,
        outcome,
    })
}

/// Rspamd's reading of a verification result: a body that does not match its hash is a
/// rejected signature, as a bad cryptographic signature is; an unusable signature or key is a
/// permanent failure.
fn outcome(r: &DkimResult) -> Option<Outcome> {
    Some(match r {
        DkimResult::Pass => Outcome::Allow,
        DkimResult::Fail(_) => Outcome::Reject,
        DkimResult::Neutral(Error::Dkim(DkimError::FailedBodyHashMatch)) => Outcome::Reject,
        DkimResult::Neutral(_) | DkimResult::PermError(_) => Outcome::PermFail,
        DkimResult::TempError(_) => Outcome::TempFail,
        DkimResult::None => return None,
    })
}

/// The symbols for the signatures found; `R_DKIM_NA` for none.
pub fn hits(signatures: &[Signature]) -> Vec<Hit> {
    if signatures.is_empty() {
        return vec![Hit::new("R_DKIM_NA")];
    }
    let mut out: Vec<Hit> = Vec::new();
    let mut trace = Hit::new("DKIM_TRACE");
    for s in signatures {
        let symbol = s.outcome.symbol();
        let option = if s.domain.is_empty() {
            None
        } else {
            trace
                .options
                .push(format!("{}:{}", s.domain, s.outcome.letter()));
            Some(format!("{}:s={}", s.domain, s.selector))
        };
        match out.iter_mut().find(|h| h.symbol == symbol) {
            Some(h) => h.options.extend(option),
            None => out.push(Hit {
                symbol,
                options: option.into_iter().collect(),
            }),
        }
    }
    if !trace.options.is_empty() {
        out.push(trace);
    }
    out
}

/// The signatures of a message whose check the budget cut short: each a temporary failure.
pub fn timed_out(message: &AuthenticatedMessage<'_>) -> Vec<Signature> {
    let mut out: Vec<Signature> = message
        .dkim_headers
        .iter()
        .map(|h| Signature {
            domain: h.header.d.to_ascii_lowercase(),
            selector: h.header.s.clone(),
            outcome: Outcome::TempFail,
        })
        .collect();
    if out.is_empty() && message.has_dkim_errors {
        out.push(Signature {
            domain: String::new(),
            selector: String::new(),
            outcome: Outcome::PermFail,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(domain: &str, outcome: Outcome) -> Signature {
        Signature {
            domain: domain.into(),
            selector: "sel".into(),
            outcome,
        }
    }

    #[test]
    fn each_signature_lands_in_its_symbol_and_the_trace() {
        let hits = hits(&[
            sig("a.test", Outcome::Allow),
            sig("b.test", Outcome::Reject),
            sig("c.test", Outcome::Allow),
        ]);
        assert_eq!(hits[0].symbol, "R_DKIM_ALLOW");
        assert_eq!(hits[0].options, vec!["a.test:s=sel", "c.test:s=sel"]);
        assert_eq!(hits[1].symbol, "R_DKIM_REJECT");
        assert_eq!(hits[2].symbol, "DKIM_TRACE");
        assert_eq!(hits[2].options, vec!["a.test:+", "b.test:-", "c.test:+"]);
    }

    #[test]
    fn no_signature_is_na() {
        assert_eq!(hits(&[]), vec![Hit::new("R_DKIM_NA")]);
    }

    #[test]
    fn only_trailing_lines_with_whitespace_are_cut() {
        let cut = |m: &str| {
            let at = m.find("\r\n\r\n").unwrap() + 4;
            without_trailing_blank_lines(m.as_bytes(), at).map(|v| String::from_utf8(v).unwrap())
        };
        let head = "A: b\r\n\r\n";
        assert_eq!(
            cut(&format!("{head}Hi\r\n    \r\n\r\n")),
            Some(format!("{head}Hi\r\n"))
        );
        assert_eq!(
            cut(&format!("{head}Hi \r\n\t\r\n")),
            Some(format!("{head}Hi \r\n"))
        );
        assert_eq!(cut(&format!("{head} \r\n\r\n")), Some(head.to_string()));
        // Nothing to cut, or only blank lines (canonicalized right already).
        assert_eq!(cut(&format!("{head}Hi\r\n")), None);
        assert_eq!(cut(&format!("{head}Hi\r\n\r\n\r\n")), None);
        assert_eq!(cut(&format!("{head}Hi  ")), None);
        assert_eq!(cut(&format!("{head}  \r\nHi\r\n")), None);
    }

    #[test]
    fn a_body_hash_mismatch_rejects() {
        let r = DkimResult::Neutral(Error::Dkim(DkimError::FailedBodyHashMatch));
        assert_eq!(outcome(&r), Some(Outcome::Reject));
        let r = DkimResult::Neutral(Error::Dkim(DkimError::SignatureExpired));
        assert_eq!(outcome(&r), Some(Outcome::PermFail));
    }
}
