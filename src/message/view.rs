//! The parsed message as the rules see it: header values (decoded and raw),
//! text parts (HTML already turned into text), URLs and addresses.
//!
//! Built once per scan from a borrowed `mail_parser::Message`; everything
//! that can stay a slice of the raw bytes does, so a scan copies little.
use std::borrow::Cow;

use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::parsers::MessageStream;
use mail_parser::{Address, Encoding, HeaderValue, Message, MessagePart, MimeHeaders, PartType};

use super::extract::Extracted;
use super::markup::{tags, Tag};

/// Nested `message/rfc822` parts are followed this deep, like Rspamd's
/// recursion limit, so a crafted message cannot make us recurse without end.
const MAX_NESTING: usize = 3;

/// One header field.
#[derive(Debug)]
pub struct HeaderView<'m> {
    pub name: &'m str,
    /// Unfolded, RFC 2047-decoded value.
    pub value: Cow<'m, str>,
    /// The value bytes exactly as received (folding included).
    pub raw: &'m [u8],
}

/// One text part (plain or HTML), not an attachment.
#[derive(Debug)]
pub struct TextPart<'m> {
    /// Decoded text; for HTML, the text rendering of the markup.
    pub text: Cow<'m, str>,
    /// Decoded HTML source, for URL extraction.
    pub html: Option<&'m str>,
    /// The undecoded body bytes (transfer encoding still applied).
    pub raw: &'m [u8],
    /// The tags of `html`, read once here: several modules walk the
    /// markup, and reading it is most of their work.
    pub tags: Vec<Tag<'m>>,
    /// The declared charset parameter, as written.
    pub charset: Option<&'m str>,
    /// The Content-Transfer-Encoding `raw` is in.
    pub transfer: Encoding,
    /// The parser could not undo `transfer` (a base64 body after a blank
    /// line, say): `text` is `raw` as it is.
    pub undecoded: bool,
    /// The part is one of the two children of a multipart (an alternative's
    /// plain half, a text with one attachment): Rspamd then finds only
    /// URLs with a scheme, `www.` names and addresses in its text.
    pub paired: bool,
}

impl<'m> TextPart<'m> {
    /// A part with `text`, `html` source (if any) and `raw` body bytes.
    pub fn new(text: Cow<'m, str>, html: Option<&'m str>, raw: &'m [u8]) -> TextPart<'m> {
        TextPart {
            text,
            html,
            raw,
            tags: html.map(|h| tags(h).collect()).unwrap_or_default(),
            charset: None,
            transfer: Encoding::None,
            undecoded: false,
            paired: false,
        }
    }

    /// The body's bytes before any charset conversion: `raw` with its
    /// transfer encoding undone. For readers that decide the charset
    /// themselves; most read `text`.
    pub fn body_bytes(&self) -> Cow<'m, [u8]> {
        let decoded = match self.transfer {
            Encoding::None => None,
            Encoding::Base64 => base64_decode(self.raw),
            Encoding::QuotedPrintable => quoted_printable_decode(self.raw),
        };
        decoded.map_or(Cow::Borrowed(self.raw), Cow::Owned)
    }
}

/// Everything the rules need from one message.
#[derive(Debug, Default)]
pub struct MessageView<'m> {
    pub raw: &'m [u8],
    /// Bytes of the top-level header block.
    pub header_block: &'m [u8],
    pub headers: Vec<HeaderView<'m>>,
    /// Headers of MIME parts below the top level.
    pub mime_headers: Vec<HeaderView<'m>>,
    pub text_parts: Vec<TextPart<'m>>,
    /// Every MIME part, for the content modules.
    pub parts: Vec<super::parts::PartInfo<'m>>,
    pub found: Extracted,
}

impl<'m> MessageView<'m> {
    /// Builds the view; `msg` is `None` when the parser found no headers.
    pub fn new(raw: &'m [u8], msg: Option<&'m Message<'m>>) -> MessageView<'m> {
        let mut view = MessageView {
            raw,
            ..MessageView::default()
        };
        if let Some(msg) = msg {
            view.header_block = header_block(msg);
            view.collect(msg, 0);
        }
        for part in &view.text_parts {
            view.found.scan_text(&part.text);
            if let Some(html) = part.html {
                view.found.scan_text(html);
            }
        }
        for part in &view.parts {
            if super::pdf::is_pdf(&part.content_type, part.extension().as_deref(), &part.body) {
                for uri in super::pdf::link_uris(&part.body) {
                    view.found.add_content_url(&uri);
                }
            }
        }
        view
    }

    fn collect(&mut self, msg: &'m Message<'m>, depth: usize) {
        let raw = msg.raw_message();
        let paired = paired_parts(msg);
        for (idx, part) in msg.parts.iter().enumerate() {
            let target = if idx == 0 && depth == 0 {
                &mut self.headers
            } else {
                &mut self.mime_headers
            };
            target.extend(part.headers.iter().map(|h| header_view(raw, h)));
            self.collect_body(raw, part, depth, paired[idx]);
        }
    }

    fn collect_body(
        &mut self,
        raw: &'m [u8],
        part: &'m MessagePart<'m>,
        depth: usize,
        paired: bool,
    ) {
        let is_attachment = part
            .content_disposition()
            .is_some_and(|cd| cd.is_attachment());
        let body_raw = slice(raw, part.offset_body, part.offset_end);
        self.parts
            .push(super::parts::PartInfo::from_part(part, body_raw));
        let text_part = match &part.body {
            // A digest's entry without a Content-Type is a message by the
            // RFC; Rspamd reads it as text/plain (its headers included).
            PartType::Message(_) if !is_attachment && part.content_type().is_none() => {
                TextPart::new(String::from_utf8_lossy(body_raw), None, body_raw)
            }
            // The parser keeps a report as bytes, its transfer encoding undone.
            PartType::Binary(b) | PartType::InlineBinary(b)
                if !is_attachment && is_delivery_report(part) =>
            {
                TextPart::new(String::from_utf8_lossy(b), None, body_raw)
            }
            PartType::Text(t) if !is_attachment => {
                TextPart::new(Cow::Borrowed(t.as_ref()), None, body_raw)
            }
            PartType::Html(h) if !is_attachment => TextPart::new(
                Cow::Owned(super::html_text::html_to_text(h)),
                Some(h.as_ref()),
                body_raw,
            ),
            PartType::Message(inner) if depth < MAX_NESTING => {
                return self.collect(inner, depth + 1)
            }
            _ => return,
        };
        let transfer = if part.is_encoding_problem {
            declared_transfer(part)
        } else {
            part.encoding
        };
        self.text_parts.push(TextPart {
            charset: part.content_type().and_then(|ct| ct.attribute("charset")),
            transfer,
            undecoded: part.is_encoding_problem && transfer != Encoding::None,
            paired,
            ..text_part
        });
    }

    /// Case-insensitive lookup of the top-level headers named `name`.
    pub fn headers_named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a HeaderView<'m>> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
    }

    pub fn header<'a>(&'a self, name: &'a str) -> Option<&'a HeaderView<'m>> {
        self.headers_named(name).next()
    }

    /// Message-ID without angle brackets or surrounding space.
    pub fn message_id(&self) -> Option<String> {
        let v = self.header("Message-ID")?;
        let id = v
            .value
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim();
        (!id.is_empty()).then(|| id.to_string())
    }

    pub fn subject(&self) -> Option<&str> {
        self.header("Subject").map(|h| h.value.as_ref())
    }
}

/// Per part of `msg`: whether its parent is a multipart of two parts.
fn paired_parts(msg: &Message<'_>) -> Vec<bool> {
    let mut paired = vec![false; msg.parts.len()];
    for part in &msg.parts {
        if let PartType::Multipart(children) = &part.body {
            if children.len() == 2 {
                for &c in children {
                    if let Some(p) = paired.get_mut(c as usize) {
                        *p = true;
                    }
                }
            }
        }
    }
    paired
}

/// The Content-Transfer-Encoding a part declares (the parser's own record
/// says none when it could not decode it).
pub(super) fn declared_transfer(part: &MessagePart<'_>) -> Encoding {
    match part.content_transfer_encoding() {
        Some(e) if e.trim().eq_ignore_ascii_case("base64") => Encoding::Base64,
        Some(e) if e.trim().eq_ignore_ascii_case("quoted-printable") => Encoding::QuotedPrintable,
        _ => Encoding::None,
    }
}

/// `message/delivery-status` and `message/*notification*` parts: Rspamd
/// reads them as plain text parts (a report's fields are text, not a
/// message to parse).
fn is_delivery_report(part: &MessagePart<'_>) -> bool {
    part.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("message")
            && ct.subtype().is_some_and(|sub| {
                sub.eq_ignore_ascii_case("delivery-status")
                    || sub
                        .as_bytes()
                        .windows(12)
                        .any(|w| w.eq_ignore_ascii_case(b"notification"))
            })
    })
}

fn slice(raw: &[u8], start: u32, end: u32) -> &[u8] {
    raw.get(start as usize..end as usize).unwrap_or_default()
}

fn header_block<'m>(msg: &'m Message<'m>) -> &'m [u8] {
    let raw = msg.raw_message();
    let end = msg.parts.first().map_or(0, |p| p.offset_body);
    slice(raw, 0, end)
}

fn header_view<'m>(raw: &'m [u8], h: &'m mail_parser::Header<'m>) -> HeaderView<'m> {
    let raw_value = slice(raw, h.offset_start, h.offset_end);
    HeaderView {
        name: h.name(),
        value: decoded(&h.value, raw_value),
        raw: raw_value,
    }
}

/// Renders mail-parser's typed value as the text a header rule matches.
fn decoded<'m>(v: &'m HeaderValue<'m>, raw: &'m [u8]) -> Cow<'m, str> {
    match v {
        HeaderValue::Text(t) => Cow::Borrowed(t.as_ref()),
        HeaderValue::TextList(l) => Cow::Owned(l.join(", ")),
        HeaderValue::Address(a) => Cow::Owned(address_text(a)),
        // Headers the parser only delimits (see `pipeline::parser`), typed
        // ones it could not parse, and other typed values (dates, content
        // types, ids): their text as written.
        _ => unstructured(raw),
    }
}

/// An unstructured header value as text, as mail-parser's text parser
/// renders it: each line trimmed of spaces, tabs and CRs, non-empty lines
/// joined by one space, RFC 2047 encoded words decoded. Values without an
/// encoded word (nearly all) skip the parser; a one-line value is borrowed.
fn unstructured(raw: &[u8]) -> Cow<'_, str> {
    if memchr::memmem::find(raw, b"=?").is_some() {
        return match MessageStream::new(raw).parse_unstructured() {
            HeaderValue::Text(t) => t,
            _ => Cow::Borrowed(""),
        };
    }
    let mut lines = raw
        .split(|&c| c == b'\n')
        .map(trim_blanks)
        .filter(|l| !l.is_empty());
    let Some(first) = lines.next() else {
        return Cow::Borrowed("");
    };
    let Some(second) = lines.next() else {
        return String::from_utf8_lossy(first);
    };
    let mut out = String::from_utf8_lossy(first).into_owned();
    for l in std::iter::once(second).chain(lines) {
        out.push(' ');
        out.push_str(&String::from_utf8_lossy(l));
    }
    Cow::Owned(out)
}

fn address_text(a: &Address<'_>) -> String {
    let mut out = String::new();
    for (i, addr) in a.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match (addr.name(), addr.address()) {
            (Some(n), Some(e)) => {
                out.push_str(n);
                out.push_str(" <");
                out.push_str(e);
                out.push('>');
            }
            (Some(n), None) => out.push_str(n),
            (None, Some(e)) => out.push_str(e),
            (None, None) => {}
        }
    }
    out
}

/// A line without its leading and trailing spaces, tabs and CRs.
fn trim_blanks(l: &[u8]) -> &[u8] {
    let blank = |c: &u8| matches!(c, b' ' | b'\t' | b'\r');
    let start = l.iter().position(|c| !blank(c)).unwrap_or(l.len());
    let end = l.iter().rposition(|c| !blank(c)).map_or(start, |e| e + 1);
    &l[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path renders values exactly as mail-parser's text parser.
    #[test]
    fn unstructured_matches_mail_parser() {
        let cases: &[&[u8]] = &[
            b" plain value\r\n",
            b"  spaced   inside  \t\r\n",
            b" folded\r\n\tover\r\n   three lines \r\n",
            b" \r\n \r\n",
            b"\r\n",
            b" caf\xc3\xa9 \xff bytes\r\n",
            b" =?utf-8?q?caf=C3=A9?= and =?iso-8859-1?q?na=EFve?=\r\n",
            b" broken =?x no word\r\n",
            b" folded\n last\n",
        ];
        for raw in cases {
            let expected = match MessageStream::new(raw).parse_unstructured() {
                HeaderValue::Text(t) => t.into_owned(),
                _ => String::new(),
            };
            assert_eq!(
                unstructured(raw),
                expected,
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn one_line_values_are_borrowed() {
        assert!(matches!(
            unstructured(b" one line\r\n"),
            Cow::Borrowed("one line")
        ));
    }
}
