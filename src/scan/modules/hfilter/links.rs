//! Bodies that are little more than a link (`HFILTER_URL_ONLY`,
//! `HFILTER_URL_ONELINE`), measured as Rspamd does: the share of the
//! text part's bytes taken by URLs and addresses.
use super::super::Hit;
use crate::message::extract::{mentions_length, starts_with_mention};
use crate::message::TextPart;

/// Above this share of URL bytes a text counts as "only a link".
const URL_SHARE: f64 = 0.8;

/// Looks at the HTML text part if there is one, else the plain one (the
/// last of each kind, as Rspamd keeps them).
pub fn check(parts: &[TextPart], out: &mut Vec<Hit>) {
    let html = parts.iter().rfind(|p| p.html.is_some());
    let plain = parts.iter().rfind(|p| p.html.is_none());
    let (part, kind) = match (html, plain) {
        (Some(p), _) => (p, "html"),
        (None, Some(p)) => (p, "plain"),
        (None, None) => return,
    };
    let text_len = part.text.len();
    let url_len = mentions_length(&part.text) + displayed_links_length(part);
    if text_len == 0 || url_len == 0 {
        return;
    }
    let share = url_len as f64 / text_len as f64;
    if share <= URL_SHARE {
        return;
    }
    let factor = ((share - URL_SHARE) * 5.0).min(1.0);
    out.push(
        Hit::new("HFILTER_URL_ONLY")
            .times(factor)
            .opt(lua_number(factor)),
    );
    let lines = line_starts(&part.text);
    if lines == 1 {
        out.push(Hit::new("HFILTER_URL_ONELINE").opt(format!("{kind}:{}:{lines}", share.floor())));
    }
}

/// Rspamd counts the visible text of an HTML link that begins with a URL
/// once more (all of it), besides the URLs found in the part's text.
fn displayed_links_length(part: &TextPart) -> usize {
    let Some(html) = part.html else {
        return 0;
    };
    let mut total = 0;
    let mut open: Option<usize> = None;
    for tag in &part.tags {
        if !tag.name.eq_ignore_ascii_case("a") {
            continue;
        }
        match (tag.closing, open) {
            (false, _) => open = Some(tag.end),
            (true, Some(start)) => {
                let shown = visible(html.get(start..tag.start).unwrap_or(""));
                if shown.len() > 4 && starts_with_mention(&shown) {
                    total += shown.len();
                }
                open = None;
            }
            (true, None) => {}
        }
    }
    total
}

/// The text of a markup snippet: tags dropped, outer whitespace trimmed.
fn visible(snippet: &str) -> String {
    let mut out = String::with_capacity(snippet.len());
    let mut in_tag = false;
    for c in snippet.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.trim().to_string()
}

/// Rspamd's line count of a text part: the line breaks that something
/// follows (a text ending in its only break has none).
fn line_starts(text: &str) -> usize {
    let text = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .or_else(|| text.strip_suffix('\r'))
        .unwrap_or(text);
    text.replace("\r\n", "\n")
        .bytes()
        .filter(|&b| b == b'\n' || b == b'\r')
        .count()
}

/// A number as Lua's `tostring` writes it (`%.14g`), for the option
/// Rspamd gives the symbol.
pub(super) fn lua_number(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    let exponent = x.abs().log10().floor() as i32;
    if !(-4..14).contains(&exponent) {
        return format!("{x:.13e}");
    }
    let decimals = usize::try_from(13 - exponent).unwrap_or(0);
    let s = format!("{x:.decimals$}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
