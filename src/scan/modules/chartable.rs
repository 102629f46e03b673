//! Words mixing alphabets (Latin with Cyrillic or Greek look-alikes), the
//! trick that slips `PаyPal` past word filters. The weight grows with the
//! share of mixed words (a dynamic multiplier).
use super::{sym, Hit, Module, SymbolDef};
use crate::message::Envelope;
use crate::message::MessageView;

static SYMBOLS: &[SymbolDef] = &[
    sym(
        "R_MIXED_CHARSET",
        "Words in the text mix Latin with other alphabets",
    ),
    sym("R_MIXED_CHARSET_URL", "A URL host mixes alphabets"),
    sym(
        "SUBJ_MIXED_CHARSET",
        "Words in the Subject mix Latin with other alphabets",
    ),
];

/// Words read per text part.
const MAX_WORDS: usize = 2048;

/// The `chartable` module.
#[derive(Debug)]
pub struct Chartable;

#[derive(Clone, Copy, PartialEq)]
enum Script {
    Latin,
    Cyrillic,
    Greek,
    Other,
}

fn script(c: char) -> Option<Script> {
    if !c.is_alphabetic() {
        return None;
    }
    Some(match c as u32 {
        0x41..=0x24F => Script::Latin,
        0x400..=0x52F => Script::Cyrillic,
        0x370..=0x3FF => Script::Greek,
        _ => Script::Other,
    })
}

/// A word of Latin letters with at least one Cyrillic/Greek letter (or the
/// reverse): not a real word of any language.
pub fn is_mixed(word: &str) -> bool {
    let mut latin = 0;
    let mut lookalike = 0;
    for c in word.chars() {
        match script(c) {
            Some(Script::Latin) => latin += 1,
            Some(Script::Cyrillic | Script::Greek) => lookalike += 1,
            _ => {}
        }
    }
    latin > 0 && lookalike > 0 && latin + lookalike >= 3
}

/// (mixed words, words with letters) in `text`.
fn count(text: &str) -> (usize, usize) {
    let mut mixed = 0;
    let mut total = 0;
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().any(char::is_alphabetic))
        .take(MAX_WORDS)
    {
        total += 1;
        if !w.is_ascii() && is_mixed(w) {
            mixed += 1;
        }
    }
    (mixed, total)
}

/// Whether `text` can hold a Cyrillic or Greek letter (U+0370..U+052F):
/// only those UTF-8 sequences start with a byte in 0xCD..=0xD4. A text
/// without one has no mixed word, and most mail is such text.
///
/// Tested 64 bytes at a time with no early exit inside a block, so the
/// compiler compares many bytes per instruction: every text part and the
/// subject of every message pass here.
fn has_lookalike_bytes(text: &str) -> bool {
    text.as_bytes().chunks(64).any(|block| {
        block
            .iter()
            .fold(false, |seen, &b| seen | (b.wrapping_sub(0xCD) < 8))
    })
}

/// Words in one part as R_MIXED_CHARSET counts them.
fn part_words(text: &str) -> usize {
    if text.is_ascii() {
        text.split_whitespace().count().min(MAX_WORDS)
    } else {
        count(text).1
    }
}

/// (mixed words, words) over the text parts, or `None` when no word is
/// mixed. Parts that cannot hold a look-alike letter are not split into
/// words, and the word total (only shown with a hit) is counted only then.
fn mixed_and_total(texts: &[&str]) -> Option<(usize, usize)> {
    let mixed: usize = texts
        .iter()
        .filter(|t| has_lookalike_bytes(t))
        .map(|t| count(t).0)
        .sum();
    if mixed == 0 {
        return None;
    }
    Some((mixed, texts.iter().map(|t| part_words(t)).sum()))
}

impl Module for Chartable {
    fn name(&self) -> &str {
        "chartable"
    }

    fn symbols(&self) -> &'static [SymbolDef] {
        SYMBOLS
    }

    fn check(&self, view: &MessageView, _env: &Envelope, out: &mut Vec<Hit>) {
        let texts: Vec<&str> = view.text_parts.iter().map(|p| p.text.as_ref()).collect();
        if let Some((mixed, total)) = mixed_and_total(&texts) {
            // Share of mixed words, scaled so 10% or more gives the full weight.
            let ratio = mixed as f64 / total.max(1) as f64;
            let mult = (ratio * 10.0).clamp(0.3, 1.0);
            out.push(
                Hit::new("R_MIXED_CHARSET")
                    .opt(format!("{mixed}/{total}"))
                    .times(mult),
            );
        }
        if let Some(s) = view.subject().filter(|s| has_lookalike_bytes(s)) {
            if count(s).0 > 0 {
                out.push(Hit::new("SUBJ_MIXED_CHARSET"));
            }
        }
        if let Some(h) = view
            .found
            .hosts
            .iter()
            .find(|h| !h.is_ascii() && is_mixed(h))
        {
            out.push(Hit::new("R_MIXED_CHARSET_URL").opt(h.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookalike_bytes_found_at_any_offset() {
        for len in [0, 1, 63, 64, 65, 200] {
            for at in 0..len {
                let mut text = "a".repeat(len);
                text.replace_range(at..at + 1, "\u{430}");
                assert!(has_lookalike_bytes(&text), "{len} {at}");
            }
            assert!(!has_lookalike_bytes(&"é".repeat(len)));
        }
    }

    #[test]
    fn mixed_words() {
        assert!(is_mixed("P\u{430}yPal"));
        assert!(!is_mixed("PayPal"));
        assert!(!is_mixed("\u{41f}\u{440}\u{438}\u{432}\u{435}\u{442}"));
        assert!(!is_mixed("caf\u{e9}"));
        assert_eq!(count("P\u{430}yPal is here"), (1, 3));
    }

    /// The counts as they were taken before the look-alike byte check:
    /// every part split into words.
    fn reference(texts: &[&str]) -> Option<(usize, usize)> {
        let (mut mixed, mut total) = (0, 0);
        for t in texts {
            if t.is_ascii() {
                total += t.split_whitespace().count().min(MAX_WORDS);
                continue;
            }
            let (m, n) = count(t);
            mixed += m;
            total += n;
        }
        (mixed > 0).then_some((mixed, total))
    }

    #[test]
    fn lookalike_byte_check_keeps_the_counts() {
        let pieces = [
            "Pay",
            "\u{430}",
            "\u{3bf}",
            "\u{37b}",
            "\u{52f}",
            "\u{500}",
            "caf\u{e9}",
            " ",
            "  ",
            "\n",
            "42",
            "-",
            "\u{4e2d}",
            "\u{36f}",
            "\u{530}",
            "x",
        ];
        let mut seed = 0x6a09_e667_f3bc_c908u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let parts: Vec<String> = (0..next() % 3)
                .map(|_| {
                    (0..next() % 30)
                        .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                        .collect()
                })
                .collect();
            let texts: Vec<&str> = parts.iter().map(String::as_str).collect();
            assert_eq!(mixed_and_total(&texts), reference(&texts), "{texts:?}");
        }
        // The lead bytes of U+0340..U+053F: every look-alike letter starts
        // with one; U+033F and U+0540 just outside do not.
        for c in ['\u{370}', '\u{3ff}', '\u{400}', '\u{52f}'] {
            assert!(has_lookalike_bytes(&c.to_string()), "{c:?}");
        }
        for c in ['\u{33f}', '\u{540}', '\u{e9}', 'a'] {
            assert!(!has_lookalike_bytes(&c.to_string()), "{c:?}");
        }
    }
}
