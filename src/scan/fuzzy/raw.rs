//! The words of a text part Rspamd left unconverted (see `charset`): its
//! tokenizer's byte mode, which splits at ASCII punctuation and white
//! space and keeps every other byte, with its quirks reproduced because the
//! hashes depend on them:
//! - each scan for the next word first steps over one byte unread, so the
//!   first byte of the text, and of a word that starts right where a line
//!   break or URL was recorded, is lost;
//! - a word cut by such a record is cut there; a word that runs to the
//!   very end of the text (no delimiter after it) is dropped;
//! - words longer than 40 bytes are left out, the rest lowercased (ASCII
//!   only), never stemmed.
use super::words::Sampler;

/// Longest word Rspamd keeps (`max_word_len`).
const MAX_WORD: usize = 40;

/// Rspamd's word delimiters in byte mode.
fn delimiter(b: u8) -> bool {
    matches!(
        b,
        b'\t' | b'\n'
            | b'\r'
            | b' '
            | b'"'
            | b'#'..=b'&'
            | b'('..=b'/'
            | b':'..=b'?'
            | b'['..=b'`'
            | b'{'..=b'~'
    )
}

/// One step of the tokenizer.
enum Step {
    /// A word at `start`, `len` bytes long (possibly cut by a record).
    Word {
        start: usize,
        len: usize,
        whole: bool,
    },
    /// A record (line break, URL) was passed.
    Record,
}

struct Tokenizer<'t> {
    text: &'t [u8],
    /// Sorted (offset, length) records: line breaks (length 0) and URLs.
    records: &'t [(usize, usize)],
    next: usize,
    cur: Option<usize>,
}

impl Tokenizer<'_> {
    fn step(&mut self) -> Option<Step> {
        let n = self.text.len();
        let record = self.records.get(self.next).copied();
        let mut pos = match self.cur {
            Some(c) => c,
            None => {
                let start = match record {
                    Some((0, len)) => len,
                    _ => 0,
                };
                self.cur = Some(start);
                start
            }
        };
        if pos >= n {
            return None;
        }
        // Step over one byte, then over delimiters; a record at any of
        // the positions looked at ends the step.
        loop {
            if let Some((at, len)) = record.filter(|r| r.0 == pos) {
                return Some(self.passed(pos, len, at, 0));
            }
            pos += 1;
            if pos >= n || !delimiter(self.text[pos]) {
                break;
            }
        }
        let start = pos;
        while pos < n && !delimiter(self.text[pos]) {
            if let Some((_, len)) = record.filter(|r| r.0 == pos) {
                return Some(self.passed(pos, len, start, pos - start));
            }
            pos += 1;
        }
        if pos >= n {
            return None;
        }
        self.cur = Some(pos);
        Some(Step::Word {
            start,
            len: pos - start,
            whole: true,
        })
    }

    /// A record at `pos` is passed: the scan resumes after it; the word
    /// cut by it, if any, is what the step yields.
    fn passed(&mut self, pos: usize, len: usize, start: usize, cut: usize) -> Step {
        self.next += 1;
        self.cur = Some(pos + len);
        if cut > 0 {
            Step::Word {
                start,
                len: cut,
                whole: false,
            }
        } else {
            Step::Record
        }
    }
}

/// The hashed words of an unconverted text: `stripped` is its folded
/// bytes, `breaks` the line-break offsets folding recorded, `urls` the
/// (offset, length) of the URLs found in the text and `links` those the
/// HTML parser recorded. Each word is lowercased; the long-text sampling is
/// Rspamd's.
///
/// Only the next record in offset order is looked for (at equal offsets a
/// URL comes before a line break, a line break before a link): once the
/// scan passes one without meeting it, as it passes the line break at the
/// start of a URL it skipped, no later record counts, and the rest of the
/// text keeps its URLs as words and its line starts.
pub fn raw_words(
    stripped: &[u8],
    breaks: &[usize],
    urls: &[(usize, usize)],
    links: &[(usize, usize)],
) -> Vec<Vec<u8>> {
    let mut records: Vec<(usize, usize)> = urls.to_vec();
    records.extend(breaks.iter().map(|&b| (b, 0)));
    records.extend_from_slice(links);
    records.sort_by_key(|r| r.0);
    let mut tok = Tokenizer {
        text: stripped,
        records: &records,
        next: 0,
        cur: None,
    };
    let mut sampler = Sampler::default();
    // Rspamd checks a record or cut word against the length of the last
    // whole word (a stale value: no word yet means none is kept).
    let mut last_len = 0usize;
    let mut count = 0usize;
    let mut out = Vec::new();
    while let Some(step) = tok.step() {
        let (start, len) = match step {
            Step::Word { start, len, whole } => {
                if whole {
                    last_len = len;
                }
                (start, len)
            }
            Step::Record => (0, 0),
        };
        if last_len == 0 || last_len > MAX_WORD {
            continue;
        }
        let end = tok.cur.unwrap_or(stripped.len());
        if len > 0 && sampler.skip(&stripped[start..start + len], count, end, stripped.len()) {
            continue;
        }
        count += 1;
        if len > 0 {
            out.push(stripped[start..start + len].to_ascii_lowercase());
        }
    }
    out
}

/// First of the private-use characters that stand for the bytes 0x80 to
/// 0xFF of an unconverted part in [`ByteText`].
const BYTE_CHARS: u32 = 0xF700;

/// Bytes as text of one character each, so that the text searches (URLs,
/// markup) run on an unconverted part: ASCII as itself, each other byte as
/// a private-use character that is neither a letter nor a space to them,
/// as such a byte is to Rspamd. Offsets in the text map back to the bytes.
pub struct ByteText {
    pub text: String,
    starts: Vec<usize>,
}

impl ByteText {
    pub fn new(bytes: &[u8]) -> ByteText {
        let text: String = bytes.iter().map(|&b| byte_char(b)).collect();
        let starts = text.char_indices().map(|(i, _)| i).collect();
        ByteText { text, starts }
    }

    /// The byte offset of the character at text offset `off`.
    pub fn byte(&self, off: usize) -> usize {
        self.starts.partition_point(|&s| s < off)
    }

    /// The text offset of the character of byte `at`.
    pub fn offset(&self, at: usize) -> usize {
        self.starts.get(at).copied().unwrap_or(self.text.len())
    }

    /// Text spans (offset, length) as byte spans.
    pub fn spans(&self, spans: &[(usize, usize)]) -> Vec<(usize, usize)> {
        spans
            .iter()
            .map(|&(at, len)| {
                let start = self.byte(at);
                (start, self.byte(at + len) - start)
            })
            .collect()
    }
}

fn byte_char(b: u8) -> char {
    if b.is_ascii() {
        char::from(b)
    } else {
        char::from_u32(BYTE_CHARS + u32::from(b)).unwrap_or('\u{FFFD}')
    }
}

/// A [`ByteText`]'s text (or text made of it) back to bytes: a byte's
/// character is the byte, any other character (an HTML entity's) its UTF-8,
/// as Rspamd's HTML parser writes it into an unconverted part's text.
/// `spans` in the text are mapped to the bytes.
pub fn to_bytes(text: &str, spans: &[(usize, usize)]) -> (Vec<u8>, Vec<(usize, usize)>) {
    let mut out = Vec::with_capacity(text.len());
    let mut starts = Vec::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        starts.push((i, out.len()));
        match u32::from(c).checked_sub(BYTE_CHARS) {
            Some(b @ 0x80..=0xFF) => out.push(b as u8),
            _ => out.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes()),
        }
    }
    let at = |off: usize| {
        let k = starts.partition_point(|&(s, _)| s < off);
        starts.get(k).map_or(out.len(), |&(_, o)| o)
    };
    let mapped = spans
        .iter()
        .map(|&(s, len)| (at(s), at(s + len) - at(s)))
        .collect();
    (out, mapped)
}

#[cfg(test)]
mod tests {
    use super::super::words::strip_newlines;
    use super::*;

    fn words_of(text: &[u8]) -> Vec<String> {
        let (stripped, breaks) = strip_newlines(text, false);
        raw_words(&stripped, &breaks, &[], &[])
            .into_iter()
            .map(|w| String::from_utf8_lossy(&w).into_owned())
            .collect()
    }

    #[test]
    fn the_first_byte_and_each_line_start_are_stepped_over() {
        assert_eq!(
            words_of(b"Hello big World\nNext line here\n"),
            ["ello", "big", "world", "ext", "line", "here"]
        );
    }

    #[test]
    fn bytes_above_ascii_are_word_bytes_and_the_last_word_needs_an_end() {
        assert_eq!(
            words_of(b" caf\xe9 na\xefve, ok!? end"),
            ["caf\u{fffd}", "na\u{fffd}ve", "ok!"]
        );
    }

    #[test]
    fn byte_text_offsets_and_characters_map_back_to_bytes() {
        let l = ByteText::new(b"a\xe9b c");
        assert_eq!(l.text, "a\u{f7e9}b c");
        assert_eq!(l.spans(&[(4, 3)]), [(2, 3)]);
        // A byte's character is the byte; an entity's ® its UTF-8.
        let (bytes, spans) = to_bytes("\u{f7e9}\u{ae}x", &[(5, 1)]);
        assert_eq!(bytes, b"\xe9\xc2\xaex");
        assert_eq!(spans, [(3, 1)]);
    }

    #[test]
    fn long_words_and_records_before_any_word_are_left_out() {
        let long = "x".repeat(41);
        let text = format!(" {long} short \n");
        assert_eq!(words_of(text.as_bytes()), ["short"]);
        // A URL record skips its bytes; the word it cuts keeps its head.
        let words = raw_words(b" see http://x.example/a now ", &[], &[(5, 18)], &[]);
        assert_eq!(words, [b"see".to_vec(), b"now".to_vec()]);
        let words = raw_words(b" a seehttp://x now ", &[], &[(6, 8)], &[]);
        assert_eq!(words, [b"a".to_vec(), b"see".to_vec(), b"now".to_vec()]);
        // Before any whole word, a cut word is not kept either.
        let words = raw_words(b" seehttp://x now ", &[], &[(4, 8)], &[]);
        assert_eq!(words, [b"now".to_vec()]);
    }

    #[test]
    fn a_url_at_a_line_start_ends_all_records() {
        let text = b"one two\nhttp://x.example/ three\nfour http://y.example/ \nfive\n";
        let (stripped, breaks) = strip_newlines(text, false);
        assert_eq!(breaks, [8, 32, 56, 61]);
        let words = |urls: &[(usize, usize)]| -> Vec<String> {
            raw_words(&stripped, &breaks, urls, &[])
                .into_iter()
                .map(|w| String::from_utf8(w).unwrap())
                .collect()
        };
        // The first URL is skipped, and its line break with it: the
        // second URL is words, and no line start loses its first letter.
        assert_eq!(
            words(&[(8, 17), (37, 17)]),
            ["ne", "two", "three", "four", "http", "y", "example", "five"]
        );
        // Without URLs every line start loses one.
        assert_eq!(
            words(&[]),
            ["ne", "two", "ttp", "x", "example", "three", "our", "http", "y", "example", "ive"]
        );
    }
}
