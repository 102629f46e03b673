//! Selectors as Rspamd 3.4 reads them: a tag name (one it knows), `.class`,
//! `#id` or `*`, separated by commas. A compound or combined selector
//! (`div.x`, `p a`, `a:hover`) is not applied, except that a comma after
//! one still applies its first simple part (`div p, span` applies to `div`
//! and `span`), and a `[...]` or function after a simple one ends the list
//! with that one applied.
use super::blocks::Node;
use super::tokens::Tok;
use crate::scan::fuzzy::html::tags::{self, TagId};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    Tag(&'static str),
    Class(Vec<u8>),
    Id(Vec<u8>),
    All,
}

/// The selectors of a rule's prelude.
pub fn selectors(prelude: &[Node<'_>]) -> Vec<Selector> {
    #[derive(PartialEq)]
    enum St {
        Start,
        ExpectName,
        Consumed,
        Ignore,
    }
    let mut out = Vec::new();
    let mut st = St::Start;
    let mut cur: Option<Selector> = None;
    for node in prelude {
        let Node::Component(t) = node else {
            break;
        };
        st = match st {
            St::Start => match t {
                Tok::Delim(b'.') => {
                    cur = Some(Selector::Class(Vec::new()));
                    St::ExpectName
                }
                Tok::Delim(b'#') => {
                    cur = Some(Selector::Id(Vec::new()));
                    St::ExpectName
                }
                Tok::Delim(b'*') => {
                    cur = Some(Selector::All);
                    St::Consumed
                }
                Tok::Delim(_) => St::Start,
                Tok::Ident(name) => {
                    if let (TagId::Known(n), _) = tags::lookup(name) {
                        cur = Some(Selector::Tag(n));
                    }
                    St::Consumed
                }
                Tok::Hash(name) => {
                    cur = Some(Selector::Id(name.to_vec()));
                    St::Consumed
                }
                _ => return out,
            },
            St::ExpectName => match (t, cur.as_mut()) {
                (Tok::Ident(name), Some(Selector::Class(v) | Selector::Id(v))) => {
                    *v = name.to_vec();
                    St::Consumed
                }
                _ => return out,
            },
            St::Consumed | St::Ignore => match (t, cur.take()) {
                (Tok::Comma, Some(s)) => {
                    out.push(s);
                    St::Start
                }
                (_, s) => {
                    cur = s;
                    St::Ignore
                }
            },
        };
    }
    if let (St::Consumed, Some(s)) = (st, cur) {
        out.push(s);
    }
    out
}
