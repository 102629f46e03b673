//! What the modules need to know about every MIME part, attachments
//! included: declared type, file name, decoded bytes.
use std::borrow::Cow;

use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{Encoding, MessagePart, MimeHeaders, PartType};

use super::view::declared_transfer;

/// One MIME part (containers and nested messages included).
#[derive(Debug, Clone, PartialEq)]
pub struct PartInfo<'m> {
    /// Lower-cased `type/subtype`; `text/plain` when the part declares none.
    pub content_type: String,
    /// `filename` of Content-Disposition, else `name` of Content-Type.
    pub filename: Option<&'m str>,
    pub is_attachment: bool,
    /// Decoded bytes of non-text leaves; empty for text and containers.
    pub body: Cow<'m, [u8]>,
    /// Content-Transfer-Encoding, lower-cased.
    pub encoding: Option<String>,
    /// The charset parameter, lower-cased.
    pub charset: Option<String>,
    /// Decoded size in bytes (text: the decoded text; containers: the raw
    /// body), what Lua's `part:get_length()` reports.
    pub size: usize,
}

impl<'m> PartInfo<'m> {
    /// `raw` is the part's body as it stands in the message (transfer encoding
    /// applied).
    pub fn from_part(part: &'m MessagePart<'m>, raw: &'m [u8]) -> PartInfo<'m> {
        let ct = part.content_type();
        let content_type = ct.map_or_else(
            || "text/plain".to_string(),
            |c| {
                let sub = c.subtype().unwrap_or("");
                format!("{}/{}", c.ctype(), sub).to_ascii_lowercase()
            },
        );
        let body: Cow<'m, [u8]> = match &part.body {
            PartType::Binary(b) | PartType::InlineBinary(b) => Cow::Borrowed(b.as_ref()),
            PartType::Text(_) | PartType::Html(_) if is_undecoded_binary(part, &content_type) => {
                decode(part, raw)
            }
            _ => Cow::Borrowed(&[]),
        };
        let size = match &part.body {
            _ if !body.is_empty() => body.len(),
            PartType::Text(t) | PartType::Html(t) => t.len(),
            PartType::Binary(b) | PartType::InlineBinary(b) => b.len(),
            _ => part.offset_end.saturating_sub(part.offset_body) as usize,
        };
        PartInfo {
            content_type,
            filename: part.attachment_name(),
            is_attachment: part
                .content_disposition()
                .is_some_and(|cd| cd.is_attachment()),
            body,
            encoding: part
                .content_transfer_encoding()
                .map(|e| e.trim().to_ascii_lowercase()),
            charset: ct
                .and_then(|c| c.attribute("charset"))
                .map(|c| c.trim().to_ascii_lowercase()),
            size,
        }
    }

    /// Lower-cased extension of the file name (after the last dot).
    pub fn extension(&self) -> Option<String> {
        let name = self.filename?.trim().trim_end_matches('.');
        let (_, ext) = name.rsplit_once('.')?;
        (!ext.is_empty() && ext.len() <= 8).then(|| ext.to_ascii_lowercase())
    }
}

/// A non-text part the parser could not decode (its multipart ends without
/// the closing boundary) and so kept as text, transfer encoding and all:
/// Rspamd decodes it as far as it goes.
fn is_undecoded_binary(part: &MessagePart<'_>, content_type: &str) -> bool {
    part.is_encoding_problem
        && !content_type.starts_with("text/")
        && declared_transfer(part) != Encoding::None
}

/// The part's bytes with its declared transfer encoding undone (empty when
/// they do not decode).
fn decode<'m>(part: &MessagePart<'_>, raw: &'m [u8]) -> Cow<'m, [u8]> {
    let decoded = match declared_transfer(part) {
        Encoding::Base64 => base64_decode(raw),
        Encoding::QuotedPrintable => quoted_printable_decode(raw),
        Encoding::None => None,
    };
    decoded.map_or(Cow::Borrowed(&[]), Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An attachment in a multipart that ends without its closing boundary: the parser
    /// keeps it as text with its base64; the part's bytes are the decoded ones.
    #[test]
    fn an_attachment_left_undecoded_is_decoded_from_its_bytes() {
        let payload: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        let b64 = data_encoding::BASE64_MIME.encode(&payload);
        let raw = format!(
            "Subject: t\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
             --b\r\nContent-Type: application/pdf; name=\"x.pdf\"\r\n\
             Content-Disposition: attachment; filename=\"x.pdf\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{b64}"
        );
        let msg = mail_parser::MessageParser::new()
            .parse(raw.as_bytes())
            .unwrap();
        let kept_as_text = msg.parts.iter().any(|p| {
            p.is_encoding_problem
                && matches!(p.body, PartType::Text(_))
                && p.attachment_name() == Some("x.pdf")
        });
        assert!(kept_as_text, "the parser keeps it as text");
        let view = crate::message::MessageView::new(raw.as_bytes(), Some(&msg));
        let pdf = view
            .parts
            .iter()
            .find(|p| p.content_type == "application/pdf")
            .expect("the attachment is a part");
        assert_eq!(&pdf.body[..], &payload[..]);
        assert_eq!(pdf.size, payload.len());
    }
}
