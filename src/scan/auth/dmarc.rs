//! DMARC (RFC 7489) as Rspamd 3.4's `dmarc` module evaluates it: the policy of the From
//! domain, else of its organizational domain (from the Public Suffix List, as Rspamd does,
//! not mail-auth's DNS tree walk of DMARCbis), then SPF and DKIM alignment (relaxed: same
//! organizational domain; strict: same domain) from the results the other checks found.
//!
//! Symbols: `DMARC_POLICY_ALLOW` (options: domain, policy), `DMARC_POLICY_REJECT`,
//! `DMARC_POLICY_QUARANTINE` and `DMARC_POLICY_SOFTFAIL` (`p=none`) for a failed policy
//! (options: `domain : reasons`, policy), `DMARC_DNSFAIL` when an aligned check failed for DNS
//! or the record could not be fetched, `DMARC_NA` without a usable From or record,
//! `DMARC_BAD_POLICY` for a record that does not parse or for two records.
//!
//! The `_dmarc` TXT records are fetched raw through the shared resolver, as mail-auth reads only
//! the first record and drops `pct=`: sluice counts the records and samples by `pct=` as Rspamd
//! does (a failed reject policy sampled out is a quarantine, a failed quarantine policy a
//! softfail, both with the option `sampled_out`).

use std::sync::Arc;

use mail_auth::common::parse::TxtRecordParser;
use mail_auth::dmarc::{Alignment, Dmarc, Policy};
use mail_auth::{AuthenticatedMessage, DnsError, Error, SpfResult};

use super::dkim::{Outcome, Signature};
use super::hit::Hit;
use super::spf::SpfVerdict;
use crate::dns::{Budget, DnsError as LookupError, Resolver};

/// The result: its symbol, and the policy that failed (for the configured `actions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmarcVerdict {
    pub hit: Hit,
    /// Rspamd's `DMARC_POLICY_ALLOW_WITH_FAILURES`, beside an allow that a failed check
    /// did not stop.
    pub also: Option<Hit>,
    pub failed: Option<Policy>,
}

impl DmarcVerdict {
    pub fn of(hit: Hit) -> Self {
        DmarcVerdict {
            hit,
            also: None,
            failed: None,
        }
    }
}

/// The author domain: the one address of the From header, or why there is none.
pub fn author_domain(message: &AuthenticatedMessage<'_>) -> Result<String, &'static str> {
    match message.from.as_slice() {
        [] => Err("No From header"),
        [one] => match one.rsplit_once('@') {
            Some((_, d)) if !d.is_empty() => Ok(d.trim_end_matches('.').to_ascii_lowercase()),
            _ => Err("No domain in From header"),
        },
        _ => Err("Duplicate From header"),
    }
}

/// The organizational domain of `domain` by the Public Suffix List; the domain itself when
/// the list knows no registrable part (a bare suffix, a single label).
pub fn org_domain(domain: &str) -> String {
    crate::message::domain::registrable(domain).to_string()
}

/// A published record and its `pct=` (mail-auth's record has none).
#[derive(Debug, Clone)]
pub struct Published {
    pub record: Arc<Dmarc>,
    pub pct: Option<u32>,
}

enum Lookup {
    Found(Published),
    /// No record (NXDOMAIN, no TXT, no `v=DMARC1`): try the organizational domain.
    Missing,
    /// Fatal for the message: a temporary failure or a record that does not parse.
    Fatal(Hit),
}

async fn lookup(resolver: &Resolver, domain: &str, budget: &Budget) -> Lookup {
    let name = format!("_dmarc.{domain}");
    match resolver.txt(&name, budget).await {
        Ok(texts) => published(domain, &texts),
        Err(LookupError::NxDomain { .. } | LookupError::NoData { .. })
        | Err(LookupError::BadName { .. }) => Lookup::Missing,
        Err(e) => Lookup::Fatal(Hit::with("DMARC_DNSFAIL", format!("{domain} : {e}"))),
    }
}

/// Rspamd's reading of a name's TXT records: those that are not DMARC records are ignored, a
/// DMARC record that does not parse is a bad policy, and so are two DMARC records.
fn published(domain: &str, texts: &[String]) -> Lookup {
    let mut found = Vec::new();
    for text in texts {
        match Dmarc::parse(text.as_bytes()) {
            Ok(record) => match with_policy(Arc::new(record)) {
                Some(record) => found.push(Published {
                    record,
                    pct: pct(text),
                }),
                None => return bad(domain, "no policy (p=) in the record"),
            },
            Err(Error::Dns(DnsError::InvalidRecordType)) => {}
            Err(e) => return bad(domain, &e.to_string()),
        }
    }
    match found.len() {
        0 => Lookup::Missing,
        1 => Lookup::Found(found.remove(0)),
        _ => bad(domain, "Multiple policies defined in DNS"),
    }
}

fn bad(domain: &str, why: &str) -> Lookup {
    Lookup::Fatal(Hit::with("DMARC_BAD_POLICY", format!("{domain} : {why}")))
}

/// The `pct=` tag as Rspamd reads it: a number, or no sampling when it is not one.
fn pct(text: &str) -> Option<u32> {
    text.split(';')
        .filter_map(|tag| tag.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("pct"))
        .and_then(|(_, v)| v.trim().parse().ok())
}

/// The record with a policy, or `None` when it has none. RFC 7489 6.6.3: without a valid
/// `p=` but with a valid `rua=`, the policy is none.
fn with_policy(record: Arc<Dmarc>) -> Option<Arc<Dmarc>> {
    if record.p != Policy::Unspecified {
        return Some(record);
    }
    if record.rua.is_empty() {
        return None;
    }
    let mut none = (*record).clone();
    none.p = Policy::None;
    if none.sp == Policy::Unspecified {
        none.sp = Policy::None;
    }
    Some(Arc::new(none))
}

/// Runs the check on what SPF and DKIM found.
pub async fn check(
    resolver: &Resolver,
    message: &AuthenticatedMessage<'_>,
    spf: &SpfVerdict,
    dkim: &[Signature],
    budget: &Budget,
) -> DmarcVerdict {
    let from = match author_domain(message) {
        Ok(d) => d,
        Err(why) => return DmarcVerdict::of(Hit::with("DMARC_NA", why)),
    };
    let org = org_domain(&from);
    let (found, at_org) = match lookup(resolver, &from, budget).await {
        Lookup::Found(r) => (r, false),
        Lookup::Fatal(hit) => return DmarcVerdict::of(hit),
        Lookup::Missing if org == from => return DmarcVerdict::of(Hit::with("DMARC_NA", from)),
        Lookup::Missing => match lookup(resolver, &org, budget).await {
            Lookup::Found(r) => (r, true),
            Lookup::Fatal(hit) => return DmarcVerdict::of(hit),
            Lookup::Missing => return DmarcVerdict::of(Hit::with("DMARC_NA", from)),
        },
    };
    let record = &found.record;
    let policy = if at_org { record.sp } else { record.p };
    let domain = if at_org { org.clone() } else { from.clone() };
    evaluate(&Evaluation {
        from: &from,
        org: &org,
        domain: &domain,
        record,
        policy,
        pct: found.pct,
        coin: fastrand::u32(1..=100),
        spf,
        dkim,
    })
}

/// The inputs of one evaluation.
pub struct Evaluation<'a> {
    pub from: &'a str,
    pub org: &'a str,
    /// Where the record was found (the From domain or its organizational domain).
    pub domain: &'a str,
    pub record: &'a Dmarc,
    pub policy: Policy,
    /// The record's `pct=`, and Rspamd's coin (1 to 100): a failed policy applies when the
    /// coin is at most `pct`.
    pub pct: Option<u32>,
    pub coin: u32,
    pub spf: &'a SpfVerdict,
    pub dkim: &'a [Signature],
}

fn aligned(e: &Evaluation<'_>, domain: &str, mode: Alignment) -> bool {
    if mode == Alignment::Strict {
        domain.eq_ignore_ascii_case(e.from)
    } else {
        org_domain(&domain.to_ascii_lowercase()) == e.org
    }
}

/// Rspamd's decision: pass if an aligned SPF or DKIM passed; else a DNS failure if an
/// aligned one failed temporarily; else the policy's symbol.
pub fn evaluate(e: &Evaluation<'_>) -> DmarcVerdict {
    let mut reasons: Vec<&str> = Vec::new();
    let spf_aligned = aligned(e, &e.spf.domain, e.record.aspf);
    let spf_ok = e.spf.result == Some(SpfResult::Pass) && spf_aligned;
    let spf_tmp = matches!(e.spf.result, Some(SpfResult::TempError) | None) && spf_aligned;
    if e.spf.result == Some(SpfResult::Pass) && !spf_ok {
        reasons.push(strictness(e.record.aspf, "SPF"));
    } else if !spf_ok {
        reasons.push("No valid SPF");
    }
    let mut dkim_ok = false;
    let mut dkim_tmp = false;
    let mut dkim_violated = None;
    for s in e.dkim.iter().filter(|s| !s.domain.is_empty()) {
        let is_aligned = aligned(e, &s.domain, e.record.adkim);
        match s.outcome {
            Outcome::Allow if is_aligned => dkim_ok = true,
            Outcome::Allow => dkim_violated = Some(strictness(e.record.adkim, "DKIM")),
            Outcome::TempFail if is_aligned => dkim_tmp = true,
            _ => {}
        }
    }
    if e.dkim.is_empty() {
        reasons.push("No valid DKIM");
    } else if let (false, Some(v)) = (dkim_ok, dkim_violated) {
        reasons.push(v);
    }
    let policy_name = policy_name(e.policy);
    if spf_ok || dkim_ok {
        // A check that ran and did not pass aligned (no signature at all is not a failure).
        let spf_failed = !spf_ok
            && !matches!(
                e.spf.result,
                None | Some(SpfResult::None | SpfResult::TempError)
            );
        let dkim_failed = !dkim_ok && !e.dkim.is_empty();
        let also = (spf_failed || dkim_failed).then(|| Hit {
            symbol: "DMARC_POLICY_ALLOW_WITH_FAILURES",
            options: vec![
                format!("{} : {}", e.domain, reasons.join(", ")),
                policy_name.to_string(),
            ],
        });
        return DmarcVerdict {
            hit: Hit {
                symbol: "DMARC_POLICY_ALLOW",
                options: vec![e.domain.to_string(), policy_name.to_string()],
            },
            also,
            failed: None,
        };
    }
    if spf_tmp || dkim_tmp {
        return DmarcVerdict::of(Hit {
            symbol: "DMARC_DNSFAIL",
            options: vec![
                format!("{} : SPF/DKIM temp error", e.domain),
                policy_name.to_string(),
            ],
        });
    }
    let reason = format!("{} : {}", e.domain, reasons.join(", "));
    let mut options = vec![reason, policy_name.to_string()];
    let sampled_out = matches!(e.policy, Policy::Reject | Policy::Quarantine)
        && e.pct.is_some_and(|pct| e.coin > pct);
    let applied = match (e.policy, sampled_out) {
        (Policy::Reject, true) => Policy::Quarantine,
        (Policy::Quarantine, true) => Policy::None,
        (p, _) => p,
    };
    if sampled_out {
        options.push("sampled_out".to_string());
    }
    let symbol = match applied {
        Policy::Reject => "DMARC_POLICY_REJECT",
        Policy::Quarantine => "DMARC_POLICY_QUARANTINE",
        Policy::None | Policy::Unspecified => "DMARC_POLICY_SOFTFAIL",
    };
    DmarcVerdict {
        hit: Hit { symbol, options },
        also: None,
        failed: Some(applied),
    }
}

fn strictness(mode: Alignment, what: &'static str) -> &'static str {
    match (mode, what) {
        (Alignment::Strict, "SPF") => "SPF not aligned (strict)",
        (_, "SPF") => "SPF not aligned (relaxed)",
        (Alignment::Strict, _) => "DKIM not aligned (strict)",
        _ => "DKIM not aligned (relaxed)",
    }
}

fn policy_name(p: Policy) -> &'static str {
    match p {
        Policy::Reject => "reject",
        Policy::Quarantine => "quarantine",
        Policy::None | Policy::Unspecified => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(text: &str) -> Dmarc {
        Dmarc::parse(text.as_bytes()).unwrap()
    }

    fn spf(result: SpfResult, domain: &str) -> SpfVerdict {
        SpfVerdict {
            result: Some(result),
            domain: domain.into(),
        }
    }

    fn sig(domain: &str, outcome: Outcome) -> Signature {
        Signature {
            domain: domain.into(),
            selector: "s".into(),
            outcome,
        }
    }

    fn eval(rec: &str, spf: &SpfVerdict, dkim: &[Signature]) -> DmarcVerdict {
        let r = record(rec);
        evaluate(&Evaluation {
            from: "news.example.co.uk",
            org: &org_domain("news.example.co.uk"),
            domain: "news.example.co.uk",
            policy: r.p,
            record: &r,
            pct: pct(rec),
            coin: 100,
            spf,
            dkim,
        })
    }

    #[test]
    fn an_allow_beside_a_failed_check_also_says_with_failures() {
        let dkim = [sig("example.co.uk", Outcome::Allow)];
        let v = eval("v=DMARC1; p=reject", &spf(SpfResult::Fail, "x.test"), &dkim);
        assert_eq!(v.hit.symbol, "DMARC_POLICY_ALLOW");
        let also = v.also.expect("with failures");
        assert_eq!(also.symbol, "DMARC_POLICY_ALLOW_WITH_FAILURES");
        assert!(also.options[0].contains("No valid SPF"), "{also:?}");
        // An aligned SPF pass and no signature at all: nothing failed.
        let aligned = spf(SpfResult::Pass, "example.co.uk");
        assert!(eval("v=DMARC1; p=reject", &aligned, &[]).also.is_none());
        // A signature that does not pass is a failure beside that pass.
        let bad = [sig("example.co.uk", Outcome::Reject)];
        assert!(eval("v=DMARC1; p=reject", &aligned, &bad).also.is_some());
    }

    #[test]
    fn a_record_without_p_is_none_with_rua_and_bad_without() {
        let rua = with_policy(Arc::new(record("v=DMARC1; rua=mailto:r@example.org")));
        assert_eq!(rua.map(|r| (r.p, r.sp)), Some((Policy::None, Policy::None)));
        assert!(with_policy(Arc::new(record("v=DMARC1; adkim=s"))).is_none());
        let p = with_policy(Arc::new(record("v=DMARC1; p=reject"))).unwrap();
        assert_eq!(p.p, Policy::Reject);
    }

    #[test]
    fn the_organizational_domain_comes_from_the_public_suffix_list() {
        assert_eq!(org_domain("news.example.co.uk"), "example.co.uk");
        assert_eq!(org_domain("a.b.example.org"), "example.org");
        assert_eq!(org_domain("example.org"), "example.org");
    }

    #[test]
    fn relaxed_alignment_accepts_the_same_organizational_domain() {
        let v = eval(
            "v=DMARC1; p=reject",
            &spf(SpfResult::Pass, "bounce.example.co.uk"),
            &[],
        );
        assert_eq!(v.hit.symbol, "DMARC_POLICY_ALLOW");
        assert_eq!(v.hit.options, vec!["news.example.co.uk", "reject"]);
        // Another registrable domain under the same suffix does not align.
        let v = eval(
            "v=DMARC1; p=reject",
            &spf(SpfResult::Pass, "other.co.uk"),
            &[],
        );
        assert_eq!(v.hit.symbol, "DMARC_POLICY_REJECT");
        assert_eq!(v.failed, Some(Policy::Reject));
    }

    #[test]
    fn strict_alignment_needs_the_exact_domain() {
        let dkim = [sig("example.co.uk", Outcome::Allow)];
        let none = spf(SpfResult::None, "");
        let v = eval("v=DMARC1; p=quarantine; adkim=s", &none, &dkim);
        assert_eq!(v.hit.symbol, "DMARC_POLICY_QUARANTINE");
        assert!(
            v.hit.options[0].contains("DKIM not aligned (strict)"),
            "{v:?}"
        );
        let v = eval("v=DMARC1; p=quarantine", &none, &dkim);
        assert_eq!(v.hit.symbol, "DMARC_POLICY_ALLOW");
    }

    #[test]
    fn an_aligned_temporary_failure_is_a_dns_failure_and_p_none_a_softfail() {
        let dkim = [sig("example.co.uk", Outcome::TempFail)];
        let none = spf(SpfResult::None, "");
        assert_eq!(
            eval("v=DMARC1; p=reject", &none, &dkim).hit.symbol,
            "DMARC_DNSFAIL"
        );
        assert_eq!(
            eval("v=DMARC1; p=none", &none, &[]).hit.symbol,
            "DMARC_POLICY_SOFTFAIL"
        );
    }

    #[test]
    fn pct_samples_a_failed_policy_down_as_rspamd_does() {
        let fail = spf(SpfResult::Fail, "x.test");
        let v = eval("v=DMARC1; p=reject; pct=0", &fail, &[]);
        assert_eq!(v.hit.symbol, "DMARC_POLICY_QUARANTINE");
        assert_eq!(v.hit.options[1..], ["reject", "sampled_out"]);
        assert_eq!(v.failed, Some(Policy::Quarantine));
        let v = eval("v=DMARC1; p=quarantine; pct=50", &fail, &[]);
        assert_eq!(v.hit.symbol, "DMARC_POLICY_SOFTFAIL");
        assert_eq!(v.failed, Some(Policy::None));
        // The coin (100 here) at most pct: the policy applies, without the option.
        let v = eval("v=DMARC1; p=reject; pct=100", &fail, &[]);
        assert_eq!(v.hit.symbol, "DMARC_POLICY_REJECT");
        assert_eq!(v.hit.options.len(), 2);
        // A pct that is not a number does not sample, as Rspamd's tonumber() gives nil.
        let v = eval("v=DMARC1; p=reject; pct=lots", &fail, &[]);
        assert_eq!(v.hit.symbol, "DMARC_POLICY_REJECT");
        assert_eq!(pct("v=DMARC1; p=reject; PCT = 20 "), Some(20));
    }

    #[test]
    fn two_records_are_a_bad_policy_and_other_txt_records_are_ignored() {
        let texts = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let two = published(
            "d.test",
            &texts(&["v=DMARC1; p=none", "v=DMARC1; p=reject"]),
        );
        let Lookup::Fatal(hit) = two else {
            panic!("two records must be fatal")
        };
        assert_eq!(hit.symbol, "DMARC_BAD_POLICY");
        assert_eq!(hit.options, ["d.test : Multiple policies defined in DNS"]);
        let one = published(
            "d.test",
            &texts(&["site-verification=x", "v=DMARC1; p=reject"]),
        );
        assert!(matches!(one, Lookup::Found(p) if p.record.p == Policy::Reject));
        assert!(matches!(
            published("d.test", &texts(&["x"])),
            Lookup::Missing
        ));
        let bad = published("d.test", &texts(&["v=DMARC1; p=frobnicate"]));
        assert!(matches!(bad, Lookup::Fatal(h) if h.symbol == "DMARC_BAD_POLICY"));
    }
}
