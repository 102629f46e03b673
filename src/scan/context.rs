//! What every check of one scan can look at: the envelope, the view built
//! from the parsed message, and the parsed message itself (for MIME
//! structure the view does not keep).
use mail_parser::{Message, MimeHeaders, PartType};

use crate::message::Envelope;
use crate::message::MessageView;

/// One scan's inputs, borrowed.
#[derive(Clone, Copy)]
pub struct ScanCtx<'a> {
    pub env: &'a Envelope,
    pub view: &'a MessageView<'a>,
    pub msg: Option<&'a Message<'a>>,
}

impl<'a> ScanCtx<'a> {
    /// Every MIME part of the message (top level included).
    pub fn parts(&self) -> &'a [mail_parser::MessagePart<'a>] {
        self.msg.map_or(&[], |m| m.parts.as_slice())
    }

    /// `type/subtype` of each part, lower-cased.
    pub fn content_types(&self) -> impl Iterator<Item = String> + 'a {
        self.parts().iter().filter_map(|p| {
            let ct = p.content_type()?;
            Some(match ct.subtype() {
                Some(s) => format!("{}/{}", ct.ctype(), s).to_ascii_lowercase(),
                None => ct.ctype().to_ascii_lowercase(),
            })
        })
    }

    /// File names of parts (attachments and named inline parts).
    pub fn filenames(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.parts().iter().filter_map(|p| p.attachment_name())
    }

    /// Whether any part is HTML text.
    pub fn html_parts(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.parts().iter().filter_map(|p| match &p.body {
            PartType::Html(h) => Some(h.as_ref()),
            _ => None,
        })
    }

    /// Addresses of the MIME `From`/`To`-like header `name`, lower-cased.
    pub fn header_addresses(&self, name: &str) -> Vec<String> {
        self.view
            .headers_named(name)
            .flat_map(|h| addresses_in(&h.value))
            .collect()
    }
}

/// Addresses in a header value: inside `<...>`, else bare `a@b` words.
pub fn addresses_in(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    for piece in v.split(',') {
        let addr = match (piece.find('<'), piece.rfind('>')) {
            (Some(a), Some(b)) if a < b => &piece[a + 1..b],
            _ => piece
                .split_whitespace()
                .find(|w| w.contains('@'))
                .unwrap_or(""),
        };
        let addr = addr.trim().trim_matches(['"', '\'']).to_ascii_lowercase();
        if addr.contains('@') {
            out.push(addr);
        }
    }
    out
}
