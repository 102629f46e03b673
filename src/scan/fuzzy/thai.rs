//! Word breaks in Thai text as ICU's Thai dictionary engine (the one
//! Rspamd's ICU runs) makes them. ICU hands a run of Thai letters to that
//! engine, which takes dictionary words one after another, preferring of
//! the words that start at a place one after which a second word, and then
//! a third, can follow; text no word starts is joined to the word before it
//! up to a plausible word start, a word never ends before a combining mark,
//! and the repetition and abbreviation signs stay with their word. ICU4X
//! ships the same dictionary but takes the longest word each time.
use std::sync::OnceLock;

use icu_properties::props::{GeneralCategory, GeneralCategoryGroup, LineBreak, Script};
use icu_properties::CodePointMapData;
use icu_provider::prelude::*;
use icu_segmenter::provider::{Baked, DictionaryBreakData, SegmenterDictionaryExtendedV2};

use super::runs::runs_of;

/// Words looked ahead.
const LOOKAHEAD: usize = 3;
/// A word this long or longer takes no following non-word.
const ROOT_COMBINE_THRESHOLD: usize = 3;
/// A non-word sharing this long a prefix with a word is not joined.
const PREFIX_COMBINE_THRESHOLD: usize = 3;
/// Runs shorter than two words of this length are not broken.
const MIN_WORD_SPAN: usize = 4;
/// Most words starting at one place that are weighed.
const MAX_CANDIDATES: usize = 20;
/// The abbreviation sign and the repetition sign.
const PAIYANNOI: char = '\u{0E2F}';
const MAIYAMOK: char = '\u{0E46}';

/// Whether ICU's Thai engine breaks `c`: Thai letters of the complex
/// context line-break class.
pub fn is_thai(c: char) -> bool {
    CodePointMapData::<Script>::new().get(c) == Script::Thai
        && CodePointMapData::<LineBreak>::new().get(c) == LineBreak::ComplexContext
}

fn is_mark(c: char) -> bool {
    c == ' '
        || (is_thai(c)
            && GeneralCategoryGroup::Mark
                .contains(CodePointMapData::<GeneralCategory>::new().get(c)))
}

fn is_end_word(c: char) -> bool {
    is_thai(c) && c != '\u{0E31}' && !('\u{0E40}'..='\u{0E44}').contains(&c)
}

fn is_begin_word(c: char) -> bool {
    ('\u{0E01}'..='\u{0E2E}').contains(&c) || ('\u{0E40}'..='\u{0E44}').contains(&c)
}

fn is_suffix(c: char) -> bool {
    c == PAIYANNOI || c == MAIYAMOK
}

/// ICU's Thai dictionary as ICU4X ships it.
fn dictionary() -> Option<&'static DictionaryBreakData<'static>> {
    static DICT: OnceLock<Option<&'static DictionaryBreakData<'static>>> = OnceLock::new();
    *DICT.get_or_init(|| {
        let request = DataRequest {
            id: DataIdentifierBorrowed::for_marker_attributes(
                DataMarkerAttributes::from_str_or_panic("thaidict"),
            ),
            ..Default::default()
        };
        let response: DataResponse<SegmenterDictionaryExtendedV2> = Baked.load(request).ok()?;
        response.payload.get_static()
    })
}

/// The lengths (in characters, shortest first) of the dictionary words
/// that start `chars`, and how many characters the lookup read (the one
/// that failed included), as ICU's matcher counts them.
fn lookup(dict: &DictionaryBreakData<'_>, chars: &[char]) -> (Vec<usize>, usize) {
    let mut lengths = Vec::new();
    let mut read = 0;
    match dict {
        DictionaryBreakData::Char16Trie(trie) => {
            let mut cursor = trie.cursor();
            for &c in chars {
                read += 1;
                cursor.step(c);
                if cursor.value().is_some() && lengths.len() < MAX_CANDIDATES {
                    lengths.push(read);
                }
                if cursor.is_empty() {
                    break;
                }
            }
        }
        DictionaryBreakData::ZeroTrie { alphabet, trie } => {
            let mut cursor = trie.cursor();
            for &c in chars {
                read += 1;
                let byte = alphabet.position32(c as u32).map_or(0xFF, |i| i as u8);
                cursor.step(byte);
                if cursor.take_value().is_some() && lengths.len() < MAX_CANDIDATES {
                    lengths.push(read);
                }
                if cursor.is_empty() {
                    break;
                }
            }
        }
    }
    (lengths, read)
}

/// The words that start at one place, and which of them is preferred.
#[derive(Default, Clone)]
struct Candidates {
    offset: Option<usize>,
    lengths: Vec<usize>,
    prefix: usize,
    mark: usize,
    current: usize,
}

impl Candidates {
    /// Looks the words up at `*pos` (once per place), marks the longest
    /// and moves `*pos` past it; the number of words.
    fn find(
        &mut self,
        dict: &DictionaryBreakData<'_>,
        chars: &[char],
        pos: &mut usize,
        end: usize,
    ) -> usize {
        if self.offset != Some(*pos) {
            self.offset = Some(*pos);
            (self.lengths, self.prefix) = lookup(dict, &chars[*pos..end]);
        }
        let start = self.offset.unwrap_or(*pos);
        if let Some(&longest) = self.lengths.last() {
            *pos = start + longest;
        }
        self.current = self.lengths.len().saturating_sub(1);
        self.mark = self.current;
        self.lengths.len()
    }

    fn accept_marked(&self, pos: &mut usize) -> usize {
        let len = self.lengths.get(self.mark).copied().unwrap_or(0);
        *pos = self.offset.unwrap_or(*pos) + len;
        len
    }

    fn back_up(&mut self, pos: &mut usize) -> bool {
        if self.current > 0 {
            self.current -= 1;
            *pos = self.offset.unwrap_or(*pos) + self.lengths[self.current];
            return true;
        }
        false
    }

    fn mark_current(&mut self) {
        self.mark = self.current;
    }
}

/// `bounds` (ascending byte offsets into `text`) with the breaks inside
/// each run of [`is_thai`] letters replaced by those of ICU's Thai engine.
pub fn rebreak(text: &str, bounds: Vec<usize>) -> Vec<usize> {
    let Some(dict) = dictionary() else {
        return bounds;
    };
    let runs = runs_of(text, is_thai);
    if runs.is_empty() {
        return bounds;
    }
    let mut out: Vec<usize> = bounds
        .into_iter()
        .filter(|&b| !runs.iter().any(|&(s, e)| s < b && b < e))
        .collect();
    for &(s, e) in &runs {
        let run = &text[s..e];
        let offsets: Vec<usize> = run
            .char_indices()
            .map(|(i, _)| i)
            .chain([run.len()])
            .collect();
        let chars: Vec<char> = run.chars().collect();
        out.extend(breaks(dict, &chars).into_iter().map(|b| s + offsets[b]));
        out.extend([s, e]);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The breaks (character offsets) inside a run of Thai letters.
fn breaks(dict: &DictionaryBreakData<'_>, chars: &[char]) -> Vec<usize> {
    let end = chars.len();
    if end < MIN_WORD_SPAN {
        return Vec::new();
    }
    let mut words: [Candidates; LOOKAHEAD] = Default::default();
    let mut found = 0usize;
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < end {
        let current = pos;
        let mut len = 0usize;
        let w = found % LOOKAHEAD;
        let n = words[w].find(dict, chars, &mut pos, end);
        if n == 1 {
            len = words[w].accept_marked(&mut pos);
            found += 1;
        } else if n > 1 {
            if pos < end {
                'best: loop {
                    if words[(found + 1) % LOOKAHEAD].find(dict, chars, &mut pos, end) > 0 {
                        words[w].mark_current();
                        if pos >= end {
                            break 'best;
                        }
                        loop {
                            if words[(found + 2) % LOOKAHEAD].find(dict, chars, &mut pos, end) > 0 {
                                words[w].mark_current();
                                break 'best;
                            }
                            if !words[(found + 1) % LOOKAHEAD].back_up(&mut pos) {
                                break;
                            }
                        }
                    }
                    if !words[w].back_up(&mut pos) {
                        break;
                    }
                }
            }
            len = words[w].accept_marked(&mut pos);
            found += 1;
        }
        let w = found % LOOKAHEAD;
        if pos < end && len < ROOT_COMBINE_THRESHOLD {
            if words[w].find(dict, chars, &mut pos, end) == 0
                && (len == 0 || words[w].prefix < PREFIX_COMBINE_THRESHOLD)
            {
                // Up to a plausible word start.
                let mut skipped = 0usize;
                let mut remaining = end - (current + len);
                loop {
                    let pc = chars[pos];
                    pos += 1;
                    skipped += 1;
                    remaining -= 1;
                    if remaining == 0 {
                        break;
                    }
                    let uc = chars[pos];
                    if is_end_word(pc) && is_begin_word(uc) {
                        let n = words[(found + 1) % LOOKAHEAD].find(dict, chars, &mut pos, end);
                        pos = current + len + skipped;
                        if n > 0 {
                            break;
                        }
                    }
                }
                if len == 0 {
                    found += 1;
                }
                len += skipped;
            } else {
                pos = current + len;
            }
        }
        while pos < end && is_mark(chars[pos]) {
            pos += 1;
            len += 1;
        }
        let w = found % LOOKAHEAD;
        if pos < end && len > 0 {
            if words[w].find(dict, chars, &mut pos, end) == 0 && is_suffix(chars[pos]) {
                let mut uc = Some(chars[pos]);
                if uc == Some(PAIYANNOI) && !is_suffix(chars[pos - 1]) {
                    pos += 1;
                    len += 1;
                    uc = chars.get(pos).copied();
                }
                if uc == Some(MAIYAMOK) && chars[pos - 1] != MAIYAMOK {
                    pos += 1;
                    len += 1;
                }
            } else {
                pos = current + len;
            }
        }
        if len > 0 {
            out.push(current + len);
        }
    }
    if out.last().is_some_and(|&b| b >= end) {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(run: &str) -> Vec<String> {
        let bounds = rebreak(run, vec![0, run.len()]);
        bounds
            .windows(2)
            .map(|w| run[w[0]..w[1]].to_string())
            .collect()
    }

    #[test]
    fn thai_is_broken_looking_ahead() {
        // ICU: `ดี มาก`; the longest word first would give `ดีม า ก`.
        assert_eq!(words("อากาศดีมาก"), ["อากาศ", "ดี", "มาก"]);
        assert_eq!(words("สวัสดีครับ"), ["สวัสดี", "ครับ"]);
        // As Rspamd gives them: the repetition and abbreviation signs stay
        // with their word, an unknown word joins up to the next one.
        let cases = [
            (
                "ประเทศไทยมีประชากรประมาณหกสิบห้าล้านคน",
                "ประเทศไทย มี ประชากร ประมาณ หก สิบ ห้า ล้าน คน",
            ),
            ("เมืองหลวงคือกรุงเทพมหานคร", "เมือง หลวง คือ กรุงเทพมหานคร"),
            (
                "เด็กๆเล่นกันอยู่ที่สนามหญ้าหน้าบ้าน",
                "เด็กๆ เล่น กัน อยู่ ที่ สนาม หญ้า หน้า บ้าน",
            ),
            ("กรุงเทพฯเป็นเมืองใหญ่", "กรุงเทพฯ เป็น เมือง ใหญ่"),
            (
                "ขอเชิญร่วมสัมมนาฟรีเรื่องการลงทุนออนไลน์",
                "ขอ เชิญ ร่วม สัมมนา ฟรี เรื่อง การ ลงทุน ออนไลน์",
            ),
            ("รับประกันผลตอบแทนสูง", "รับ ประกัน ผล ตอบแทน สูง"),
            ("สมัครด่วนวันนี้", "สมัคร ด่วน วัน นี้"),
            (
                "คอมพิวเตอร์โน้ตบุ๊กราคาถูกมากๆค่ะ",
                "คอมพิวเตอร์ โน้ตบุ๊ก ราคา ถู กมากๆ ค่ะ",
            ),
            (
                "ไวอากร้าซื้อออนไลน์ส่งฟรีทั่วประเทศ",
                "ไว อา กร้า ซื้อ ออนไลน์ ส่ง ฟรี ทั่ว ประเทศ",
            ),
            (
                "ผลิตภัณฑ์เสริมอาหารลดน้ำหนักเห็นผลจริงภายในเจ็ดวันฯลฯ",
                "ผลิตภัณฑ์ เสริม อาหาร ลด น้ำ หนัก เห็น ผล จริง ภายใน เจ็ด วัน ฯลฯ",
            ),
            ("กขคงจฉชซฌญ", "กข คงจฉชซฌญ"),
        ];
        for (run, expected) in cases {
            assert_eq!(words(run).join(" "), expected, "{run}");
        }
        // Too short for two words: one.
        assert_eq!(words("ดีม"), ["ดีม"]);
    }
}
