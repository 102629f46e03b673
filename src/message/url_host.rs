//! The host of a URL, by the WHATWG URL rules (the `url` crate) rather
//! than by cutting at `/` and `:`: an IPv6 literal keeps its colons, a
//! percent-encoded or upper-case host is normalized, userinfo with `@` or
//! `:` in it is skipped, and an internationalized name is read as Rspamd
//! reads it.
//!
//! Rspamd keeps a URL's host as it was written, lower-cased: a Unicode
//! name stays Unicode in its URL list and rules, and only its DNS
//! resolver turns names into their ASCII (punycode) form. The `url` crate
//! gives the ASCII form; a host written in Unicode is turned back into
//! Unicode here, and [`super::domain::ascii_name`] gives the form DNS asks.
use std::borrow::Cow;

use url::{Host, Url};

/// `scheme://user@Host.Example:80/path` -> `host.example`; a URL without a
/// scheme (`www.example.com/x`) is read as `http://`. `http://[2001:db8::1]/`
/// -> `2001:db8::1`. `None` when there is no host or it is malformed.
///
/// Runs for every link of every message: a host of plain ASCII name
/// characters, which the URL rules would only lower-case, is taken as
/// written; anything else goes through the `url` crate.
pub fn host_of(url: &str) -> Option<String> {
    let url = url.trim();
    let written = authority_host(url);
    // `http:///x`: no host written (the URL rules would take `x`).
    if written.is_empty() {
        return None;
    }
    if is_plain_name(written) {
        let host = written.trim_end_matches('.');
        return (!host.is_empty()).then(|| host.to_ascii_lowercase());
    }
    parsed_host(url, written)
}

/// The host by the URL rules, for what [`is_plain_name`] leaves out.
fn parsed_host(url: &str, written: &str) -> Option<String> {
    let full: Cow<'_, str> = if url.contains("://") {
        Cow::Borrowed(url)
    } else {
        Cow::Owned(format!("http://{url}"))
    };
    let host = match Url::parse(&full) {
        Ok(parsed) => host_text(parsed.host()?),
        // A URL the standard refuses for what follows its host (a port
        // out of range, say) still names that host.
        Err(_) => host_text(Host::parse(written).ok()?),
    };
    let host = host.trim_end_matches('.');
    if host.is_empty() {
        return None;
    }
    Some(if written.is_ascii() || !host.contains("xn--") {
        host.to_ascii_lowercase()
    } else {
        idna::domain_to_unicode(host).0
    })
}

/// A host the URL rules would only lower-case: letters, digits, `-`, `_`
/// and dots, no punycode label to validate, and not ending in a number
/// (which the rules read as an IPv4 address, `0x7f.1` included).
fn is_plain_name(host: &str) -> bool {
    let name_bytes = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    let punycode = host
        .as_bytes()
        .windows(4)
        .any(|w| w.eq_ignore_ascii_case(b"xn--"));
    if !name_bytes || punycode {
        return false;
    }
    let trimmed = host.strip_suffix('.').unwrap_or(host);
    let last = trimmed.rsplit('.').next().unwrap_or("");
    let hex = last
        .strip_prefix("0x")
        .or_else(|| last.strip_prefix("0X"))
        .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    let decimal = !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit());
    !(hex || decimal)
}

/// A parsed host as text; an IPv6 address without its brackets.
fn host_text<S: AsRef<str>>(host: Host<S>) -> String {
    match host {
        Host::Domain(d) => d.as_ref().to_ascii_lowercase(),
        Host::Ipv4(a) => a.to_string(),
        Host::Ipv6(a) => a.to_string(),
    }
}

/// The host part of `scheme://authority/...` as written (brackets kept).
fn authority_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host_port.strip_prefix('[') {
        Some(v6) => v6
            .split_once(']')
            .map_or(host_port, |(a, _)| &host_port[..a.len() + 2]),
        None => host_port.split(':').next().unwrap_or(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_hosts_ports_and_userinfo() {
        assert_eq!(host_of("http://a.b/").as_deref(), Some("a.b"));
        assert_eq!(
            host_of("https://User@Shop.Example.com:8080/a?b=1").as_deref(),
            Some("shop.example.com")
        );
        assert_eq!(
            host_of("http://u:p@ss@evil.example/").as_deref(),
            Some("evil.example")
        );
        assert_eq!(host_of("http:///x"), None);
        assert_eq!(host_of("www.x.y.").as_deref(), Some("www.x.y"));
        assert_eq!(host_of("www.x.y/path").as_deref(), Some("www.x.y"));
        assert_eq!(
            host_of("http://%77%77%77.example.com/").as_deref(),
            Some("www.example.com")
        );
        assert_eq!(
            host_of("HTTP://EXAMPLE.ORG").as_deref(),
            Some("example.org")
        );
    }

    #[test]
    fn ip_literals() {
        assert_eq!(
            host_of("http://[2001:db8::1]/").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            host_of("http://[2001:DB8:0::1]:8080/x").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            host_of("http://192.0.2.1:80/").as_deref(),
            Some("192.0.2.1")
        );
        // The numeric forms browsers accept are the address they reach.
        assert_eq!(host_of("http://0xc0.0.2.1/").as_deref(), Some("192.0.2.1"));
    }

    #[test]
    fn internationalized_names_stay_as_written() {
        // Unicode as written, lower-cased: what Rspamd lists and matches.
        assert_eq!(
            host_of("http://Bücher.example/").as_deref(),
            Some("bücher.example")
        );
        // Punycode as written stays punycode.
        assert_eq!(
            host_of("http://xn--bcher-kva.example/").as_deref(),
            Some("xn--bcher-kva.example")
        );
    }

    /// The shortcut for plain names gives what the URL rules give.
    #[test]
    fn plain_names_match_the_url_rules() {
        let pieces = [
            "a", "B", "z", "0", "9", "-", "_", ".", "..", "xn--", "XN--", "0x", "0X1f", "1", "255",
            "ex", "com", "www", "%41", "ü", "@", ":", "[", "]", "/",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut plain = 0;
        for _ in 0..20_000 {
            let n = 1 + (next() % 8) as usize;
            let host: String = (0..n)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            let url = format!("http://{host}/p");
            let written = authority_host(&url);
            if written.is_empty() || !is_plain_name(written) {
                continue;
            }
            plain += 1;
            assert_eq!(host_of(&url), parsed_host(&url, written), "{url}");
        }
        assert!(plain > 1000, "{plain}");
        for numeric in [
            "http://1.2.3.4/",
            "http://x.0x1f/",
            "http://a.255./",
            "http://0x/",
        ] {
            assert!(!is_plain_name(authority_host(numeric)), "{numeric}");
        }
    }

    #[test]
    fn a_bad_port_still_names_the_host() {
        assert_eq!(
            host_of("http://Example.com:99999/").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            host_of("http://[2001:db8::2]:x/").as_deref(),
            Some("2001:db8::2")
        );
    }
}
