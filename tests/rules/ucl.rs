//! Reads the plain UCL subset the shipped rule files use (objects,
//! `key = value;`, single- and double-quoted strings, numbers, booleans,
//! `#` comments) into JSON, so tests can load `conf/rules/*` before the
//! project's UCL parser is wired in. Not a general UCL reader.
use serde_json::{Map, Value};

pub fn parse(src: &str) -> Value {
    let mut p = P {
        s: src.as_bytes(),
        i: 0,
    };
    let v = p.object_body();
    p.skip();
    assert_eq!(p.i, p.s.len(), "trailing input at byte {}", p.i);
    v
}

struct P<'a> {
    s: &'a [u8],
    i: usize,
}

impl P<'_> {
    fn skip(&mut self) {
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'#' => {
                    while self.i < self.s.len() && self.s[self.i] != b'\n' {
                        self.i += 1
                    }
                }
                c if c.is_ascii_whitespace() || c == b';' || c == b',' => self.i += 1,
                _ => break,
            }
        }
    }

    fn object_body(&mut self) -> Value {
        let mut m = Map::new();
        loop {
            self.skip();
            if self.i >= self.s.len() || self.s[self.i] == b'}' {
                return Value::Object(m);
            }
            let key = self.key();
            self.skip_spaces();
            if self.s[self.i] == b'=' || self.s[self.i] == b':' {
                self.i += 1;
                self.skip_spaces();
            }
            let v = self.value();
            m.insert(key, v);
        }
    }

    fn skip_spaces(&mut self) {
        while self.s[self.i] == b' ' || self.s[self.i] == b'\t' {
            self.i += 1
        }
    }

    fn key(&mut self) -> String {
        if matches!(self.s[self.i], b'"' | b'\'') {
            return self.string();
        }
        let start = self.i;
        while !self.s[self.i].is_ascii_whitespace() && !matches!(self.s[self.i], b'=' | b'{' | b':')
        {
            self.i += 1
        }
        String::from_utf8(self.s[start..self.i].to_vec()).unwrap()
    }

    fn value(&mut self) -> Value {
        match self.s[self.i] {
            b'{' => {
                self.i += 1;
                let v = self.object_body();
                assert_eq!(self.s[self.i], b'}');
                self.i += 1;
                v
            }
            b'"' | b'\'' => Value::String(self.string()),
            _ => {
                let start = self.i;
                while !matches!(self.s[self.i], b';' | b'\n' | b'}') {
                    self.i += 1
                }
                let word = std::str::from_utf8(&self.s[start..self.i]).unwrap().trim();
                match word {
                    "true" | "yes" | "on" => Value::Bool(true),
                    "false" | "no" | "off" => Value::Bool(false),
                    n => serde_json::from_str(n).unwrap_or_else(|_| Value::String(n.to_string())),
                }
            }
        }
    }

    /// Single quotes: only `\'` is an escape. Double quotes: JSON escapes.
    fn string(&mut self) -> String {
        let q = self.s[self.i];
        let start = self.i;
        self.i += 1;
        while self.s[self.i] != q {
            if self.s[self.i] == b'\\' {
                self.i += 1;
            }
            self.i += 1;
        }
        self.i += 1;
        let raw = std::str::from_utf8(&self.s[start..self.i]).unwrap();
        if q == b'"' {
            serde_json::from_str(raw).unwrap()
        } else {
            raw[1..raw.len() - 1].replace("\\'", "'")
        }
    }
}
