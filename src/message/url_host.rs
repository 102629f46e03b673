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
pub fn host_of(url: &str) -> Option<String> {
    let url = url.trim();
    let full: Cow<'_, str> = if url.contains("://") {
        Cow::Borrowed(url)
    } else {
        Cow::Owned(format!("http://{url}"))
    };
    let written = authority_host(&full);
    // `http:///x`: no host written (the URL rules would take `x`).
    if written.is_empty() {
        return None;
    }
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
