//! An HTML part's text as Rspamd 3.4 extracts it for its words, and so for
//! fuzzy hashes: Rspamd builds a tree of the tags with its own tolerant
//! parser, gives each element a display and colours (its tag's defaults,
//! `style`, `color`, `bgcolor`, `hidden`), and then writes the text of the
//! visible elements with a line break around blocks, a space around table
//! cells, an image's `alt` text after it, `<br>` as a line break, and
//! nothing of the head, of `<style>`/`<script>`, comments, hidden elements,
//! or text after the root element is closed; text the colour of its
//! background is blanked. A general HTML renderer (the rules' text) differs
//! in each of these, and every difference changes the hashes, so the fuzzy
//! hashes have this extraction of their own. The rules of `<style>`
//! elements apply too, as far as Rspamd applies them (see [`css`]).
mod attrs;
mod block;
mod colors;
mod css;
mod entities;
mod render;
mod tags;

use attrs::Attr;
use block::{Block, Display};
use tags::*;

/// Tags beyond this many are not parsed; the rest is text.
const MAX_TAGS: usize = 8192;

/// Steps the closing tags may spend walking up the tree. Each walks up to
/// the root, so deep nesting followed by many stray closing tags would cost
/// their product; past this the rest of the input is text, as past
/// [`MAX_TAGS`].
const WALK_BUDGET: usize = 1 << 22;

/// Index of the scratch closing tag in the arena.
const CLOSING: usize = 0;

/// One element (or closing tag) and where its parts are in the input.
#[derive(Debug, Default, Clone)]
pub struct Tag {
    id: TagId,
    flags: u32,
    tag_start: i64,
    content_offset: i64,
    closing_start: i64,
    closing_end: i64,
    attrs: Vec<(Attr, String)>,
    block: Option<Block>,
    children: Vec<usize>,
    parent: Option<usize>,
}

impl Tag {
    fn new(tag_start: i64, flags: u32) -> Tag {
        Tag {
            tag_start,
            flags,
            closing_start: -1,
            closing_end: -1,
            ..Tag::default()
        }
    }

    fn attr(&self, a: Attr) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| *k == a)
            .map(|(_, v)| v.as_str())
    }

    /// The last value of `a` (where a repeated attribute's last counts).
    fn last_attr(&self, a: Attr) -> Option<&str> {
        self.attrs
            .iter()
            .rfind(|(k, _)| *k == a)
            .map(|(_, v)| v.as_str())
    }

    fn closed(&self) -> bool {
        self.flags & FL_CLOSED != 0
    }
}

/// The text of `html` as Rspamd's words see it.
pub fn html_text(html: &str) -> String {
    html_text_links(html).0
}

/// [`html_text`], and the links whose text is a URL: Rspamd leaves
/// `(offset, length)` of the text out of the words, the offset counted in
/// this text before its line breaks are folded (and applied after: where
/// folding shortened the text before a link, other words are left out).
pub fn html_text_links(html: &str) -> (String, Vec<(usize, usize)>) {
    let mut p = Parser::new(html.as_bytes());
    p.run();
    let (bytes, links) = render::render(&p);
    let text = String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    (text, links)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    ParseStart,
    ContentBeforeStart,
    TagBegin,
    SgmlTag,
    XmlTag,
    CompoundTag,
    CommentTag,
    CommentContent,
    SgmlContent,
    TagContent,
    TagEndOpening,
    TagEndClosing,
    TextContent,
    XmlTagEnd,
    RawText,
    RawTextLessThan,
    TagsLimitOverflow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Document {
    Doctype,
    Head,
    Body,
}

/// The tree builder: Rspamd's state machine over the bytes.
pub struct Parser<'a> {
    input: &'a [u8],
    tags: Vec<Tag>,
    root: Option<usize>,
    cur: Option<usize>,
    parent: Option<usize>,
    state: State,
    /// Where the current tag (or the overflowing rest) starts.
    c: usize,
    /// What is left of [`WALK_BUDGET`].
    budget: usize,
    /// The rules of the `<style>` elements closed so far.
    sheet: css::Sheet,
    /// Whether any `<style>` had rules (Rspamd applies a stylesheet then).
    has_sheet: bool,
}

impl<'a> Parser<'a> {
    fn new(input: &'a [u8]) -> Parser<'a> {
        Parser {
            input,
            tags: vec![Tag::new(0, 0)],
            root: None,
            cur: None,
            parent: None,
            state: State::ParseStart,
            c: 0,
            budget: WALK_BUDGET,
            sheet: css::Sheet::default(),
            has_sheet: false,
        }
    }

    /// Tags in the arena besides the scratch closing tag.
    fn count(&self) -> usize {
        self.tags.len() - 1
    }

    fn new_tag(&mut self, flags: u32) -> Option<usize> {
        if self.count() > MAX_TAGS {
            return None;
        }
        self.tags.push(Tag::new(self.c as i64, flags));
        if let Some(cur) = self.cur {
            if self.tags[cur].flags & (CM_EMPTY | FL_CLOSED) == 0 && cur != CLOSING {
                self.parent = Some(cur);
            }
        }
        Some(self.tags.len() - 1)
    }

    fn process_opening_tag(&mut self, cur: usize) {
        let mut pt = self.parent;
        while let Some(t) = pt.filter(|&t| self.tags[t].closed()) {
            pt = self.tags[t].parent;
        }
        if let Some(pt) = pt {
            self.tags[cur].parent = Some(pt);
            self.parent = Some(pt);
            self.tags[pt].children.push(cur);
        } else if let Some(root) = self.root {
            if cur != root {
                self.tags[cur].parent = Some(root);
                self.tags[root].children.push(cur);
                self.parent = Some(root);
            }
        } else if self.tags[cur].id.is("html") {
            self.root = Some(cur);
        } else {
            // A virtual <html> around everything.
            let mut top = Tag::new(0, FL_VIRTUAL);
            top.id = TagId::Known("html");
            top.children.push(cur);
            self.tags.push(top);
            let top = self.tags.len() - 1;
            self.tags[cur].parent = Some(top);
            self.root = Some(top);
            self.parent = Some(top);
        }
        if self.tags[cur].flags & CM_EMPTY == 0 {
            self.process_block_tag(cur);
        } else {
            self.tags[cur].flags |= FL_CLOSED;
        }
        if self.tags[cur].closed() {
            let t = &mut self.tags[cur];
            t.closing_end = t.content_offset;
            t.closing_start = t.tag_start;
            self.cur = self.parent;
        }
    }

    fn process_block_tag(&mut self, cur: usize) {
        let t = &mut self.tags[cur];
        let (mut fg, mut bg, mut hidden, mut block) = (None, None, false, None);
        for (a, v) in &t.attrs {
            match a {
                Attr::Color => fg = block::Color::parse(v),
                Attr::BgColor => bg = block::Color::parse(v),
                Attr::Style => block = Some(css::style_block(v)),
                Attr::Hidden => hidden = true,
                _ => {}
            }
        }
        let mut block = block.unwrap_or_default();
        if hidden {
            block.set_display(Display::Hidden, block::SET);
        }
        if let Some(c) = fg {
            block.set_fg(c);
        }
        if let Some(c) = bg {
            block.set_bg(c);
        }
        t.block = Some(block);
    }

    /// Closes `tag` (a closing tag whose parent is the last open tag) and
    /// what it encloses; the tag to continue in, `None` for a bogus one.
    fn check_balance(&mut self, tag: usize, start: i64, end: i64) -> Option<usize> {
        let close = |t: &mut Tag| {
            if t.flags & CM_EMPTY != 0 {
                t.closing_start = t.tag_start;
                t.closing_end = t.content_offset;
            } else if t.content_offset <= start {
                t.closing_start = start;
                t.closing_end = end;
            } else {
                t.closing_start = t.content_offset;
                t.closing_end = end;
            }
        };
        let id = self.tags[tag].id;
        match self.tags[tag].parent {
            Some(opening) if self.tags[opening].id == id => {
                self.tags[opening].flags |= FL_CLOSED;
                close(&mut self.tags[opening]);
                self.tags[opening].parent
            }
            Some(_) => {
                let mut it = self.tags[tag].parent;
                let mut found = false;
                while let Some(t) = it {
                    if self.tags[t].id == id && !self.tags[t].closed() {
                        found = true;
                        break;
                    }
                    self.budget = self.budget.saturating_sub(1);
                    it = self.tags[t].parent;
                }
                if !found {
                    return None;
                }
                // Everything up to the pair is closed; the loop's own test
                // (after closing) never holds, so it runs to the top.
                let mut it = self.tags[tag].parent;
                while let Some(t) = it {
                    self.tags[t].flags |= FL_CLOSED;
                    close(&mut self.tags[t]);
                    self.budget = self.budget.saturating_sub(1);
                    it = self.tags[t].parent;
                }
                None
            }
            None => {
                if self.count() == 0 {
                    let mut v = Tag::new(0, FL_VIRTUAL);
                    v.id = TagId::Known("html");
                    close(&mut v);
                    self.tags.push(v);
                    let v = self.tags.len() - 1;
                    if self.root.is_none() {
                        self.root = Some(v);
                    } else {
                        self.tags[v].parent = self.root;
                    }
                    self.tags[tag].parent = Some(v);
                    return self.check_balance(tag, start, end);
                }
                None
            }
        }
    }

    fn run(&mut self) {
        let input = self.input;
        let end = input.len();
        let mut p = 0usize;
        let mut closing = false;
        let (mut obrace, mut ebrace) = (0u32, 0u32);
        let mut doc = Document::Doctype;
        let mut attrs = attrs::Parser::default();
        while p < end {
            let t = input[p];
            match self.state {
                State::ParseStart => {
                    if t == b'<' {
                        self.state = State::TagBegin;
                    } else {
                        doc = Document::Body;
                        match self.new_tag(0) {
                            Some(tag) => {
                                self.tags[tag].id = TagId::Known("html");
                                self.root = Some(tag);
                                self.cur = Some(tag);
                                self.state = State::ContentBeforeStart;
                            }
                            None => self.state = State::TagsLimitOverflow,
                        }
                    }
                }
                State::ContentBeforeStart => {
                    if t == b'<' {
                        self.state = State::TagBegin;
                    } else {
                        p += 1;
                    }
                }
                State::TagBegin => match t {
                    b'<' => {
                        self.c = p;
                        p += 1;
                        closing = false;
                    }
                    b'!' | b'?' => {
                        self.cur = self.new_tag(FL_XML | FL_CLOSED);
                        self.state = match (self.cur, t) {
                            (None, _) => State::TagsLimitOverflow,
                            (_, b'!') => State::SgmlTag,
                            _ => State::XmlTag,
                        };
                        p += 1;
                    }
                    b'/' => {
                        closing = true;
                        self.open_closing_tag();
                        p += 1;
                    }
                    b'>' => self.state = State::TextContent,
                    _ if t.is_ascii_alphabetic() => {
                        attrs.reset();
                        if !closing {
                            self.cur = self.new_tag(0);
                        }
                        self.state = if self.cur.is_some() {
                            State::TagContent
                        } else {
                            State::TagsLimitOverflow
                        };
                    }
                    _ => self.state = State::TextContent,
                },
                State::SgmlTag => match t {
                    b'[' => {
                        self.state = State::CompoundTag;
                        obrace = 1;
                        ebrace = 0;
                        p += 1;
                    }
                    b'-' => {
                        if let Some(cur) = self.cur {
                            self.tags[cur].flags |= FL_COMMENT;
                        }
                        self.state = State::CommentTag;
                        p += 1;
                    }
                    _ => self.state = State::SgmlContent,
                },
                State::XmlTag => {
                    if t == b'?' {
                        self.state = State::XmlTagEnd;
                    } else if t == b'>' {
                        self.state = State::TagEndOpening;
                        continue;
                    }
                    p += 1;
                }
                State::XmlTagEnd => {
                    if t == b'>' {
                        self.set_content_offset(p + 1);
                        self.state = State::TagEndOpening;
                        continue;
                    }
                    p += 1;
                }
                State::CompoundTag => {
                    if t == b'[' {
                        obrace += 1;
                    } else if t == b']' {
                        ebrace += 1;
                    } else if t == b'>' && obrace == ebrace {
                        self.set_content_offset(p + 1);
                        self.state = State::TagEndOpening;
                        continue;
                    }
                    p += 1;
                }
                State::CommentTag => {
                    if t == b'-' {
                        p += 1;
                        ebrace = 0;
                        if input.get(p) == Some(&b'-') && input.get(p + 1) == Some(&b'>') {
                            p += 1;
                            self.state = State::TagEndOpening;
                        } else if input.get(p) == Some(&b'>') {
                            self.state = State::TagEndOpening;
                        } else {
                            self.state = State::CommentContent;
                        }
                    } else {
                        self.state = State::TagEndOpening;
                    }
                }
                State::CommentContent => {
                    if t == b'-' {
                        ebrace += 1;
                    } else if t == b'>' && ebrace >= 2 {
                        self.set_content_offset(p + 1);
                        self.state = State::TagEndOpening;
                        continue;
                    } else {
                        ebrace = 0;
                    }
                    p += 1;
                }
                State::TextContent => {
                    if t == b'<' {
                        self.state = State::TagBegin;
                    } else {
                        p += 1;
                    }
                }
                State::RawText => {
                    if t == b'<' {
                        self.c = p;
                        self.state = State::RawTextLessThan;
                    }
                    p += 1;
                }
                State::RawTextLessThan => {
                    if t == b'/' && valid_closing_tag(&input[p..]) {
                        p = self.c;
                        self.state = State::TagBegin;
                    } else {
                        p += 1;
                        self.state = State::RawText;
                    }
                }
                State::SgmlContent => {
                    if t == b'>' {
                        self.set_content_offset(p + 1);
                        self.state = State::TagEndOpening;
                    } else {
                        p += 1;
                    }
                }
                State::TagContent => {
                    if let Some(cur) = self.cur {
                        let mut tag = std::mem::take(&mut self.tags[cur]);
                        attrs.feed(&mut tag, t);
                        self.tags[cur] = tag;
                    }
                    if t == b'>' {
                        if let Some(q) = attrs.quoted() {
                            if input[p..].contains(&q) {
                                // An unescaped `>` inside a quoted value.
                                p += 1;
                                continue;
                            }
                        }
                        if closing {
                            if let Some(cur) = self.cur {
                                self.tags[cur].closing_start = self.c as i64;
                                self.tags[cur].closing_end = (p + 1) as i64;
                            }
                            closing = false;
                            self.state = State::TagEndClosing;
                        } else {
                            self.set_content_offset(p + 1);
                            self.state = State::TagEndOpening;
                        }
                        continue;
                    }
                    p += 1;
                }
                State::TagEndOpening => {
                    attrs.reset();
                    self.state = State::TextContent;
                    if let Some(cur) = self.cur {
                        let id = self.tags[cur].id;
                        if id.is("style") || id.is("noscript") || id.is("script") {
                            self.state = State::RawText;
                        }
                        self.document_state(cur, &mut doc);
                        self.process_opening_tag(cur);
                    }
                    p += 1;
                    self.c = p;
                }
                State::TagEndClosing => {
                    if let Some(cur) = self.cur {
                        self.close_tag(cur, p, &mut doc);
                    }
                    self.state = if self.budget == 0 {
                        State::TagsLimitOverflow
                    } else {
                        State::TextContent
                    };
                    p += 1;
                    self.c = p;
                }
                State::TagsLimitOverflow => {
                    self.c = p;
                    p = end;
                }
            }
        }
        if let Some(cur) = self.cur.filter(|&c| c != CLOSING && !self.tags[c].closed()) {
            self.tags[CLOSING].parent = Some(cur);
            self.tags[CLOSING].id = self.tags[cur].id;
            self.check_balance(CLOSING, end as i64, end as i64);
        }
        self.propagate_blocks();
        if self.state == State::TagEndOpening {
            if let Some(cur) = self.cur {
                self.process_opening_tag(cur);
            }
        }
    }

    fn set_content_offset(&mut self, at: usize) {
        if let Some(cur) = self.cur {
            self.tags[cur].content_offset = at as i64;
        }
    }

    /// `</`: the scratch closing tag, its parent the innermost open tag.
    fn open_closing_tag(&mut self) {
        let keep_parent = self.tags[CLOSING].parent;
        let mut t = Tag::new(0, 0);
        t.parent = keep_parent;
        self.tags[CLOSING] = t;
        let parent = match self.cur {
            Some(CLOSING) => self.parent.filter(|&p| p != CLOSING),
            Some(cur) if self.tags[cur].closed() => {
                let mut tmp = Some(cur);
                loop {
                    tmp = tmp.and_then(|t| self.tags[t].parent);
                    match tmp {
                        Some(t) if self.tags[t].closed() => continue,
                        _ => break tmp,
                    }
                }
            }
            other => other,
        };
        self.tags[CLOSING].parent = parent;
        self.cur = Some(CLOSING);
    }

    /// The head/body bookkeeping for an opening tag.
    fn document_state(&mut self, cur: usize, doc: &mut Document) {
        let (id, flags) = (self.tags[cur].id, self.tags[cur].flags);
        match *doc {
            Document::Doctype => {
                if id.is("head") || flags & CM_HEAD != 0 {
                    *doc = Document::Head;
                    self.tags[cur].flags |= FL_IGNORE;
                } else if !id.is("html") {
                    *doc = Document::Body;
                }
            }
            Document::Head => {
                if flags & (CM_EMPTY | CM_HEAD) == 0 {
                    let parent = self.parent;
                    let closes_head = parent.is_some_and(|p| {
                        self.tags[p].id.is("head") || self.tags[p].flags & CM_HEAD == 0
                    });
                    if let (true, Some(p)) = (closes_head, parent) {
                        let (start, content) =
                            (self.tags[cur].tag_start, self.tags[cur].content_offset);
                        let pt = &mut self.tags[p];
                        pt.flags |= FL_CLOSED;
                        pt.closing_start = start;
                        pt.closing_end = content;
                        *doc = Document::Body;
                    } else if id.is("body") {
                        *doc = Document::Body;
                    } else {
                        self.tags[cur].flags |= CM_HEAD;
                    }
                }
            }
            Document::Body => {}
        }
    }

    fn close_tag(&mut self, cur: usize, p: usize, doc: &mut Document) {
        if self.tags[cur].flags & CM_EMPTY != 0 {
            self.tags[cur].flags |= FL_IGNORE;
        }
        if *doc == Document::Head && self.tags[cur].id.is("head") {
            *doc = Document::Body;
        }
        let next = self.check_balance(cur, self.c as i64, (p + 1) as i64);
        self.collect_style(cur);
        if let Some(next) = next {
            self.cur = Some(next);
            return;
        }
        // A closing tag without its opening: a closed virtual element
        // keeps its markup out of the enclosing element's text.
        let mut opening = self.tags[cur].parent;
        while let Some(o) = opening.filter(|&o| self.tags[o].closed()) {
            opening = self.tags[o].parent;
        }
        let Some(opening) = opening.or(self.root) else {
            return;
        };
        let c = &self.tags[cur];
        let mut v = Tag::new(c.closing_start, FL_VIRTUAL | FL_CLOSED | c.flags);
        v.id = c.id;
        v.content_offset = (p + 1) as i64;
        v.closing_start = c.closing_start;
        v.closing_end = c.closing_end;
        v.parent = Some(opening);
        self.tags.push(v);
        let v = self.tags.len() - 1;
        self.tags[opening].children.push(v);
        self.cur = Some(opening);
        self.parent = self.tags[opening].parent;
    }

    /// At `</style>` closing its `<style>`: the element's content joins
    /// the stylesheet.
    fn collect_style(&mut self, closing: usize) {
        if !self.tags[closing].id.is("style") {
            return;
        }
        let Some(o) = self.tags[closing].parent else {
            return;
        };
        let t = &self.tags[o];
        if !t.id.is("style") || t.content_offset >= t.closing_start {
            return;
        }
        let (from, to) = (t.content_offset.max(0) as usize, t.closing_start as usize);
        if let Some(css) = self.input.get(from..to.min(self.input.len())) {
            self.has_sheet |= self.sheet.add(css);
        }
    }

    /// The stylesheet's block for a known element, set over its own.
    fn apply_sheet(&mut self, t: usize) {
        let tag = &self.tags[t];
        let TagId::Known(name) = tag.id else {
            return;
        };
        let Some(css) =
            self.sheet
                .block_for(name, tag.last_attr(Attr::Id), tag.last_attr(Attr::Class))
        else {
            return;
        };
        match self.tags[t].block.as_mut() {
            Some(b) => b.set_block(&css),
            None => self.tags[t].block = Some(css),
        }
    }

    /// Stylesheet rules, display defaults by tag, visibility, and
    /// inheritance down the tree (parents before children).
    fn propagate_blocks(&mut self) {
        let Some(root) = self.root else {
            return;
        };
        if self.has_sheet {
            self.sheet.finish();
        }
        let mut stack = vec![root];
        while let Some(t) = stack.pop() {
            if self.has_sheet {
                self.apply_sheet(t);
            }
            let flags = self.tags[t].flags;
            if let Some(b) = self.tags[t].block.as_mut() {
                if b.display_mask < block::SET {
                    let d = if flags & CM_HEAD != 0 {
                        b.set_display(Display::Hidden, block::SET);
                        None
                    } else if flags & (CM_BLOCK | CM_TABLE) != 0 {
                        Some(Display::Block)
                    } else if flags & CM_ROW != 0 {
                        Some(Display::TableRow)
                    } else {
                        Some(Display::Inline)
                    };
                    if let Some(d) = d {
                        b.set_display(d, block::IMPLICIT);
                    }
                }
                b.compute_visibility();
                let parent = *b;
                for i in 0..self.tags[t].children.len() {
                    let c = self.tags[t].children[i];
                    match self.tags[c].block.as_mut() {
                        Some(cb) => cb.inherit(&parent),
                        None => self.tags[c].block = Some(parent),
                    }
                }
            }
            stack.extend(self.tags[t].children.iter().rev());
        }
    }
}

/// After `</`: a closing tag's name (a letter) and its `>` within 30 bytes,
/// no control character or comma before it.
fn valid_closing_tag(at: &[u8]) -> bool {
    let max = at.len().min(30);
    if at.len() > 1 && !at[1].is_ascii_alphabetic() {
        return false;
    }
    let mut i = 1;
    while i < max {
        let b = at[i];
        if b == b'>' {
            break;
        }
        if (b as i8) < b'\n' as i8 || b == b',' {
            return false;
        }
        i += 1;
    }
    i != max
}

#[cfg(test)]
mod tests;
