//! Word breaks in Chinese and Japanese text as ICU's CJK dictionary engine
//! (the one Rspamd's ICU runs) makes them. ICU hands a run of Han, kana
//! and prolonged sound marks to that engine, which picks the cheapest
//! segmentation of the run into words of its CJ dictionary, each word
//! costing what the dictionary says; a letter the dictionary does not hold
//! alone costs the most, and a katakana run is also a word, at a cost by
//! its length. ICU4X ships the same dictionary, with the costs, but its
//! segmenter takes the longest word first, which breaks many phrases
//! differently; here the runs are broken by ICU's rule instead.
use std::sync::OnceLock;

use icu_collections::char16trie::Char16Trie;
use icu_normalizer::ComposingNormalizerBorrowed;
use icu_properties::props::{CanonicalCombiningClass, Script};
use icu_properties::CodePointMapData;
use icu_provider::prelude::*;
use icu_segmenter::provider::{Baked, DictionaryBreakData, SegmenterDictionaryAutoV2};

use super::runs::runs_of;

/// Longest dictionary word looked up, in UTF-16 units.
const MAX_WORD: usize = 20;
/// The cost of a letter that starts no one-letter dictionary word.
const UNKNOWN_COST: u32 = 255;
/// A katakana run this long or longer is not taken as one word.
const MAX_KATAKANA_RUN: usize = 20;
/// The cost of a katakana run taken as one word, by its length (past the
/// table, the first entry's).
const KATAKANA_COST: [u32; 9] = [8192, 984, 408, 240, 204, 252, 300, 372, 480];

/// Whether ICU's CJK engine breaks `c` with its dictionary: Han, hiragana
/// and katakana, the half-width sound marks and the prolonged sound marks.
pub fn is_cj(c: char) -> bool {
    matches!(c, '\u{30FC}' | '\u{FF70}' | '\u{FF9E}' | '\u{FF9F}')
        || matches!(
            CodePointMapData::<Script>::new().get(c),
            Script::Han | Script::Hiragana | Script::Katakana
        )
}

/// `bounds` (ascending byte offsets into `text`, from the rule-based
/// segmenter) with the breaks inside each run of [`is_cj`] letters replaced
/// by those of ICU's CJK engine.
pub fn rebreak(text: &str, bounds: Vec<usize>) -> Vec<usize> {
    let runs = runs_of(text, is_cj);
    if runs.is_empty() || dictionary().is_none() {
        return bounds;
    }
    let mut out: Vec<usize> = bounds
        .into_iter()
        .filter(|&b| !runs.iter().any(|&(s, e)| s < b && b < e))
        .collect();
    for &(s, e) in &runs {
        out.extend(breaks(&text[s..e]).into_iter().map(|b| s + b));
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// ICU's CJ dictionary as ICU4X ships it: words to costs.
fn dictionary() -> Option<&'static Char16Trie<'static>> {
    static DICT: OnceLock<Option<&'static Char16Trie<'static>>> = OnceLock::new();
    *DICT.get_or_init(|| {
        let request = DataRequest {
            id: DataIdentifierBorrowed::for_marker_attributes(
                DataMarkerAttributes::from_str_or_panic("cjdict"),
            ),
            ..Default::default()
        };
        let response: DataResponse<SegmenterDictionaryAutoV2> = Baked.load(request).ok()?;
        match response.payload.get_static()? {
            DictionaryBreakData::Char16Trie(trie) => Some(trie),
            DictionaryBreakData::ZeroTrie { .. } => None,
        }
    })
}

/// The run NFKC-normalised as ICU's engine matches it, each character
/// with the byte offset in `run` it came from: a character with the
/// combining ones after it is normalised as one piece, and all it yields
/// maps to the piece's start. The last offset is the run's end.
fn normalised(run: &str) -> (Vec<char>, Vec<usize>) {
    let nfkc = ComposingNormalizerBorrowed::new_nfkc();
    let ccc = CodePointMapData::<CanonicalCombiningClass>::new();
    let starts_piece = |c: char| {
        nfkc.normalize(c.encode_utf8(&mut [0; 4]))
            .chars()
            .next()
            .is_none_or(|first| ccc.get(first) == CanonicalCombiningClass::NotReordered)
    };
    let (mut chars, mut map) = (Vec::new(), Vec::new());
    let mut piece = 0usize;
    let mut rest = run.char_indices().skip(1).peekable();
    while piece < run.len() {
        let mut end = run.len();
        while let Some(&(i, c)) = rest.peek() {
            rest.next();
            if starts_piece(c) {
                end = i;
                break;
            }
        }
        for c in nfkc.normalize(&run[piece..end]).chars() {
            chars.push(c);
            map.push(piece);
        }
        piece = end;
    }
    map.push(run.len());
    (chars, map)
}

/// The dictionary words that start `chars`: (length in characters, cost),
/// shortest first, none longer than [`MAX_WORD`] UTF-16 units.
fn matches(trie: &Char16Trie<'_>, chars: &[char]) -> Vec<(usize, u32)> {
    let mut found = Vec::new();
    let mut cursor = trie.cursor();
    let mut units = 0usize;
    for (k, &c) in chars.iter().enumerate() {
        units += c.len_utf16();
        cursor.step(c);
        if let Some(cost) = cursor.value() {
            found.push((k + 1, cost.max(0) as u32));
        }
        if cursor.is_empty() {
            break;
        }
        if units >= MAX_WORD {
            break;
        }
    }
    found
}

/// ICU's test for katakana, which it applies to a character cut to 16
/// bits (a supplementary ideograph can pass it).
fn is_katakana(c: char) -> bool {
    let v = c as u32 as u16;
    (0x30A1..=0x30FE).contains(&v) && v != 0x30FB || (0xFF66..=0xFF9F).contains(&v)
}

fn katakana_cost(len: usize) -> u32 {
    KATAKANA_COST.get(len).copied().unwrap_or(KATAKANA_COST[0])
}

/// The break offsets (bytes into `run`, its start and end included) of
/// the cheapest segmentation of a run of [`is_cj`] letters.
pub fn breaks(run: &str) -> Vec<usize> {
    let Some(trie) = dictionary() else {
        return vec![0, run.len()];
    };
    let (chars, map) = normalised(run);
    let n = chars.len();
    let mut best = vec![u32::MAX; n + 1];
    let mut prev = vec![0usize; n + 1];
    best[0] = 0;
    let mut prev_katakana = false;
    for i in 0..n {
        if best[i] == u32::MAX {
            continue;
        }
        let mut words = matches(trie, &chars[i..]);
        if words.first().is_none_or(|&(len, _)| len != 1) {
            words.push((1, UNKNOWN_COST));
        }
        for (len, cost) in words {
            let total = best[i].saturating_add(cost);
            if total < best[i + len] {
                best[i + len] = total;
                prev[i + len] = i;
            }
        }
        let katakana = is_katakana(chars[i]);
        if katakana && !prev_katakana {
            let len = 1 + chars[i + 1..]
                .iter()
                .take(MAX_KATAKANA_RUN - 1)
                .take_while(|c| is_katakana(**c))
                .count();
            if len < MAX_KATAKANA_RUN {
                let total = best[i].saturating_add(katakana_cost(len));
                if total < best[i + len] {
                    best[i + len] = total;
                    prev[i + len] = i;
                }
            }
        }
        prev_katakana = katakana;
    }
    let mut out = vec![map[n]];
    if best[n] != u32::MAX {
        let mut i = n;
        while i > 0 {
            i = prev[i];
            out.push(map[i]);
        }
    }
    out.push(0);
    out.reverse();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(run: &str) -> Vec<&str> {
        breaks(run).windows(2).map(|w| &run[w[0]..w[1]]).collect()
    }

    #[test]
    fn the_dictionary_holds_costs() {
        let trie = dictionary().expect("CJ dictionary");
        let chars: Vec<char> = "中国人".chars().collect();
        let m = matches(trie, &chars);
        assert!(m.iter().any(|&(len, _)| len == 2), "{m:?}");
        assert!(m.iter().all(|&(_, cost)| cost > 0 && cost < 1000), "{m:?}");
    }

    #[test]
    fn the_cheapest_segmentation_wins() {
        assert_eq!(
            words("魔鬼英语不用学语法"),
            ["魔鬼", "英语", "不用", "学", "语法"]
        );
        assert_eq!(
            words("お世話になっております"),
            ["お世話", "に", "な", "って", "おり", "ます"]
        );
    }

    #[test]
    fn runs_are_found_and_rebroken() {
        assert_eq!(runs_of("ab中文cd", is_cj), [(2, 8)]);
        assert_eq!(runs_of("テスト", is_cj), [(0, 9)]);
        assert!(runs_of("hello", is_cj).is_empty());
        // A rule-based break inside the run goes, the run's ends stay.
        let text = "x 中国人";
        assert_eq!(rebreak(text, vec![0, 1, 2, 5, 8, 11]), [0, 1, 2, 11]);
    }

    #[test]
    fn half_width_katakana_is_normalised_first() {
        let (chars, map) = normalised("ｶﾞｲﾄﾞ");
        assert_eq!(chars.iter().collect::<String>(), "ガイド");
        assert_eq!(map, [0, 6, 9, 15]);
        assert_eq!(words("ｶﾞｲﾄﾞ"), ["ｶﾞｲﾄﾞ"]);
    }
}
