//! A text part's words as Rspamd's fuzzy hashes see them: the part's text
//! with its line breaks folded ("stripped content"), split at Unicode word
//! boundaries, URLs and e-mail addresses left out, each word NFKC-normalised
//! and lowercased, then stemmed in the language Rspamd would detect for the
//! part (see `lang`), and past the first 600 words sampled the way Rspamd's
//! tokenizer samples long texts.

use icu_normalizer::ComposingNormalizerBorrowed;
use rust_stemmers::Stemmer;
use unicode_segmentation::UnicodeSegmentation;

use super::lang;
use super::mum::{mum_finish, mum_step};

/// Words after which Rspamd starts sampling (`words_decay`).
const WORDS_DECAY: usize = 600;

/// The part's text with line breaks folded as Rspamd's
/// `rspamd_strip_newlines_parse` folds them: a run of line breaks becomes
/// one space, the spaces that start the next line are dropped, a lone CR
/// joins, and zero-width spaces vanish. In plain text a break inside `<...>`
/// (a wrapped link) joins without a space. Its bytes are what a short text's
/// digest hashes, and its length what `min_bytes` is compared with.
pub fn stripped_content(text: &str, html: bool) -> String {
    stripped_lines(text, html).0
}

/// [`stripped_content`] with the offsets where its lines start (see
/// [`strip_newlines`]).
pub fn stripped_lines(text: &str, html: bool) -> (String, Vec<usize>) {
    let text: String = text.chars().filter(|c| !is_zero_width(*c)).collect();
    let (out, breaks) = strip_newlines(text.as_bytes(), html);
    // Only whole ASCII bytes were removed or added: still UTF-8.
    (String::from_utf8(out).unwrap_or_default(), breaks)
}

/// The line-break folding of [`stripped_content`] over bytes (an
/// unconverted part's, which keeps its zero-width spaces), with the offsets
/// in the output where Rspamd records a line break: where the next line's
/// text starts.
pub fn strip_newlines(b: &[u8], html: bool) -> (Vec<u8>, Vec<usize>) {
    #[derive(PartialEq, Clone, Copy)]
    enum State {
        Normal,
        SeenCr,
        SeenLf,
    }
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut breaks: Vec<usize> = Vec::new();
    let (mut p, mut c) = (0usize, 0usize);
    let mut state = State::Normal;
    let mut crlf_added = false;
    let mut bracket = false;
    while p < b.len() {
        match b[p] {
            b'\r' => {
                match state {
                    State::Normal => {
                        state = State::SeenCr;
                        out.extend_from_slice(&b[c..p]);
                        crlf_added = false;
                    }
                    State::SeenCr => {
                        if !crlf_added {
                            out.push(b' ');
                            crlf_added = true;
                            breaks.push(out.len());
                        }
                    }
                    State::SeenLf => state = State::SeenCr,
                }
                c = p + 1;
                bracket = false;
                p += 1;
            }
            b'\n' => {
                match state {
                    State::Normal => {
                        state = State::SeenLf;
                        out.extend_from_slice(&b[c..p]);
                        crlf_added = html || !bracket;
                        if crlf_added {
                            out.push(b' ');
                            breaks.push(out.len());
                        }
                    }
                    State::SeenCr => {
                        if !crlf_added {
                            if html || !bracket {
                                out.push(b' ');
                                crlf_added = true;
                            }
                            breaks.push(out.len());
                        }
                        state = State::SeenLf;
                    }
                    State::SeenLf => {
                        if !crlf_added {
                            out.push(b' ');
                            crlf_added = true;
                            breaks.push(out.len());
                        }
                    }
                }
                c = p + 1;
                bracket = false;
                p += 1;
            }
            ch => {
                if ch == b'<' {
                    bracket = true;
                } else if ch == b'>' {
                    bracket = false;
                }
                if state != State::Normal {
                    if !crlf_added {
                        breaks.push(out.len());
                    }
                    if ch == b' ' {
                        if !crlf_added {
                            out.push(b' ');
                        }
                        while p < b.len() && b[p] == b' ' {
                            p += 1;
                            c += 1;
                        }
                    }
                    state = State::Normal;
                    continue;
                }
                p += 1;
            }
        }
    }
    if p > c {
        if state == State::Normal {
            out.extend_from_slice(&b[c..p]);
        } else if !crlf_added {
            out.push(b' ');
            breaks.push(out.len());
        }
    }
    (out, breaks)
}

fn is_zero_width(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{FEFF}' | '\u{00AD}'
    )
}

/// One token of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// Normalised, lowercased, stemmed in the part's language; empty for a
    /// URL or address (Rspamd keeps those as exceptions without text).
    pub stem: String,
    /// Dropped by the long-text sampling.
    pub skipped: bool,
}

impl Word {
    /// Whether the fuzzy hashes use this word.
    pub fn counts(&self) -> bool {
        !self.skipped && !self.stem.is_empty()
    }
}

/// The words of a stripped text. `strict`: only URLs with a scheme, `www.`
/// hosts and addresses are left out (Rspamd's mode for HTML parts and the
/// plain half of an alternative); otherwise bare host names with a known
/// public suffix too.
pub fn words(stripped: &str, strict: bool) -> Vec<Word> {
    words_with(stripped, strict, &[])
}

/// [`words`], with `links` (offset, length) left out as well: an HTML
/// link whose text is a URL, at the offset Rspamd records for it.
pub fn words_with(stripped: &str, strict: bool, links: &[(usize, usize)]) -> Vec<Word> {
    words_in_lines(stripped, &[], strict, links)
}

/// [`words_with`], `breaks` the offsets where the text's lines start:
/// where folding joined two lines without a space, the word they make is
/// cut there, its head kept and its tail dropped (Rspamd records each line
/// start as an empty exception).
pub fn words_in_lines(
    stripped: &str,
    breaks: &[usize],
    strict: bool,
    links: &[(usize, usize)],
) -> Vec<Word> {
    let mut exceptions = url_spans(stripped, strict, breaks)
        .into_iter()
        .map(|(s, e)| (s, e - s, true))
        .collect::<Vec<_>>();
    exceptions.extend(breaks.iter().map(|&b| (b, 0, false)));
    exceptions.extend(
        links
            .iter()
            .filter(|(pos, _)| *pos <= stripped.len())
            .map(|&(pos, len)| (pos, len, true)),
    );
    exceptions.sort_by_key(|&(pos, _, _)| pos);
    let tailored = icu_word_classes(stripped);
    let mut bounds: Vec<usize> = tailored
        .split_word_bound_indices()
        .map(|(i, _)| i)
        .collect();
    bounds.push(stripped.len());
    let mut walk = Walk {
        text: stripped,
        out: Vec::new(),
        sampler: Sampler::default(),
    };
    walk.run(&bounds, &exceptions);
    let mut out = walk.out;
    if let Some(stemmer) = lang::detect(stripped, out.len()).and_then(lang::stemmer) {
        let stemmer = Stemmer::create(stemmer);
        for w in out.iter_mut().filter(|w| !w.stem.is_empty()) {
            let stem = stemmer.stem(&w.stem);
            // An empty stem keeps the word (Rspamd's fallback).
            if !stem.is_empty() && stem != w.stem {
                w.stem = stem.into_owned();
            }
        }
    }
    out
}

/// Rspamd's tokenizer loop over ICU's word boundaries and the sorted
/// exceptions (URLs): an exception becomes one empty token and the text it
/// covers is skipped; the part of a word before an exception that starts
/// inside it is kept, unless the exception runs past the word.
struct Walk<'t> {
    text: &'t str,
    out: Vec<Word>,
    sampler: Sampler,
}

impl Walk<'_> {
    fn run(&mut self, bounds: &[usize], exs: &[(usize, usize, bool)]) {
        let (mut last, mut idx, mut ex) = (0usize, 1usize, 0usize);
        'outer: while idx < bounds.len() {
            let p = bounds[idx];
            let mut token = None;
            if p > last {
                match exs.get(ex) {
                    Some(&(pos, _, _)) if pos >= last && pos <= p => {
                        while let Some(&(_, len, url)) = exs.get(ex).filter(|e| e.0 <= last) {
                            last += len;
                            self.exception(url);
                            ex += 1;
                            if last > p {
                                idx = advance(bounds, idx, last);
                                continue 'outer;
                            }
                        }
                        match exs.get(ex) {
                            Some(&(pos, len, url)) if pos >= last && pos <= p => {
                                token = Some((last, pos));
                                last = pos + len;
                                self.exception(url);
                                ex += 1;
                                if last > p {
                                    idx = advance(bounds, idx, last);
                                    continue 'outer;
                                }
                            }
                            _ => token = Some((last, p)),
                        }
                    }
                    Some(&(pos, _, _)) if pos < last => {
                        while exs.get(ex).is_some_and(|e| e.0 <= last) {
                            ex += 1;
                        }
                        token = Some((last, p));
                    }
                    _ => token = Some((last, p)),
                }
            }
            if let Some((s, e)) = token {
                self.word(s, e, p);
            }
            last = p;
            idx += 1;
        }
    }

    /// An exception's token: an empty word for a URL, none for a line
    /// start.
    fn exception(&mut self, url: bool) {
        if url {
            self.out.push(Word {
                stem: String::new(),
                skipped: false,
            });
        }
    }

    fn word(&mut self, s: usize, e: usize, p: usize) {
        let Some(piece) = self
            .text
            .get(s..e)
            .filter(|w| !w.is_empty() && valid_word(w))
        else {
            return;
        };
        let skipped = self
            .sampler
            .skip(piece.as_bytes(), self.out.len(), p, self.text.len());
        self.out.push(Word {
            stem: normalise(piece),
            skipped,
        });
    }
}

/// The boundary index from which the scan continues when an exception
/// ends at `last` past the current boundary: the first at or after it.
fn advance(bounds: &[usize], mut idx: usize, last: usize) -> usize {
    while idx < bounds.len() && bounds[idx] < last {
        idx += 1;
    }
    idx
}

/// `text` with the characters whose word-break class the ICU build Rspamd
/// runs on (Debian's ICU 72) sets differently from Unicode's rules swapped
/// for ones of that class and of the same length, so that Unicode
/// segmentation of the copy breaks where ICU breaks the original:
/// - `@` is a letter (ICU 72 keeps `root@host` whole);
/// - full stops separate words but not digits (`sources.list` is two
///   words, `3.14` one): they are a comma's class;
/// - colons separate words (`mailto:bob` is two): they are punctuation.
fn icu_word_classes(text: &str) -> std::borrow::Cow<'_, str> {
    const SWAPPED: [char; 5] = ['@', '.', '\u{FF0E}', ':', '\u{FF1A}'];
    if !text.contains(SWAPPED) && !text.contains('\u{FE55}') {
        return std::borrow::Cow::Borrowed(text);
    }
    let swapped: String = text
        .chars()
        .map(|c| match c {
            '@' => 'a',
            '.' => ',',
            '\u{FF0E}' => '\u{FF0C}',
            ':' => '!',
            '\u{FF1A}' => '\u{FF01}',
            '\u{FE55}' => '\u{FE57}',
            c => c,
        })
        .collect();
    std::borrow::Cow::Owned(swapped)
}

/// ICU's test for a word segment: its first character can be part of a
/// Java identifier (letters, digits, marks, `_`, currency signs).
fn valid_word(seg: &str) -> bool {
    seg.chars().next().is_some_and(|c| {
        c.is_alphanumeric()
            || c == '_'
            || matches!(c, '$' | '\u{A2}'..='\u{A5}' | '\u{20A0}'..='\u{20CF}')
    })
}

/// NFKC, then only the letters, marks, digits, `_`, math and currency
/// signs kept, lowercased (Rspamd drops the rest: "can't" is "cant").
fn normalise(word: &str) -> String {
    let nfkc = ComposingNormalizerBorrowed::new_nfkc().normalize(word);
    nfkc.chars()
        .filter(|c| kept(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// ICU's categories Rspamd keeps in a word: letters, marks and numbers,
/// connector punctuation, math and currency symbols.
fn kept(c: char) -> bool {
    c.is_alphanumeric()
        || c == '_'
        || matches!(c,
            '+' | '<' | '=' | '>' | '|' | '~' | '\u{AC}' | '\u{B1}' | '\u{D7}' | '\u{F7}'
            | '\u{2200}'..='\u{22FF}'
            | '$' | '\u{A2}'..='\u{A5}' | '\u{20A0}'..='\u{20CF}'
            | '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}'
            | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}'
            | '\u{203F}' | '\u{2040}' | '\u{2054}' | '\u{FE33}' | '\u{FE34}' | '\u{FE4D}'..='\u{FE4F}' | '\u{FF3F}')
}

/// Rspamd's sampling of long texts: a running MUM hash of the words' first
/// eight bytes, turned into a linear congruential sequence once 600 words
/// are in; from then on a word is kept with the probability of 600 over the
/// words the rest of the text is expected to hold (six bytes a word).
#[derive(Default)]
pub(super) struct Sampler {
    hv: u64,
    threshold: Option<u64>,
}

impl Sampler {
    pub(super) fn skip(&mut self, word: &[u8], count: usize, end: usize, total: usize) -> bool {
        if let Some(threshold) = self.threshold {
            self.hv = self
                .hv
                .wrapping_mul(2_862_933_555_777_941_757)
                .wrapping_add(3_037_000_493);
            return self.hv > threshold;
        }
        if word.len() >= 8 {
            let mut w = [0u8; 8];
            w.copy_from_slice(&word[..8]);
            self.hv = mum_step(self.hv, u64::from_le_bytes(w));
        }
        if count > WORDS_DECAY && end < total {
            self.hv = mum_finish(self.hv);
            let expected = (total - end) as f64 / 6.0;
            let prob = (WORDS_DECAY as f64 / expected * 10.0).floor() / 10.0;
            self.threshold = Some(if prob >= 1.0 {
                u64::MAX
            } else {
                (prob * u64::MAX as f64) as u64
            });
        }
        false
    }
}

/// Byte spans of the URLs and addresses Rspamd finds in `text`, in
/// order (see `urls`).
pub(super) fn url_spans(text: &str, strict: bool, breaks: &[usize]) -> Vec<(usize, usize)> {
    super::urls::find(text, strict, breaks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stems(text: &str) -> Vec<String> {
        words(&stripped_content(text, false), false)
            .into_iter()
            .filter(Word::counts)
            .map(|w| w.stem)
            .collect()
    }

    #[test]
    fn line_breaks_fold_to_one_space() {
        assert_eq!(stripped_content("a\r\nb", false), "a b");
        assert_eq!(stripped_content("a\n\n\nb", false), "a b");
        assert_eq!(stripped_content("a\r\n   b", false), "a b");
        assert_eq!(stripped_content("a\rb", false), "ab");
        assert_eq!(
            stripped_content("<http://x.example/\na>", false),
            "<http://x.example/a>"
        );
        assert_eq!(stripped_content("<b\na>", true), "<b a>");
        assert_eq!(stripped_content("end\n", false), "end ");
        assert_eq!(stripped_content("zero\u{200B}width", false), "zerowidth");
    }

    #[test]
    fn words_are_normalised_and_stemmed() {
        assert_eq!(
            stems("Running QUICKLY, the foxes jumped!"),
            ["run", "quick", "the", "fox", "jump"]
        );
        // NFKC folds the ligature and the full-width letters.
        assert_eq!(stems("\u{FB01}le ＡＢＣ"), ["file", "abc"]);
        assert_eq!(stems("don't stop"), ["dont", "stop"]);
    }

    #[test]
    fn urls_and_addresses_are_left_out() {
        assert_eq!(
            stems("see http://spam.com/x?y=1 and www.foo.org now, bob@mail.net"),
            ["see", "and", "now"]
        );
        assert_eq!(stems("visit shop.com today"), ["visit", "today"]);
        // Without a public suffix, a host is no URL: its words stay.
        assert_eq!(
            stems("see http://spam.example/x now"),
            ["see", "http", "spam", "exampl", "x", "now"]
        );
        // Not URLs to Rspamd: a `file:` path, a host with a `!` in it.
        assert_eq!(
            stems("see file:///path/to x"),
            ["see", "file", "path", "to", "x"]
        );
        assert_eq!(
            stems("go http://WIN!/ad.html now"),
            ["go", "http", "win", "ad", "html", "now"]
        );
        // A telephone link runs to the end of a short text; in a longer
        // one it is none.
        assert_eq!(stems("call tel: +353 1 8832063 now"), ["call"]);
        assert_eq!(stems("Hotel: 12 rooms"), Vec::<String>::new());
        // Strict mode keeps a bare name, as two words: ICU breaks at a
        // full stop between letters.
        let strict: Vec<String> = words("visit shop.com today", true)
            .into_iter()
            .map(|w| w.stem)
            .collect();
        assert_eq!(strict, ["visit", "shop", "com", "today"]);
    }

    #[test]
    fn link_exceptions_skip_text_at_their_recorded_offset() {
        let plain = |w: Vec<Word>| -> Vec<String> {
            w.into_iter().filter(Word::counts).map(|w| w.stem).collect()
        };
        // The offset may not be where the URL is (Rspamd counts it before
        // line breaks are folded): what is there is left out.
        let text = "one two three four five";
        assert_eq!(
            plain(words_with(text, true, &[(4, 9)])),
            ["one", "four", "five"]
        );
        // Starting inside a word that it runs past: that word goes, the
        // rest of the word it ends in stays.
        assert_eq!(
            plain(words_with(text, true, &[(5, 4)])),
            ["one", "hree", "four", "five"]
        );
        // Inside one word: its head stays, its tail goes.
        assert_eq!(
            plain(words_with(text, true, &[(9, 2)])),
            ["one", "two", "t", "four", "five"]
        );
    }

    #[test]
    fn a_word_two_joined_lines_make_loses_its_tail() {
        // Inside `<...` a line break joins without a space.
        let (text, breaks) = stripped_lines("<=== DROP THE\nMOUSE AND CALL", false);
        assert_eq!(text, "<=== DROP THEMOUSE AND CALL");
        let stems: Vec<String> = words_in_lines(&text, &breaks, false, &[])
            .into_iter()
            .filter(Word::counts)
            .map(|w| w.stem)
            .collect();
        assert_eq!(stems, ["drop", "the", "and", "call"]);
    }

    #[test]
    fn words_break_where_icu_breaks() {
        // A full stop separates letters, not digits; `@` is a letter.
        assert_eq!(
            stems("edit sources.list i.e."),
            ["edit", "sourc", "list", "i", "e"]
        );
        assert_eq!(stems("3.14 v1.2 root@spawn"), ["314", "v12", "rootspawn"]);
        // A colon separates words.
        assert_eq!(stems("by:ThinkGeek 12:30"), ["by", "thinkgeek", "12", "30"]);
        // A word may not start with `@` (it is no identifier character).
        assert_eq!(stems("@home x"), ["x"]);
    }

    #[test]
    fn the_detected_language_picks_the_stemmer() {
        // Japanese: no Snowball stemmer, so an English word in it stays.
        assert_eq!(stems("running テスト"), ["running", "テスト"]);
        // A short Cyrillic text is Russian: the Russian stemmer applies.
        assert_eq!(stems("книги running"), ["книг", "running"]);
    }

    #[test]
    fn long_texts_are_sampled_after_600_words() {
        let text: String = (0..3000).map(|i| format!("wordnumber{i} ")).collect();
        let w = words(&text, false);
        assert_eq!(w.len(), 3000);
        assert!(w[..601].iter().all(|w| !w.skipped));
        let kept = w.iter().filter(|w| w.counts()).count();
        assert!(kept > 700 && kept < 2900, "kept {kept}");
        // Deterministic: the same text samples the same words.
        assert_eq!(w, words(&text, false));
    }
}
