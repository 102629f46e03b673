//! Mail in the CJK charsets decodes to text: corpus messages in Big5,
//! GB2312, EUC-KR (as `ks_c_5601-1987`) and ISO-2022-JP show words a
//! reader of them would see, not replacement characters.
use crate::common;

use mail_parser::MimeHeaders;
use sluice::message::{parser, MessageView};

/// The text and HTML of every text part of one corpus file, decoded.
fn decoded_text(file: &str) -> String {
    let raw = std::fs::read(common::corpus_dir().join(file)).unwrap();
    let msg = parser().parse(&raw[..]);
    let view = MessageView::new(&raw, msg.as_ref());
    let mut out = String::new();
    for part in &view.text_parts {
        out.push_str(&part.text);
        out.push_str(part.html.unwrap_or(""));
    }
    out
}

#[test]
fn cjk_corpus_messages_decode_to_their_words() {
    let cases = [
        // ISO-2022-JP, a ham reply.
        ("ham/00013.eml", "三菱化学エンジニアリング"),
        ("mime/00248.eml", "日本語が"),
        // GB2312.
        ("spam/00020.eml", "魔鬼英语"),
        // Big5.
        ("spam/00206.eml", "專業廣告公司"),
        // EUC-KR, under the name Outlook gives it (`ks_c_5601-1987`).
        ("spam/00787.eml", "부동산정보나라"),
    ];
    for (file, word) in cases {
        let text = decoded_text(file);
        let start: String = text.chars().take(300).collect();
        assert!(text.contains(word), "{file}: `{word}` not in: {start}");
        assert!(!text.contains('\u{fffd}'), "{file}: replacement characters");
    }
}

/// Every text part the corpus declares in a CJK charset: decoded, hardly a
/// replacement character in it (a stray byte of broken spam may give one),
/// and most show CJK script. Some are English in a CJK charset; a few are
/// base64 with a mailing list's footer appended, which the parser leaves
/// undecoded whatever the charset.
#[test]
fn every_cjk_part_of_the_corpus_decodes() {
    let dir = common::corpus_dir();
    let labels = std::fs::read_to_string(dir.join("labels.tsv")).unwrap();
    let cjk = [
        "big5",
        "gb2312",
        "gbk",
        "shift_jis",
        "iso-2022-jp",
        "euc-kr",
        "ks_c_5601",
    ];
    let (mut checked, mut with_cjk) = (0, 0);
    for line in labels.lines().skip(1) {
        let file = line.split('\t').next().unwrap();
        let raw = std::fs::read(dir.join(file)).unwrap();
        let msg = parser().parse(&raw[..]);
        let Some(msg) = msg.as_ref() else { continue };
        for part in &msg.parts {
            let charset = part
                .content_type()
                .and_then(|ct| ct.attribute("charset"))
                .unwrap_or("")
                .to_ascii_lowercase();
            if !cjk.iter().any(|c| charset.starts_with(c)) {
                continue;
            }
            let Some(text) = part.text_contents() else {
                continue;
            };
            let chars = text.chars().count().max(1);
            let bad = text.chars().filter(|&c| c == '\u{fffd}').count();
            if text.chars().any(is_cjk) {
                with_cjk += 1;
            }
            assert!(
                bad * 100 < chars,
                "{file}: {bad} of {chars} characters are replacements ({charset})"
            );
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} CJK text parts found");
    assert!(
        with_cjk >= 20,
        "only {with_cjk} of {checked} parts show CJK script"
    );
}

/// Kana, the common Han block, Hangul syllables.
fn is_cjk(c: char) -> bool {
    matches!(u32::from(c), 0x3040..=0x30ff | 0x4e00..=0x9fff | 0xac00..=0xd7af)
}
