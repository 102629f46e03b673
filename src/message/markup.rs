//! A forgiving tag scanner for the HTML checks: finds tags, their names and
//! attributes in one left-to-right pass, never fails, bounded work.
use std::borrow::Cow;

/// Tags read per HTML part; beyond that the checks see a prefix.
const MAX_TAGS: usize = 4096;

/// One tag as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag<'h> {
    /// Lower-cased name, without the `/` of closing tags (borrowed from the
    /// markup when it is already lower case, as it nearly always is).
    pub name: Cow<'h, str>,
    pub closing: bool,
    /// Text between the name and `>`.
    pub attrs: &'h str,
    /// Byte offsets of `<` and just after `>`.
    pub start: usize,
    pub end: usize,
}

impl<'h> Tag<'h> {
    /// Value of attribute `name` (case-insensitive), quotes removed.
    /// `name` must be lower-case ASCII.
    pub fn attr(&self, name: &str) -> Option<&'h str> {
        let a = self.attrs;
        let bytes = a.as_bytes();
        let mut from = 0;
        while let Some(at) = find_ascii_ci(bytes, name.as_bytes(), from) {
            from = at + name.len();
            let before_ok =
                at == 0 || !bytes[at - 1].is_ascii_alphanumeric() && bytes[at - 1] != b'-';
            // `from` follows ASCII bytes, so it is a char boundary.
            let rest = a[from..].trim_start();
            if !before_ok || !rest.starts_with('=') {
                continue;
            }
            let vstart = a.len() - rest.len() + 1;
            return Some(value_at(&a[vstart..]));
        }
        None
    }
}

/// First position at or after `from` where `haystack` holds `needle`
/// (lower-case ASCII), ignoring ASCII case: what `find` on the lower-cased
/// text gave, without lower-casing a copy per lookup.
fn find_ascii_ci(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let (&first, _) = needle.split_first()?;
    let upper = first.to_ascii_uppercase();
    let mut pos = from;
    while pos + needle.len() <= haystack.len() {
        let i = pos + memchr::memchr2(first, upper, &haystack[pos..])?;
        if haystack
            .get(i..i + needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(needle))
        {
            return Some(i);
        }
        pos = i + 1;
    }
    None
}

/// `name` lower-cased, copied only when it has upper-case letters.
fn lower_name(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

fn value_at(s: &str) -> &str {
    let s = s.trim_start();
    match s.chars().next() {
        Some(q @ ('"' | '\'')) => {
            let inner = &s[1..];
            &inner[..inner.find(q).unwrap_or(inner.len())]
        }
        _ => {
            &s[..s
                .find(|c: char| c.is_whitespace() || c == '>')
                .unwrap_or(s.len())]
        }
    }
}

/// Every tag of `html` (comments, doctype and processing instructions
/// skipped), up to `MAX_TAGS`.
pub fn tags(html: &str) -> impl Iterator<Item = Tag<'_>> {
    let mut pos = 0;
    std::iter::from_fn(move || loop {
        // `memchr` over the bytes: `str::find(char)` pays a UTF-8 search
        // set-up per call, and there are two calls per tag.
        let lt = pos + memchr::memchr(b'<', html.as_bytes().get(pos..)?)?;
        let after = &html[lt + 1..];
        if let Some(comment) = after.strip_prefix("!--") {
            pos = lt + 4 + comment.find("-->").map_or(comment.len(), |e| e + 3);
            continue;
        }
        let gt = lt + 1 + memchr::memchr(b'>', after.as_bytes())?;
        pos = gt + 1;
        let inner = &html[lt + 1..gt];
        let closing = inner.starts_with('/');
        let body = inner.trim_start_matches('/');
        let name_len = body
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(body.len());
        if name_len == 0 {
            continue;
        }
        return Some(Tag {
            name: lower_name(&body[..name_len]),
            closing,
            attrs: &body[name_len..],
            start: lt,
            end: gt + 1,
        });
    })
    .take(MAX_TAGS)
}

/// Text of `html[from..to]` with tags removed and whitespace collapsed.
pub fn text_between(html: &str, from: usize, to: usize) -> String {
    text_prefix_between(html, from, to, usize::MAX)
}

/// The first `max_chars` chars of [`text_between`] (a prefix of it, except
/// that trailing white space of the prefix is trimmed too): enough to test
/// how the text starts without rendering a long link text.
pub fn text_prefix_between(html: &str, from: usize, to: usize, max_chars: usize) -> String {
    let s = html.get(from..to).unwrap_or("");
    let mut out = String::new();
    let mut in_tag = false;
    let mut len = 0;
    for c in s.chars() {
        if len >= max_chars {
            break;
        }
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if in_tag => {}
            c if c.is_whitespace() => {
                if !out.ends_with(' ') && !out.is_empty() {
                    out.push(' ');
                    len += 1;
                }
            }
            c => {
                out.push(c);
                len += 1;
            }
        }
    }
    out.truncate(out.trim_end().len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_tags_and_attributes() {
        let h = "<!-- <a href=x> --><A HREF=\"http://a.example/\" class=x>Hi <b>there</b></a><img src='i.png'>< notatag";
        let t: Vec<Tag> = tags(h).collect();
        let names: Vec<&str> = t.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, ["a", "b", "b", "a", "img"]);
        assert_eq!(t[0].attr("href"), Some("http://a.example/"));
        assert_eq!(t[0].attr("class"), Some("x"));
        assert_eq!(t[4].attr("src"), Some("i.png"));
        assert_eq!(t[4].attr("rc"), None);
        assert_eq!(text_between(h, t[0].end, t[3].start), "Hi there");
        assert_eq!(text_prefix_between(h, t[0].end, t[3].start, 3), "Hi");
        assert_eq!(text_prefix_between(h, t[0].end, t[3].start, 4), "Hi t");
        assert_eq!(t[0].attr("hre"), None);
        assert_eq!(tags("<IMG SRC=x>").next().unwrap().attr("src"), Some("x"));
    }
}
