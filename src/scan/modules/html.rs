//! HTML structure: hidden or invisible text, images standing in for text,
//! scripts, forms, redirects, links to bare IPs, and alternatives whose
//! plain and HTML versions say different things.
use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use memchr::memmem::Finder;

use super::util::parse_ip;
use super::{sym, Hit, Module, SymbolDef};
use crate::message::extract::host_of;
use crate::message::markup::{tags, text_prefix_between, Tag};
use crate::message::Envelope;
use crate::message::{MessageView, TextPart};

static SYMBOLS: &[SymbolDef] = &[
    sym(
        "HTML_SHORT_LINK_IMG_1",
        "Short HTML part with a linked image",
    ),
    sym("R_EMPTY_IMAGE", "HTML part with images and next to no text"),
    sym("ZERO_FONT", "Text in a zero or one pixel font"),
    sym(
        "R_WHITE_ON_WHITE",
        "Text coloured white, with no dark background",
    ),
    sym(
        "HTML_META_REFRESH_URL",
        "HTML redirects with a meta refresh",
    ),
    sym("HAS_DATA_URI", "HTML embeds data: URIs"),
    sym("EXT_CSS", "HTML loads an external style sheet"),
    sym("HTTP_TO_IP", "A link points at a bare IP address"),
    sym(
        "HTTP_TO_HTTPS",
        "Link text shows https, the target is plain http",
    ),
    sym(
        "HTML_HIDDEN_TEXT",
        "Text hidden with display:none or visibility:hidden",
    ),
    sym("HTML_SCRIPT", "HTML carries a script"),
    sym("HTML_FORM", "HTML carries a form"),
    sym(
        "R_PARTS_DIFFER",
        "Plain text and HTML alternatives differ in content",
    ),
];

/// The `html` module.
#[derive(Debug)]
pub struct Html;

impl Module for Html {
    fn name(&self) -> &str {
        "html"
    }

    fn symbols(&self) -> &'static [SymbolDef] {
        SYMBOLS
    }

    fn check(&self, view: &MessageView, _env: &Envelope, out: &mut Vec<Hit>) {
        for p in &view.text_parts {
            if let Some(html) = p.html {
                check_html(html, &p.tags, &p.text, out);
            }
        }
        parts_differ(&view.text_parts, out);
    }
}

#[derive(Default)]
struct Seen {
    images: usize,
    links: usize,
    img_in_link: bool,
    open_link: Option<usize>,
}

fn check_html(html: &str, tags: &[Tag<'_>], text: &str, out: &mut Vec<Hit>) {
    let mut s = Seen::default();
    for t in tags {
        tag_checks(html, t, &mut s, out);
    }
    if s.images > 0
        && text
            .chars()
            .filter(|c| c.is_alphanumeric())
            .nth(49)
            .is_none()
    {
        out.push(Hit::new("R_EMPTY_IMAGE"));
    }
    if s.img_in_link && html.len() < 2048 {
        out.push(Hit::new("HTML_SHORT_LINK_IMG_1"));
    }
    style_checks(html, out);
}

fn tag_checks(html: &str, t: &Tag<'_>, s: &mut Seen, out: &mut Vec<Hit>) {
    match (t.name.as_ref(), t.closing) {
        ("a", false) => {
            s.links += 1;
            s.open_link = Some(t.end);
            if let Some(href) = t.attr("href") {
                link_checks(href, out);
            }
        }
        ("a", true) => {
            if let Some(from) = s.open_link.take() {
                let shown = text_prefix_between(html, from, t.start, 8);
                if shown.eq_ignore_ascii_case("https://") {
                    if let Some(prev) = last_href(html, from) {
                        if prev.to_ascii_lowercase().starts_with("http://") {
                            out.push(Hit::new("HTTP_TO_HTTPS"));
                        }
                    }
                }
            }
        }
        ("img", false) => {
            s.images += 1;
            if s.open_link.is_some() {
                s.img_in_link = true;
            }
            if t.attr("src")
                .is_some_and(|v| v.trim_start().starts_with("data:"))
            {
                out.push(Hit::new("HAS_DATA_URI"));
            }
        }
        ("meta", false) => {
            let refresh = t
                .attr("http-equiv")
                .is_some_and(|v| v.eq_ignore_ascii_case("refresh"));
            if refresh
                && t.attr("content")
                    .is_some_and(|c| c.to_ascii_lowercase().contains("url="))
            {
                out.push(Hit::new("HTML_META_REFRESH_URL"));
            }
        }
        ("link", false) => {
            let css = t
                .attr("rel")
                .is_some_and(|r| r.eq_ignore_ascii_case("stylesheet"));
            if css && t.attr("href").is_some_and(|h| h.contains("://")) {
                out.push(Hit::new("EXT_CSS"));
            }
        }
        ("script", false) => out.push(Hit::new("HTML_SCRIPT")),
        ("form", false) => out.push(Hit::new("HTML_FORM")),
        ("font", false) => {
            if t.attr("size").is_some_and(|v| v.trim() == "0") {
                out.push(Hit::new("ZERO_FONT"));
            }
            if t.attr("color").is_some_and(is_white) {
                out.push(Hit::new("R_WHITE_ON_WHITE"));
            }
        }
        _ => {}
    }
}

/// The href of the anchor whose `>` ends at `end`.
fn last_href(html: &str, end: usize) -> Option<&str> {
    let start = html[..end].rfind('<')?;
    tags(&html[start..end]).next()?.attr("href")
}

fn link_checks(href: &str, out: &mut Vec<Hit>) {
    let h = href.trim();
    if !h.contains("://") {
        return;
    }
    if let Some(host) = host_of(h) {
        if parse_ip(&host).is_some() {
            out.push(Hit::new("HTTP_TO_IP").opt(host));
        }
    }
}

fn is_white(c: &str) -> bool {
    let c = c.trim().to_ascii_lowercase();
    matches!(
        c.as_str(),
        "#fff" | "#ffffff" | "white" | "#fefefe" | "#fffffe"
    )
}

/// What [`style_checks`] looks for in the compacted markup, grouped by the
/// symbol each group raises (index ranges noted).
const STYLE_NEEDLES: [&str; 13] = [
    // 0..4: ZERO_FONT
    "font-size:0;",
    "font-size:0\"",
    "font-size:0px",
    "font-size:1px",
    // 4..6: HTML_HIDDEN_TEXT
    "display:none",
    "visibility:hidden",
    // 6..11: white text
    ";color:#fff",
    "\"color:#fff",
    "'color:#fff",
    ";color:white",
    "\"color:white",
    // 11..13: a background that may make white text readable
    "background",
    "bgcolor",
];

/// Searchers for [`STYLE_NEEDLES`], built once (building one costs more
/// than a search).
fn style_finders() -> &'static [Finder<'static>] {
    static FINDERS: OnceLock<Vec<Finder<'static>>> = OnceLock::new();
    FINDERS.get_or_init(|| STYLE_NEEDLES.iter().map(Finder::new).collect())
}

/// Inline style tricks, read from the lower-cased markup with spaces removed.
fn style_checks(html: &str, out: &mut Vec<Hit>) {
    if !html.contains("style") && !html.contains("STYLE") {
        return;
    }
    let compact = compact_lower(html);
    let finders = style_finders();
    let any =
        |range: std::ops::Range<usize>| finders[range].iter().any(|f| f.find(&compact).is_some());
    if any(0..4) {
        out.push(Hit::new("ZERO_FONT"));
    }
    if any(4..6) {
        out.push(Hit::new("HTML_HIDDEN_TEXT"));
    }
    if any(6..11) && !any(11..13) {
        out.push(Hit::new("R_WHITE_ON_WHITE"));
    }
}

/// `html` without white space and lower-cased (Unicode rules, as
/// `char::is_whitespace` and `char::to_lowercase` give), as UTF-8 bytes.
/// ASCII, nearly all of any markup, takes a byte-wise fast path.
fn compact_lower(html: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(html.len());
    let mut rest = html;
    while !rest.is_empty() {
        let ascii = rest
            .bytes()
            .position(|b| !b.is_ascii())
            .unwrap_or(rest.len());
        out.extend(
            rest.as_bytes()[..ascii]
                .iter()
                .filter(|&&b| !matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' '))
                .map(u8::to_ascii_lowercase),
        );
        rest = &rest[ascii..];
        let Some(c) = rest.chars().next() else {
            break;
        };
        if !c.is_whitespace() {
            let mut buf = [0; 4];
            for l in c.to_lowercase() {
                out.extend_from_slice(l.encode_utf8(&mut buf).as_bytes());
            }
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// FNV-1a: the word sets hash a few hundred short words per message, where
/// SipHash's set-up dominates. The sets are capped, so flooding them with
/// colliding words cannot cost much.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

type WordSet<'t> = HashSet<Cow<'t, str>, BuildHasherDefault<Fnv>>;

/// Words (three letters or more) of a text, lower-cased, capped; a word of
/// lower-case ASCII letters (most of them) is not copied.
fn words(text: &str) -> WordSet<'_> {
    text.split(|c: char| !c.is_alphabetic())
        .filter(|w| w.chars().count() >= 3)
        .take(400)
        .map(|w| {
            if w.bytes().all(|b| b.is_ascii_lowercase()) {
                Cow::Borrowed(w)
            } else {
                Cow::Owned(w.to_lowercase())
            }
        })
        .collect()
}

/// A plain and an HTML part that share under half their words; the
/// multiplier grows with the difference.
fn parts_differ(parts: &[TextPart<'_>], out: &mut Vec<Hit>) {
    let plain = parts.iter().find(|p| p.html.is_none());
    let html = parts.iter().find(|p| p.html.is_some());
    let (Some(plain), Some(html)) = (plain, html) else {
        return;
    };
    let (a, b) = (words(&plain.text), words(&html.text));
    if a.len() + b.len() < 10 {
        return;
    }
    let common = a.intersection(&b).count();
    let union = a.union(&b).count().max(1);
    let distance = 1.0 - common as f64 / union as f64;
    if distance >= 0.5 {
        out.push(
            Hit::new("R_PARTS_DIFFER")
                .opt(format!("{:.0}%", distance * 100.0))
                .times(distance.clamp(0.5, 1.0)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_lower_matches_char_rules() {
        let html = "<P Style=\"Font-Size: 0PX;\u{a0}x\u{2003}\u{130}\u{212a}\u{c9}\">\u{b}\tA";
        let want: String = html
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect();
        assert_eq!(compact_lower(html), want.as_bytes());
    }

    #[test]
    fn style_tricks() {
        let run = |h: &str| {
            let mut out = Vec::new();
            style_checks(h, &mut out);
            out.into_iter().map(|h| h.symbol).collect::<Vec<_>>()
        };
        assert_eq!(
            run("<span style=\"FONT-SIZE : 0px\">x</span><div style='display: none'>"),
            ["ZERO_FONT", "HTML_HIDDEN_TEXT"]
        );
        assert_eq!(run("<p style=\"color: #FFF\">"), ["R_WHITE_ON_WHITE"]);
        assert!(run("<p style=\"color:#fff;background:#000\">").is_empty());
        assert!(run("<p>font-size:0px</p>").is_empty());
    }
}
