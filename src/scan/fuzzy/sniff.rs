//! Whether Rspamd reads a text part as HTML. Besides `text/html` parts,
//! Rspamd's content sniffing turns a `text/plain` part into HTML when the
//! start of its text carries enough markup: each sign of markup found in the
//! first 4 KiB weighs in (a document or doctype tag heavily, a link or
//! paragraph tag lightly, every occurrence counting), and at a total of 40
//! the part is HTML; its words are then those of the rendered text.
use std::sync::OnceLock;

use regex::Regex;

/// How much of a part's start the sniffing reads.
const SNIFFED_BYTES: usize = 4096;

/// The total weight from which a part is HTML.
const HTML_WEIGHT: u32 = 40;

/// Signs of markup and their weights.
fn signs() -> &'static [(Regex, u32)] {
    static SIGNS: OnceLock<Vec<(Regex, u32)>> = OnceLock::new();
    SIGNS.get_or_init(|| {
        [
            (r"(?i)<html\b", 32),
            (r"(?i)<script\b", 20),
            (r#"<script\s+type="text/javascript">"#, 31),
            (r"(?i)<!DOCTYPE HTML\b", 33),
            (r"(?i)<body\b", 20),
            (r"(?i)<table\b", 20),
            (r"(?i)<a\b", 10),
            (r"(?i)<p\b", 10),
            (r"(?i)<div\b", 10),
            (r"(?i)<span\b", 10),
        ]
        .into_iter()
        .map(|(re, w)| (Regex::new(re).expect("static regex"), w))
        .collect()
    })
}

/// Whether a plain text part's `text` is read as HTML.
pub fn looks_like_html(text: &str) -> bool {
    let mut end = text.len().min(SNIFFED_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = &text[..end];
    if !head.contains('<') {
        return false;
    }
    let mut weight = 0u32;
    for (re, w) in signs() {
        weight += w * re.find_iter(head).count() as u32;
        if weight >= HTML_WEIGHT {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enough_markup_makes_html() {
        assert!(looks_like_html("<html><body>hi</body></html>"));
        assert!(looks_like_html(
            "see <a href=x>one</a> <a href=y>two</a> <A HREF=z>3</a> <a>4</a>"
        ));
        assert!(looks_like_html("<table><tr><td><table>"));
    }

    #[test]
    fn a_little_markup_stays_text() {
        assert!(!looks_like_html("plain words, no markup at all"));
        assert!(!looks_like_html("a <a href=x>link</a> and a <p> paragraph"));
        assert!(!looks_like_html("<abbr> <pre> <divider> are not signs"));
        // Only the start counts.
        let late = format!("{}<html><body>", "x".repeat(5000));
        assert!(!looks_like_html(&late));
    }
}
