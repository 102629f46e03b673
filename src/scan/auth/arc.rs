//! ARC (RFC 8617) as Rspamd's `arc` module reports it: `ARC_ALLOW` for a chain that validates,
//! `ARC_REJECT` for a seal or message signature that does not verify, `ARC_INVALID` for a chain
//! whose structure is broken (instances, `cv=`, unparsable headers), `ARC_DNSFAIL` for a
//! temporary DNS failure, `ARC_NA` without ARC headers. As in Rspamd, ARC is checked for local
//! and authenticated mail too.

use mail_auth::arc::ArcError;
use mail_auth::{AuthenticatedMessage, DkimResult, Error, Parameters};

use super::hit::Hit;
use crate::dns::Resolver;

pub async fn check(resolver: &Resolver, message: &AuthenticatedMessage<'_>) -> Hit {
    let output = resolver
        .authenticator()
        .verify_arc(Parameters::new(message).with_cache(resolver.auth_cache()))
        .await;
    if let DkimResult::TempError(e) = output.result() {
        super::dkim::count_failure(resolver, e);
    }
    // mail-auth reads a chain by its message signatures: seals without any are no chain to
    // it, and an invalid one to Rspamd.
    if *output.result() == DkimResult::None && present(message) {
        return Hit::with("ARC_INVALID", "invalid count of seals and signatures");
    }
    let symbol = symbol(output.result());
    // Rspamd's option for a valid chain: the newest seal's `domain:s=selector:i=instance`.
    match output.chain().last() {
        Some(link) if symbol == "ARC_ALLOW" => {
            let seal = link.seal.header;
            Hit::with(symbol, format!("{}:s={}:i={}", seal.d, seal.s, seal.i))
        }
        _ => Hit::new(symbol),
    }
}

/// Whether the message has ARC headers at all (what the budget's fallback needs).
pub fn present(message: &AuthenticatedMessage<'_>) -> bool {
    !message.arc_seals().is_empty()
        || !message.arc_message_signatures().is_empty()
        || message.has_arc_errors()
}

fn symbol(r: &DkimResult) -> &'static str {
    match r {
        DkimResult::Pass => "ARC_ALLOW",
        DkimResult::None => "ARC_NA",
        DkimResult::TempError(_) => "ARC_DNSFAIL",
        DkimResult::Fail(Error::Arc(e)) | DkimResult::Neutral(Error::Arc(e)) => match e {
            ArcError::BodyHashMismatch | ArcError::SignatureExpired => "ARC_REJECT",
            _ => "ARC_INVALID",
        },
        DkimResult::Neutral(_) => "ARC_INVALID",
        DkimResult::Fail(_) | DkimResult::PermError(_) => "ARC_REJECT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_structure_is_invalid_and_a_bad_signature_rejected() {
        let broken = DkimResult::Fail(Error::Arc(ArcError::BrokenChain));
        assert_eq!(symbol(&broken), "ARC_INVALID");
        let cv = DkimResult::Fail(Error::Arc(ArcError::InvalidChainValidation));
        assert_eq!(symbol(&cv), "ARC_INVALID");
        assert_eq!(symbol(&DkimResult::Fail(Error::Parse)), "ARC_REJECT");
        assert_eq!(
            symbol(&DkimResult::Neutral(Error::Arc(ArcError::BodyHashMismatch))),
            "ARC_REJECT"
        );
        assert_eq!(symbol(&DkimResult::None), "ARC_NA");
    }
}
