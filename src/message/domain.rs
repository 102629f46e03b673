//! Domains of host names by the Public Suffix List: what the modules
//! compare (`From` against `Reply-To`, a link's text against its target),
//! what DMARC aligns on and what Bayes keeps of a relay's name; and the
//! ASCII form of an internationalized name, which DNS asks.
use std::borrow::Cow;
use std::net::IpAddr;

/// The registrable domain of a host by the Public Suffix List (its ICANN
/// and private sections, as Rspamd reads `effective_tld_names.dat`):
/// `a.github.io` and `b.github.io` are two domains, `x.example.co.uk` is
/// `example.co.uk`. An IP literal, a bare suffix or a single label is its
/// own registrable domain. Case-insensitive; the result is a slice of
/// `host`, without a trailing dot.
pub fn registrable(host: &str) -> &str {
    let host = host.trim_end_matches('.');
    if is_ip_literal(host) {
        return host;
    }
    listed_domain(host).unwrap_or(host)
}

/// The registrable domain the Public Suffix List finds in a host name;
/// `None` for a bare suffix (`co.uk`) or a single label. Case-insensitive;
/// the result is a slice of `host`.
pub fn listed_domain(host: &str) -> Option<&str> {
    let host = host.trim_end_matches('.');
    let len = if host.bytes().any(|b| b.is_ascii_uppercase()) {
        // The list matches lower-case labels only.
        psl::domain(host.to_ascii_lowercase().as_bytes()).map(|d| d.as_bytes().len())
    } else {
        psl::domain(host.as_bytes()).map(|d| d.as_bytes().len())
    }?;
    host.get(host.len() - len..)
}

/// The name DNS asks for a host: itself when ASCII, else its IDNA ASCII
/// (punycode) form, as Rspamd's resolver converts names; `None` when a
/// Unicode name has no valid ASCII form.
pub fn ascii_name(host: &str) -> Option<Cow<'_, str>> {
    if host.is_ascii() {
        return Some(Cow::Borrowed(host));
    }
    idna::domain_to_ascii(host).ok().map(Cow::Owned)
}

/// `192.0.2.1`, `[2001:db8::1]`, `[IPv6:2001:db8::1]`.
fn is_ip_literal(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    let h = h.strip_prefix("IPv6:").unwrap_or(h);
    h.parse::<IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrable_domains() {
        assert_eq!(registrable("www.shop.example.com"), "example.com");
        assert_eq!(registrable("a.b.example.co.uk"), "example.co.uk");
        assert_eq!(registrable("example.com"), "example.com");
        assert_eq!(registrable("localhost"), "localhost");
        assert_eq!(registrable("10.1.2.3"), "10.1.2.3");
        assert_eq!(registrable("WWW.Shop.Example.CO.UK."), "Example.CO.UK");
        assert_eq!(registrable("co.uk"), "co.uk");
        assert_eq!(listed_domain("co.uk"), None);
        assert_eq!(listed_domain("localhost"), None);
        assert_eq!(listed_domain("mx.Example.Org."), Some("Example.Org"));
    }

    #[test]
    fn unicode_names_are_asked_in_punycode() {
        assert_eq!(ascii_name("example.org").as_deref(), Some("example.org"));
        assert_eq!(
            ascii_name("bücher.example").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(
            ascii_name("пример.рф").as_deref(),
            Some("xn--e1afmkfd.xn--p1ai")
        );
    }

    #[test]
    fn registrable_domains_follow_the_public_suffix_list() {
        // github.io is in the list's private section: each user's pages
        // are a domain of their own.
        assert_eq!(registrable("a.github.io"), "a.github.io");
        assert_eq!(registrable("www.a.github.io"), "a.github.io");
        assert_ne!(registrable("a.github.io"), registrable("b.github.io"));
        assert_eq!(registrable("x.y.example.com.au"), "example.com.au");
        assert_eq!(
            registrable("shop.example.pvt.k12.ma.us"),
            "example.pvt.k12.ma.us"
        );
    }
}
