//! Words mixing alphabets (Latin with Cyrillic or Greek look-alikes), the
//! trick that slips `PаyPal` past word filters. The weight grows with the
//! share of mixed words (a dynamic multiplier).
use super::{sym, Hit, Module, SymbolDef};
use crate::message::Envelope;
use crate::scan::message::MessageView;

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

impl Module for Chartable {
    fn name(&self) -> &str {
        "chartable"
    }

    fn symbols(&self) -> &'static [SymbolDef] {
        SYMBOLS
    }

    fn check(&self, view: &MessageView, _env: &Envelope, out: &mut Vec<Hit>) {
        let (mut mixed, mut total) = (0, 0);
        for p in &view.text_parts {
            if p.text.is_ascii() {
                total += p.text.split_whitespace().count().min(MAX_WORDS);
                continue;
            }
            let (m, t) = count(&p.text);
            mixed += m;
            total += t;
        }
        if mixed > 0 {
            // Share of mixed words, scaled so 10% or more gives the full weight.
            let ratio = mixed as f64 / total.max(1) as f64;
            let mult = (ratio * 10.0).clamp(0.3, 1.0);
            out.push(
                Hit::new("R_MIXED_CHARSET")
                    .opt(format!("{mixed}/{total}"))
                    .times(mult),
            );
        }
        if let Some(s) = view.subject().filter(|s| !s.is_ascii()) {
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
    fn mixed_words() {
        assert!(is_mixed("P\u{430}yPal"));
        assert!(!is_mixed("PayPal"));
        assert!(!is_mixed("\u{41f}\u{440}\u{438}\u{432}\u{435}\u{442}"));
        assert!(!is_mixed("caf\u{e9}"));
        assert_eq!(count("P\u{430}yPal is here"), (1, 3));
    }
}
