//! What the modules need to know about every MIME part, attachments
//! included: declared type, file name, decoded bytes.
use mail_parser::{MessagePart, MimeHeaders, PartType};

/// One MIME part (containers and nested messages included).
#[derive(Debug, Clone, PartialEq)]
pub struct PartInfo<'m> {
    /// Lower-cased `type/subtype`; `text/plain` when the part declares none.
    pub content_type: String,
    /// `filename` of Content-Disposition, else `name` of Content-Type.
    pub filename: Option<&'m str>,
    pub is_attachment: bool,
    /// Decoded bytes of non-text leaves; empty for text and containers.
    pub body: &'m [u8],
    /// Content-Transfer-Encoding, lower-cased.
    pub encoding: Option<String>,
    /// The charset parameter, lower-cased.
    pub charset: Option<String>,
    /// Decoded size in bytes (text: the decoded text; containers: the raw
    /// body), what Lua's `part:get_length()` reports.
    pub size: usize,
}

impl<'m> PartInfo<'m> {
    pub fn from_part(part: &'m MessagePart<'m>) -> PartInfo<'m> {
        let ct = part.content_type();
        let content_type = ct.map_or_else(
            || "text/plain".to_string(),
            |c| {
                let sub = c.subtype().unwrap_or("");
                format!("{}/{}", c.ctype(), sub).to_ascii_lowercase()
            },
        );
        let body: &[u8] = match &part.body {
            PartType::Binary(b) | PartType::InlineBinary(b) => b.as_ref(),
            _ => &[],
        };
        let size = match &part.body {
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
