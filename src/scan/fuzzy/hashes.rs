//! Which hashes a message yields under one rule, as Rspamd's fuzzy_check
//! selects them: per text part the shingles (enough words) or a direct
//! digest (a short but not tiny text); per image or attachment the digest of
//! its decoded bytes, when its type, size and dimensions pass the rule.
use std::borrow::Cow;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::charset::{self, Content};
use super::html::html_text_links;
use super::keys::{keyed_blake2b, part_digest, Digest64, RuleKeys, SHINGLES};
use super::raw::{raw_words, to_bytes, ByteText};
use super::shingles::{shingles, Algorithm};
use super::sniff::looks_like_html;
use super::words::{strip_newlines, stripped_lines, url_spans, words_in_lines};
use crate::message::view::TextPart;
use crate::message::MessageView;

/// Fewest words for shingles whatever `min_length` says.
const MIN_SHINGLE_WORDS: usize = 32;

/// A rule's hashing settings (Rspamd's `recommended` policy for the ones a
/// rule leaves out).
#[derive(Debug, Clone)]
pub struct HashPolicy {
    pub keys: RuleKeys,
    pub algorithm: Algorithm,
    /// Parts (and texts, times `text_multiplier`) shorter than this are
    /// not hashed.
    pub min_bytes: usize,
    pub min_height: u32,
    pub min_width: u32,
    /// Words a text needs for shingles (at least 32).
    pub min_length: usize,
    pub text_multiplier: f64,
    /// Globs over attachments' `type/subtype`; `None` hashes none.
    pub mime_types: Option<GlobSet>,
    pub scan_archives: bool,
    pub short_text_direct_hash: bool,
    pub text_shingles: bool,
    pub skip_images: bool,
    /// Leave the Subject out of short texts' digests.
    pub no_subject: bool,
}

impl Default for HashPolicy {
    fn default() -> HashPolicy {
        HashPolicy {
            keys: RuleKeys::default(),
            algorithm: Algorithm::default(),
            min_bytes: 1024,
            min_height: 500,
            min_width: 500,
            min_length: 64,
            text_multiplier: 4.0,
            mime_types: Some(globs(&["application/*"]).unwrap_or_else(|_| GlobSet::empty())),
            scan_archives: true,
            short_text_direct_hash: true,
            text_shingles: true,
            skip_images: false,
            no_subject: false,
        }
    }
}

/// Compiles `mime_types` globs, case-insensitive, as Rspamd imports them.
pub fn globs(patterns: &[&str]) -> Result<GlobSet, globset::Error> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(
            GlobBuilder::new(p)
                .case_insensitive(true)
                .literal_separator(false)
                .build()?,
        );
    }
    b.build()
}

/// What a hash was taken of; decides how a match is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    /// A text's shingles and word digest.
    Text,
    /// A short text's direct digest.
    ShortText,
    /// An image's bytes.
    Image { bytes: usize },
    /// An attachment's bytes.
    Binary,
}

/// One hash to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuzzyHash {
    pub digest: Digest64,
    pub shingles: Option<[u64; SHINGLES]>,
    pub kind: HashKind,
}

/// The message's hashes under `policy`, duplicates (by digest) removed,
/// in the order of the parts.
pub fn message_hashes(view: &MessageView<'_>, policy: &HashPolicy) -> Vec<FuzzyHash> {
    let mut out: Vec<FuzzyHash> = Vec::new();
    let subject = view.subject().unwrap_or("");
    for t in &part_texts(view) {
        if let Some(h) = text_hash(t, subject, policy) {
            push_unique(&mut out, h);
        }
    }
    for part in &view.parts {
        if let Some(h) = binary_hash(part, policy) {
            push_unique(&mut out, h);
        }
    }
    out
}

/// A text part as Rspamd reads it for words.
pub struct PartText<'a> {
    pub text: Cow<'a, str>,
    pub html: bool,
    /// HTML links whose text is a URL, left out of the words (see
    /// `html::html_text_links`).
    pub links: Vec<(usize, usize)>,
    /// The part's bytes when Rspamd leaves it unconverted (see
    /// `charset`): its words are then read from these (see `raw`), and
    /// `text` is empty.
    pub raw: Option<Vec<u8>>,
    /// Only URLs with a scheme, `www.` names and addresses are left out of
    /// its words, not bare host names: an HTML part's, and a part's with
    /// one sibling (Rspamd's strict URL finding).
    pub strict: bool,
}

impl<'a> PartText<'a> {
    /// A plain text part.
    pub fn plain(text: Cow<'a, str>) -> PartText<'a> {
        PartText {
            text,
            html: false,
            links: Vec::new(),
            raw: None,
            strict: false,
        }
    }

    /// An HTML part, from its markup.
    pub fn html(source: &str) -> PartText<'a> {
        let (text, links) = html_text_links(source);
        PartText {
            text: Cow::Owned(text),
            html: true,
            links,
            raw: None,
            strict: true,
        }
    }

    /// An unconverted part from its bytes; `html`: read as markup, whose
    /// text keeps the bytes as they are.
    pub fn unconverted(bytes: &[u8], html: bool) -> PartText<'a> {
        let (raw, links) = if html {
            let source = ByteText::new(bytes);
            let (text, links) = html_text_links(&source.text);
            to_bytes(&text, &links)
        } else {
            (bytes.to_vec(), Vec::new())
        };
        PartText {
            text: Cow::Borrowed(""),
            html,
            links,
            raw: Some(raw),
            strict: html,
        }
    }
}

/// Each text part as Rspamd reads it: its text in the charset Rspamd
/// settles on (see `charset`), an HTML part's text Rspamd's extraction of
/// it (see `html`), and so is a plain part's whose start is markup (see
/// `sniff`).
fn part_texts<'a>(view: &'a MessageView<'_>) -> Vec<PartText<'a>> {
    view.text_parts
        .iter()
        .map(|part| {
            let source = part.html.unwrap_or(&part.text);
            let mut text = match part_content(part, source) {
                Content::Raw(bytes) => {
                    let html = part.html.is_some()
                        || looks_like_html(&ByteText::new(&bytes[..bytes.len().min(4096)]).text);
                    PartText::unconverted(&bytes, html)
                }
                Content::Utf8(text) => {
                    if part.html.is_some() || looks_like_html(&text) {
                        PartText::html(&text)
                    } else {
                        PartText::plain(text)
                    }
                }
            };
            text.strict |= part.paired;
            text
        })
        .collect()
}

/// The part's text in Rspamd's charset. The parser's text (`source`) is
/// it when it is ASCII, or valid UTF-8 of a part declared UTF-8 or nothing,
/// and the parser undid the transfer encoding; else the bytes are decoded
/// again as Rspamd decodes them.
fn part_content<'a>(part: &'a TextPart<'_>, source: &'a str) -> Content<'a> {
    let trusted =
        source.is_ascii() || (charset::utf8_or_none(part.charset) && !source.contains('\u{FFFD}'));
    if trusted && !part.undecoded {
        return Content::Utf8(Cow::Borrowed(source));
    }
    match charset::decode(part.charset, &part.body_bytes()) {
        Content::Utf8(t) => Content::Utf8(Cow::Owned(t.into_owned())),
        Content::Raw(b) => Content::Raw(Cow::Owned(b.into_owned())),
    }
}

fn push_unique(out: &mut Vec<FuzzyHash>, h: FuzzyHash) {
    if !out.iter().any(|o| o.digest == h.digest) {
        out.push(h);
    }
}

/// The words each text part's hash is taken of, in the parts' order (for
/// `sluice fuzzy hashes --words`, to compare with Rspamd's `get_words`).
/// An unconverted part's words are bytes, not necessarily UTF-8.
pub fn message_words(view: &MessageView<'_>) -> Vec<Vec<Vec<u8>>> {
    part_texts(view).iter().map(|t| part_words(t).1).collect()
}

/// A part's stripped text (what a short text's digest hashes) and the
/// words its shingles are taken of.
fn part_words(part: &PartText<'_>) -> (Vec<u8>, Vec<Vec<u8>>) {
    let strict = part.strict;
    if let Some(bytes) = &part.raw {
        let (stripped, breaks) = strip_newlines(bytes, part.html);
        let text = ByteText::new(&stripped);
        let lines: Vec<usize> = breaks.iter().map(|&b| text.offset(b)).collect();
        let urls = text.spans(
            &url_spans(&text.text, strict, &lines)
                .into_iter()
                .map(|(s, e)| (s, e - s))
                .collect::<Vec<_>>(),
        );
        let links: Vec<(usize, usize)> = part
            .links
            .iter()
            .copied()
            .filter(|(pos, _)| *pos <= stripped.len())
            .collect();
        let words = raw_words(&stripped, &breaks, &urls, &links);
        return (stripped, words);
    }
    let (stripped, breaks) = stripped_lines(&part.text, part.html);
    let words = words_in_lines(&stripped, &breaks, strict, &part.links)
        .into_iter()
        .filter(|w| w.counts())
        .map(|w| w.stem.into_bytes())
        .collect();
    (stripped.into_bytes(), words)
}

/// The hash of one text part: shingles when it has enough words, else a
/// direct digest of its stripped text (and Subject) when that is long
/// enough, else none.
pub fn text_hash(part: &PartText<'_>, subject: &str, policy: &HashPolicy) -> Option<FuzzyHash> {
    let (stripped, stems) = part_words(part);
    let count = stems.len();
    let (direct, use_shingles) = if policy.text_shingles {
        let shingled = count >= policy.min_length.max(MIN_SHINGLE_WORDS);
        let direct = if shingled {
            count > 0
        } else {
            policy.short_text_direct_hash && long_enough(&stripped, subject, policy)
        };
        (direct, shingled)
    } else {
        (long_enough(&stripped, subject, policy), false)
    };
    if !direct {
        return None;
    }
    if use_shingles {
        let digest = keyed_blake2b(&policy.keys.hash_key, stems.iter().map(Vec::as_slice));
        let sh = shingles(&stems, &policy.keys, policy.algorithm)?;
        return Some(FuzzyHash {
            digest,
            shingles: Some(sh),
            kind: HashKind::Text,
        });
    }
    let subject = if policy.no_subject { "" } else { subject };
    Some(FuzzyHash {
        digest: keyed_blake2b(
            &policy.keys.hash_key,
            [stripped.as_slice(), subject.as_bytes()],
        ),
        shingles: None,
        kind: HashKind::ShortText,
    })
}

/// Rspamd's `check_length` for a text: the stripped text plus the Subject,
/// times `text_multiplier`, against `min_bytes`.
fn long_enough(stripped: &[u8], subject: &str, policy: &HashPolicy) -> bool {
    let mut bytes = stripped.len();
    if !policy.no_subject {
        bytes += subject.len();
    }
    bytes > 0 && (policy.min_bytes as f64) <= bytes as f64 * policy.text_multiplier
}

fn binary_hash(
    part: &crate::message::parts::PartInfo<'_>,
    policy: &HashPolicy,
) -> Option<FuzzyHash> {
    let body: &[u8] = &part.body;
    if body.is_empty() {
        return None;
    }
    let size_ok = body.len() >= policy.min_bytes;
    if is_image(body) {
        if policy.skip_images {
            return None;
        }
        if policy.min_width > 0 || policy.min_height > 0 {
            if let Ok(dim) = imagesize::blob_size(body) {
                let (w, h) = (dim.width as u64, dim.height as u64);
                if h < u64::from(policy.min_height) || w < u64::from(policy.min_width) {
                    return None;
                }
            }
        }
        return size_ok.then(|| FuzzyHash {
            digest: part_digest(body),
            shingles: None,
            kind: HashKind::Image { bytes: body.len() },
        });
    }
    let archive = is_archive(body);
    let selected = if archive && policy.scan_archives {
        true
    } else if part.is_attachment || part.filename.is_some() {
        size_ok
            && policy
                .mime_types
                .as_ref()
                .is_some_and(|g| g.is_match(&part.content_type))
    } else {
        false
    };
    selected.then(|| FuzzyHash {
        digest: part_digest(body),
        shingles: None,
        kind: HashKind::Binary,
    })
}

/// Images Rspamd parses (by their magic): PNG, JPEG, GIF, BMP.
fn is_image(b: &[u8]) -> bool {
    b.starts_with(b"\x89PNG\r\n\x1a\n")
        || b.starts_with(b"\xff\xd8")
        || b.starts_with(b"GIF8")
        || (b.starts_with(b"BM") && b.len() > 26)
}

/// Archives Rspamd opens (zip, rar, 7z), sent whatever their size.
fn is_archive(b: &[u8]) -> bool {
    b.starts_with(b"PK\x03\x04")
        || b.starts_with(b"Rar!\x1a\x07")
        || b.starts_with(b"7z\xbc\xaf\x27\x1c")
}

#[cfg(test)]
mod tests;
