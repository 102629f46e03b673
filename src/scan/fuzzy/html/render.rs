//! The text of the parsed tree: each visible element's text between its
//! children, with margins for blocks and table cells, `alt` text after
//! images, and a line break for `<br>`/`<hr>`. Depth-first with an explicit
//! stack, so deeply nested markup cannot exhaust the thread's stack.
use super::block::{Display, Visibility};
use super::entities::{self, is_space};
use super::tags::*;
use super::{Attr, Parser, Tag};
use crate::scan::fuzzy::urls::starts_with_url;

/// One element being written.
struct Frame {
    tag: usize,
    next_child: usize,
    cur_offset: i64,
    next_tag_offset: i64,
    initial_len: usize,
    visible: bool,
    transparent: bool,
    margin: Option<u8>,
}

struct Out<'a> {
    input: &'a [u8],
    parsed: Vec<u8>,
    /// Links whose text is a URL: where the text starts, its length.
    links: Vec<(usize, usize)>,
}

impl Out<'_> {
    /// Appends `input[from..to]`, entity-decoded with white space folded
    /// (a leading space kept once), blanked if `transparent`.
    fn append(&mut self, from: i64, to: i64, transparent: bool) {
        if self.parsed.len() > self.input.len() || from < 0 || to <= from {
            return;
        }
        let (from, to) = (from as usize, (to as usize).min(self.input.len()));
        if from >= to {
            return;
        }
        let mut data = &self.input[from..to];
        if self
            .parsed
            .last()
            .is_some_and(|&l| !is_space(l) && is_space(data[0]))
        {
            self.parsed.push(b' ');
            data = &data[1..];
        }
        let start = self.parsed.len();
        let decoded = if data.contains(&0) {
            let mut v = Vec::with_capacity(data.len() + 3);
            for &b in data {
                if b == 0 {
                    v.extend_from_slice("\u{FFFD}".as_bytes());
                } else {
                    v.push(b);
                }
            }
            entities::decode(&v, true)
        } else {
            entities::decode(data, true)
        };
        self.parsed.extend_from_slice(&decoded);
        if transparent {
            for b in &mut self.parsed[start..] {
                if !is_space(*b) {
                    *b = b' ';
                }
            }
        }
    }

    /// A line break or space at a visible element's edge, trailing spaces
    /// written since `floor` dropped first.
    fn margin(&mut self, c: u8, floor: usize) {
        match self.parsed.last() {
            Some(&l) if l != c && l != b'\n' => {
                if l == b' ' {
                    while self.parsed.len() > floor && self.parsed.last() == Some(&b' ') {
                        self.parsed.pop();
                    }
                }
                self.parsed.push(c);
            }
            _ => {}
        }
    }
}

/// The parsed text of the whole tree, and its links whose text is a URL.
pub fn render(p: &Parser<'_>) -> (Vec<u8>, Vec<(usize, usize)>) {
    let mut out = Out {
        input: p.input,
        parsed: Vec::with_capacity(p.input.len() / 2),
        links: Vec::new(),
    };
    if let (true, Some(root)) = (p.count() > 0, p.root) {
        walk(&p.tags, root, &mut out);
    }
    if p.state == super::State::TagsLimitOverflow {
        out.append(p.c as i64, p.input.len() as i64, false);
    }
    trim_end(&mut out.parsed);
    (out.parsed, out.links)
}

/// Trailing white space goes, but a final line break stays.
fn trim_end(v: &mut Vec<u8>) {
    if !v.last().is_some_and(|&b| is_space(b)) {
        return;
    }
    let keep_nl = v.last() == Some(&b'\n');
    let end = v.len() - usize::from(keep_nl);
    let mut cut = end;
    while cut > 0 && is_space(v[cut - 1]) {
        cut -= 1;
    }
    v.drain(cut..end);
}

/// The closing offsets an element is written up to, fixed up for tags
/// never closed; and where the parent continues after it.
fn closing(t: &Tag) -> (i64, i64) {
    let (mut cs, mut ce) = (t.closing_start, t.closing_end);
    if ce == -1 {
        ce = if cs == -1 { t.content_offset } else { cs };
    }
    if cs == -1 {
        cs = ce;
    }
    (cs, ce)
}

fn walk(tags: &[Tag], root: usize, out: &mut Out<'_>) {
    let mut stack: Vec<Frame> = Vec::new();
    // The value the finished child hands to its parent.
    let mut returned: Option<i64> = None;
    let mut pending = Some(root);
    loop {
        if let Some(t) = pending.take() {
            match enter(tags, t, out) {
                Ok(frame) => stack.push(frame),
                Err(next) => returned = Some(next),
            }
        }
        let Some(f) = stack.last_mut() else {
            break;
        };
        if let Some(next) = returned.take() {
            if next > f.cur_offset {
                f.cur_offset = next;
            }
        }
        let tag = &tags[f.tag];
        if let Some(&child) = tag.children.get(f.next_child) {
            f.next_child += 1;
            let start = tags[child].tag_start;
            if start - f.cur_offset > 0 && f.visible {
                out.append(f.cur_offset, start, f.transparent);
            }
            pending = Some(child);
            continue;
        }
        let f = stack.pop().expect("frame");
        returned = Some(leave(tags, &f, out));
    }
}

/// Starts writing `t`: a frame for its children, or (for `<br>`, the head
/// and its elements) where the parent continues.
fn enter(tags: &[Tag], t: usize, out: &mut Out<'_>) -> Result<Frame, i64> {
    let tag = &tags[t];
    let (closing_start, closing_end) = closing(tag);
    let next_tag_offset = if tag.closing_end == -1 {
        closing_end
    } else {
        tag.closing_end
    };
    if tag.id.is("br") || tag.id.is("hr") {
        if tag.flags & FL_IGNORE == 0 {
            out.parsed.push(b'\n');
        }
        return Err(tag.content_offset);
    }
    if (tag.id.is("head") && tag.flags & FL_IGNORE != 0) || tag.flags & CM_HEAD != 0 {
        return Err(closing_end);
    }
    let _ = closing_start;
    let (mut visible, mut transparent, mut margin) = (true, false, None);
    if tag.flags & (FL_COMMENT | FL_XML | FL_IGNORE | CM_HEAD) != 0 {
        visible = false;
    } else if let Some(b) = &tag.block {
        match b.visibility {
            Visibility::Invisible => visible = false,
            Visibility::Transparent => {
                if b.display_mask >= super::block::SET && b.display == Display::Hidden {
                    visible = false;
                } else {
                    transparent = true;
                }
            }
            Visibility::Visible => match b.display {
                Display::Block => margin = Some(b'\n'),
                Display::TableRow => margin = Some(b' '),
                _ => {}
            },
        }
    }
    let initial_len = out.parsed.len();
    if let (true, Some(c)) = (visible, margin) {
        out.margin(c, initial_len);
    }
    Ok(Frame {
        tag: t,
        next_child: 0,
        cur_offset: tag.content_offset,
        next_tag_offset,
        initial_len,
        visible,
        transparent,
        margin,
    })
}

/// Finishes writing an element: its text after the last child, the margin,
/// an image's `alt`; where the parent continues.
fn leave(tags: &[Tag], f: &Frame, out: &mut Out<'_>) -> i64 {
    let tag = &tags[f.tag];
    let (closing_start, _) = closing(tag);
    if f.cur_offset < closing_start && f.visible {
        out.append(f.cur_offset, closing_start, f.transparent);
    }
    if let (true, Some(c)) = (f.visible, f.margin) {
        out.margin(c, f.initial_len);
    }
    if f.visible && tag.id.is("a") {
        link(tag, f.initial_len, out);
    }
    if f.visible && tag.id.is("img") {
        if let Some(alt) = tag.attr(Attr::Alt) {
            if out.parsed.last().is_some_and(|&l| !is_space(l)) {
                out.parsed.push(b' ');
            }
            out.parsed.extend_from_slice(alt.as_bytes());
            if out.parsed.last().is_some_and(|&l| !is_space(l)) {
                out.parsed.push(b' ');
            }
        }
    }
    f.next_tag_offset
}

/// A link (with a target) whose text, trimmed, is longer than four bytes
/// and starts with a URL: recorded at where its text starts, with the
/// trimmed text's length.
fn link(tag: &Tag, start: usize, out: &mut Out<'_>) {
    let has_target = tag.attr(Attr::Href).is_some_and(|h| !h.trim().is_empty());
    if !has_target || start > out.parsed.len() {
        return;
    }
    let trimmed = out.parsed[start..].trim_ascii();
    let probe = String::from_utf8_lossy(&trimmed[..trimmed.len().min(LINK_PROBE)]);
    let probe = probe.trim_start();
    if trimmed.len() > 4 && starts_with_url(probe) {
        out.links.push((start, trimmed.len()));
    }
}

/// Bytes of a link's text read to tell whether it starts with a URL. Links
/// nest (an unclosed `<a>` ends with the document), so without a bound each
/// would read all the text after it: many of them, work by their product.
const LINK_PROBE: usize = 2048;
