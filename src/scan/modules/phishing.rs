//! Links whose visible text names one site while the link goes to another:
//! `<a href="http://evil.example/">www.bank.example</a>`.
use std::collections::HashSet;

use serde_json::Value;

use super::util::{is_fqdn, parse_ip, registrable};
use super::{sym, Hit, Module, SymbolDef};
use crate::message::domain::ascii_name;
use crate::message::extract::host_of;
use crate::message::markup::{text_between, Tag};
use crate::message::Envelope;
use crate::message::MessageView;
use crate::scan::error::ScanConfigError;

static SYMBOLS: &[SymbolDef] = &[
    sym(
        "PHISHING",
        "Link text shows a different domain than the link target",
    ),
    sym(
        "PHISHED_IP_TEXT",
        "Link text shows a domain, the target is a bare IP address",
    ),
];

/// Anchors checked per part.
const MAX_LINKS: usize = 256;

/// The `phishing` module.
#[derive(Debug, Default)]
pub struct Phishing {
    /// Rspamd's `domains`: when set, `PHISHING` is only reported for links
    /// whose text shows one of these registrable domains.
    domains: Option<HashSet<String>>,
}

impl Phishing {
    /// `phishing { domains = [...]; }`: inline domains and map files (a path,
    /// `file://PATH`); remote maps are refused, sluice fetches nothing.
    pub fn from_config(section: Option<&Value>) -> Result<Phishing, ScanConfigError> {
        let Some(v) = section.and_then(|s| s.get("domains")) else {
            return Ok(Phishing::default());
        };
        let items: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            one => vec![one],
        };
        let mut domains = HashSet::new();
        for item in items {
            let entry = item
                .as_str()
                .ok_or_else(|| bad(format!("expected a domain or a map file, got {item}")))?;
            read_entry(entry.trim(), &mut domains)?;
        }
        Ok(Phishing {
            domains: Some(domains),
        })
    }

    fn watched(&self, shown: &str) -> bool {
        self.domains
            .as_ref()
            .is_none_or(|d| d.contains(registrable(shown)))
    }
}

fn bad(message: String) -> ScanConfigError {
    ScanConfigError::Shape {
        section: "phishing.domains".into(),
        source: serde::de::Error::custom(message),
    }
}

/// One `domains` entry: a domain, or a file of domains (one a line, `#`
/// comments).
fn read_entry(entry: &str, out: &mut HashSet<String>) -> Result<(), ScanConfigError> {
    let entry = entry.strip_prefix("fallback+").unwrap_or(entry);
    if entry.starts_with("http://") || entry.starts_with("https://") {
        return Err(bad(format!("`{entry}`: remote maps are not supported")));
    }
    let Some(path) = entry
        .strip_prefix("file://")
        .or(entry.starts_with('/').then_some(entry))
    else {
        out.insert(registrable(&entry.to_ascii_lowercase()).to_string());
        return Ok(());
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("{path}: {e}")))?;
    for line in text.lines() {
        let d = line.split('#').next().unwrap_or("").trim();
        if let Some(d) = d.split_whitespace().next() {
            out.insert(registrable(&d.to_ascii_lowercase()).to_string());
        }
    }
    Ok(())
}

impl Module for Phishing {
    fn name(&self) -> &str {
        "phishing"
    }

    fn symbols(&self) -> &'static [SymbolDef] {
        SYMBOLS
    }

    fn check(&self, view: &MessageView, _env: &Envelope, out: &mut Vec<Hit>) {
        let before = out.len();
        for p in &view.text_parts {
            if let Some(html) = p.html {
                check_html(html, &p.tags, out);
            }
        }
        if self.domains.is_some() {
            let mine = out.split_off(before);
            out.extend(
                mine.into_iter()
                    .filter(|h| h.symbol != "PHISHING" || self.watched(shown_of(h))),
            );
        }
    }
}

fn check_html(html: &str, tags: &[Tag<'_>], out: &mut Vec<Hit>) {
    let mut open: Option<(String, usize)> = None;
    let mut seen = 0;
    for tag in tags {
        if tag.name != "a" {
            continue;
        }
        if tag.closing {
            if let Some((target, from)) = open.take() {
                compare(&target, &text_between(html, from, tag.start), out);
                seen += 1;
                if seen >= MAX_LINKS {
                    return;
                }
            }
        } else {
            open = tag
                .attr("href")
                .filter(|h| is_web(h))
                .and_then(host_of)
                .map(|h| (h, tag.end));
        }
    }
}

/// Compared as bytes: a prefix cut by length may end inside a character.
fn is_web(href: &str) -> bool {
    let h = href.trim_start().as_bytes();
    h.len() > 7
        && (h[..7].eq_ignore_ascii_case(b"http://")
            || h.get(..8)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"https://")))
}

/// The host the visible text names, if the text is (or starts with) a URL
/// or a bare domain.
fn text_host(text: &str) -> Option<String> {
    let word = text.split_whitespace().next()?;
    let word =
        word.trim_matches(|c: char| matches!(c, '<' | '>' | '(' | ')' | '"' | '\'' | ',' | ';'));
    let host = if word.contains("://") {
        host_of(word)?
    } else {
        let h = word
            .split('/')
            .next()?
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if !h.starts_with("www.") && text.split_whitespace().count() > 1 {
            return None;
        }
        h
    };
    // A name shown in Unicode is compared in its ASCII (punycode) form.
    let host = ascii_name(&host)?.into_owned();
    (is_fqdn(&host) && host.contains(|c: char| c.is_ascii_alphabetic())).then_some(host)
}

/// The shown host of a `PHISHING` hit (its option is `shown->target`).
fn shown_of(h: &Hit) -> &str {
    h.options
        .first()
        .and_then(|o| o.split_once("->"))
        .map_or("", |(shown, _)| shown)
}

fn compare(target: &str, text: &str, out: &mut Vec<Hit>) {
    let Some(shown) = text_host(text) else {
        return;
    };
    if parse_ip(target).is_some() {
        out.push(Hit::new("PHISHED_IP_TEXT").opt(format!("{shown}->{target}")));
        return;
    }
    // Rspamd compares internationalized names in one form; so do we (ASCII).
    let ascii_target = ascii_name(target).unwrap_or(std::borrow::Cow::Borrowed(target));
    if registrable(&shown) != registrable(&ascii_target) {
        out.push(Hit::new("PHISHING").opt(format!("{shown}->{target}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(html: &str) -> Vec<Hit> {
        let tags: Vec<Tag> = crate::message::markup::tags(html).collect();
        let mut out = Vec::new();
        check_html(html, &tags, &mut out);
        out
    }

    #[test]
    fn href_prefixes_cut_inside_a_character() {
        assert!(!is_web("http:/\u{445}27.0.0.1/x"));
        assert!(!is_web("https:/\u{445}example.org/x"));
        assert!(is_web("HTTPS://example.org"));
        assert!(run("<a href=\"http:/\u{445}27.0.0.1/x\">www.paypal.com</a>").is_empty());
    }

    #[test]
    fn text_domain_differs_from_target() {
        let h = run(r#"<a href="http://login.evil.example/x">www.paypal.com</a>"#);
        assert_eq!(h[0].symbol, "PHISHING");
        assert_eq!(h[0].options, ["www.paypal.com->login.evil.example"]);
        let h = run(r#"<a href="http://10.0.0.1/x">https://bank.example/login</a>"#);
        assert_eq!(h[0].symbol, "PHISHED_IP_TEXT");
    }

    #[test]
    fn same_site_and_plain_text_are_fine() {
        assert!(run(r#"<a href="https://www.shop.example.com/a">shop.example.com</a>"#).is_empty());
        assert!(run(r#"<a href="http://t.example/x">Click here to read more</a>"#).is_empty());
        assert!(run(r#"<a href="mailto:a@b.c">www.x.com</a>"#).is_empty());
    }

    #[test]
    fn registrable_domains_and_idn_forms() {
        // Two sites under one public suffix are two sites.
        let h = run(r#"<a href="https://evil.github.io/x">https://bank.github.io/</a>"#);
        assert_eq!(h[0].options, ["bank.github.io->evil.github.io"]);
        // An internationalized name shown in punycode links to itself.
        let same = r#"<a href="http://Bücher.example/x">http://xn--bcher-kva.example/</a>"#;
        assert!(run(same).is_empty());
        let same = r#"<a href="http://xn--bcher-kva.example/x">bücher.example</a>"#;
        assert!(run(same).is_empty());
        let h = run(r#"<a href="http://[2001:db8::1]/x">https://bank.example/</a>"#);
        assert_eq!(h[0].symbol, "PHISHED_IP_TEXT");
        assert_eq!(h[0].options, ["bank.example->2001:db8::1"]);
    }
}
