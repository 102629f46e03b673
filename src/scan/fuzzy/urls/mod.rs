//! The URLs Rspamd finds in a text part's words, and so leaves out of
//! them: its text URL finder's decisions, reproduced.
//!
//! Candidates are where a known scheme, `www.`, `ftp.` or an `@` is seen,
//! and (outside the strict mode) where a public suffix follows a full stop
//! (see [`suffix`]). They are taken in the order their match ends; one that
//! ends inside a URL already read is passed over. From each, the URL's start
//! is found (a bare host name: back to a blank or an opening bracket) and
//! its end read (see [`parse`]); the URL counts when it then reads as a URL
//! with a known scheme, a host, and a public suffix (or an address) for a
//! web or mail host.
mod chars;
mod parse;
mod suffix;
#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use aho_corasick::AhoCorasick;

use chars::{blank, closes, domain, ends_name, mail_safe, opens, url_safe};
use parse::Read;

/// How the text after a prefix is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Web,
    Mail,
    Tel,
    /// A bare `@`: an address around it.
    At,
    /// A public suffix after a full stop.
    Suffix,
}

/// The prefixes, with how each reads and the scheme the URL is checked
/// with when the text has none.
const PREFIXES: [(&str, Kind, &str); 19] = [
    ("file://", Kind::File, ""),
    ("file:\\\\", Kind::File, ""),
    ("ftp://", Kind::Web, ""),
    ("ftp:\\\\", Kind::Web, ""),
    ("sftp://", Kind::Web, ""),
    ("http:", Kind::Web, ""),
    ("https:", Kind::Web, ""),
    ("news://", Kind::Web, ""),
    ("nntp://", Kind::Web, ""),
    ("telnet://", Kind::Web, ""),
    ("tel:", Kind::Tel, ""),
    ("webcal://", Kind::Web, ""),
    ("mailto:", Kind::Mail, ""),
    ("callto:", Kind::Tel, ""),
    ("h323:", Kind::Web, ""),
    ("sip:", Kind::Web, ""),
    ("www.", Kind::Web, "http://"),
    ("ftp.", Kind::Web, "ftp://"),
    ("@", Kind::At, "mailto://"),
];

fn prefixes() -> &'static AhoCorasick {
    static AC: OnceLock<AhoCorasick> = OnceLock::new();
    AC.get_or_init(|| {
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(PREFIXES.iter().map(|p| p.0))
            .expect("static prefixes")
    })
}

/// One candidate: where its match starts and ends, and which kind it is.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    start: usize,
    end: usize,
    kind: Kind,
    prefix: &'static str,
}

/// Byte spans (start, end) of the URLs and addresses Rspamd finds in
/// `text`, in order. `strict`: no bare host names (an HTML part's text, or
/// a part with one sibling). `breaks`: where the text's lines start, in
/// order; a URL does not run past one unless it follows a `<`.
pub fn find(text: &str, strict: bool, breaks: &[usize]) -> Vec<(usize, usize)> {
    let mut finder = Finder::new(text, breaks);
    for c in candidates(text, strict, breaks) {
        finder.try_candidate(c);
    }
    finder.found
}

/// Whether a link's text shows a URL, as Rspamd tells a displayed URL:
/// the first URL its finder reads in the text (bare host names included)
/// starts the text and is a valid URL.
pub fn starts_with_url(text: &str) -> bool {
    let mut finder = Finder::new(text, &[]);
    for c in candidates(text, false, &[]) {
        if finder.fin > c.end {
            continue;
        }
        finder.lines_around(c.end);
        if let Some(span) = finder.read(c) {
            return span.begin == 0 && valid(&finder.url(c, &span));
        }
    }
    false
}

/// The candidates in the order the finder takes them.
fn candidates(text: &str, strict: bool, breaks: &[usize]) -> Vec<Candidate> {
    let b = text.as_bytes();
    let mut cands: Vec<Candidate> = prefixes()
        .find_overlapping_iter(b)
        .map(|m| {
            let (_, kind, prefix) = PREFIXES[m.pattern().as_usize()];
            Candidate {
                start: m.start(),
                end: m.end(),
                kind,
                prefix,
            }
        })
        .collect();
    if !strict {
        suffix_candidates(text, breaks, &mut cands);
    }
    cands.sort_by_key(|c| (c.end, c.kind == Kind::Suffix, c.start));
    cands
}

/// Where a public suffix follows a full stop: from each full stop before
/// an ASCII letter or digit, to each ASCII word boundary (or a colon
/// before one) after which a host name may end.
fn suffix_candidates(text: &str, breaks: &[usize], out: &mut Vec<Candidate>) {
    let b = text.as_bytes();
    let mut budget = suffix::LOOKUP_BUDGET;
    let word = |i: usize| {
        b.get(i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    };
    let boundary = |e: usize| e == b.len() || word(e - 1) != word(e);
    for i in memchr::memchr_iter(b'.', b) {
        if !b.get(i + 1).is_some_and(u8::is_ascii_alphanumeric) {
            continue;
        }
        let limit = (i + 1 + 64).min(b.len());
        for e in i + 2..=limit {
            let may_end = name_may_end(b, e) || breaks.binary_search(&e).is_ok();
            if !text.is_char_boundary(e) || !boundary(e) || !may_end {
                continue;
            }
            if suffix::is_suffix(&text[i + 1..e], &mut budget) {
                out.push(Candidate {
                    start: i,
                    end: e,
                    kind: Kind::Suffix,
                    prefix: "http://",
                });
            }
        }
    }
}

/// Whether a bare host name may end at `e`: the text ends, or a blank, a
/// slash, a query, a colon or a closing bracket follows, or a full stop
/// before one of those.
fn name_may_end(b: &[u8], e: usize) -> bool {
    match b.get(e) {
        None => true,
        Some(&c) if ends_name(c) => true,
        Some(b'.') => b.get(e + 1).is_none_or(|&c| ends_name(c)),
        _ => false,
    }
}

/// The finder's state over one text.
struct Finder<'t> {
    b: &'t [u8],
    /// Matches ending before this are inside a URL already read.
    fin: usize,
    /// The `@` of the last `mailto:` address (its bare `@` is not another).
    last_at: Option<usize>,
    found: Vec<(usize, usize)>,
    breaks: &'t [usize],
    /// The line start at or after the candidate's end, and the one before
    /// it (see `lines_around`).
    line: usize,
    next_line: Option<usize>,
    prev_line: Option<usize>,
}

/// Where a URL the finder read is in the text.
struct Span {
    begin: usize,
    len: usize,
}

impl<'t> Finder<'t> {
    fn new(text: &'t str, breaks: &'t [usize]) -> Finder<'t> {
        Finder {
            b: text.as_bytes(),
            fin: 0,
            last_at: None,
            found: Vec::new(),
            breaks,
            line: 0,
            next_line: None,
            prev_line: None,
        }
    }

    /// The line starts around a candidate ending at `end`: the first at or
    /// after it, and the one before that. Candidates come in the order of
    /// their ends, so the search goes on from the last one.
    fn lines_around(&mut self, end: usize) {
        let Some(&first) = self.breaks.get(self.line) else {
            return;
        };
        let mut next = first;
        while end > next && self.line + 1 < self.breaks.len() {
            self.line += 1;
            next = self.breaks[self.line];
        }
        self.next_line = (end <= next).then_some(next);
        self.prev_line = self.line.checked_sub(1).map(|i| self.breaks[i]);
    }

    /// The end of the text a URL starting at `from` is read in: the next
    /// line start, unless the URL follows a `<`.
    fn line_end(&self, from: usize, before: u8) -> usize {
        match self.next_line {
            Some(n) if before != b'<' => n.max(from),
            _ => self.b.len(),
        }
    }

    fn try_candidate(&mut self, c: Candidate) {
        if self.fin > c.end {
            return;
        }
        self.lines_around(c.end);
        let Some(span) = self.read(c) else {
            return;
        };
        self.fin = self.fin.max(c.start);
        if valid(&self.url(c, &span)) {
            self.found.push((span.begin, span.begin + span.len));
        }
    }

    /// The URL read, with the scheme it is checked with.
    fn url(&self, c: Candidate, span: &Span) -> Vec<u8> {
        let text = &self.b[span.begin..span.begin + span.len];
        let mut url = Vec::with_capacity(c.prefix.len() + text.len());
        url.extend_from_slice(c.prefix.as_bytes());
        url.extend_from_slice(text.trim_ascii());
        url
    }

    /// The span of the URL a candidate starts, when it reads as one.
    fn read(&mut self, c: Candidate) -> Option<Span> {
        let b = self.b;
        let before = c.start.checked_sub(1).map(|i| b[i]);
        match c.kind {
            Kind::File => self.file_path(c),
            Kind::Web => self.web(c, before),
            Kind::Mail => {
                let end = self.line_end(c.start, before.unwrap_or(0));
                let read = parse::mailto(&b[c.start..end], true)?;
                let (_, at) = read.user?;
                self.last_at = Some(c.start + at);
                Some(Span {
                    begin: c.start,
                    len: read.end,
                })
            }
            Kind::Tel => {
                let end = self.line_end(c.start, before.unwrap_or(0));
                let read = parse::telephone(&b[c.start..end], true)?;
                read.host?;
                Some(Span {
                    begin: c.start,
                    len: read.end,
                })
            }
            Kind::At => {
                if self.last_at == Some(c.start) {
                    self.last_at = None;
                    return None;
                }
                if c.start == 0 {
                    return None;
                }
                self.address(c.start)
            }
            Kind::Suffix => {
                let (begin, before) = self.name_start(c.start)?;
                let read = self.suffix_end(c, begin, before)?;
                (read.begin + read.len > c.start).then_some(read)
            }
        }
    }

    /// A `file:` URL: to a closing bracket or the byte after the slashes
    /// (Rspamd's reading, which leaves hardly any such URL a host).
    fn file_path(&self, c: Candidate) -> Option<Span> {
        let b = self.b;
        let mut p = c.end;
        let mut stop = b.get(p).copied();
        if stop == Some(b'/') {
            p += 1;
        }
        let close = match b.get(p) {
            Some(b'(') => Some(b')'),
            Some(b'{') => Some(b'}'),
            Some(b'[') => Some(b']'),
            _ => None,
        };
        stop = close.or(stop);
        while p < b.len() && Some(b[p]) != stop && url_safe(b[p]) {
            p += 1;
        }
        (p > 0).then_some(Span {
            begin: c.start,
            len: p - c.start,
        })
    }

    /// A URL at a scheme, `www.` or `ftp.`: not inside a word (`www.` only
    /// after a blank, an opening bracket, a line start or a non-ASCII byte).
    fn web(&mut self, c: Candidate, before: Option<u8>) -> Option<Span> {
        let b = self.b;
        let www = b[c.start..].len() >= 3 && b[c.start..c.start + 3].eq_ignore_ascii_case(b"www");
        if let Some(prev) = before {
            let line_start = self.prev_line == Some(c.start - 1);
            let after_gap = opens(prev) || blank(prev) || prev >= 0x80 || line_start;
            if (www && !after_gap) || (!www && prev.is_ascii_alphanumeric()) {
                return None;
            }
        }
        self.web_end(c.start, c.start, before.unwrap_or(0))
    }

    /// A web URL's end read from `from` (the span starts at `begin`);
    /// `before`: the byte before the URL.
    fn web_end(&mut self, begin: usize, from: usize, before: u8) -> Option<Span> {
        let b = self.b;
        let read: Read = parse::web(&b[from..self.line_end(from, before)], true)?;
        let last = from + read.end;
        if b.get(last) == Some(&b'>') && before != b'<' && self.next_line != Some(last) {
            // A closing bracket with no opening one: only inside a word.
            if b.get(last + 1)
                .is_none_or(|&c| c.is_ascii_whitespace() || c == 0x0b)
            {
                return None;
            }
        }
        self.fin = last + 1;
        Some(Span {
            begin,
            len: last - from,
        })
    }

    /// A bare host name's start, walking back from the full stop at `dot`:
    /// the byte after a blank or an opening bracket, or the text's start;
    /// with the byte before it.
    fn name_start(&self, dot: usize) -> Option<(usize, u8)> {
        let b = self.b;
        let mut p = dot;
        loop {
            let ch = b[p];
            if self.prev_line == Some(p) {
                return b[p].is_ascii_alphanumeric().then_some((p, b'\n'));
            }
            if !domain(ch) || blank(ch) || opens(ch) {
                if !opens(ch) && !blank(ch) {
                    return None;
                }
                let first = *b.get(p + 1)?;
                return first.is_ascii_alphanumeric().then_some((p + 1, ch));
            }
            if p == 0 && p != dot {
                return Some((0, 0));
            }
            if ch == b'.' && (p == 0 || !b.get(p + 1).is_some_and(u8::is_ascii_alphanumeric)) {
                return None;
            }
            if dot - p > 253 + 8 || p == 0 {
                return None;
            }
            p -= 1;
        }
    }

    /// A bare host name's end: the text's, or what the web reading finds
    /// when the suffix is followed by a byte that ends a name.
    fn suffix_end(&mut self, c: Candidate, begin: usize, before: u8) -> Option<Span> {
        let b = self.b;
        match b.get(c.end) {
            None => Some(Span {
                begin,
                len: b.len() - begin,
            }),
            Some(&n)
                if matches!(n, b'/' | b':')
                    || closes(n)
                    || blank(n)
                    || (before != b'<' && self.next_line == Some(c.end)) =>
            {
                let from = if b[begin..].len() >= 7
                    && b[begin..begin + 7].eq_ignore_ascii_case(b"http://")
                {
                    begin + 7
                } else {
                    begin
                };
                self.web_end(begin, from, before)
            }
            Some(b'.') => match b.get(c.end + 1) {
                Some(&n)
                    if n.is_ascii_whitespace() || n == 0x0b || matches!(n, b'/' | b'?' | b':') =>
                {
                    self.web_end(begin, begin, before)
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// An address around the `@` at `at`: back over the bytes a user part
    /// may hold, forward over host bytes, both trimmed to a letter or digit.
    fn address(&self, at: usize) -> Option<Span> {
        let b = self.b;
        if at + 2 >= b.len()
            || !b[at + 1].is_ascii_alphanumeric()
            || !b[at - 1].is_ascii_alphanumeric()
        {
            return None;
        }
        let mut c = at - 1;
        while c > 0 && mail_safe(b[c]) && self.prev_line != Some(c) {
            c -= 1;
        }
        while c < at && !b[c].is_ascii_alphanumeric() {
            c += 1;
        }
        let mut p = at + 1;
        while p < b.len() && domain(b[p]) && self.next_line != Some(p) {
            p += 1;
        }
        while p > at && p < b.len() && !b[p].is_ascii_alphanumeric() {
            p -= 1;
        }
        if p < b.len() && b[p].is_ascii_alphanumeric() && self.next_line.is_none_or(|n| p < n) {
            p += 1;
        }
        (p > c).then_some(Span {
            begin: c,
            len: p - c,
        })
    }
}

/// Whether a found URL (with the scheme it is read with) is one Rspamd
/// keeps: it reads strictly, has a host, a known scheme, and for web and
/// mail URLs a sane host start and a public suffix (or, for a web URL, an
/// address for a host).
fn valid(url: &[u8]) -> bool {
    let lower_starts = |p: &[u8]| url.len() >= p.len() && url[..p.len()].eq_ignore_ascii_case(p);
    let long = url.len() > 7;
    let (read, scheme) = if long && lower_starts(b"mailto:") {
        (parse::mailto(url, false), "mailto")
    } else if long && (lower_starts(b"tel:") || lower_starts(b"callto:")) {
        return parse::telephone(url, false).is_some_and(|r| r.host.is_some_and(|(s, e)| e > s));
    } else {
        let scheme_len = url.iter().position(|&b| b == b':').unwrap_or(0);
        let scheme = std::str::from_utf8(&url[..scheme_len])
            .unwrap_or("")
            .to_ascii_lowercase();
        let known = ["http", "https", "ftp", "file"]
            .iter()
            .find(|s| **s == scheme);
        let Some(scheme) = known else {
            return false;
        };
        (parse::web(url, false), *scheme)
    };
    let Some((hs, he)) = read.and_then(|r| r.host).filter(|(s, e)| e > s) else {
        return false;
    };
    let host = &url[hs..he];
    if !(chars::host_start(host[0]) || host[0] == b':') {
        return false;
    }
    let Ok(host) = std::str::from_utf8(host) else {
        return false;
    };
    let host = host.to_lowercase();
    suffix::host_has_suffix(&host) || (scheme != "mailto" && is_address(&host))
}

/// A numeric host: an IPv4 or IPv6 address, or one number.
fn is_address(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.parse::<std::net::IpAddr>().is_ok()
        || h.parse::<u32>().is_ok()
        || h.strip_prefix("0x")
            .is_some_and(|x| u32::from_str_radix(x, 16).is_ok())
}
