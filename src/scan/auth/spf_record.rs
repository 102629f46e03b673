//! The published SPF record as RFC 7208 reads it before any evaluation: two records are a
//! permerror (4.5), and so is a record that does not follow the grammar of section 12, such as
//! an unknown mechanism or an address that is not one (4.6). mail-auth evaluates the first
//! record and skips the terms it cannot parse, so sluice reads the raw TXT records itself and
//! overrules mail-auth's result where they say permerror. The evaluation stays mail-auth's.

use std::net::{Ipv4Addr, Ipv6Addr};

use mail_auth::SpfResult;

/// Why a record does not follow RFC 7208's grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpfSyntax {
    #[error("unknown mechanism {0:?}")]
    UnknownMechanism(String),
    #[error("bad argument in {0:?}")]
    BadArgument(String),
    #[error("modifier {0:?} given twice")]
    Repeated(String),
}

/// Whether a TXT record is an SPF record: `v=spf1` alone or followed by a space (4.5).
pub fn is_spf(txt: &str) -> bool {
    let Some(head) = txt.get(..6) else {
        return false;
    };
    head.eq_ignore_ascii_case("v=spf1") && matches!(txt.as_bytes().get(6), None | Some(b' '))
}

/// mail-auth's result, or a permerror where the domain's published TXT records are one.
pub fn overrule(result: SpfResult, published: &[String]) -> SpfResult {
    let records: Vec<&String> = published.iter().filter(|t| is_spf(t)).collect();
    match records.as_slice() {
        [one] if check(one).is_err() => SpfResult::PermError,
        [] | [_] => result,
        _ => SpfResult::PermError,
    }
}

/// Checks one SPF record (it starts with `v=spf1`) against the grammar.
pub fn check(record: &str) -> Result<(), SpfSyntax> {
    let mut redirect = false;
    let mut exp = false;
    for term in record[6..].split(' ').filter(|t| !t.is_empty()) {
        match modifier(term) {
            Some((name, value)) => {
                let seen = match name.to_ascii_lowercase().as_str() {
                    "redirect" => Some(&mut redirect),
                    "exp" => Some(&mut exp),
                    _ => None,
                };
                if let Some(seen) = seen {
                    if std::mem::replace(seen, true) {
                        return Err(SpfSyntax::Repeated(name.to_string()));
                    }
                    domain_spec(value).ok_or_else(|| bad(term))?;
                } else {
                    macro_string(value).ok_or_else(|| bad(term))?;
                }
            }
            None => directive(term)?,
        }
    }
    Ok(())
}

fn bad(term: &str) -> SpfSyntax {
    SpfSyntax::BadArgument(term.to_string())
}

/// `name "=" macro-string`, where a name is ALPHA *(ALPHA / DIGIT / "-" / "_" / ".").
fn modifier(term: &str) -> Option<(&str, &str)> {
    let (name, value) = term.split_once('=')?;
    let mut chars = name.chars();
    let first_alpha = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    (first_alpha && rest_ok).then_some((name, value))
}

/// `[qualifier] mechanism` with the arguments that mechanism takes.
fn directive(term: &str) -> Result<(), SpfSyntax> {
    let body = term.strip_prefix(['+', '-', '?', '~']).unwrap_or(term);
    let name_end = body.find([':', '/']).unwrap_or(body.len());
    let (name, args) = body.split_at(name_end);
    let ok = match name.to_ascii_lowercase().as_str() {
        "all" => args.is_empty(),
        "include" | "exists" => args.strip_prefix(':').and_then(domain_spec).is_some(),
        "a" | "mx" => host_and_cidr(args),
        "ptr" => args.is_empty() || args.strip_prefix(':').and_then(domain_spec).is_some(),
        "ip4" => network(args, |a| a.parse::<Ipv4Addr>().is_ok(), 32),
        "ip6" => network(args, |a| a.parse::<Ipv6Addr>().is_ok(), 128),
        _ => return Err(SpfSyntax::UnknownMechanism(term.to_string())),
    };
    ok.then_some(()).ok_or_else(|| bad(term))
}

/// `[":" domain-spec] [dual-cidr-length]` of `a` and `mx`.
fn host_and_cidr(args: &str) -> bool {
    let cidr = match args.strip_prefix(':') {
        Some(rest) => {
            let at = outside_macros(rest, '/').unwrap_or(rest.len());
            if domain_spec(&rest[..at]).is_none() {
                return false;
            }
            &rest[at..]
        }
        None => args,
    };
    dual_cidr(cidr)
}

/// `[ "/" ip4-cidr ] [ "//" ip6-cidr ]`.
fn dual_cidr(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    if let Some(v6) = s.strip_prefix("//") {
        return cidr(v6, 128);
    }
    let Some(rest) = s.strip_prefix('/') else {
        return false;
    };
    match rest.split_once("//") {
        Some((v4, v6)) => cidr(v4, 32) && cidr(v6, 128),
        None => cidr(rest, 32),
    }
}

/// `":" address ["/" length]`.
fn network(args: &str, address: impl Fn(&str) -> bool, max: u8) -> bool {
    let Some(rest) = args.strip_prefix(':') else {
        return false;
    };
    match rest.split_once('/') {
        Some((addr, len)) => address(addr) && cidr(len, max),
        None => address(rest),
    }
}

/// A prefix length: digits without a leading zero, at most `max`.
fn cidr(s: &str, max: u8) -> bool {
    let digits = !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
    digits && (s == "0" || !s.starts_with('0')) && s.parse::<u8>().is_ok_and(|n| n <= max)
}

/// Where `c` first occurs outside a `%{...}` macro.
fn outside_macros(s: &str, c: char) -> Option<usize> {
    let mut in_macro = false;
    for (i, ch) in s.char_indices() {
        match ch {
            '{' if s[..i].ends_with('%') => in_macro = true,
            '}' if in_macro => in_macro = false,
            _ if ch == c && !in_macro => return Some(i),
            _ => {}
        }
    }
    None
}

/// `domain-spec = macro-string domain-end`: not empty, its macros well-formed, and ending in
/// a macro or a top label (a name of letters, digits and hyphens that is not all digits).
fn domain_spec(s: &str) -> Option<()> {
    macro_string(s)?;
    if s.is_empty() {
        return None;
    }
    if s.ends_with('}') || s.ends_with("%%") || s.ends_with("%_") || s.ends_with("%-") {
        return Some(());
    }
    let top = s.trim_end_matches('.').rsplit('.').next()?;
    let alnum_hyphen = top.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let named = !top.starts_with('-') && !top.ends_with('-');
    let not_numeric = top.bytes().any(|b| !b.is_ascii_digit());
    (!top.is_empty() && alnum_hyphen && named && not_numeric).then_some(())
}

/// `macro-string`: visible ASCII, with every `%` starting `%%`, `%_`, `%-` or
/// `%{` letter *DIGIT ["r"] *delimiter `}`.
fn macro_string(s: &str) -> Option<()> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => i += macro_expand(&b[i + 1..])? + 1,
            0x21..=0x7e => i += 1,
            _ => return None,
        }
    }
    Some(())
}

/// The length of one macro after its `%`.
fn macro_expand(b: &[u8]) -> Option<usize> {
    match b.first()? {
        b'%' | b'_' | b'-' => Some(1),
        b'{' => {
            let end = b.iter().position(|&c| c == b'}')?;
            let inner = &b[1..end];
            let (letter, rest) = inner.split_first()?;
            let letter_ok = b"slodiphcrtv".contains(&letter.to_ascii_lowercase());
            let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
            let rest = &rest[digits..];
            let rest = rest
                .strip_prefix(b"r")
                .or(rest.strip_prefix(b"R"))
                .unwrap_or(rest);
            let delims_ok = rest.iter().all(|c| b".-+,/_=".contains(c));
            (letter_ok && delims_ok).then_some(end + 1)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_records_pass() {
        for r in [
            "v=spf1 -all",
            "v=spf1",
            "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx/24 a:mail.example.org//64 ~all",
            "v=spf1 include:_spf.example.org exists:%{i}.%{l1r-}.example.org ?all",
            "v=spf1 ptr ptr:example.org redirect=example.org",
            "v=spf1 a:%{d} exp=explain.%{d} future-mod=x  -all ",
            "V=SPF1 IP4:192.0.2.1 -ALL",
        ] {
            assert_eq!(check(r), Ok(()), "{r}");
        }
    }

    #[test]
    fn syntax_errors_are_found() {
        for r in [
            "v=spf1 ip4:192.0.2.300 -all",
            "v=spf1 frobnicate:192.0.2.0 -all",
            "v=spf1 include: -all",
            "v=spf1 ip4:192.0.2.0/33 -all",
            "v=spf1 ip6:2001:db8::/129",
            "v=spf1 a/024",
            "v=spf1 all:example.org",
            "v=spf1 include:%{x}.example.org",
            "v=spf1 redirect=a.example.org redirect=b.example.org",
            "v=spf1 exists:example.123",
            "v=spf1 ip4",
        ] {
            assert!(check(r).is_err(), "{r}");
        }
        assert_eq!(
            check("v=spf1 frobnicate:x -all"),
            Err(SpfSyntax::UnknownMechanism("frobnicate:x".into()))
        );
    }

    #[test]
    fn only_v_spf1_records_count() {
        assert!(is_spf("v=spf1 -all"));
        assert!(is_spf("v=spf1"));
        assert!(!is_spf("v=spf10 -all"));
        assert!(!is_spf("google-site-verification=abc"));
        assert!(!is_spf("v=DMARC1; p=none"));
    }

    #[test]
    fn two_records_or_a_malformed_one_overrule_the_result() {
        let pass = SpfResult::Pass;
        let txt = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(overrule(pass, &txt(&["v=spf1 +all", "other"])), pass);
        assert_eq!(
            overrule(pass, &txt(&["v=spf1 +all", "v=spf1 -all"])),
            SpfResult::PermError
        );
        assert_eq!(
            overrule(SpfResult::Fail, &txt(&["v=spf1 bogus -all"])),
            SpfResult::PermError
        );
        assert_eq!(overrule(SpfResult::None, &txt(&["x"])), SpfResult::None);
    }
}
