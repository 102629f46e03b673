//! Character references decoded as Rspamd's HTML parser decodes a run of
//! text: named ones with or without their `;` (without it only the common
//! Latin-1 names, matched by their first 5..2 letters), numeric ones in
//! decimal, hex or octal, `&nbsp;` as a plain space, and, in text, runs of
//! white space folded to one space with leading ones dropped. Where its
//! in-place decoder has quirks (a bogus `&` before a real reference, an
//! unknown name at the very end) this follows them: the bytes it yields are
//! what Rspamd hashes.
use mail_parser::decoders::html::add_html_token;

/// Names Rspamd also recognises without a terminating `;`.
const HEURISTIC: &[&str] = &[
    "AElig", "AMP", "Aacute", "Auml", "COPY", "Euml", "GT", "LT", "Otilde", "Oslash", "Ouml",
    "QUOT", "REG", "THORN", "Uuml", "Yacute", "Yuml", "aacute", "acirc", "acute", "aelig",
    "agrave", "amp", "aring", "atilde", "auml", "brvbar", "ccedil", "cedil", "cent", "copy",
    "curren", "deg", "divide", "eacute", "ecirc", "egrave", "eth", "euml", "frac12", "frac14",
    "frac34", "gt", "iacute", "iexcl", "igrave", "iquest", "iuml", "laquo", "lt", "macr", "micro",
    "middot", "nbsp", "not", "ntilde", "ordf", "ordm", "otilde", "ouml", "para", "plusmn", "pound",
    "quot", "raquo", "reg", "sect", "shy", "sup1", "sup2", "sup3", "szlig", "thorn", "times",
    "uacute", "ucirc", "ugrave", "uml", "uuml", "yacute", "yen", "yuml", "Iuml", "Uuml",
];

pub fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The replacement of a named reference (case-sensitive).
fn named(name: &[u8], heuristic: bool) -> Option<Vec<u8>> {
    if heuristic && !std::str::from_utf8(name).is_ok_and(|n| HEURISTIC.contains(&n)) {
        return None;
    }
    if name == b"nbsp" {
        return Some(b" ".to_vec());
    }
    if name.is_empty() || !name.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    let mut token = Vec::with_capacity(name.len() + 2);
    token.push(b'&');
    token.extend_from_slice(name);
    token.push(b';');
    let mut out = String::new();
    add_html_token(&mut out, &token, false);
    (out.as_bytes() != token.as_slice()).then(|| out.into_bytes())
}

/// The value of `digits` in `radix`; `None` if a character is not a digit.
fn number(digits: &[u8], radix: u32) -> Option<i64> {
    let mut n: i64 = 0;
    for &d in digits {
        let v = (d as char).to_digit(radix)?;
        n = n
            .saturating_mul(i64::from(radix))
            .saturating_add(i64::from(v));
    }
    Some(n)
}

const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

/// Decodes `s`; `norm_spaces` folds white space as in text content.
pub fn decode(s: &[u8], norm_spaces: bool) -> Vec<u8> {
    Decoder {
        s,
        out: Vec::with_capacity(s.len()),
        h: 0,
        e: 0,
    }
    .run(norm_spaces)
}

#[derive(PartialEq, Clone, Copy)]
enum State {
    Normal,
    Ampersand,
    SkipSpaces,
}

#[derive(PartialEq, Clone, Copy)]
enum Digits {
    Undefined,
    Only,
    Mixed,
}

/// The in-place decoder's cursors: `out.len()` is its write position, `h`
/// its read position, `e` where the current reference starts.
struct Decoder<'a> {
    s: &'a [u8],
    out: Vec<u8>,
    h: usize,
    e: usize,
}

impl Decoder<'_> {
    fn run(mut self, norm_spaces: bool) -> Vec<u8> {
        let len = self.s.len();
        let mut state = State::Normal;
        let (mut seen_hash, mut seen_hex, mut digits) = (false, false, Digits::Undefined);
        if norm_spaces && self.s.first().is_some_and(|&b| is_space(b)) {
            state = State::SkipSpaces;
        }
        while self.h < len && self.out.len() <= self.h {
            let ch = self.s[self.h];
            match state {
                State::Normal => {
                    if ch == b'&' {
                        state = State::Ampersand;
                        seen_hash = false;
                        seen_hex = false;
                        digits = Digits::Undefined;
                        self.e = self.h;
                        self.h += 1;
                        continue;
                    }
                    if norm_spaces && is_space(ch) {
                        self.out.push(b' ');
                        state = State::SkipSpaces;
                    } else {
                        self.out.push(ch);
                    }
                    self.h += 1;
                }
                State::Ampersand => {
                    if (ch == b';' || is_space(ch)) && self.h > self.e {
                        self.replace();
                        state = State::Normal;
                        if self.s.get(self.h).is_some_and(|&b| is_space(b)) {
                            continue;
                        }
                    } else if ch == b'&' {
                        // The previous `&` was bogus.
                        if len - self.out.len() > self.h - self.e {
                            let (e, h) = (self.e, self.h);
                            self.out.extend_from_slice(&self.s[e..h]);
                        }
                        self.e = self.h;
                    } else if ch == b'#' {
                        seen_hash = true;
                        if self.s.get(self.h + 1) == Some(&b'x') {
                            seen_hex = true;
                            self.h += 1;
                        }
                    } else if digits != Digits::Mixed
                        && (ch.is_ascii_digit() || (seen_hex && ch.is_ascii_hexdigit()))
                    {
                        digits = Digits::Only;
                    } else {
                        if digits == Digits::Only && seen_hash && self.h > self.e {
                            self.replace();
                            state = State::Normal;
                            continue;
                        }
                        digits = Digits::Mixed;
                    }
                    self.h += 1;
                }
                State::SkipSpaces => {
                    if is_space(ch) {
                        self.h += 1;
                    } else {
                        state = State::Normal;
                    }
                }
            }
        }
        if state == State::Ampersand && self.h > self.e {
            if self.replace() {
                self.h += 1;
            } else {
                self.h = self.e;
            }
            let t = self.out.len();
            if self.h < len && t + (len - self.h) <= len {
                let h = self.h;
                self.out.extend_from_slice(&self.s[h..]);
            }
        }
        if norm_spaces {
            let before = self.out.len();
            while self.out.last().is_some_and(|&b| is_space(b)) {
                self.out.pop();
            }
            if self.out.len() != before {
                self.out.push(b' ');
            }
        }
        self.out
    }

    /// Replaces the reference `s[e..h]`; whether it was one.
    fn replace(&mut self) -> bool {
        let start = self.e + 1;
        if start >= self.s.len() {
            return false;
        }
        if self.s[start] != b'#' {
            self.replace_named(start)
        } else if start + 1 < self.h {
            self.replace_numeric(start + 1)
        } else {
            false
        }
    }

    fn replace_named(&mut self, name: usize) -> bool {
        let h = self.h.min(self.s.len());
        if let Some(rep) = named(&self.s[name..h], false) {
            self.out.extend_from_slice(&rep);
            return true;
        }
        for n in [5usize, 4, 3, 2] {
            if h - self.e > n {
                if let Some(rep) = named(&self.s[name..name + n], true) {
                    self.out.extend_from_slice(&rep);
                    self.h = self.e + n;
                    return true;
                }
            }
        }
        if self.s.len() - self.out.len() > h - self.e {
            self.out.extend_from_slice(&self.s[self.e..h]);
        }
        false
    }

    fn replace_numeric(&mut self, at: usize) -> bool {
        let len = self.s.len();
        let h = self.h.min(len);
        let value = match self.s.get(at) {
            Some(b'x' | b'X') => number(&self.s[(at + 1).min(h)..h], 16),
            Some(b'o' | b'O') => number(&self.s[(at + 1).min(h)..h], 8),
            _ => number(&self.s[at..h], 10),
        };
        let Some(code) = value else {
            if len - self.out.len() >= h - self.e {
                self.out.extend_from_slice(&self.s[self.e..h]);
            }
            return false;
        };
        if code == 160 {
            self.out.push(b' ');
            return true;
        }
        let mut buf = [0u8; 4];
        match u32::try_from(code)
            .ok()
            .filter(|&c| c > 0)
            .and_then(char::from_u32)
        {
            Some(c) if self.out.len() + c.len_utf8() <= len => {
                self.out
                    .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            _ if len - self.out.len() > 3 => self.out.extend_from_slice(REPLACEMENT),
            _ => {}
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::decode;

    fn d(s: &str) -> String {
        String::from_utf8(decode(s.as_bytes(), true)).unwrap()
    }

    #[test]
    fn references_and_spaces_decode_as_rspamd_decodes_them() {
        let cases = [
            ("abc     def", "abc def"),
            ("abc\n \tdef", "abc def"),
            ("    abc def   ", "abc def "),
            ("FOO&gt;BAR", "FOO>BAR"),
            ("FOO&gtBAR", "FOO>BAR"),
            ("FOO&gt BAR", "FOO> BAR"),
            ("FOO&gt;;;BAR", "FOO>;;BAR"),
            ("I'm &notin;", "I'm \u{2209}"),
            ("FOO& BAR", "FOO& BAR"),
            ("FOO&&&&gt;BAR", "FOO&&&>BAR"),
            ("FOO&#41;BAR", "FOO)BAR"),
            ("FOO&#x41;BAR", "FOOABAR"),
            ("FOO&#BAR", "FOO&#BAR"),
            ("FOO&#x0000;ZOO", "FOO\u{FFFD}ZOO"),
            ("FOO&#xD800;ZOO", "FOO\u{FFFD}ZOO"),
            ("ZZ&pound_id=23", "ZZ\u{a3}_id=23"),
            ("ZZ&prod_id=23", "ZZ&prod_id=23"),
            ("ZZ&gt", "ZZ>"),
            ("ZZ&", "ZZ&"),
            ("a&nbsp;b&#160;c", "a b c"),
        ];
        for (input, want) in cases {
            assert_eq!(d(input), want, "{input}");
        }
    }
}
