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

/// One pass over `text`.
pub fn stats(text: &str) -> Stats {
    let mut s = Stats::default();
    let mut prev_blank = false;
    let mut line_has_content = false;
    for c in text.chars() {
        if c == '\n' {
            s.lines += 1;
            s.empty_lines += usize::from(!line_has_content);
            line_has_content = false;
        } else if !c.is_whitespace() {
            line_has_content = true;
        }
        let space = c.is_whitespace();
        if space {
            s.spaces += 1;
            s.double_spaces += usize::from(prev_blank && c == ' ');
        } else {
            s.non_spaces += 1;
        }
        // Only a blank after a blank is a double space, not indentation.
        prev_blank = c == ' ';
        if c.is_ascii() {
            s.ascii_characters += 1;
        } else {
            s.non_ascii_characters += 1;
        }
        if c.is_alphabetic() {
            s.letters += 1;
            s.capital_letters += usize::from(c.is_uppercase());
        }
        s.numeric_characters += usize::from(c.is_numeric());
    }
    if !text.is_empty() && !text.ends_with('\n') {
        s.lines += 1;
        s.empty_lines += usize::from(!line_has_content);
    }
    s
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
    fn words_are_letter_and_digit_runs() {
        assert_eq!(words("Hello, WORLD 42x!", true), ["hello", "world", "42x"]);
        assert_eq!(words("Héllo wörld", false), ["Héllo", "wörld"]);
        assert_eq!(words(&"a ".repeat(MAX_WORDS + 5), true).len(), MAX_WORDS);
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
