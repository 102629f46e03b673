//! Small text helpers the modules share: addresses, domains, host names.
use std::net::IpAddr;

pub use crate::message::domain::registrable;

/// The address inside `Name <addr>` (or the bare value), lower-cased.
pub fn addr_of(value: &str) -> Option<String> {
    let v = match (value.rfind('<'), value.rfind('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value,
    };
    let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
    v.contains('@').then(|| v.to_ascii_lowercase())
}

/// The display name of `Name <addr>`, unquoted; `None` when there is none.
pub fn display_name(value: &str) -> Option<&str> {
    let lt = value.rfind('<')?;
    let name = value[..lt].trim().trim_matches('"').trim();
    (!name.is_empty()).then_some(name)
}

/// Domain part of an address, lower-cased.
pub fn domain_of(addr: &str) -> Option<&str> {
    addr.rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('.'))
        .filter(|d| !d.is_empty())
}

/// An IP literal, with or without `[...]` brackets.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_start_matches('[').trim_end_matches(']');
    let s = s.strip_prefix("IPv6:").unwrap_or(s);
    s.parse().ok()
}

/// A syntactically valid fully qualified host name: at least two labels of
/// letters, digits and hyphens, and an alphabetic top-level label.
pub fn is_fqdn(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    let mut labels = 0;
    for label in host.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return false;
        }
        labels += 1;
    }
    let tld = host.rsplit('.').next().unwrap_or("");
    labels >= 2 && tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-')
}

/// Host names that look assigned to dial-up, DSL or cable pools: the
/// address's octets in the name, or the pool words providers use.
pub fn looks_dynamic(host: &str) -> bool {
    let h = host.to_ascii_lowercase();
    let first = h.split('.').next().unwrap_or("");
    const WORDS: &[&str] = &[
        "dynamic",
        "dyn",
        "dsl",
        "adsl",
        "dhcp",
        "pool",
        "ppp",
        "cable",
        "dialup",
        "dial-up",
        "broadband",
        "customer",
        "client",
        "user",
        "host",
        "static",
        "cpe",
        "ip",
    ];
    let digit_groups = first
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty() && g.len() <= 3)
        .count();
    if digit_groups >= 3 {
        return true;
    }
    let word_hit = h
        .split(|c: char| !c.is_ascii_alphabetic())
        .take(3)
        .any(|w| WORDS.contains(&w));
    word_hit && h.bytes().filter(u8::is_ascii_digit).count() >= 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_names() {
        assert_eq!(addr_of("Bob <Bob@Ex.org>").as_deref(), Some("bob@ex.org"));
        assert_eq!(addr_of("bob@ex.org").as_deref(), Some("bob@ex.org"));
        assert_eq!(addr_of("Bob"), None);
        assert_eq!(display_name("\"Bob B\" <b@x.y>"), Some("Bob B"));
        assert_eq!(display_name("<b@x.y>"), None);
        assert_eq!(domain_of("a@b.c"), Some("b.c"));
    }

    #[test]
    fn host_name_shapes() {
        assert!(is_fqdn("mail.example.org"));
        assert!(!is_fqdn("localhost"));
        assert!(!is_fqdn("mail.example.123"));
        assert!(!is_fqdn("bad_-.x"));
        assert!(looks_dynamic("1-2-3-4.dsl.provider.net"));
        assert!(looks_dynamic("dhcp-17-120.pool.isp.example"));
        assert!(!looks_dynamic("mail.example.org"));
        assert!(!looks_dynamic("smtp2.example.org"));
    }
}
