//! Words and language of a text part, for `part:get_words()` and
//! `part:get_language()`. Computed only when a rule asks (the Lua side
//! caches the result per part), so rules that never call them pay nothing.
//!
//! Rspamd tokenises with ICU, stems with Snowball and detects languages
//! with n-gram models. sluice keeps it small: words are runs of letters and
//! digits, lower-cased for the `norm`/`stem` forms, never stemmed; the
//! language comes from the script and, for Latin text, from common short
//! words of seven languages.

/// Bounds the work (and the Lua table) for very long parts.
pub const MAX_WORDS: usize = 4096;
/// How much text the language guess looks at.
const LANGUAGE_SAMPLE: usize = 4096;

/// Words of `text`; `lower` for Rspamd's normalised forms.
pub fn words(text: &str, lower: bool) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(MAX_WORDS)
        .map(|w| {
            if lower {
                w.to_lowercase()
            } else {
                w.to_string()
            }
        })
        .collect()
}

/// How many words [`words`] would give, without building them.
pub fn word_count(text: &str) -> usize {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(MAX_WORDS)
        .count()
}

/// Whether a character belongs to a script.
type InScript = fn(char) -> bool;

/// `part:get_stats()`: Rspamd's character counts of a text part, plus
/// `letters` (a sluice addition, so rules can compare capitals to letters).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub lines: usize,
    pub empty_lines: usize,
    pub spaces: usize,
    pub non_spaces: usize,
    pub double_spaces: usize,
    pub ascii_characters: usize,
    pub non_ascii_characters: usize,
    pub capital_letters: usize,
    pub numeric_characters: usize,
    pub letters: usize,
}

/// Counts for `text`, made to cost about two instructions a byte: a byte
/// histogram answers every ASCII count, a scan that skips ASCII runs
/// classifies the other characters with `char`'s Unicode tables, and lines
/// and double spaces come from memchr-style scans.
pub fn stats(text: &str) -> Stats {
    let bytes = text.as_bytes();
    let hist = histogram(bytes);
    let sum = |range: std::ops::RangeInclusive<u8>| -> usize {
        range.map(|b| hist[usize::from(b)]).sum()
    };
    let mut s = Stats {
        ascii_characters: sum(0..=0x7f),
        spaces: sum(b'\t'..=b'\r') + hist[usize::from(b' ')],
        capital_letters: sum(b'A'..=b'Z'),
        letters: sum(b'A'..=b'Z') + sum(b'a'..=b'z'),
        numeric_characters: sum(b'0'..=b'9'),
        ..Stats::default()
    };
    if sum(0x80..=0xff) > 0 {
        count_non_ascii(text, &mut s);
    }
    s.non_spaces = s.ascii_characters + s.non_ascii_characters - s.spaces;
    s.double_spaces = double_spaces(bytes);
    // Lines as `split_terminator('\n')` gives them: a last line without
    // its newline counts, an empty piece after the last newline does not.
    s.lines = hist[usize::from(b'\n')] + usize::from(bytes.last().is_some_and(|&b| b != b'\n'));
    s.empty_lines = blank_lines(text);
    s
}

/// Adjacent pairs of spaces (`"   "` holds two), eight bytes a step: a
/// mask of the space bytes of each word, and one AND with itself shifted.
fn double_spaces(bytes: &[u8]) -> usize {
    const HI: u64 = 0x8080_8080_8080_8080;
    const SPACES: u64 = 0x2020_2020_2020_2020;
    let mut n = 0;
    // The previous word ended in a space.
    let mut carry = false;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let x = u64::from_le_bytes(w.try_into().expect("eight bytes")) ^ SPACES;
        // High bit of each byte: set where the byte is not a space (no
        // carry crosses bytes: 0x7f + 0x7f stays within one).
        let not_space = ((x & !HI) + !HI) | x;
        let m = !not_space & HI;
        n += (m & (m >> 8)).count_ones() as usize;
        n += usize::from(carry && m & 0x80 != 0);
        carry = m >> 63 != 0;
    }
    let mut prev = carry;
    for &b in words.remainder() {
        let space = b == b' ';
        n += usize::from(prev && space);
        prev = space;
    }
    n
}

/// Lines (as `split_terminator('\n')` cuts them) made only of whitespace.
/// Most lines are told apart by their first byte; only one whose first
/// non-blank byte is not ASCII is classified character by character.
fn blank_lines(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut n = 0;
    let mut from = 0;
    for end in memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len())) {
        if end == bytes.len() && from == end {
            break;
        }
        let line = &text[from..end];
        let blank = match line
            .bytes()
            .find(|b| !matches!(b, b'\t' | 0x0b | 0x0c | b'\r' | b' '))
        {
            None => true,
            Some(b) if b < 0x80 => false,
            Some(_) => line.chars().all(char::is_whitespace),
        };
        n += usize::from(blank);
        from = end + 1;
    }
    n
}

/// How often each byte value occurs; four interleaved tables keep
/// repeated bytes from waiting on each other's increments.
fn histogram(bytes: &[u8]) -> [usize; 256] {
    let mut h = [[0u32; 256]; 4];
    let mut quads = bytes.chunks_exact(4);
    for q in &mut quads {
        for (t, &b) in h.iter_mut().zip(q) {
            t[usize::from(b)] += 1;
        }
    }
    for &b in quads.remainder() {
        h[0][usize::from(b)] += 1;
    }
    std::array::from_fn(|i| h.iter().map(|t| t[i] as usize).sum())
}

/// The non-ASCII characters of `text`, classified one by one; ASCII runs
/// between them are skipped.
fn count_non_ascii(text: &str, s: &mut Stats) {
    let mut rest = text;
    while let Some(at) = first_non_ascii(rest.as_bytes()) {
        let Some(c) = rest[at..].chars().next() else {
            break;
        };
        rest = &rest[at + c.len_utf8()..];
        s.non_ascii_characters += 1;
        s.spaces += usize::from(c.is_whitespace());
        if c.is_alphabetic() {
            s.letters += 1;
            s.capital_letters += usize::from(c.is_uppercase());
        }
        s.numeric_characters += usize::from(c.is_numeric());
    }
}

/// Offset of the first non-ASCII byte: blocks are tested with the
/// word-at-a-time `is_ascii`, only the block holding it byte by byte.
fn first_non_ascii(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    for block in bytes.chunks(32) {
        if !block.is_ascii() {
            return block.iter().position(|&b| b >= 0x80).map(|i| at + i);
        }
        at += block.len();
    }
    None
}

/// Scripts the guess tells apart, with the language each one implies.
const SCRIPTS: [(&str, InScript); 8] = [
    ("ru", |c| ('\u{400}'..='\u{4ff}').contains(&c)),
    ("el", |c| ('\u{370}'..='\u{3ff}').contains(&c)),
    ("ar", |c| ('\u{600}'..='\u{6ff}').contains(&c)),
    ("he", |c| ('\u{590}'..='\u{5ff}').contains(&c)),
    ("th", |c| ('\u{e00}'..='\u{e7f}').contains(&c)),
    ("ko", |c| ('\u{ac00}'..='\u{d7af}').contains(&c)),
    ("ja", |c| ('\u{3040}'..='\u{30ff}').contains(&c)),
    ("zh", |c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
];

/// Frequent short words per Latin-script language.
const STOPWORDS: [(&str, &[&str]); 7] = [
    (
        "en",
        &[
            "the", "and", "you", "for", "that", "this", "with", "are", "have", "your", "is", "of",
        ],
    ),
    (
        "de",
        &[
            "der", "die", "und", "das", "ist", "nicht", "mit", "sie", "ich", "ein", "eine", "auf",
        ],
    ),
    (
        "fr",
        &[
            "le", "les", "des", "est", "et", "une", "pour", "dans", "vous", "nous", "pas", "sur",
        ],
    ),
    (
        "es",
        &[
            "el", "los", "las", "que", "para", "una", "por", "con", "del", "usted", "es", "y",
        ],
    ),
    (
        "it",
        &[
            "il", "che", "per", "della", "sono", "con", "una", "non", "gli", "di", "ho", "è",
        ],
    ),
    (
        "pt",
        &[
            "o", "os", "que", "para", "uma", "com", "não", "você", "do", "da", "em", "é",
        ],
    ),
    (
        "nl",
        &[
            "de", "het", "een", "en", "van", "ik", "niet", "zijn", "voor", "met", "u", "op",
        ],
    ),
];

/// An ISO 639-1 code, or `None` when the text gives too little to go on.
pub fn language(text: &str) -> Option<&'static str> {
    let sample = sample(text);
    let mut letters = 0usize;
    let mut by_script = [0usize; SCRIPTS.len()];
    for c in sample.chars().filter(|c| c.is_alphabetic()) {
        letters += 1;
        if let Some(i) = SCRIPTS.iter().position(|(_, is)| is(c)) {
            by_script[i] += 1;
        }
    }
    if letters < 8 {
        return None;
    }
    // Japanese mixes kana with Han: any real share of kana decides.
    let (ja, zh) = (by_script[6], by_script[7]);
    if ja * 10 >= letters && ja + zh >= letters / 2 {
        return Some("ja");
    }
    let (best, count) = by_script
        .iter()
        .enumerate()
        .max_by_key(|(_, n)| **n)
        .map(|(i, n)| (i, *n))?;
    if count * 2 >= letters {
        return Some(SCRIPTS[best].0);
    }
    latin_language(sample)
}

fn sample(text: &str) -> &str {
    if text.len() <= LANGUAGE_SAMPLE {
        return text;
    }
    let mut end = LANGUAGE_SAMPLE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The language whose common words occur most, if it clearly leads.
fn latin_language(text: &str) -> Option<&'static str> {
    let mut hits = [0usize; STOPWORDS.len()];
    for w in words(text, true) {
        for (i, (_, list)) in STOPWORDS.iter().enumerate() {
            if list.contains(&w.as_str()) {
                hits[i] += 1;
            }
        }
    }
    let mut ranked: Vec<(usize, usize)> = hits.iter().copied().enumerate().collect();
    ranked.sort_by_key(|r| std::cmp::Reverse(r.1));
    let (best, n) = ranked[0];
    let second = ranked[1].1;
    (n >= 2 && n > second).then_some(STOPWORDS[best].0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_non_ascii_agrees_with_position() {
        for len in [0, 1, 31, 32, 33, 100] {
            for at in 0..len {
                let mut b = vec![b'x'; len];
                b[at] = 0xc3;
                assert_eq!(first_non_ascii(&b), Some(at));
            }
            assert_eq!(first_non_ascii(&vec![b'x'; len]), None);
        }
    }

    #[test]
    fn words_are_letter_and_digit_runs() {
        assert_eq!(words("Hello, WORLD 42x!", true), ["hello", "world", "42x"]);
        assert_eq!(words("Héllo wörld", false), ["Héllo", "wörld"]);
        assert_eq!(words(&"a ".repeat(MAX_WORDS + 5), true).len(), MAX_WORDS);
    }

    #[test]
    fn stats_fast_path_agrees_with_char_methods() {
        let text = "Ab\tc \u{b}\x0c\r\n\n ÉÀ ß ٣ 9\u{a0}x\u{2003}\u{2028}Ω\n";
        let mut want = Stats::default();
        let (mut blank, mut content) = (false, false);
        for c in text.chars() {
            if c == '\n' {
                want.lines += 1;
                want.empty_lines += usize::from(!content);
                content = false;
            }
            if c.is_whitespace() {
                want.spaces += 1;
                want.double_spaces += usize::from(blank && c == ' ');
            } else {
                want.non_spaces += 1;
                content = true;
            }
            blank = c == ' ';
            want.ascii_characters += usize::from(c.is_ascii());
            want.non_ascii_characters += usize::from(!c.is_ascii());
            want.letters += usize::from(c.is_alphabetic());
            want.capital_letters += usize::from(c.is_uppercase());
            want.numeric_characters += usize::from(c.is_numeric());
        }
        assert_eq!(stats(text), want);
    }

    /// Lines, blank lines and double spaces as they were counted before
    /// the word-at-a-time versions, on random text with many spaces,
    /// newlines and non-ASCII blanks.
    #[test]
    fn line_and_double_space_counts_match_the_plain_loops() {
        let pieces = [
            " ", " ", "  ", "\n", "\r\n", "a", "Xy", "\t", "\u{a0}", "\u{2003}", "é", "\n\n",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..300 {
            let mut text = String::new();
            for _ in 0..len % 40 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            let b = text.as_bytes();
            let pairs = b.windows(2).filter(|w| w == b"  ").count();
            let lines = text.split_terminator('\n').count();
            let blank = text
                .split_terminator('\n')
                .filter(|l| l.chars().all(char::is_whitespace))
                .count();
            let s = stats(&text);
            assert_eq!(
                (s.double_spaces, s.lines, s.empty_lines),
                (pairs, lines, blank),
                "{text:?}"
            );
        }
    }

    #[test]
    fn stats_count_lines_spaces_and_letters() {
        let s = stats("AB c\n\n  12 é\nx");
        assert_eq!((s.lines, s.empty_lines), (4, 1));
        assert_eq!((s.spaces, s.double_spaces), (7, 1));
        assert_eq!(
            (s.letters, s.capital_letters, s.numeric_characters),
            (5, 2, 2)
        );
        assert_eq!((s.ascii_characters, s.non_ascii_characters), (13, 1));
        assert_eq!(s.non_spaces, 7);
    }

    #[test]
    fn languages_by_script_and_common_words() {
        assert_eq!(language("Привет, как твои дела сегодня?"), Some("ru"));
        assert_eq!(
            language("これは日本語の文章です。漢字もあります"),
            Some("ja")
        );
        assert_eq!(language("这是一个中文句子，没有假名字符"), Some("zh"));
        assert_eq!(
            language("This is the offer that you have been waiting for"),
            Some("en")
        );
        assert_eq!(
            language("Das ist nicht die Antwort, und sie ist auf dem Tisch"),
            Some("de")
        );
        assert_eq!(language("ok"), None);
        assert_eq!(language("zzzz qqqq xxxx yyyy"), None);
    }
}
