//! The language Rspamd stems a text part's words in, as far as it decides
//! the fuzzy hashes: Rspamd detects a part's language before it stems, and
//! stems with Snowball's algorithm for that language (none when Snowball has
//! none, as for Chinese, Japanese or Thai).
//!
//! Rspamd's detector, in its order: a letter of a script only one language
//! family writes (Greek, Thai, Georgian, kana ...) names the language; Han
//! ideographs alone mean Chinese. Then the stop words of the languages of
//! the text's script family may name it (see `stopwords`: Rspamd's lists,
//! read from its installed data). Failing that, a text of Cyrillic,
//! Devanagari or Arabic letters with fewer than ten words is Russian, Hindi
//! or Arabic, a Latin one English. Longer texts go to letter trigrams, whose
//! model (and, past 80 words, a random sample of the words) sluice does not
//! share: those texts are stemmed as English, the language Rspamd itself
//! falls back to and detects for most mail.
use rust_stemmers::Algorithm;

use super::stopwords::{self, Category};

/// Fewer words than this and Rspamd names the language by its script
/// (`default_short_text_limit`).
const SHORT_TEXT_WORDS: usize = 10;

/// Letters of one script past which the scan stops when that script
/// outnumbers Latin (`cutoff_limit`).
const CUTOFF: u32 = 32;

/// Scripts a text's letters are written in (the Unicode blocks Rspamd
/// looks at), with the counts its decisions need.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Scripts {
    greek: bool,
    cyrillic: bool,
    cjk: bool,
    kana: bool,
    arabic: bool,
    devanagari: bool,
    thai: bool,
    armenian: bool,
    georgian: bool,
    gujarati: bool,
    tamil: bool,
    telugu: bool,
    hangul: bool,
    /// Han ideographs seen.
    chinese: u32,
    /// Letters of the other non-Latin scripts seen.
    special: u32,
}

impl Scripts {
    /// Scans `text`'s letters as Rspamd does, stopping early once a
    /// non-Latin script clearly dominates.
    fn of(text: &str) -> Scripts {
        let mut s = Scripts::default();
        let mut latin = 0u32;
        for c in text.chars().filter(|c| c.is_alphabetic()) {
            match c as u32 {
                0x0000..=0x00FF => latin += 1,
                0x0370..=0x03FF => s.special_in(|s| s.greek = true),
                0x0400..=0x04FF => s.special_in(|s| s.cyrillic = true),
                0x0590..=0x05FF => s.special += 1,
                0x0600..=0x06FF => s.special_in(|s| s.arabic = true),
                0x0530..=0x058F => s.special_in(|s| s.armenian = true),
                0x0900..=0x097F => s.special_in(|s| s.devanagari = true),
                0x0A80..=0x0AFF => s.special_in(|s| s.gujarati = true),
                0x0B80..=0x0BFF => s.special_in(|s| s.tamil = true),
                0x0C00..=0x0C7F => s.special_in(|s| s.telugu = true),
                0x0E00..=0x0E7F => s.special_in(|s| s.thai = true),
                0x10A0..=0x10FF => s.special_in(|s| s.georgian = true),
                0x1100..=0x11FF | 0x3130..=0x318F => s.special_in(|s| s.hangul = true),
                0x3040..=0x30FF => s.special_in(|s| s.kana = true),
                0x2E80..=0x2EFF
                | 0x3300..=0x33FF
                | 0x3400..=0x4DBF
                | 0x4E00..=0x9FFF
                | 0x20000..=0x2A6DF => {
                    s.cjk = true;
                    s.chinese += 1;
                }
                _ => {}
            }
            if s.special > CUTOFF && s.special > latin {
                break;
            }
            if s.chinese > CUTOFF && s.chinese > latin && s.special > 0 {
                break;
            }
        }
        s
    }

    fn special_in(&mut self, set: impl FnOnce(&mut Scripts)) {
        set(self);
        self.special += 1;
    }

    /// The language a script alone names, in Rspamd's order of checking.
    fn language(&self) -> Option<&'static str> {
        let named = [
            (self.greek, "el"),
            (self.telugu, "te"),
            (self.tamil, "ta"),
            (self.gujarati, "gu"),
            (self.thai, "th"),
            (self.georgian, "ka"),
            (self.armenian, "hy"),
        ];
        if let Some((_, lang)) = named.iter().find(|(seen, _)| *seen) {
            return Some(lang);
        }
        // Kana with few ideographs is Japanese; mostly ideographs is Chinese.
        if self.kana && (self.chinese <= 5 || self.chinese < self.special * 5) {
            return Some("ja");
        }
        if self.hangul {
            return Some("ko");
        }
        self.cjk.then_some("zh-CN")
    }

    /// The family of languages whose stop words are looked for.
    fn category(&self) -> Category {
        if self.cyrillic {
            Category::Cyrillic
        } else if self.devanagari {
            Category::Devanagari
        } else if self.arabic {
            Category::Arab
        } else {
            Category::Latin
        }
    }

    /// The language a short text of this script is taken to be in.
    fn short_text_language(&self) -> &'static str {
        if self.cyrillic {
            "ru"
        } else if self.devanagari {
            "hi"
        } else if self.arabic {
            "ar"
        } else {
            "en"
        }
    }
}

/// The language Rspamd would stem a part in: `text` is its stripped
/// content, `tokens` how many tokens (words, URLs, addresses) it holds.
/// `None` for a part without tokens, which Rspamd leaves without language.
pub fn detect(text: &str, tokens: usize) -> Option<&'static str> {
    if tokens == 0 || text.is_empty() {
        return None;
    }
    let scripts = Scripts::of(text);
    if let Some(lang) = scripts.language() {
        return Some(lang);
    }
    if let Some(lang) = stopwords::installed().and_then(|sw| sw.detect(text, scripts.category())) {
        return Some(lang);
    }
    if tokens < SHORT_TEXT_WORDS {
        return Some(scripts.short_text_language());
    }
    Some("en")
}

/// Snowball's algorithm for a language code, as Rspamd's stemmer library
/// resolves it; `None` when there is none (the words stay unstemmed).
/// Debian's libstemmer also stems Indonesian and Nepali, which Rspamd can
/// name by their stop words; rust-stemmers has neither, so those texts
/// hash differently.
pub fn stemmer(lang: &str) -> Option<Algorithm> {
    Some(match lang {
        "ar" => Algorithm::Arabic,
        "da" => Algorithm::Danish,
        "de" => Algorithm::German,
        "el" => Algorithm::Greek,
        "en" => Algorithm::English,
        "es" => Algorithm::Spanish,
        "fi" => Algorithm::Finnish,
        "fr" => Algorithm::French,
        "hu" => Algorithm::Hungarian,
        "it" => Algorithm::Italian,
        "nl" => Algorithm::Dutch,
        "no" => Algorithm::Norwegian,
        "pt" => Algorithm::Portuguese,
        "ro" => Algorithm::Romanian,
        "ru" => Algorithm::Russian,
        "sv" => Algorithm::Swedish,
        "ta" => Algorithm::Tamil,
        "tr" => Algorithm::Turkish,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_of_one_language_names_it() {
        assert_eq!(detect("Καλημέρα κόσμε and some english", 5), Some("el"));
        assert_eq!(detect("สวัสดีครับ hello", 2), Some("th"));
        assert_eq!(detect("こんにちは世界", 1), Some("ja"));
        assert_eq!(detect("你好世界，这是一个测试", 1), Some("zh-CN"));
        // A Greek letter anywhere decides, however English the rest.
        let text = format!("{} π", "the cat sat on the mat ".repeat(20));
        assert_eq!(detect(&text, 121), Some("el"));
    }

    #[test]
    fn short_texts_take_their_scripts_default() {
        assert_eq!(detect("Привет мир", 2), Some("ru"));
        assert_eq!(detect("नमस्ते दुनिया", 2), Some("hi"));
        assert_eq!(detect("مرحبا بالعالم", 2), Some("ar"));
        assert_eq!(detect("hello world", 2), Some("en"));
        assert_eq!(detect("", 0), None);
    }

    #[test]
    fn stop_words_name_a_latin_text_before_the_fallbacks() {
        assert!(
            stopwords::installed().is_some(),
            "Rspamd's language data must be installed in {} (apt-get install rspamd)",
            stopwords::LANGUAGES_DIR
        );
        let tr = "Bu sistem sanki çok iyi, ama neden hiç kimse için değil? Belki de şu an tüm sistemler gibi.";
        assert_eq!(detect(tr, 18), Some("tr"));
        // A short text too: the stop words come before the script default.
        assert_eq!(detect("sanki çok ama neden", 4), Some("tr"));
        // Rspamd takes this Serbian for Italian, whose stop words it holds.
        let sr = "Socijalisti kazu da vise nisu idolopoklonici, kao sto je poznato; sta ce \
                  se do kraja price dogoditi? Stav rukovodstva ili stava saveta? Sta dalje?";
        assert_eq!(detect(sr, 26), Some("it"));
        let en = "The quick brown fox jumps over the lazy dog and then it runs into \
                  the forest with all of its friends, which is what they do";
        assert_eq!(detect(en, 26), Some("en"));
    }

    #[test]
    fn languages_without_snowball_stay_unstemmed() {
        assert_eq!(stemmer("en"), Some(Algorithm::English));
        assert_eq!(stemmer("el"), Some(Algorithm::Greek));
        for lang in ["ja", "zh-CN", "th", "ko", "ka", "af"] {
            assert_eq!(stemmer(lang), None, "{lang}");
        }
    }
}
