//! A forgiving tag scanner for the HTML checks: finds tags, their names and
//! attributes in one left-to-right pass, never fails, bounded work.
/// Tags read per HTML part; beyond that the checks see a prefix.
const MAX_TAGS: usize = 4096;

/// One tag as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag<'h> {
    /// Lower-cased name, without the `/` of closing tags.
    pub name: String,
    pub closing: bool,
    /// Text between the name and `>`.
    pub attrs: &'h str,
    /// Byte offsets of `<` and just after `>`.
    pub start: usize,
    pub end: usize,
}

impl<'h> Tag<'h> {
    /// Value of attribute `name` (case-insensitive), quotes removed.
    pub fn attr(&self, name: &str) -> Option<&'h str> {
        let a = self.attrs;
        let lower = a.to_ascii_lowercase();
        let mut from = 0;
        while let Some(i) = lower[from..].find(name) {
            let at = from + i;
            from = at + name.len();
            let before_ok = at == 0
                || !lower.as_bytes()[at - 1].is_ascii_alphanumeric()
                    && lower.as_bytes()[at - 1] != b'-';
            let rest = lower[from..].trim_start();
            if !before_ok || !rest.starts_with('=') {
                continue;
            }
            let vstart = a.len() - rest.len() + 1;
            return Some(value_at(&a[vstart..]));
        }
        None
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
        let lt = pos + html.get(pos..)?.find('<')?;
        let after = &html[lt + 1..];
        if let Some(comment) = after.strip_prefix("!--") {
            pos = lt + 4 + comment.find("-->").map_or(comment.len(), |e| e + 3);
            continue;
        }
        let gt = lt + 1 + after.find('>')?;
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
            name: body[..name_len].to_ascii_lowercase(),
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
    let s = html.get(from..to).unwrap_or("");
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if in_tag => {}
            c if c.is_whitespace() => {
                if !out.ends_with(' ') && !out.is_empty() {
                    out.push(' ');
                }
            }
            c => out.push(c),
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_tags_and_attributes() {
        let h = "<!-- <a href=x> --><A HREF=\"http://a.example/\" class=x>Hi <b>there</b></a><img src='i.png'>< notatag";
        let t: Vec<Tag> = tags(h).collect();
        let names: Vec<&str> = t.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "b", "a", "img"]);
        assert_eq!(t[0].attr("href"), Some("http://a.example/"));
        assert_eq!(t[0].attr("class"), Some("x"));
        assert_eq!(t[4].attr("src"), Some("i.png"));
        assert_eq!(t[4].attr("rc"), None);
        assert_eq!(text_between(h, t[0].end, t[3].start), "Hi there");
    }
}
