//! Rspamd's first guess at a text's language once its scripts name none:
//! the stop words of each language it has a model for, counted in the
//! text. A language with enough of them, the most for the size of its
//! list, is the text's; only when none has enough does Rspamd go on to
//! letter trigrams (see `lang`).
//!
//! The lists and the languages' models are Rspamd's data, read where
//! Rspamd installs them (`lang_detection.languages`, by default
//! [`LANGUAGES_DIR`]); without them this guess is skipped.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::Deserialize;

/// Where Debian's Rspamd keeps its language data.
pub const LANGUAGES_DIR: &str = "/usr/share/rspamd/languages";

/// Fewer matches than this never decide.
const MIN_MATCHES: u32 = 4;
/// From this many matches on, a language counts even beside others.
const CONFIDENT_MATCHES: u32 = 10;
/// Past this many matches of one language the scan stops.
const MAX_MATCHES: u32 = 80;

/// The script family a language is written in; a text's stop words are
/// only looked for among the languages of its own family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Latin,
    Cyrillic,
    Devanagari,
    Arab,
}

/// Why the language data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parse {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("build the stop word matcher: {0}")]
    Matcher(#[from] aho_corasick::BuildError),
}

/// A language Rspamd has a model for, as far as the stop words need it.
#[derive(Debug, Clone)]
pub struct Language {
    pub name: String,
    pub category: Category,
    /// Written with diacritics: seeing one of its stop words makes the
    /// plain-ASCII languages need [`CONFIDENT_MATCHES`].
    pub diacritics: bool,
    /// Written in plain ASCII (English).
    pub ascii: bool,
}

/// The head of one of Rspamd's language models (`xx.json`).
#[derive(Deserialize)]
struct ModelHead {
    #[allow(dead_code)]
    freq: serde::de::IgnoredAny,
    n_words: Vec<serde::de::IgnoredAny>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    flags: Vec<String>,
}

/// The stop words of the languages of each category, ready to count.
pub struct StopWords {
    languages: Vec<Language>,
    /// Each language's list length (duplicates counted, as Rspamd does).
    sizes: Vec<u32>,
    /// Per category: a matcher over its languages' words, and the
    /// language each pattern belongs to.
    groups: Vec<(Category, AhoCorasick, Vec<usize>)>,
}

impl StopWords {
    /// The data Rspamd reads from `dir`: `stop_words` and the `*.json`
    /// models (a language without a valid model is left out).
    pub fn load(dir: &Path) -> Result<StopWords, LoadError> {
        let path = dir.join("stop_words");
        let raw = std::fs::read_to_string(&path).map_err(|source| LoadError::Read {
            path: path.clone(),
            source,
        })?;
        let lists: HashMap<String, Vec<String>> =
            serde_json::from_str(&strip_trailing_commas(&raw))
                .map_err(|source| LoadError::Parse { path, source })?;
        let mut models: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|source| LoadError::Read {
                path: dir.to_path_buf(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        models.sort();
        let languages = models.iter().filter_map(|p| read_model(p)).collect();
        Ok(StopWords::new(languages, &lists)?)
    }

    /// Stop words for `languages` from `lists` (language name to words).
    pub fn new(
        languages: Vec<Language>,
        lists: &HashMap<String, Vec<String>>,
    ) -> Result<StopWords, aho_corasick::BuildError> {
        let empty = Vec::new();
        let sizes = languages
            .iter()
            .map(|l| lists.get(&l.name).unwrap_or(&empty).len() as u32)
            .collect();
        let mut groups = Vec::new();
        for category in [
            Category::Latin,
            Category::Cyrillic,
            Category::Devanagari,
            Category::Arab,
        ] {
            let (mut words, mut owners) = (Vec::new(), Vec::new());
            for (i, l) in languages.iter().enumerate() {
                if l.category != category {
                    continue;
                }
                for w in lists.get(&l.name).unwrap_or(&empty) {
                    words.push(w.as_str());
                    owners.push(i);
                }
            }
            let matcher = AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .build(&words)?;
            groups.push((category, matcher, owners));
        }
        Ok(StopWords {
            languages,
            sizes,
            groups,
        })
    }

    /// The language whose stop words decide `text` (written in `category`),
    /// as Rspamd picks it; `None` when none has enough matches.
    pub fn detect(&self, text: &str, category: Category) -> Option<&str> {
        let (_, matcher, owners) = self.groups.iter().find(|g| g.0 == category)?;
        let bytes = text.as_bytes();
        let mut counts = vec![0u32; self.languages.len()];
        for m in matcher.find_overlapping_iter(text) {
            let (s, e) = (m.start(), m.end());
            if (s > 0 && !is_boundary(bytes[s - 1])) || (e < bytes.len() && !is_boundary(bytes[e]))
            {
                continue;
            }
            let lang = owners[m.pattern().as_usize()];
            counts[lang] += 1;
            if counts[lang] > MAX_MATCHES {
                break;
            }
        }
        let found = || (0..counts.len()).filter(|&i| counts[i] > 0);
        let ignore_ascii = found().any(|i| self.languages[i].diacritics);
        let ignore_latin = found().any(|i| self.languages[i].category != Category::Latin);
        let mut best: Option<(usize, f64)> = None;
        for i in found() {
            let (lang, n) = (&self.languages[i], counts[i]);
            if n < MIN_MATCHES {
                continue;
            }
            if n < CONFIDENT_MATCHES
                && ((ignore_ascii && lang.ascii)
                    || (ignore_latin && lang.category == Category::Latin))
            {
                continue;
            }
            let rate = f64::from(n) / f64::from(self.sizes[i].max(1));
            if best.is_none_or(|(_, r)| rate > r) {
                best = Some((i, rate));
            }
        }
        best.map(|(i, _)| self.languages[i].name.as_str())
    }
}

/// Rspamd's installed language data, read once; `None` when it is not
/// there or cannot be read.
pub fn installed() -> Option<&'static StopWords> {
    static DATA: OnceLock<Option<StopWords>> = OnceLock::new();
    DATA.get_or_init(|| StopWords::load(Path::new(LANGUAGES_DIR)).ok())
        .as_ref()
}

/// A language model's name (its file name up to the first dot), script
/// family and flags; `None` for a file Rspamd would skip.
fn read_model(path: &Path) -> Option<Language> {
    let head: ModelHead = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    if head.n_words.len() != 3 {
        return None;
    }
    let category = match head.kind.as_deref()? {
        "latin" => Category::Latin,
        "cyrillic" => Category::Cyrillic,
        "arab" => Category::Arab,
        "devanagari" => Category::Devanagari,
        _ => return None,
    };
    let name = path.file_name()?.to_str()?.split('.').next()?.to_string();
    Some(Language {
        name,
        category,
        diacritics: head.flags.iter().any(|f| f == "diacritics"),
        ascii: head.flags.iter().any(|f| f == "ascii"),
    })
}

/// A stop word counts only between ASCII spaces or punctuation (or the
/// text's ends).
fn is_boundary(b: u8) -> bool {
    b.is_ascii_whitespace() || b == 0x0B || b.is_ascii_punctuation()
}

/// The stop word file is UCL, which allows a comma before a closing
/// bracket; JSON does not.
fn strip_trailing_commas(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut pending_comma = false;
    let mut in_string = false;
    let mut escaped = false;
    for c in raw.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => escaped = false,
            }
            continue;
        }
        match c {
            ',' => {
                if pending_comma {
                    out.push(',');
                }
                pending_comma = true;
                continue;
            }
            c if c.is_whitespace() => {
                out.push(c);
                continue;
            }
            ']' | '}' => pending_comma = false,
            _ => {
                if pending_comma {
                    out.push(',');
                }
                pending_comma = false;
                if c == '"' {
                    in_string = true;
                }
            }
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(name: &str, diacritics: bool, ascii: bool) -> Language {
        Language {
            name: name.into(),
            category: Category::Latin,
            diacritics,
            ascii,
        }
    }

    fn sample() -> StopWords {
        let lists: HashMap<String, Vec<String>> = [
            ("en", &["the", "and", "of", "is", "to", "with"][..]),
            ("tr", &["ve", "bir", "bu", "için", "ile", "gibi"][..]),
            ("it", &["di", "che", "da", "sa", "non", "per"][..]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(|w| w.to_string()).collect()))
        .collect();
        let languages = vec![
            lang("en", false, true),
            lang("it", true, false),
            lang("tr", true, false),
        ];
        StopWords::new(languages, &lists).unwrap()
    }

    #[test]
    fn the_language_with_enough_stop_words_wins() {
        let sw = sample();
        let tr = "Bu sistem ve bir albüm için, ve bu gibi şeyler ile";
        assert_eq!(sw.detect(tr, Category::Latin), Some("tr"));
        // Case folds (ASCII), words must stand alone: "veri" is no "ve".
        assert_eq!(sw.detect("VE veri BU bir ile", Category::Latin), Some("tr"));
        assert_eq!(sw.detect("veri bunu birlik ile", Category::Latin), None);
        // Other families' texts are not matched against these words.
        assert_eq!(sw.detect(tr, Category::Cyrillic), None);
    }

    #[test]
    fn ascii_languages_need_more_beside_a_language_with_diacritics() {
        let sw = sample();
        // Five English stop words, one Italian: English needs ten.
        let text = "the cat and the dog is to di home";
        assert_eq!(sw.detect(text, Category::Latin), None);
        let text = "the cat and the dog is to home";
        assert_eq!(sw.detect(text, Category::Latin), Some("en"));
        let many = format!("{} di", "the and of ".repeat(4));
        assert_eq!(sw.detect(&many, Category::Latin), Some("en"));
    }

    #[test]
    fn ucl_trailing_commas_are_dropped() {
        let raw = "{\n \"en\": [\n \"a,\",\n \"b\",\n ],\n \"it\": [\"c\",],\n}";
        let parsed: HashMap<String, Vec<String>> =
            serde_json::from_str(&strip_trailing_commas(raw)).unwrap();
        assert_eq!(parsed["en"], ["a,", "b"]);
        assert_eq!(parsed["it"], ["c"]);
    }
}
