//! A message parsed once and kept with its bytes, so that one parse serves every reader of a
//! scan even across an await: the DNS lists read their facts from it while their lookups
//! run, and the pipeline then scans the same parse on a scan thread.
//!
//! The parsed message and its view borrow the bytes they were read from; the cells below
//! keep owner and borrowers together, so the whole can move between threads.

// The cells' macro forgets its drop guard once a cell is built (the guard only frees the
// owner when building panics).
#![allow(clippy::mem_forget)]

use bytes::Bytes;
use mail_parser::{Message, MessageParser};

use super::MessageView;

/// mail-parser's message; `None` when the parser found no headers.
pub type MaybeMessage<'a> = Option<Message<'a>>;

self_cell::self_cell!(
    /// The bytes and mail-parser's message read from them.
    pub struct Mail {
        owner: Bytes,
        #[covariant]
        dependent: MaybeMessage,
    }
);

self_cell::self_cell!(
    /// The bytes, the parsed message and the [`MessageView`] the rules read.
    pub struct Parsed {
        owner: Mail,
        #[covariant]
        dependent: MessageView,
    }
);

impl Parsed {
    /// Parses `raw` with `parser` (the pipeline's, see [`super::parser`]) and builds its view.
    pub fn parse(parser: &MessageParser, raw: Bytes) -> Parsed {
        let mail = Mail::new(raw, |raw| parser.parse(raw.as_ref()));
        Parsed::new(mail, |m| {
            MessageView::new(m.borrow_owner(), m.borrow_dependent().as_ref())
        })
    }

    pub fn raw(&self) -> &[u8] {
        self.borrow_owner().borrow_owner()
    }

    pub fn message(&self) -> Option<&Message<'_>> {
        self.borrow_owner().borrow_dependent().as_ref()
    }

    pub fn view(&self) -> &MessageView<'_> {
        self.borrow_dependent()
    }
}

impl std::fmt::Debug for Parsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parsed")
            .field("bytes", &self.raw().len())
            .field("headers", &self.view().headers.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cell_holds_what_a_direct_parse_gives_and_moves_between_threads() {
        let raw: &'static [u8] = b"From: a@b.example\r\nSubject: hi\r\n\
            Content-Type: text/html\r\n\r\n<a href=\"http://x.example.com/\">x</a>\r\n";
        let parser = super::super::parser();
        let parsed = Parsed::parse(&parser, Bytes::from_static(raw));
        let msg = parser.parse(raw);
        let direct = MessageView::new(raw, msg.as_ref());
        assert_eq!(parsed.view().found, direct.found);
        assert_eq!(parsed.view().headers.len(), direct.headers.len());
        assert_eq!(parsed.view().subject(), Some("hi"));
        assert_eq!(parsed.raw(), raw);
        assert!(parsed.message().is_some());
        let hosts = std::thread::spawn(move || parsed.view().found.hosts.clone())
            .join()
            .unwrap();
        assert_eq!(hosts, vec!["x.example.com"]);
        // Bytes without headers: no message, an empty view.
        let none = Parsed::parse(&parser, Bytes::new());
        assert!(none.view().headers.is_empty());
    }
}
