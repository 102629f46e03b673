//! PDF object syntax: the first value of an object's text (a dictionary, array, string, name,
//! number, reference or boolean), read as Rspamd's `lua_content/pdf.lua` grammar reads it, so
//! that both find the same links. Anything that grammar does not know (`null`, an operator, an
//! unbalanced string) makes the whole object unreadable, as there.
//!
//! Bounded: nesting deeper than [`MAX_DEPTH`] is unreadable, and callers hand over at most
//! [`super::MAX_OBJECT_TEXT`] bytes, so a hostile object costs little time and memory.

/// Deeper nesting is unreadable (Rspamd's parser gives up on deep nesting too).
const MAX_DEPTH: usize = 64;

/// One PDF value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Keys without their `/`; a key given twice keeps its last value.
    Dict(Vec<(Vec<u8>, Value)>),
    Array(Vec<Value>),
    /// A literal or hexadecimal string, unescaped.
    Str(Vec<u8>),
    Name(Vec<u8>),
    Num(f64),
    /// `major minor R`.
    Ref(u32, u32),
    Bool(bool),
}

impl Value {
    /// The value of `key` in a dictionary (the last one written).
    pub fn get(&self, key: &[u8]) -> Option<&Value> {
        match self {
            Value::Dict(kv) => kv.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn is_name(&self, name: &[u8]) -> bool {
        matches!(self, Value::Name(n) if n == name)
    }
}

/// The first value of `text` (comments and white space before it skipped); `None` when the
/// text does not start with a value the grammar reads.
pub fn first_value(text: &[u8]) -> Option<Value> {
    let mut p = Parser { s: text, at: 0 };
    p.skip_blank();
    p.element(0)
}

/// PDF white space as Rspamd's grammar has it (NUL, space, CR, LF, tab, form feed).
pub fn is_ws(c: u8) -> bool {
    matches!(c, 0 | b' ' | b'\r' | b'\n' | b'\t' | 0x0c)
}

fn is_delim(c: u8) -> bool {
    matches!(
        c,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn rest(&self) -> &[u8] {
        &self.s[self.at..]
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.at += 1;
        }
    }

    /// White space and comments.
    fn skip_blank(&mut self) {
        loop {
            self.skip_ws();
            if self.peek() != Some(b'%') {
                return;
            }
            while self
                .peek()
                .is_some_and(|c| c != b'\r' && c != b'\n' && c != 0x0c)
            {
                self.at += 1;
            }
        }
    }

    /// One value, after any comments.
    fn element(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_blank();
        let v = match self.peek()? {
            b'<' if self.rest().starts_with(b"<<") => self.dict(depth)?,
            b'<' => Value::Str(self.hex_string()?),
            b'[' => self.array(depth)?,
            b'(' => Value::Str(self.literal_string()?),
            b'/' => Value::Name(self.name()?),
            _ => self.atom()?,
        };
        self.skip_ws();
        Some(v)
    }

    fn dict(&mut self, depth: usize) -> Option<Value> {
        self.at += 2;
        let mut kv = Vec::new();
        loop {
            self.skip_ws();
            if self.rest().starts_with(b">>") {
                self.at += 2;
                return Some(Value::Dict(kv));
            }
            if self.peek()? != b'/' {
                return None;
            }
            let key = self.name()?;
            let value = self.element(depth + 1)?;
            kv.push((key, value));
        }
    }

    fn array(&mut self, depth: usize) -> Option<Value> {
        self.at += 1;
        let mut items = Vec::new();
        loop {
            self.skip_blank();
            if self.peek()? == b']' {
                self.at += 1;
                return Some(Value::Array(items));
            }
            items.push(self.element(depth + 1)?);
        }
    }

    /// `/Name`, with `#dd` escapes (decimal digits only, as Rspamd reads them).
    fn name(&mut self) -> Option<Vec<u8>> {
        self.at += 1;
        let start = self.at;
        while self.peek().is_some_and(|c| !is_ws(c) && !is_delim(c)) {
            self.at += 1;
        }
        let raw = &self.s[start..self.at];
        if raw.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            match raw.get(i..i + 3) {
                Some([b'#', a, b]) if a.is_ascii_digit() && b.is_ascii_digit() => {
                    out.push((a - b'0') * 16 + (b - b'0'));
                    i += 3;
                }
                _ => {
                    out.push(raw[i]);
                    i += 1;
                }
            }
        }
        Some(out)
    }

    /// `( ... )` with balanced parentheses; escapes as Rspamd undoes them.
    fn literal_string(&mut self) -> Option<Vec<u8>> {
        self.at += 1;
        let start = self.at;
        let mut open = 1usize;
        loop {
            match self.peek()? {
                // The escaped byte is skipped with it (past the end: unterminated).
                b'\\' => self.at = (self.at + 1).min(self.s.len()),
                b'(' => open += 1,
                b')' => {
                    open -= 1;
                    if open == 0 {
                        let inner = &self.s[start..self.at];
                        self.at += 1;
                        return Some(unescape(inner));
                    }
                }
                _ => {}
            }
            self.at += 1;
        }
    }

    /// `<hex digits>` (no white space inside, as the grammar has it); an odd digit count ends
    /// in a `0`.
    fn hex_string(&mut self) -> Option<Vec<u8>> {
        self.at += 1;
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
            self.at += 1;
        }
        if self.peek()? != b'>' {
            return None;
        }
        let digits = &self.s[start..self.at];
        self.at += 1;
        let nibble = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
        Some(
            digits
                .chunks(2)
                .map(|p| (nibble(p[0]) << 4) | p.get(1).map_or(0, |&c| nibble(c)))
                .collect(),
        )
    }

    /// `true`, `false`, `N M R` (single spaces) or a number; anything else is unreadable.
    fn atom(&mut self) -> Option<Value> {
        for (word, b) in [(&b"true"[..], true), (&b"false"[..], false)] {
            if self.rest().starts_with(word) {
                self.at += word.len();
                return Some(Value::Bool(b));
            }
        }
        if let Some(r) = self.reference() {
            return Some(r);
        }
        self.number().map(Value::Num)
    }

    fn digits(&mut self) -> Option<&[u8]> {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        (self.at > start).then(|| &self.s[start..self.at])
    }

    fn reference(&mut self) -> Option<Value> {
        let start = self.at;
        let r = (|| {
            let major = parse_u32(self.digits()?)?;
            self.rest().starts_with(b" ").then_some(())?;
            self.at += 1;
            let minor = parse_u32(self.digits()?)?;
            self.rest().starts_with(b" R").then_some(())?;
            self.at += 2;
            Some(Value::Ref(major, minor))
        })();
        if r.is_none() {
            self.at = start;
        }
        r
    }

    fn number(&mut self) -> Option<f64> {
        let start = self.at;
        if matches!(self.peek(), Some(b'+' | b'-')) {
            self.at += 1;
        }
        let int = self.digits().is_some();
        let mut frac = false;
        if self.peek() == Some(b'.') {
            self.at += 1;
            frac = self.digits().is_some();
        }
        if !int && !frac {
            self.at = start;
            return None;
        }
        std::str::from_utf8(&self.s[start..self.at])
            .ok()?
            .parse()
            .ok()
    }
}

fn parse_u32(d: &[u8]) -> Option<u32> {
    std::str::from_utf8(d).ok()?.parse().ok()
}

/// A literal string's escapes as Rspamd undoes them: `\r` and `\n` become CR and LF, any
/// other `\` with a non-digit stays as written; then `\ddd` (one to three digits) is the
/// octal byte, `?` when not octal.
fn unescape(s: &[u8]) -> Vec<u8> {
    let mut first = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match (s[i], s.get(i + 1)) {
            (b'\\', Some(&c)) if !c.is_ascii_digit() => {
                match c {
                    b'r' => first.push(b'\r'),
                    b'n' => first.push(b'\n'),
                    _ => first.extend_from_slice(&[b'\\', c]),
                }
                i += 2;
            }
            (c, _) => {
                first.push(c);
                i += 1;
            }
        }
    }
    let mut out = Vec::with_capacity(first.len());
    let mut i = 0;
    while i < first.len() {
        let n = first[i + 1..]
            .iter()
            .take(3)
            .take_while(|c| c.is_ascii_digit())
            .count();
        if first[i] == b'\\' && n > 0 {
            let digits = &first[i + 1..i + 1 + n];
            let octal = digits.iter().try_fold(0u32, |acc, &d| {
                (d < b'8').then(|| acc * 8 + u32::from(d - b'0'))
            });
            out.push(octal.and_then(|o| u8::try_from(o).ok()).unwrap_or(b'?'));
            i += 1 + n;
        } else {
            out.push(first[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Value {
        Value::Name(s.as_bytes().to_vec())
    }

    #[test]
    fn reads_a_link_annotation() {
        let v = first_value(
            b" <</Type /Annot/Rect [0 0 1.5 -.5] /A << /S /URI /URI (http://a.test/\\(x\\)) >> /P 3 0 R>>\nendobj",
        )
        .unwrap();
        assert_eq!(v.get(b"Type"), Some(&name("Annot")));
        assert_eq!(v.get(b"P"), Some(&Value::Ref(3, 0)));
        let a = v.get(b"A").unwrap();
        assert!(a.get(b"S").unwrap().is_name(b"URI"));
        assert_eq!(
            a.get(b"URI"),
            Some(&Value::Str(b"http://a.test/\\(x\\)".to_vec()))
        );
        assert_eq!(
            v.get(b"Rect"),
            Some(&Value::Array(vec![
                Value::Num(0.0),
                Value::Num(0.0),
                Value::Num(1.5),
                Value::Num(-0.5)
            ]))
        );
    }

    #[test]
    fn strings_hex_names_and_comments() {
        assert_eq!(
            first_value(b"% c\n<68747>"),
            Some(Value::Str(b"htp".to_vec()))
        );
        assert_eq!(
            first_value(b"(a(b)c\\n\\101\\9)"),
            Some(Value::Str(b"a(b)c\nA?".to_vec()))
        );
        assert_eq!(first_value(b"/A#20B"), Some(name("A B")));
        assert_eq!(
            first_value(b"<< /K true /L false >>").unwrap().get(b"L"),
            Some(&Value::Bool(false))
        );
        // Later keys win.
        assert_eq!(
            first_value(b"<</U 1 /U 2>>").unwrap().get(b"U"),
            Some(&Value::Num(2.0))
        );
    }

    #[test]
    fn what_the_grammar_does_not_read_is_unreadable() {
        for bad in [
            &b"<< /A null >>"[..],
            b"<< /A (open >>",
            b"<< /A <zz> >>",
            b"<< /A 1  0 R >>",
            b"<< A 1 >>",
            b"[1 2",
            b"",
            b"BT",
        ] {
            assert_eq!(first_value(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_recursed() {
        let deep = [b"[".repeat(100_000), b"]".repeat(100_000)].concat();
        assert_eq!(first_value(&deep), None);
        let ok = [b"[".repeat(10), b"]".repeat(10)].concat();
        assert!(first_value(&ok).is_some());
    }
}
