//! Links in PDF attachments: the `/URI` entries of the PDF's objects (link annotations'
//! actions, mostly), found as Rspamd's `lua_content/pdf.lua` finds them, objects inside
//! FlateDecode'd object streams included. Rspamd flags these URLs as content URLs; the DNS
//! lists ask about them when a rule has `content_urls`.
//!
//! A PDF is hostile input, so the scan is bounded: at most [`MAX_OBJECTS`] objects, object
//! text over [`MAX_OBJECT_TEXT`] is skipped, nesting is capped ([`syntax`]), each stream
//! inflates to at most [`streams::MAX_INFLATED`] and one PDF to at most [`MAX_INFLATED_PDF`]
//! in all, and at most [`MAX_URIS`] links are kept. Every pass is linear in the input.

pub mod streams;
pub mod syntax;

use std::collections::HashMap;

use memchr::memmem;

use self::syntax::{first_value, Value};

/// Objects looked at (Rspamd's `max_pdf_objects`).
pub const MAX_OBJECTS: usize = 10_000;
/// Object text this long or longer is not read (Rspamd's `max_processing_size`).
pub const MAX_OBJECT_TEXT: usize = 32 * 1024;
/// Bytes all object streams of one PDF inflate to: past it the remaining ones are skipped
/// (Rspamd bounds the same work with a one-second timeout).
pub const MAX_INFLATED_PDF: usize = 4 << 20;
/// Links kept from one PDF.
pub const MAX_URIS: usize = 512;
/// Dictionaries nested deeper than this are not searched (as in Rspamd).
const MAX_WALK_DEPTH: usize = 10;
/// A trailer this far into the file is not read for `/Encrypt` (Rspamd's `max_pdf_trailer`).
const MAX_TRAILER_OFFSET: usize = 10 << 20;
/// Trailer lines read for `/Encrypt` (Rspamd's `max_pdf_trailer_lines`).
const MAX_TRAILER_LINES: usize = 100;

/// Whether a part holds a PDF: its declared type, its file name, or its first bytes.
pub fn is_pdf(content_type: &str, extension: Option<&str>, body: &[u8]) -> bool {
    content_type == "application/pdf"
        || extension == Some("pdf")
        || memmem::find(&body[..body.len().min(1024)], b"%PDF-").is_some()
}

/// The `/URI` strings of a PDF's objects, in file order, without duplicates.
pub fn link_uris(pdf: &[u8]) -> Vec<String> {
    let mut scan = Scan {
        numbers: HashMap::new(),
        encrypted: encrypted_trailer(pdf),
        uris: Vec::new(),
    };
    let mut object_streams = Vec::new();
    for obj in objects(pdf) {
        let Some(value) = readable(obj.dict_text()).and_then(first_value) else {
            continue;
        };
        match obj.stream {
            None => {
                if let Value::Num(n) = value {
                    scan.numbers.insert((obj.major, obj.minor), n);
                }
            }
            Some(_) => {
                if value.get(b"Type").is_some_and(|t| t.is_name(b"XRef"))
                    && value.get(b"Encrypt").is_some()
                {
                    scan.encrypted = true;
                }
            }
        }
        scan.walk(&value, 0);
        if let Some(stream) = obj.stream {
            if value.get(b"Type").is_some_and(|t| t.is_name(b"ObjStm")) {
                object_streams.push((value, stream));
            }
        }
    }
    if !scan.encrypted {
        scan.object_streams(&object_streams);
    }
    scan.uris
}

fn readable(text: &[u8]) -> Option<&[u8]> {
    (text.len() < MAX_OBJECT_TEXT).then_some(text)
}

struct Scan {
    /// Objects that are a bare number (an indirect `/Length`, `/N`, `/First`).
    numbers: HashMap<(u32, u32), f64>,
    /// Encrypted PDFs keep their streams unread (their strings are ciphertext anyway).
    encrypted: bool,
    uris: Vec<String>,
}

impl Scan {
    /// Every `/URI` key with a string or name value, in this value and below.
    fn walk(&mut self, v: &Value, depth: usize) {
        if depth > MAX_WALK_DEPTH || self.uris.len() >= MAX_URIS {
            return;
        }
        match v {
            Value::Dict(kv) => {
                for (k, v) in kv {
                    match v {
                        Value::Str(s) | Value::Name(s) if k == b"URI" => self.add(s),
                        _ => self.walk(v, depth + 1),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| self.walk(v, depth + 1)),
            _ => {}
        }
    }

    fn add(&mut self, s: &[u8]) {
        let uri = String::from_utf8_lossy(s).trim().to_string();
        if !uri.is_empty() && !self.uris.contains(&uri) && self.uris.len() < MAX_URIS {
            self.uris.push(uri);
        }
    }

    fn number(&self, v: &Value) -> Option<f64> {
        match v {
            Value::Num(n) => Some(*n),
            Value::Ref(major, minor) => self.numbers.get(&(*major, *minor)).copied(),
            _ => None,
        }
    }

    fn object_streams(&mut self, found: &[(Value, &[u8])]) {
        let mut inflated = 0usize;
        for (dict, data) in found {
            if inflated >= MAX_INFLATED_PDF {
                return;
            }
            let first = dict.get(b"First").and_then(|v| self.number(v));
            let count = dict.get(b"N").and_then(|v| self.number(v));
            let (Some(first), Some(_)) = (first, count) else {
                continue;
            };
            let Some(decoded) = streams::decoded(dict, data, |v| self.number(v)) else {
                continue;
            };
            inflated += decoded.len();
            let first = if first > 0.0 { first as usize } else { 0 };
            for text in streams::unpack(&decoded, first) {
                if let Some(v) = readable(text).and_then(first_value) {
                    self.walk(&v, 0);
                }
            }
        }
    }
}

/// One `N M obj ... endobj` of the file.
#[derive(Debug, PartialEq)]
struct Object<'a> {
    major: u32,
    minor: u32,
    /// From the byte after `obj` up to `endobj`.
    text: &'a [u8],
    /// The stream's data, when the object has one (not yet cut to `/Length`).
    stream: Option<&'a [u8]>,
    /// Where the stream's data starts in `text`.
    stream_at: usize,
}

impl<'a> Object<'a> {
    /// The text the object's dictionary is read from: all of it, or what precedes its stream.
    fn dict_text(&self) -> &'a [u8] {
        if self.stream.is_some() {
            &self.text[..self.stream_at]
        } else {
            self.text
        }
    }
}

/// The objects, as Rspamd pairs object starts with `endobj` marks: each start with the next
/// mark after it.
fn objects(pdf: &[u8]) -> Vec<Object<'_>> {
    let starts: Vec<(usize, u32, u32)> = memmem::find_iter(pdf, b"obj")
        .filter_map(|at| object_start(pdf, at))
        .take(MAX_OBJECTS)
        .collect();
    let ends: Vec<usize> = memmem::find_iter(pdf, b"endobj")
        .filter(|&at| matches!(pdf.get(at + 6), Some(b'\r' | b'\n')))
        .take(MAX_OBJECTS)
        .collect();
    let (mut s, mut e) = (0, 0);
    let mut out = Vec::new();
    while s < starts.len() && e < ends.len() {
        let (start, major, minor) = starts[s];
        let end = ends[e];
        if start < end {
            out.push(with_stream(major, minor, &pdf[start..end]));
            s += 1;
            e += 1;
        } else if start > end + 6 {
            e += 1;
        } else {
            s += 1;
            e += 1;
        }
    }
    out
}

/// `at` is an `obj` keyword opening an object (`[\r\n\0]\s*\d+\s+\d+\s+obj[\s<]`, Rspamd's
/// pattern): where the object's text starts (the byte after `obj`) and its numbers.
fn object_start(pdf: &[u8], at: usize) -> Option<(usize, u32, u32)> {
    let after = *pdf.get(at + 3)?;
    if !(is_space(after) || after == b'<') {
        return None;
    }
    let before = &pdf[..at];
    let (rest, _) = split_run(before, is_space, 1)?;
    let (rest, minor) = split_run(rest, |c| c.is_ascii_digit(), 1)?;
    let (rest, _) = split_run(rest, is_space, 1)?;
    let (rest, major) = split_run(rest, |c| c.is_ascii_digit(), 1)?;
    let (rest, blank) = split_run(rest, is_space, 0)?;
    let line_start = blank.iter().any(|&c| c == b'\r' || c == b'\n')
        || matches!(rest.last(), Some(b'\r' | b'\n' | 0));
    if !line_start {
        return None;
    }
    Some((at + 3, number(major)?, number(minor)?))
}

/// `s` without its trailing run of `class` bytes (at least `min` of them), and that run.
fn split_run(s: &[u8], class: impl Fn(u8) -> bool, min: usize) -> Option<(&[u8], &[u8])> {
    let n = s.iter().rev().take_while(|&&c| class(c)).count();
    (n >= min).then(|| s.split_at(s.len() - n))
}

/// `\s` of Rspamd's patterns (PCRE's: space, tab, LF, VT, FF, CR).
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn number(digits: &[u8]) -> Option<u32> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The object with its stream found: `>` `stream` and an end of line opens it, the last
/// `endstream` and an end of line before `endobj` closes it (the byte before `endstream`,
/// the end of line, is not data).
fn with_stream(major: u32, minor: u32, text: &[u8]) -> Object<'_> {
    let mut obj = Object {
        major,
        minor,
        text,
        stream: None,
        stream_at: 0,
    };
    let open = memmem::find_iter(text, b"stream").find(|&at| {
        matches!(text.get(at + 6), Some(b'\r' | b'\n'))
            && split_run(&text[..at], is_space, 0).is_some_and(|(r, _)| r.last() == Some(&b'>'))
    });
    let Some(open) = open else { return obj };
    let mut start = open + 6;
    let close = memmem::rfind(&text[start..], b"endstream")
        .map(|at| start + at)
        .filter(|&at| matches!(text.get(at + 9), Some(b'\r' | b'\n')));
    let Some(close) = close else { return obj };
    while start < close && matches!(text[start], b'\r' | b'\n') {
        start += 1;
    }
    let end = close.saturating_sub(1).max(start);
    obj.stream = Some(&text[start..end]);
    obj.stream_at = start;
    obj
}

/// Rspamd's test for encryption in the trailer: `/Encrypt ` in one of the first lines of the
/// last `trailer` section.
fn encrypted_trailer(pdf: &[u8]) -> bool {
    let Some(at) = memmem::rfind(pdf, b"\ntrailer") else {
        return false;
    };
    let after = &pdf[at + 8..];
    if !(after.starts_with(b"\n") || after.starts_with(b"\r\n")) || at > MAX_TRAILER_OFFSET {
        return false;
    }
    after
        .split(|&c| c == b'\n')
        .take(MAX_TRAILER_LINES + 1)
        .any(|line| memmem::find(line, b"/Encrypt ").is_some())
}

#[cfg(test)]
mod tests;
