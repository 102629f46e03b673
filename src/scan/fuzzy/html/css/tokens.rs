//! Rspamd 3.4's CSS tokenizer, quirks included: a `-` never starts an
//! identifier (`-moz-x` is a delimiter and `moz-x`), `#` makes a hash only
//! before two name characters, lengths are converted to pixels by the
//! tokenizer (with its unit table, `vw`/`vh` unknown), `<!--` consumes
//! three bytes, an unterminated comment leaves its last byte. One pass over
//! the input: each call consumes at least one byte or returns [`Tok::Eof`].
use super::super::entities::is_space;

/// A token; names borrow the (lowercased) input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tok<'a> {
    Ws,
    Ident(&'a [u8]),
    /// A name directly followed by `(` (the `(` is the next token).
    Function(&'a [u8]),
    AtKeyword(&'a [u8]),
    Hash(&'a [u8]),
    Str,
    Url,
    /// A number; `dim` once a unit scaled it to pixels.
    Number {
        value: f32,
        percent: bool,
    },
    Cdo,
    Cdc,
    Delim(u8),
    OParen,
    CParen,
    OSquare,
    CSquare,
    OCurly,
    CCurly,
    Comma,
    Semicolon,
    Colon,
    Eof,
}

/// Units and their pixels, as Rspamd's tokenizer scales them.
const UNITS: &[(&[u8], f64)] = &[
    (b"px", 1.0),
    (b"em", 16.0),
    (b"rem", 16.0),
    (b"ex", 8.0),
    (b"wv", 8.0),
    (b"wh", 6.0),
    (b"vmax", 8.0),
    (b"vmin", 6.0),
    (b"pt", 96.0 / 72.0),
    (b"cm", 96.0 / 2.54),
    (b"mm", 9.60 / 2.54),
    (b"in", 96.0),
    (b"pc", 96.0 / 6.0),
];

fn ident_start(c: u8) -> bool {
    c >= 0x80 || c.is_ascii_alphabetic() || c == b'_'
}

fn ident_char(c: u8) -> bool {
    ident_start(c) || c == b'-' || c.is_ascii_digit()
}

pub struct Tokenizer<'a> {
    input: &'a [u8],
    offset: usize,
}

impl<'a> Tokenizer<'a> {
    pub fn new(input: &'a [u8]) -> Tokenizer<'a> {
        Tokenizer { input, offset: 0 }
    }

    fn at(&self, i: usize) -> u8 {
        self.input.get(i).copied().unwrap_or(0)
    }

    pub fn next_token(&mut self) -> Tok<'a> {
        loop {
            let i = self.offset;
            let Some(&c) = self.input.get(i) else {
                return Tok::Eof;
            };
            let len = self.input.len();
            let simple = |t: Tok<'a>, s: &mut Self| {
                s.offset = i + 1;
                t
            };
            return match c {
                b'/' if self.at(i + 1) == b'*' && i + 1 < len => {
                    self.skip_comment(i + 2);
                    continue;
                }
                b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => {
                    let mut j = i;
                    while j < len && is_space(self.input[j]) {
                        j += 1;
                    }
                    self.offset = j;
                    Tok::Ws
                }
                b'"' | b'\'' => {
                    self.skip_string(i + 1, c);
                    Tok::Str
                }
                b'(' => simple(Tok::OParen, self),
                b')' => simple(Tok::CParen, self),
                b'[' => simple(Tok::OSquare, self),
                b']' => simple(Tok::CSquare, self),
                b'{' => simple(Tok::OCurly, self),
                b'}' => simple(Tok::CCurly, self),
                b',' => simple(Tok::Comma, self),
                b';' => simple(Tok::Semicolon, self),
                b':' => simple(Tok::Colon, self),
                b'<' if i + 3 < len && &self.input[i + 1..i + 4] == b"!--" => {
                    // Three bytes, as Rspamd's tokenizer advances.
                    self.offset = i + 3;
                    Tok::Cdo
                }
                b'-' if i + 1 < len && self.input[i + 1].is_ascii_digit() => self.number(),
                b'-' if i + 2 < len && &self.input[i + 1..i + 3] == b"->" => {
                    self.offset = i + 3;
                    Tok::Cdc
                }
                b'+' | b'.' if i + 1 < len && self.input[i + 1].is_ascii_digit() => self.number(),
                b'\\' if i + 1 < len && !matches!(self.input[i + 1], b'\n' | b'\r') => {
                    self.ident(false)
                }
                b'@' if i + 3 < len
                    && ident_start(self.input[i + 1])
                    && ident_char(self.input[i + 2])
                    && ident_char(self.input[i + 3]) =>
                {
                    self.offset = i + 1;
                    match self.ident(false) {
                        Tok::Ident(n) => Tok::AtKeyword(n),
                        t => t,
                    }
                }
                b'#' if i + 2 < len
                    && ident_char(self.input[i + 1])
                    && ident_char(self.input[i + 2]) =>
                {
                    self.offset = i + 1;
                    match self.ident(true) {
                        Tok::Ident(n) => Tok::Hash(n),
                        t => t,
                    }
                }
                _ if c.is_ascii_digit() => self.number(),
                _ if ident_start(c) => self.ident(false),
                _ => simple(Tok::Delim(c), self),
            };
        }
    }

    /// Past a comment (nested ones counted); unterminated, up to the last
    /// byte.
    fn skip_comment(&mut self, from: usize) {
        let input = self.input;
        let (mut i, mut nested) = (from, 0usize);
        while i + 1 < input.len() {
            match (input[i], input[i + 1]) {
                (b'*', b'/') if nested == 0 => {
                    self.offset = i + 2;
                    return;
                }
                (b'*', b'/') => {
                    nested -= 1;
                    i += 2;
                }
                (b'/', b'*') => {
                    nested += 1;
                    i += 2;
                }
                _ => i += 1,
            }
        }
        self.offset = i.max(from);
    }

    /// Past a quoted string (a backslash escapes nothing here; an
    /// unterminated one runs to the end).
    fn skip_string(&mut self, from: usize, quote: u8) {
        self.offset = match self.input[from.min(self.input.len())..]
            .iter()
            .position(|&b| b == quote)
        {
            Some(p) => from + p + 1,
            None => self.input.len(),
        };
    }

    fn ident(&mut self, allow_number: bool) -> Tok<'a> {
        let input = self.input;
        let start = self.offset;
        let mut i = start;
        let mut middle_minus = false;
        if self.at(i) == b'-' {
            i += 1;
            if self.at(i) == b'-' {
                i += 1;
                middle_minus = true;
            }
        }
        while i < input.len() {
            let c = input[i];
            let plain = if allow_number || middle_minus {
                ident_char(c)
            } else {
                ident_start(c)
            };
            if plain {
                middle_minus = true;
            } else if c == b'\\' && i + 1 < input.len() {
                let mut nhex = 0;
                loop {
                    i += 1;
                    let Some(&e) = input.get(i) else { break };
                    if e.is_ascii_hexdigit() {
                        nhex += 1;
                        if nhex > 6 {
                            break;
                        }
                    } else {
                        if nhex > 0 && e == b' ' {
                            i += 1;
                        }
                        break;
                    }
                }
            } else if c == b'(' {
                return self.function_or_url(start, i);
            } else {
                break;
            }
            i += 1;
        }
        let i = i.min(input.len());
        self.offset = i;
        Tok::Ident(&input[start..i])
    }

    fn function_or_url(&mut self, start: usize, paren: usize) -> Tok<'a> {
        let input = self.input;
        let mut j = paren + 1;
        while j < input.len() && is_space(input[j]) {
            j += 1;
        }
        let is_url = input.len() - start > 3 && &input[start..start + 3] == b"url";
        if is_url && !matches!(input.get(j), Some(b'"' | b'\'')) {
            while j < input.len() && input[j] != b')' {
                j += 1;
            }
            self.offset = (j + 1).min(input.len());
            return Tok::Url;
        }
        self.offset = paren;
        Tok::Function(&input[start..paren])
    }

    fn number(&mut self) -> Tok<'a> {
        let input = self.input;
        let start = self.offset;
        let mut i = start;
        let (mut seen_dot, mut seen_exp) = (false, false);
        if matches!(self.at(i), b'-' | b'+') {
            i += 1;
        }
        if self.at(i) == b'.' {
            seen_dot = true;
            i += 1;
        }
        while i < input.len() {
            let c = input[i];
            if c == b'.' {
                if seen_dot {
                    break;
                }
                seen_dot = true;
            } else if c == b'e' || c == b'E' {
                if seen_exp {
                    break;
                }
                seen_exp = true;
                seen_dot = true;
                match input.get(i + 1) {
                    Some(b'+' | b'-') => i += 1,
                    Some(d) if d.is_ascii_digit() => {}
                    _ => break,
                }
            } else if !c.is_ascii_digit() {
                break;
            }
            i += 1;
        }
        self.offset = i;
        let num = parse_float(&input[start..i.min(start + 127)]);
        if !num.is_finite() || num.abs() >= f64::from(f32::MAX) {
            return Tok::Delim(input[i - 1]);
        }
        let mut value = num as f32;
        let mut percent = false;
        match input.get(i) {
            Some(b'%') => {
                percent = true;
                self.offset = i + 1;
            }
            Some(&c) if ident_start(c) => {
                if let Tok::Ident(unit) = self.ident(false) {
                    match UNITS.iter().find(|(u, _)| *u == unit) {
                        Some((_, mult)) => value = (f64::from(value) * mult) as f32,
                        None => self.offset = i,
                    }
                }
            }
            _ => {}
        }
        Tok::Number { value, percent }
    }
}

/// `strtod` of a number's bytes: the longest prefix that parses.
fn parse_float(b: &[u8]) -> f64 {
    let s = std::str::from_utf8(b).unwrap_or("");
    let mut end = s.len();
    while end > 0 {
        if let Ok(v) = s[..end].parse::<f64>() {
            return v;
        }
        end -= 1;
    }
    0.0
}

/// The input as Rspamd's CSS parser reads it: lowercased, or, when it has a
/// backslash outside quotes, unescaped (and lowercased outside quotes).
pub fn prepare(input: &[u8]) -> Vec<u8> {
    if needs_unescape(input) {
        unescape(input)
    } else {
        input.to_ascii_lowercase()
    }
}

fn needs_unescape(input: &[u8]) -> bool {
    let (mut quote, mut prev) = (None, 0u8);
    for &c in input {
        match quote {
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None if c == b'\\' => return true,
            None => {}
            Some(q) => {
                if c == q && prev != b'\\' {
                    quote = None;
                }
                prev = c;
            }
        }
    }
    false
}

fn unescape(input: &[u8]) -> Vec<u8> {
    #[derive(PartialEq)]
    enum St {
        Normal,
        Quoted(u8),
        Escape(usize),
        SkipSpaces,
    }
    let mut out = Vec::with_capacity(input.len());
    let mut st = St::Normal;
    let mut prev = 0u8;
    let consume = |c: u8, i: usize, out: &mut Vec<u8>| -> St {
        if c == b'"' || c == b'\'' {
            out.push(c);
            St::Quoted(c)
        } else if c == b'\\' {
            St::Escape(i)
        } else {
            out.push(c.to_ascii_lowercase());
            St::Normal
        }
    };
    for (i, &c) in input.iter().enumerate() {
        st = match st {
            St::Normal => consume(c, i, &mut out),
            St::Quoted(q) => {
                out.push(c);
                let closed = c == q && prev != b'\\';
                prev = c;
                if closed {
                    St::Normal
                } else {
                    St::Quoted(q)
                }
            }
            St::Escape(at) if !c.is_ascii_hexdigit() => {
                if i > at + 1 {
                    let hex = std::str::from_utf8(&input[at + 1..i]).unwrap_or("");
                    if let Some(ch) = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32) {
                        let mut buf = [0u8; 4];
                        for l in ch.to_lowercase() {
                            out.extend_from_slice(l.encode_utf8(&mut buf).as_bytes());
                        }
                    }
                }
                if is_space(c) {
                    St::SkipSpaces
                } else {
                    consume(c, i, &mut out)
                }
            }
            St::Escape(at) => St::Escape(at),
            St::SkipSpaces if is_space(c) => St::SkipSpaces,
            St::SkipSpaces => consume(c, i, &mut out),
        };
    }
    out.truncate(input.len());
    out
}
