//! Reading one URL from where the finder saw it start, as Rspamd reads it:
//! a web URL (scheme optional when `lenient`), a `mailto:` address and a
//! telephone link. Each reports where the URL ends and where its host (or
//! number) is; `lenient` is the finder's mode, which ends a URL at the first
//! byte that cannot continue it where the strict mode (the check of the
//! found URL) rejects it.
use super::chars::{blank, closes, domain, host_start, mail_safe, opens, url_safe};

/// Longest user part and host name Rspamd reads.
const MAX_USER: usize = 64;
const MAX_HOST: usize = 253;

/// A URL read from the start of a text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Read {
    /// Where reading stopped: the URL is the bytes before it.
    pub end: usize,
    /// The host (or a telephone number), when one was read.
    pub host: Option<(usize, usize)>,
    /// The user part, when one was read.
    pub user: Option<(usize, usize)>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Web {
    Scheme,
    Colon,
    Slash,
    Slashes,
    User,
    ManyAt,
    PasswordStart,
    Password,
    At,
    HostStart,
    Host,
    Ipv6,
    PortOrPassword,
    Port,
    SlashAfterHost,
    Path,
    Query,
    Fragment,
}

/// A port's digits from `at`: valid when 1 to 65535.
fn port_ok(s: &[u8], at: usize) -> bool {
    let digits = s[at.min(s.len())..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let n = s[at.min(s.len())..at.min(s.len()) + digits]
        .iter()
        .try_fold(0u32, |n, b| {
            n.checked_mul(10)?.checked_add(u32::from(b - b'0'))
        });
    n.is_some_and(|n| (1..=65535).contains(&n))
}

/// The character at `p` when it is not ASCII: (is it allowed in a host
/// name, its length); `None` for bytes that are not UTF-8.
fn wide_char(s: &[u8], p: usize) -> Option<(bool, usize)> {
    let len = match s[p] {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => return None,
    };
    let c = std::str::from_utf8(s.get(p..p + len)?)
        .ok()?
        .chars()
        .next()?;
    let graphic = !c.is_whitespace() && !c.is_control();
    Some((c.is_alphanumeric() || graphic || is_zero_width(c), len))
}

fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{FEFF}')
}

/// A web URL from the start of `s`; `None` when it is not one.
pub fn web(s: &[u8], lenient: bool) -> Option<Read> {
    let last = s.len();
    let (mut p, mut c, mut slash) = (0usize, 0usize, 0usize);
    let mut st = Web::Scheme;
    let mut user_seen = false;
    let mut out = Read::default();
    let mut t = 0u8;
    while p < last {
        t = s[p];
        match st {
            Web::Scheme => {
                if t == b':' {
                    st = Web::Colon;
                } else if !t.is_ascii_alphanumeric() && t != b'+' && t != b'-' {
                    if lenient && p > c {
                        // A host without a scheme.
                        st = Web::HostStart;
                        p = c;
                        slash = c;
                        continue;
                    }
                    return None;
                }
                p += 1;
            }
            Web::Colon => {
                if t == b'/' || t == b'\\' {
                    st = Web::Slash;
                    p += 1;
                } else {
                    st = Web::Slashes;
                }
            }
            Web::Slash => {
                if t != b'/' && t != b'\\' {
                    return None;
                }
                st = Web::Slashes;
                p += 1;
            }
            Web::Slashes => {
                if t == b'/' || t == b'\\' {
                    p += 1;
                    continue;
                }
                c = p;
                slash = p;
                st = Web::HostStart;
                // A user part when an `@` comes before the path.
                for &b in &s[p..] {
                    if b == b'@' {
                        user_seen = true;
                        st = Web::User;
                        break;
                    }
                    if matches!(b, b'/' | b'#' | b'?') {
                        break;
                    }
                }
                if st == Web::HostStart && t == b'[' {
                    st = Web::Ipv6;
                    p += 1;
                    c = p;
                }
            }
            Web::Ipv6 => {
                if t == b']' {
                    if p == c {
                        return None;
                    }
                    out.host = Some((c, p));
                    p += 1;
                    match s.get(p) {
                        Some(b':') => {
                            st = Web::Port;
                            c = p + 1;
                        }
                        Some(b'/' | b'\\') => {
                            st = Web::Path;
                            c = p + 1;
                        }
                        Some(b'?') => {
                            st = Web::Query;
                            c = p + 1;
                        }
                        Some(b'#') => {
                            st = Web::Fragment;
                            c = p + 1;
                        }
                        Some(_) => return None,
                        None => {}
                    }
                } else if !t.is_ascii_hexdigit() && t != b':' && t != b'.' {
                    return None;
                }
                p += 1;
            }
            Web::User => {
                if t == b':' {
                    if p == c {
                        return None;
                    }
                    st = Web::PasswordStart;
                } else if t == b'@' {
                    if p == c {
                        st = Web::ManyAt;
                        user_seen = true;
                        continue;
                    }
                    out.user = Some((c, p));
                    st = Web::At;
                } else if !t.is_ascii_graphic() || p - c > MAX_USER {
                    return None;
                }
                p += 1;
            }
            Web::ManyAt => {
                if t == b'@' {
                    p += 1;
                } else {
                    if p == c {
                        return None;
                    }
                    out.user = Some((c, p));
                    st = Web::At;
                }
            }
            Web::PasswordStart => {
                if t == b'@' {
                    out.user = Some((c, p.saturating_sub(1)));
                    st = Web::At;
                } else {
                    c = p;
                    st = Web::Password;
                }
                p += 1;
            }
            Web::Password => {
                if t == b'@' {
                    st = Web::At;
                } else if !t.is_ascii_graphic() || p - c > MAX_HOST {
                    return None;
                }
                p += 1;
            }
            Web::At => {
                c = p;
                if t == b'@' {
                    p += 1;
                } else if t == b'[' {
                    st = Web::Ipv6;
                    p += 1;
                    c = p;
                } else {
                    st = Web::HostStart;
                }
            }
            Web::HostStart => {
                if !host_start(t) {
                    return None;
                }
                st = Web::Host;
            }
            Web::Host => {
                if p - c > MAX_HOST {
                    return None;
                }
                if matches!(t, b'/' | b'\\' | b':' | b'?' | b'#') {
                    if p == c {
                        return None;
                    }
                    match t {
                        b'/' | b'\\' => {
                            out.host = Some((c, p));
                            st = Web::SlashAfterHost;
                        }
                        b'?' => {
                            out.host = Some((c, p));
                            st = Web::Query;
                            c = p + 1;
                        }
                        b'#' => {
                            out.host = Some((c, p));
                            st = Web::Fragment;
                            c = p + 1;
                        }
                        _ if !user_seen => st = Web::PortOrPassword,
                        _ => {
                            out.host = Some((c, p));
                            st = Web::Port;
                            c = p + 1;
                        }
                    }
                    p += 1;
                } else if closes(t) || opens(t) {
                    break;
                } else if t == b'@' && !user_seen {
                    // A user part after all: read again from the start.
                    p = slash;
                    user_seen = true;
                    st = Web::User;
                } else if matches!(t, b'.' | b'-' | b'_' | b'%') {
                    p += 1;
                } else if t >= 0x80 {
                    let (ok, len) = wide_char(s, p)?;
                    if !ok {
                        if !lenient {
                            return None;
                        }
                        break;
                    }
                    p += len;
                } else if url_safe(t) {
                    p += 1;
                } else if lenient {
                    break;
                } else {
                    return None;
                }
            }
            Web::PortOrPassword => {
                // Digits up to the end, a path, a query, a bracket or a
                // blank are a port; anything else makes the part before
                // the colon a user name.
                let digits = s[p..].iter().take_while(|b| b.is_ascii_digit()).count();
                let after = s.get(p + digits).copied();
                let port = t.is_ascii_digit()
                    && after
                        .is_none_or(|b| matches!(b, b'/' | b'#' | b'?') || closes(b) || blank(b));
                if port {
                    out.host = Some((slash, p - 1));
                    st = Web::Port;
                    c = p;
                } else {
                    p = slash;
                    c = slash;
                    user_seen = true;
                    st = Web::User;
                }
            }
            Web::Port => {
                match t {
                    b'/' | b'\\' | b'?' | b'#' => {
                        if !port_ok(s, c) {
                            return None;
                        }
                        st = match t {
                            b'?' => Web::Query,
                            b'#' => Web::Fragment,
                            _ => Web::SlashAfterHost,
                        };
                        if st != Web::SlashAfterHost {
                            c = p + 1;
                        }
                    }
                    _ if closes(t) => break,
                    _ if !t.is_ascii_digit() => {
                        if lenient && blank(t) {
                            break;
                        }
                        return None;
                    }
                    _ => {}
                }
                p += 1;
            }
            Web::SlashAfterHost => {
                if t == b'/' || t == b'\\' {
                    p += 1;
                } else {
                    c = p;
                    st = Web::Path;
                }
            }
            Web::Path | Web::Query | Web::Fragment => {
                if t == b'#' && st != Web::Fragment {
                    st = Web::Fragment;
                    c = p + 1;
                } else if t == b'?' && st == Web::Path {
                    st = Web::Query;
                    c = p + 1;
                } else if closes(t) || blank(t) {
                    break;
                }
                p += 1;
            }
        }
    }
    out.end = p.min(last);
    match st {
        Web::Host => {
            if p == c || !domain(s[p - 1]) || !domain(s[c]) {
                return None;
            }
            out.host = Some((c, p));
        }
        Web::Port => {
            if !port_ok(s, c) {
                return None;
            }
        }
        Web::SlashAfterHost | Web::Path | Web::Query | Web::Fragment => {}
        Web::Ipv6 if t == b']' => {}
        _ => return None,
    }
    Some(out)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mail {
    Scheme,
    Colon,
    Slash,
    Slashes,
    Question,
    To,
    Equal,
    User,
    At,
    Host,
    HostQuestion,
    Query,
}

/// A `mailto:` URL from the start of `s`. `lenient`: always read, the
/// user part telling whether it is one; else `None` when it is not one.
pub fn mailto(s: &[u8], lenient: bool) -> Option<Read> {
    let last = s.len();
    let (mut p, mut c) = (0usize, 0usize);
    let mut st = Mail::Scheme;
    let mut out = Read::default();
    let mut ok = false;
    let mut natural = true;
    while p < last {
        let t = s[p];
        if p > MAX_USER + MAX_HOST + 1 {
            natural = false;
            break;
        }
        let stop = match st {
            Mail::Scheme => {
                if t == b':' {
                    st = Mail::Colon;
                }
                p += 1;
                false
            }
            Mail::Colon => {
                if t == b'/' || t == b'\\' {
                    st = Mail::Slash;
                    p += 1;
                } else {
                    st = Mail::Slashes;
                }
                false
            }
            Mail::Slash => {
                let slash = t == b'/' || t == b'\\';
                if slash {
                    st = Mail::Slashes;
                    p += 1;
                }
                !slash
            }
            Mail::Slashes => {
                if t == b'?' {
                    st = Mail::Question;
                    p += 1;
                } else if t == b'/' || t == b'\\' {
                    p += 1;
                } else {
                    c = p;
                    st = Mail::User;
                }
                false
            }
            Mail::Question => {
                st = Mail::To;
                t != b't'
            }
            Mail::To => {
                if t == b'=' {
                    st = Mail::Equal;
                }
                p += 1;
                false
            }
            Mail::Equal => {
                c = p;
                st = Mail::User;
                false
            }
            Mail::User => {
                if t == b'@' {
                    if p == c {
                        true
                    } else {
                        out.user = Some((c, p));
                        st = Mail::At;
                        p += 1;
                        false
                    }
                } else if !mail_safe(t) || p - c > MAX_USER {
                    true
                } else {
                    p += 1;
                    false
                }
            }
            Mail::At => {
                c = p;
                st = Mail::Host;
                false
            }
            Mail::Host => {
                if t == b'?' {
                    out.host = Some((c, p));
                    st = Mail::HostQuestion;
                } else if !domain(t) || p - c > MAX_HOST {
                    natural = false;
                    break;
                }
                p += 1;
                false
            }
            Mail::HostQuestion => {
                c = p;
                st = Mail::Query;
                false
            }
            Mail::Query => {
                if t == b'#' || closes(t) {
                    ok = true;
                    true
                } else if blank(t) {
                    ok = !lenient;
                    true
                } else {
                    p += 1;
                    false
                }
            }
        };
        if stop {
            natural = false;
            break;
        }
    }
    if natural {
        match st {
            Mail::Host if p > c => {
                out.host = Some((c, p));
                ok = true;
            }
            Mail::Query => ok = true,
            _ => {}
        }
    }
    out.end = p.min(last);
    (lenient || ok).then_some(out)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tel {
    Scheme,
    Colon,
    Slash,
    Slashes,
    Blanks,
    Plus,
    NumberStart,
    Number,
}

/// A `tel:` or `callto:` link from the start of `s`: the number runs to a
/// closing bracket, a quote or the end of the text, within the length of
/// a user part, or there is none.
pub fn telephone(s: &[u8], lenient: bool) -> Option<Read> {
    let last = s.len();
    let (mut p, mut c) = (0usize, 0usize);
    let mut st = Tel::Scheme;
    let mut out = Read::default();
    let mut ended = true;
    while p < last {
        let t = s[p];
        if p > MAX_USER {
            ended = false;
            break;
        }
        match st {
            Tel::Scheme => {
                if t == b':' {
                    st = Tel::Colon;
                }
                p += 1;
            }
            Tel::Colon => {
                if t == b'/' || t == b'\\' {
                    st = Tel::Slash;
                    p += 1;
                } else {
                    st = Tel::Slashes;
                }
            }
            Tel::Slash => {
                if t != b'/' && t != b'\\' {
                    ended = false;
                    break;
                }
                st = Tel::Slashes;
                p += 1;
            }
            Tel::Slashes | Tel::Blanks => {
                if t.is_ascii_whitespace() || t == 0x0b {
                    st = Tel::Blanks;
                    p += 1;
                } else if t == b'+' {
                    c = p;
                    st = Tel::Plus;
                } else if t == b'/' && st == Tel::Slashes {
                    p += 1;
                } else {
                    c = p;
                    st = Tel::NumberStart;
                }
            }
            Tel::Plus => {
                c = p;
                p += 1;
                st = Tel::NumberStart;
            }
            Tel::NumberStart => {
                if t == b'%' || t == b'(' || t.is_ascii_digit() {
                    st = Tel::Number;
                    p += 1;
                } else {
                    ended = false;
                    break;
                }
            }
            Tel::Number => {
                let Some(ch) = std::str::from_utf8(&s[p..(p + 4).min(last)])
                    .ok()
                    .or_else(|| {
                        (1..4)
                            .rev()
                            .find_map(|n| std::str::from_utf8(s.get(p..p + n)?).ok())
                    })
                    .and_then(|t| t.chars().next())
                else {
                    p += 1;
                    break;
                };
                p += ch.len_utf8();
                let kept = ch.is_numeric() || "()[]%".contains(ch) || ch.is_whitespace();
                if !kept && (ch == '\0' || ch.is_ascii() && closes(ch as u8)) {
                    break;
                }
            }
        }
    }
    out.end = p.min(last);
    if ended && st == Tel::Number && p > c {
        out.host = Some((c, p.min(last)));
    }
    (lenient || out.host.is_some()).then_some(out)
}
