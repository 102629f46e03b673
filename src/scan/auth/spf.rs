//! SPF (RFC 7208) as Rspamd's `spf` module reports it: the MAIL FROM identity, or the HELO
//! identity for the null sender, checked for the client address; one of `R_SPF_*`.
//!
//! Rspamd puts the matched mechanism in the option (`+ip4:192.0.2.0/24`); mail-auth does not
//! say which mechanism matched, so sluice's option is the checked domain. The domain's raw TXT
//! records are fetched beside mail-auth's evaluation: two SPF records or a malformed one make
//! the result a permerror ([`spf_record`](super::spf_record)).

use std::net::IpAddr;

use mail_auth::spf::verify::SpfParameters;
use mail_auth::SpfResult;

use super::hit::Hit;
use super::spf_record;
use crate::dns::{Budget, Resolver};

/// What SPF found, for DMARC's alignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfVerdict {
    /// `None`: the check did not finish within the DNS budget.
    pub result: Option<SpfResult>,
    /// The domain checked (MAIL FROM's, or HELO's for the null sender).
    pub domain: String,
}

/// The identity SPF checks: the domain of MAIL FROM, or the HELO name for the null sender.
/// `None` when there is neither.
pub fn identity<'a>(from: Option<&'a str>, helo: Option<&'a str>) -> Option<(&'a str, bool)> {
    let from = from
        .map(|f| f.trim().trim_start_matches('<').trim_end_matches('>'))
        .filter(|f| !f.is_empty());
    match from.and_then(|f| f.rsplit_once('@')) {
        Some((_, domain)) if !domain.is_empty() => Some((domain, false)),
        _ => helo
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(|h| (h, true)),
    }
}

/// Runs the check. `sender` is MAIL FROM as given (maybe empty for the null sender).
pub async fn check(
    resolver: &Resolver,
    ip: IpAddr,
    sender: Option<&str>,
    helo: Option<&str>,
    host: &str,
    budget: &Budget,
) -> SpfVerdict {
    let Some((domain, is_helo)) = identity(sender, helo) else {
        return SpfVerdict {
            result: Some(SpfResult::None),
            domain: String::new(),
        };
    };
    let helo_name = helo.unwrap_or(domain);
    let params = if is_helo {
        SpfParameters::verify_ehlo(ip, domain, host)
    } else {
        let sender = sender.unwrap_or_default().trim();
        let sender = sender.trim_start_matches('<').trim_end_matches('>');
        SpfParameters::verify_mail_from(ip, helo_name, host, sender)
    };
    let (output, published) = tokio::join!(
        resolver
            .authenticator()
            .check_host(resolver.auth_cache().with(params)),
        resolver.txt(domain, budget),
    );
    // Without the raw records (no such name, a DNS failure) mail-auth's result stands.
    let published = published.unwrap_or_default();
    SpfVerdict {
        result: Some(spf_record::overrule(output.result(), &published)),
        domain: domain.to_ascii_lowercase(),
    }
}

/// Rspamd's symbol for an SPF result; a check cut short by the budget is a DNS failure.
pub fn hit(v: &SpfVerdict) -> Hit {
    let symbol = match v.result {
        Some(SpfResult::Pass) => "R_SPF_ALLOW",
        Some(SpfResult::Fail) => "R_SPF_FAIL",
        Some(SpfResult::SoftFail) => "R_SPF_SOFTFAIL",
        Some(SpfResult::Neutral) => "R_SPF_NEUTRAL",
        Some(SpfResult::TempError) | None => "R_SPF_DNSFAIL",
        Some(SpfResult::PermError) => "R_SPF_PERMFAIL",
        Some(SpfResult::None) => "R_SPF_NA",
    };
    if v.domain.is_empty() {
        Hit::new(symbol)
    } else {
        Hit::with(symbol, v.domain.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_null_sender_is_checked_by_its_helo_name() {
        assert_eq!(
            identity(Some("a@Example.org"), Some("mx.test")),
            Some(("Example.org", false))
        );
        assert_eq!(
            identity(Some("<>"), Some("mx.test")),
            Some(("mx.test", true))
        );
        assert_eq!(identity(Some(""), Some("mx.test")), Some(("mx.test", true)));
        assert_eq!(identity(None, None), None);
    }

    #[test]
    fn results_map_to_rspamd_symbols() {
        let v = |r| SpfVerdict {
            result: r,
            domain: "example.org".into(),
        };
        assert_eq!(hit(&v(Some(SpfResult::Pass))).symbol, "R_SPF_ALLOW");
        assert_eq!(hit(&v(Some(SpfResult::PermError))).symbol, "R_SPF_PERMFAIL");
        assert_eq!(hit(&v(None)).symbol, "R_SPF_DNSFAIL");
        assert_eq!(hit(&v(Some(SpfResult::None))).options, vec!["example.org"]);
    }
}
