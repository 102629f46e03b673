//! URLs and e-mail addresses found in text and HTML, and the hosts of the
//! links attachments hold (Rspamd's content URLs).
//!
//! One regex pass per text finds both kinds; hosts are what the checkv2
//! reply lists (`urls`), the full URLs are what `{url}` rules match.
use std::sync::OnceLock;

use regex::Regex;

pub use super::url_host::host_of;

/// Bounds per-message work on text stuffed with links.
const MAX_ITEMS: usize = 512;

/// What a message's text parts mention.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Extracted {
    /// Full URLs as written (without trailing punctuation).
    pub urls: Vec<String>,
    /// Hosts of `urls` ([`host_of`]: lower-case, an IPv6 address without
    /// brackets, a Unicode name as written), first-seen order, no duplicates.
    pub hosts: Vec<String>,
    /// Lower-cased addresses (plain and `mailto:`), no duplicates.
    pub emails: Vec<String>,
    /// Lower-cased hosts of the links in attachments' content (PDF link actions), first-seen
    /// order, no duplicates. Kept apart: Rspamd flags them as content URLs, which only the
    /// DNS lists' `content_urls` checks read.
    pub content_hosts: Vec<String>,
}

fn finder() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // ASCII word boundaries: cheaper, and a URL or address starts with ASCII.
        Regex::new(concat!(
            // An IPv6 host is the one place a URL holds brackets.
            r"(?i)(?:(?-u:\b)(?:https?|ftp)://",
            r"(?:\[[0-9a-f:.]+\][^\s<>'\x22()\[\]{}]*|[^\s<>'\x22()\[\]{}]+)",
            r"|(?-u:\b)www\.[a-z0-9-]+(?:\.[a-z0-9-]+)+[^\s<>'\x22()\[\]{}]*",
            r"|(?-u:\b)(?:mailto:)?[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,})"
        ))
        .expect("static URL regex compiles")
    })
}

impl Extracted {
    /// Adds every URL and address found in `text`, exactly the matches of
    /// `finder().find_iter(text)`.
    pub fn scan_text(&mut self, text: &str) {
        for_each_match(text, |found| {
            if self.urls.len() + self.emails.len() >= MAX_ITEMS {
                return false;
            }
            self.add(found);
            true
        });
    }

    /// Adds the host of a link found in an attachment, when it is a URL Rspamd would take:
    /// an http, https, ftp or file URL (or a `www.` name) whose host is an address or ends in
    /// a known public suffix.
    pub fn add_content_url(&mut self, uri: &str) {
        if self.content_hosts.len() >= MAX_ITEMS {
            return;
        }
        let lower = uri.trim().to_ascii_lowercase();
        let scheme_ok = match lower.split_once("://") {
            Some((scheme, _)) => matches!(scheme, "http" | "https" | "ftp" | "file"),
            None => lower.starts_with("www."),
        };
        let Some(host) = scheme_ok.then(|| host_of(&lower)).flatten() else {
            return;
        };
        let bare = host.trim_matches(['[', ']']);
        let known = bare.parse::<std::net::IpAddr>().is_ok()
            || psl::suffix(bare.as_bytes())
                .is_some_and(|s| s.is_known() && s.as_bytes() != bare.as_bytes());
        if known {
            push_unique(&mut self.content_hosts, host);
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

/// Calls `f` with every match of `finder()` in `text`, in order, until it
/// returns false.
///
/// The regex has no literal prefix, so searching the whole text with
/// it walks every byte through its DFA. Every match contains an anchor
/// (`://`, `www.` or `@`) and lies inside one whitespace-free token, so
/// only the token around each anchor is searched, found with `memchr`.
fn for_each_match(text: &str, mut f: impl FnMut(&str) -> bool) {
    let hay = text.as_bytes();
    // Same test as `text.contains(['@', '.'])`, without decoding chars.
    if memchr::memchr2(b'@', b'.', hay).is_none() {
        return;
    }
    // No match starts before `at`.
    let mut at = 0;
    while let Some(anchor) = next_anchor(hay, at) {
        let start = match_start_bound(hay, at, anchor);
        let end = token_end(hay, anchor);
        // Truncating at whitespace changes no match: none contains one.
        match finder().find_at(&text[..end], start) {
            Some(m) => {
                if !f(m.as_str()) {
                    return;
                }
                at = m.end();
            }
            None => at = end,
        }
    }
}

/// Bytes of `text` taken by URLs and addresses, as `scan_text` finds
/// them (a URL without the trailing punctuation it drops), counting at
/// most as many of them as one message keeps.
pub fn mentions_length(text: &str) -> usize {
    let (mut total, mut count) = (0, 0);
    for_each_match(text, |found| {
        let is_url = found.as_bytes().get(..4).is_some_and(|p| {
            p.eq_ignore_ascii_case(b"http")
                || p.eq_ignore_ascii_case(b"ftp:")
                || p.eq_ignore_ascii_case(b"www.")
        });
        total += if is_url {
            found.trim_end_matches(['.', ',', ';', ':', '!', '?']).len()
        } else {
            found.len()
        };
        count += 1;
        count < MAX_ITEMS
    });
    total
}

/// Whether `text` begins with a URL or address, as `scan_text` finds them.
pub fn starts_with_mention(text: &str) -> bool {
    let mut first = false;
    for_each_match(text, |found| {
        first = text.starts_with(found);
        false
    });
    first
}

/// The first anchor at or after `at`: where a `://`, a `www.` (any case)
/// or an `@` begins. Every match of `finder()` contains one.
fn next_anchor(hay: &[u8], at: usize) -> Option<usize> {
    let mut from = at;
    while let Some(i) = memchr::memchr3(b':', b'@', b'.', &hay[from..]).map(|i| from + i) {
        match hay[i] {
            b'@' => return Some(i),
            b':' if hay[i + 1..].starts_with(b"//") => return Some(i),
            b'.' if i >= at + 3 && hay[i - 3..i].eq_ignore_ascii_case(b"www") => {
                return Some(i - 3)
            }
            _ => {}
        }
        from = i + 1;
    }
    None
}

/// Where a match containing `anchor` can start at the earliest (not before
/// `at`): only a scheme, `mailto:` or a local part can come before the
/// anchor. Non-ASCII bytes are taken too, as `(?i)` lets `[a-z]` match
/// `ſ` and the Kelvin sign; stopping at an ASCII byte keeps the offset on
/// a character boundary.
fn match_start_bound(hay: &[u8], at: usize, anchor: usize) -> usize {
    let before = |b: u8| {
        b.is_ascii_alphanumeric()
            || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-' | b':')
            || b >= 0x80
    };
    let run = hay[at..anchor]
        .iter()
        .rev()
        .take_while(|&&b| before(b))
        .count();
    anchor - run
}

/// The end of the whitespace-free token holding `anchor`: no match
/// contains whitespace, so none that starts before it reaches past it.
fn token_end(hay: &[u8], anchor: usize) -> usize {
    hay[anchor..]
        .iter()
        .position(|&b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c'))
        .map_or(hay.len(), |i| anchor + i)
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
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
    fn content_urls_keep_hosts_rspamd_would_parse() {
        let mut e = Extracted::default();
        for uri in [
            "http://www.Spam.co.uk/pdf",
            " https://user@shop.example.com:8443/x ",
            "www.bare.example.org/y",
            "http://192.0.2.7/n",
            "mailto:a@b.example.com",
            "javascript:alert(1)",
            "http://intranet/",
            "http://co.uk/",
            "relative/path.html",
            "http://www.spam.co.uk/again",
        ] {
            e.add_content_url(uri);
        }
        assert_eq!(
            e.content_hosts,
            vec![
                "www.spam.co.uk",
                "shop.example.com",
                "www.bare.example.org",
                "192.0.2.7"
            ]
        );
        assert!(e.hosts.is_empty() && e.urls.is_empty());
    }

    #[test]
    fn plain_text_has_nothing() {
        let mut e = Extracted::default();
        e.scan_text("no links here, just words. and a dot");
        assert_eq!(e, Extracted::default());
    }

    #[test]
    fn ipv6_and_unicode_hosts() {
        let mut e = Extracted::default();
        e.scan_text(
            "v6 http://[2001:db8::1]/a, then http://[2001:DB8::2]:81. and http://Bücher.example/x",
        );
        assert_eq!(
            e.hosts,
            vec!["2001:db8::1", "2001:db8::2", "bücher.example"]
        );
        assert_eq!(e.urls[0], "http://[2001:db8::1]/a");
        assert_eq!(e.urls[1], "http://[2001:DB8::2]:81");
    }

    /// The original whole-text search, which `scan_text` must reproduce.
    fn reference(text: &str) -> Extracted {
        let mut e = Extracted::default();
        for m in finder().find_iter(text) {
            if e.urls.len() + e.emails.len() >= MAX_ITEMS {
                break;
            }
            e.add(m.as_str());
        }
        e
    }

    #[test]
    fn anchored_search_finds_what_the_whole_text_search_does() {
        let pieces = [
            "http", "https", "HTTPS", "ftp", "://", ":", "/", "www", "WwW", ".", "..", "@", "@@",
            "mailto:", "a", "Bob", "x1", "-", "_", "%", "+", "com", "org", "ſ", "\u{212a}", "é",
            " ", "\n", "\t", "\u{a0}", "<", ">", "\"", "'", "(", ")", "[", "]", "{", "}", ",", "!",
            "?", ";", "#", "=", "0", "9", "\u{2003}",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let n = (next() % 40) as usize;
            let text: String = (0..n)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            let mut got = Extracted::default();
            got.scan_text(&text);
            let want = if text.contains(['@', '.']) {
                reference(&text)
            } else {
                Extracted::default()
            };
            assert_eq!(got, want, "{text:?}");
        }
    }
}
