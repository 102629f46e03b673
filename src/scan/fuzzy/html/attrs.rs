//! The inside of a tag (`<name attr=value ...>`) read one byte at a time as
//! Rspamd's parser reads it: the name picks the tag's id and flags; of the
//! attributes only those that change the text are kept (`alt`, `style`,
//! `color`, `bgcolor`, `hidden`, `id` and `class` for the stylesheet, and
//! a link's `href`), entity-decoded.
use super::entities;
use super::tags::{self, TagId, FL_BROKEN, FL_CLOSED};
use super::Tag;

/// Attributes the text depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attr {
    Alt,
    Style,
    Color,
    BgColor,
    Hidden,
    /// `href` (also `src`, `action`): a link's target.
    Href,
    /// `id` and `class`, lowercased: what stylesheet rules select.
    Id,
    Class,
    /// Known to Rspamd but not needed here.
    Other,
}

fn attr(name: &[u8]) -> Option<Attr> {
    Some(match name {
        b"alt" => Attr::Alt,
        b"style" => Attr::Style,
        b"color" => Attr::Color,
        b"bgcolor" => Attr::BgColor,
        b"hidden" => Attr::Hidden,
        b"href" | b"src" | b"action" => Attr::Href,
        b"id" => Attr::Id,
        b"class" => Attr::Class,
        b"name" | b"width" | b"height" | b"size" | b"rel" => Attr::Other,
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum State {
    #[default]
    Start,
    Name,
    AttrName,
    Equal,
    StartDquote,
    Dqvalue,
    EndDquote,
    StartSquote,
    Sqvalue,
    EndSquote,
    Value,
    SpacesBeforeEq,
    SpacesAfterEq,
    SpacesAfterParam,
    IgnoreBadTag,
    TagEnd,
    SlashAfterValue,
    SlashInUnquotedValue,
}

/// The parser's state between bytes.
#[derive(Default)]
pub struct Parser {
    pub state: State,
    buf: Vec<u8>,
    current: Option<Attr>,
}

impl Parser {
    pub fn reset(&mut self) {
        *self = Parser::default();
    }

    /// Inside a quoted value (a `>` there may not end the tag).
    pub fn quoted(&self) -> Option<u8> {
        match self.state {
            State::Dqvalue => Some(b'"'),
            State::Sqvalue => Some(b'\''),
            _ => None,
        }
    }

    fn push(&mut self, c: u8, lower: bool) {
        if c == 0 {
            self.buf.extend_from_slice("\u{FFFD}".as_bytes());
        } else {
            self.buf
                .push(if lower { c.to_ascii_lowercase() } else { c });
        }
    }

    fn store_value(&mut self, tag: &mut Tag) {
        if let Some(a) = self.current.take() {
            if a != Attr::Other {
                if matches!(a, Attr::Id | Attr::Class) {
                    self.buf.make_ascii_lowercase();
                }
                let value = entities::decode(&self.buf, false);
                tag.attrs
                    .push((a, String::from_utf8_lossy(&value).into_owned()));
            }
        }
        self.buf.clear();
    }

    fn store_name(&mut self) {
        let name = entities::decode(&self.buf, false);
        self.current = attr(&name);
        self.buf.clear();
    }

    /// Feeds one byte of the tag's inside.
    pub fn feed(&mut self, tag: &mut Tag, c: u8) {
        use State::*;
        let space = entities::is_space(c);
        self.state = match self.state {
            Start => {
                if c.is_ascii_alphabetic() {
                    self.push(c, true);
                    Name
                } else if space {
                    Start
                } else {
                    tag.id = TagId::Broken;
                    tag.flags |= FL_BROKEN;
                    IgnoreBadTag
                }
            }
            Name => {
                if space || c == b'>' || c == b'/' {
                    if c == b'/' {
                        tag.flags |= FL_CLOSED;
                    }
                    if self.buf.is_empty() {
                        tag.id = TagId::Broken;
                        tag.flags |= FL_BROKEN;
                        IgnoreBadTag
                    } else {
                        let name = entities::decode(&self.buf, false);
                        let (id, flags) = tags::lookup(&name);
                        tag.id = id;
                        if let TagId::Known(_) = id {
                            tag.flags = flags;
                        }
                        self.buf.clear();
                        SpacesAfterParam
                    }
                } else {
                    self.push(c, true);
                    Name
                }
            }
            AttrName => match c {
                b'=' => {
                    if !self.buf.is_empty() {
                        self.store_name();
                    }
                    Equal
                }
                b'/' => {
                    self.store_name();
                    self.store_value(tag);
                    SlashAfterValue
                }
                b'>' => {
                    self.store_name();
                    self.store_value(tag);
                    TagEnd
                }
                _ if space => {
                    self.store_name();
                    SpacesBeforeEq
                }
                _ => {
                    if matches!(c, b'"' | b'\'' | b'<') {
                        tag.flags |= FL_BROKEN;
                    }
                    self.push(c, true);
                    AttrName
                }
            },
            SpacesBeforeEq => {
                if c == b'=' {
                    Equal
                } else if space {
                    SpacesBeforeEq
                } else if c == b'>' {
                    self.store_value(tag);
                    TagEnd
                } else {
                    if matches!(c, b'"' | b'\'' | b'<') {
                        tag.flags |= FL_BROKEN;
                    }
                    self.store_value(tag);
                    self.push(c, true);
                    SpacesAfterParam
                }
            }
            SpacesAfterEq | Equal => match c {
                b'"' => StartDquote,
                b'\'' => StartSquote,
                _ if space => SpacesAfterEq,
                _ => {
                    self.push(c, true);
                    Value
                }
            },
            StartDquote | StartSquote => {
                let (q, inside) = if self.state == StartDquote {
                    (b'"', Dqvalue)
                } else {
                    (b'\'', Sqvalue)
                };
                if c == q {
                    SpacesAfterParam
                } else {
                    self.push(c, false);
                    inside
                }
            }
            Dqvalue | Sqvalue => {
                let (q, end) = if self.state == Dqvalue {
                    (b'"', EndDquote)
                } else {
                    (b'\'', EndSquote)
                };
                if c == q {
                    self.store_value(tag);
                    end
                } else {
                    self.push(c, false);
                    self.state
                }
            }
            Value => {
                if c == b'/' {
                    SlashInUnquotedValue
                } else if space || c == b'>' || c == b'"' {
                    self.store_value(tag);
                    SpacesAfterParam
                } else {
                    self.push(c, false);
                    Value
                }
            }
            EndDquote | EndSquote => {
                if space {
                    SpacesAfterParam
                } else if c == b'/' {
                    self.store_value(tag);
                    self.push(c, true);
                    SlashAfterValue
                } else {
                    self.store_value(tag);
                    self.push(c, true);
                    AttrName
                }
            }
            SpacesAfterParam => {
                if space {
                    SpacesAfterParam
                } else if c == b'/' {
                    SlashAfterValue
                } else {
                    if c == b'=' {
                        tag.flags |= FL_BROKEN;
                    }
                    self.push(c, true);
                    AttrName
                }
            }
            SlashAfterValue => {
                if c == b'>' {
                    tag.flags |= FL_CLOSED;
                    TagEnd
                } else if !space {
                    tag.flags |= FL_BROKEN;
                    AttrName
                } else {
                    SlashAfterValue
                }
            }
            SlashInUnquotedValue => {
                if c == b'>' {
                    tag.flags |= FL_CLOSED;
                    self.store_value(tag);
                    TagEnd
                } else {
                    self.buf.push(b'/');
                    self.push(c, false);
                    Value
                }
            }
            IgnoreBadTag | TagEnd => self.state,
        };
    }
}
