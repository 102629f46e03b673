//! URLs and e-mail addresses found in text and HTML.
//!
//! One regex pass per text finds both kinds; hosts are what the checkv2
//! reply lists (`urls`), the full URLs are what `{url}` rules match.
use std::sync::OnceLock;

use regex::Regex;

/// Bounds per-message work on text stuffed with links.
const MAX_ITEMS: usize = 512;

/// What a message's text parts mention.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Extracted {
    /// Full URLs as written (without trailing punctuation).
    pub urls: Vec<String>,
    /// Lower-cased host names of `urls`, first-seen order, no duplicates.
    pub hosts: Vec<String>,
    /// Lower-cased addresses (plain and `mailto:`), no duplicates.
    pub emails: Vec<String>,
}

fn finder() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // ASCII word boundaries: cheaper, and hosts/addresses we report are ASCII.
        Regex::new(concat!(
            r"(?i)(?:(?-u:\b)(?:https?|ftp)://[^\s<>'\x22()\[\]{}]+",
            r"|(?-u:\b)www\.[a-z0-9-]+(?:\.[a-z0-9-]+)+[^\s<>'\x22()\[\]{}]*",
            r"|(?-u:\b)(?:mailto:)?[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,})"
        ))
        .expect("static URL regex compiles")
    })
}

impl Extracted {
    /// Adds every URL and address found in `text`.
    pub fn scan_text(&mut self, text: &str) {
        if !text.contains(['@', '.']) {
            return;
        }
        for m in finder().find_iter(text) {
            if self.urls.len() + self.emails.len() >= MAX_ITEMS {
                return;
            }
            self.add(m.as_str());
        }
    }

    fn add(&mut self, found: &str) {
        let lower = found.to_ascii_lowercase();
        if let Some(addr) = lower.strip_prefix("mailto:") {
            push_unique(&mut self.emails, addr.to_string());
        } else if lower.starts_with("http") || lower.starts_with("ftp") || lower.starts_with("www.")
        {
            let url = found.trim_end_matches(['.', ',', ';', ':', '!', '?']);
            if let Some(host) = host_of(url) {
                push_unique(&mut self.hosts, host);
            }
            self.urls.push(url.to_string());
        } else {
            push_unique(&mut self.emails, lower);
        }
    }
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

/// `scheme://user@Host.Example:80/path` -> `host.example`.
pub fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host_port.split(':').next()?.trim_end_matches('.');
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_urls_hosts_and_addresses() {
        let mut e = Extracted::default();
        e.scan_text("See https://User@Shop.Example.com:8080/a?b=1, or www.test.org/x. Mail Bob@Example.org!");
        e.scan_text(
            "<a href=\"http://shop.example.com/\">x</a> <a href=\"mailto:info@corp.example\">m</a>",
        );
        assert_eq!(e.hosts, vec!["shop.example.com", "www.test.org"]);
        assert_eq!(e.urls[0], "https://User@Shop.Example.com:8080/a?b=1");
        assert_eq!(e.urls[1], "www.test.org/x");
        assert_eq!(e.emails, vec!["bob@example.org", "info@corp.example"]);
    }

    #[test]
    fn plain_text_has_nothing() {
        let mut e = Extracted::default();
        e.scan_text("no links here, just words. and a dot");
        assert_eq!(e, Extracted::default());
    }

    #[test]
    fn host_of_edge_cases() {
        assert_eq!(host_of("http://a.b/"), Some("a.b".into()));
        assert_eq!(host_of("http:///x"), None);
        assert_eq!(host_of("www.x.y."), Some("www.x.y".into()));
    }
}
