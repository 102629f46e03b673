//! The text Rspamd reads from a text part's bytes, for its words: Rspamd
//! converts a part to UTF-8 by its declared charset (ICU's tables and
//! aliases), guesses one when none is declared, the declared one is unknown
//! or an ASCII/UTF-8 declaration does not fit the bytes, and leaves the part
//! unconverted ("raw") when its guess finds nothing but ASCII: a part longer
//! than three samples whose start, middle and end are all 7-bit.
//!
//! The guess stands in for Rspamd's statistical detector: that detector
//! names a Latin charset for Latin text with a few 8-bit bytes (ISO-8859-1
//! when none of them is in 0x80..0xA0, windows-1252 when one is, which
//! decode alike), and windows-1252 is the guess here. Texts in other
//! scripts without a declared charset are guessed differently by Rspamd.
use std::borrow::Cow;

use encoding_rs::{Encoding, WINDOWS_1252, WINDOWS_1254, WINDOWS_874};

/// Bytes of each sample Rspamd's charset guess reads from a long text.
const SAMPLE: usize = 512;

/// What the part's words are taken from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content<'a> {
    /// Converted (or already) UTF-8 text.
    Utf8(Cow<'a, str>),
    /// Unconverted bytes, tokenized as bytes (see `raw`).
    Raw(Cow<'a, [u8]>),
}

/// A declared charset as Rspamd resolves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Charset {
    Utf8,
    /// US-ASCII and its aliases: read as UTF-8 when the bytes allow.
    Ascii,
    /// A single-byte ISO charset whose WHATWG label is a windows superset:
    /// ICU decodes its 0x80..0xA0 bytes as C1 controls.
    IsoC1(&'static Encoding),
    Other(&'static Encoding),
}

/// The part's text from its transfer-decoded `bytes` and the charset
/// parameter it declares.
pub fn decode<'a>(declared: Option<&str>, bytes: &'a [u8]) -> Content<'a> {
    let valid = std::str::from_utf8(bytes).ok();
    let declared = declared.map(normalise).filter(|d| !d.is_empty());
    match declared.as_deref().map(resolve) {
        // Nothing (usable) declared: UTF-8 if it is, else a guess.
        None | Some(None) => match valid {
            Some(text) => Content::Utf8(Cow::Borrowed(text)),
            None => match guess(bytes) {
                Some(enc) => Content::Utf8(Cow::Owned(convert(enc, false, bytes))),
                None => Content::Raw(Cow::Borrowed(bytes)),
            },
        },
        Some(Some(Charset::Utf8 | Charset::Ascii)) => match valid {
            Some(text) => Content::Utf8(Cow::Borrowed(text)),
            None => match guess(bytes) {
                Some(enc) => Content::Utf8(Cow::Owned(convert(enc, false, bytes))),
                None => Content::Utf8(Cow::Owned(enforce_utf8(bytes))),
            },
        },
        Some(Some(Charset::IsoC1(enc))) => Content::Utf8(Cow::Owned(convert(enc, true, bytes))),
        Some(Some(Charset::Other(enc))) => Content::Utf8(Cow::Owned(convert(enc, false, bytes))),
    }
}

/// Whether `declared` is UTF-8 or absent: then a parser that read the
/// bytes as UTF-8 without replacing any read what Rspamd reads. (The
/// parser reads ASCII declarations as windows-1252, which Rspamd does not.)
pub fn utf8_or_none(declared: Option<&str>) -> bool {
    let Some(d) = declared.map(normalise).filter(|d| !d.is_empty()) else {
        return true;
    };
    resolve(&d) == Some(Charset::Utf8)
}

/// Rspamd's clean-up of a charset name: lower case, no leading or trailing
/// non-alphanumerics, and `cp-NNN` / `ibm-NNN` without the dash.
fn normalise(name: &str) -> String {
    let trimmed = name.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let lower = trimmed.to_ascii_lowercase();
    if lower.starts_with("cp-") || lower.starts_with("ibm-") {
        lower.replace('-', "")
    } else {
        lower
    }
}

/// The charset a normalised name stands for; `None` when neither Rspamd's
/// aliases nor the known labels know it.
fn resolve(name: &str) -> Option<Charset> {
    const ASCII: [&str; 17] = [
        "us-ascii",
        "ascii",
        "ansi_x3.4-1968",
        "ansi_x3.4-1986",
        "iso-646-us",
        "iso646-us",
        "iso-ir-6",
        "iso_646.irv:1991",
        "iso_646.irv:1983",
        "us",
        "ibm367",
        "cp367",
        "csascii",
        "ascii7",
        "default",
        "646",
        "iso969-us",
    ];
    if matches!(name, "utf-8" | "utf8" | "unicode-1-1-utf-8") {
        return Some(Charset::Utf8);
    }
    if ASCII.contains(&name) {
        return Some(Charset::Ascii);
    }
    let enc = Encoding::for_label_no_replacement(name.as_bytes())?;
    if enc == encoding_rs::UTF_8 {
        return Some(Charset::Utf8);
    }
    let windows_name = ["windows", "1252", "1254", "874"]
        .iter()
        .any(|w| name.contains(w));
    if [WINDOWS_1252, WINDOWS_1254, WINDOWS_874].contains(&enc) && !windows_name {
        return Some(Charset::IsoC1(enc));
    }
    Some(Charset::Other(enc))
}

/// Rspamd's guess for bytes that are not UTF-8: one sample of a short
/// text, else three (start, middle, end) of which the 7-bit ones say
/// nothing; `None` when all of them are 7-bit.
fn guess(bytes: &[u8]) -> Option<&'static Encoding> {
    if bytes.len() < SAMPLE * 3 {
        return (!bytes.is_ascii()).then_some(WINDOWS_1252);
    }
    let mid = bytes.len() / 2;
    let samples = [
        &bytes[..SAMPLE],
        &bytes[mid..mid + SAMPLE],
        &bytes[bytes.len() - SAMPLE..],
    ];
    samples
        .iter()
        .any(|s| !s.is_ascii())
        .then_some(WINDOWS_1252)
}

/// `bytes` decoded with `enc`, invalid sequences replaced; with `c1`, the
/// bytes 0x80..0xA0 of a single-byte charset are the C1 controls.
fn convert(enc: &'static Encoding, c1: bool, bytes: &[u8]) -> String {
    if !c1 {
        return enc.decode_without_bom_handling(bytes).0.into_owned();
    }
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 4);
    for run in bytes.split_inclusive(|b| (0x80..0xA0).contains(b)) {
        let (head, control) = match run.last() {
            Some(&b) if (0x80..0xA0).contains(&b) => (&run[..run.len() - 1], Some(b)),
            _ => (run, None),
        };
        out.push_str(&enc.decode_without_bom_handling(head).0);
        if let Some(b) = control {
            out.push(char::from(b));
        }
    }
    out
}

/// Each byte of an invalid UTF-8 sequence as `?`, the rest kept: what
/// Rspamd reads from a part declared UTF-8 or ASCII whose bytes are not.
fn enforce_utf8(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                let n = e.error_len().unwrap_or(bad.len());
                out.extend(std::iter::repeat_n('?', n));
                rest = &bad[n..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf8(c: Content<'_>) -> String {
        match c {
            Content::Utf8(t) => t.into_owned(),
            Content::Raw(b) => panic!("raw: {b:?}"),
        }
    }

    #[test]
    fn valid_utf8_without_a_usable_charset_stays() {
        assert_eq!(utf8(decode(None, "día".as_bytes())), "día");
        assert_eq!(utf8(decode(Some("x-unknown"), "día".as_bytes())), "día");
        assert_eq!(utf8(decode(Some("\"UTF-8\""), "día".as_bytes())), "día");
    }

    #[test]
    fn a_short_undeclared_8bit_text_is_guessed_latin() {
        assert_eq!(utf8(decode(None, b"caf\xe9 \x93q\x94")), "café “q”");
        assert_eq!(utf8(decode(Some("unknown-8bit"), b"caf\xe9")), "café");
    }

    #[test]
    fn a_long_text_whose_samples_are_ascii_is_raw() {
        let mut text = vec![b'a'; 4000];
        text[800] = 0xe9;
        assert_eq!(decode(None, &text), Content::Raw(Cow::Borrowed(&text[..])));
        // An 8-bit byte in a sample: converted.
        text[10] = 0xe9;
        assert!(matches!(decode(None, &text), Content::Utf8(_)));
        // Declared ASCII or UTF-8: the bad bytes become `?` instead.
        text[10] = b'a';
        let t = utf8(decode(Some("us-ascii"), &text));
        assert_eq!(t.len(), 4000);
        assert_eq!(&t[799..802], "a?a");
    }

    #[test]
    fn declared_ascii_with_latin_bytes_is_guessed() {
        assert_eq!(utf8(decode(Some("us-ascii"), b"na\xefve")), "naïve");
        assert_eq!(utf8(decode(Some("utf-8"), b"na\xefve")), "naïve");
    }

    #[test]
    fn iso_8859_1_has_c1_controls_where_windows_1252_has_quotes() {
        assert_eq!(utf8(decode(Some("iso-8859-1"), b"don\x92t")), "don\u{92}t");
        assert_eq!(utf8(decode(Some("latin1"), b"\xe9\x80")), "é\u{80}");
        assert_eq!(utf8(decode(Some("windows-1252"), b"don\x92t")), "don’t");
        assert_eq!(utf8(decode(Some("ISO-8859-9"), b"\xfd\x92")), "ı\u{92}");
        // 7-bit bytes in a declared charset are converted too.
        assert_eq!(utf8(decode(Some("iso-2022-jp"), b"\x1b$B$3\x1b(B")), "こ");
    }

    #[test]
    fn only_utf8_or_no_declaration_trusts_utf8_text() {
        assert!(utf8_or_none(None));
        assert!(utf8_or_none(Some(" ")));
        assert!(utf8_or_none(Some("utf8")));
        assert!(!utf8_or_none(Some("US-ASCII")));
        assert!(!utf8_or_none(Some("bogus")));
        assert!(!utf8_or_none(Some("iso-8859-1")));
        // Valid UTF-8 declared ASCII stays UTF-8.
        assert_eq!(utf8(decode(Some("us-ascii"), "café".as_bytes())), "café");
    }

    #[test]
    fn names_are_cleaned_as_rspamd_cleans_them() {
        assert_eq!(normalise("\"CP-1252\""), "cp1252");
        assert_eq!(normalise(" ibm-866;"), "ibm866");
        assert_eq!(resolve("cp1252"), Some(Charset::Other(WINDOWS_1252)));
        assert_eq!(resolve("default"), Some(Charset::Ascii));
    }
}
