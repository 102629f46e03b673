//! Expressions over symbols: composites and force_actions rules.
//!
//! Same operators and priorities as regexp rules (`!`, `+`, comparisons,
//! `&`, `|`, parentheses, `and`/`or`/`not`). An atom is a symbol name with
//! Rspamd's composite decorations:
//! ```text
//! atom   = { "~" | "-" | "^" } target [ "[" option { "," option } "]" ]
//! target = "g:" group | "g+:" group | "g-:" group | SYMBOL
//! option = word | "/" regex "/"
//! ```
use regex::Regex;

use super::ast::{CmpOp, Expr};
use super::ExprError;

/// Which symbols an atom looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Symbol(String),
    /// `g:` any, `g+:` positive-weight, `g-:` negative-weight symbols of a group.
    Group {
        name: String,
        sign: GroupSign,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupSign {
    Any,
    Positive,
    Negative,
}

/// An option the symbol must carry: a literal or a regex.
#[derive(Debug, Clone)]
pub enum OptMatch {
    Literal(String),
    Regex(Regex),
}

impl OptMatch {
    pub fn matches(&self, opt: &str) -> bool {
        match self {
            OptMatch::Literal(l) => l == opt,
            OptMatch::Regex(r) => r.is_match(opt),
        }
    }
}

impl PartialEq for OptMatch {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (OptMatch::Literal(a), OptMatch::Literal(b)) => a == b,
            (OptMatch::Regex(a), OptMatch::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

/// One atom of a symbol expression.
#[derive(Debug, Clone, PartialEq)]
pub struct SymAtom {
    pub target: Target,
    /// `~`: keep the symbol, remove its weight.
    pub keep_symbol: bool,
    /// `-`: remove nothing.
    pub leave: bool,
    /// `^`: remove symbol and weight whatever other composites want.
    pub force: bool,
    /// All must be among the symbol's options.
    pub options: Vec<OptMatch>,
}

/// Parses a composite / force_actions expression.
pub fn parse_symbolic(src: &str) -> Result<Expr<SymAtom>, ExprError> {
    let mut p = P { src, pos: 0 };
    let e = p.or()?;
    p.ws();
    if p.pos < src.len() {
        return Err(p.err("unexpected trailing input"));
    }
    Ok(e)
}

struct P<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> P<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn err(&self, why: &str) -> ExprError {
        ExprError::Syntax {
            expr: self.src.to_string(),
            offset: self.pos,
            reason: why.to_string(),
        }
    }

    fn ws(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start().len();
    }

    /// Eats one of `ops` (symbols, or words not followed by a name char).
    fn eat(&mut self, ops: &[&str]) -> bool {
        self.ws();
        for op in ops {
            let r = self.rest();
            let Some(after) = strip_prefix_ci(r, op) else {
                continue;
            };
            let wordy = op.chars().all(|c| c.is_ascii_alphabetic());
            if wordy && after.starts_with(is_name_char) {
                continue;
            }
            self.pos += op.len();
            return true;
        }
        false
    }

    fn chain(
        &mut self,
        ops: &[&str],
        item: fn(&mut Self) -> Result<Expr<SymAtom>, ExprError>,
        build: fn(Vec<Expr<SymAtom>>) -> Expr<SymAtom>,
    ) -> Result<Expr<SymAtom>, ExprError> {
        let mut items = vec![item(self)?];
        while self.eat(ops) {
            items.push(item(self)?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            build(items)
        })
    }

    fn or(&mut self) -> Result<Expr<SymAtom>, ExprError> {
        self.chain(&["||", "|", "or"], Self::and, Expr::Or)
    }

    fn and(&mut self) -> Result<Expr<SymAtom>, ExprError> {
        self.chain(&["&&", "&", "and"], Self::cmp, Expr::And)
    }

    fn cmp(&mut self) -> Result<Expr<SymAtom>, ExprError> {
        let lhs = self.sum()?;
        let ops = [
            (">=", CmpOp::Ge),
            ("<=", CmpOp::Le),
            ("==", CmpOp::Eq),
            (">", CmpOp::Gt),
            ("<", CmpOp::Lt),
        ];
        for (tok, op) in ops {
            if self.eat(&[tok]) {
                self.ws();
                let r = self.rest();
                let len = r
                    .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
                    .unwrap_or(r.len());
                let n: f64 = r[..len]
                    .parse()
                    .map_err(|_| self.err("expected a number after comparison"))?;
                self.pos += len;
                return Ok(Expr::Cmp(Box::new(lhs), op, n));
            }
        }
        Ok(lhs)
    }

    fn sum(&mut self) -> Result<Expr<SymAtom>, ExprError> {
        self.chain(&["+"], Self::unary, Expr::Sum)
    }

    fn unary(&mut self) -> Result<Expr<SymAtom>, ExprError> {
        if self.eat(&["!", "not"]) {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.ws();
        if self.rest().starts_with('(') {
            self.pos += 1;
            let e = self.or()?;
            if !self.eat(&[")"]) {
                return Err(self.err("expected `)`"));
            }
            return Ok(e);
        }
        self.atom().map(Expr::Leaf)
    }

    fn atom(&mut self) -> Result<SymAtom, ExprError> {
        let mut a = SymAtom {
            target: Target::Symbol(String::new()),
            keep_symbol: false,
            leave: false,
            force: false,
            options: Vec::new(),
        };
        loop {
            match self.rest().chars().next() {
                Some('~') => a.keep_symbol = true,
                Some('-') => a.leave = true,
                Some('^') => a.force = true,
                _ => break,
            }
            self.pos += 1;
        }
        let r = self.rest();
        let len = r.find(|c: char| !is_name_char(c) && c != ':' && c != '+' && c != '-');
        let name = &r[..len.unwrap_or(r.len())];
        // `g-:` keeps its dash; a trailing `-`/`+` elsewhere is an operator.
        let name = name.trim_end_matches(['+', '-']);
        if name.is_empty() {
            return Err(self.err("expected a symbol name"));
        }
        self.pos += name.len();
        a.target = target(name);
        if self.rest().starts_with('[') {
            self.pos += 1;
            a.options = self.options()?;
        }
        Ok(a)
    }

    fn options(&mut self) -> Result<Vec<OptMatch>, ExprError> {
        let r = self.rest();
        let end = r
            .find(']')
            .ok_or_else(|| self.err("unclosed `[` of options"))?;
        let mut out = Vec::new();
        for opt in r[..end].split(',').map(str::trim).filter(|o| !o.is_empty()) {
            match opt.strip_prefix('/').and_then(|o| o.rsplit_once('/')) {
                Some((re, flags)) => {
                    let pat = if flags.contains('i') {
                        format!("(?i){re}")
                    } else {
                        re.to_string()
                    };
                    let re = Regex::new(&pat).map_err(|e| self.err(&e.to_string()))?;
                    out.push(OptMatch::Regex(re));
                }
                None => out.push(OptMatch::Literal(opt.to_string())),
            }
        }
        self.pos += end + 1;
        Ok(out)
    }
}

fn strip_prefix_ci<'s>(s: &'s str, p: &str) -> Option<&'s str> {
    let head = s.get(..p.len())?;
    head.eq_ignore_ascii_case(p).then(|| &s[p.len()..])
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

fn target(name: &str) -> Target {
    for (prefix, sign) in [
        ("g+:", GroupSign::Positive),
        ("g-:", GroupSign::Negative),
        ("g:", GroupSign::Any),
    ] {
        if let Some(g) = name.strip_prefix(prefix) {
            return Target::Group {
                name: g.to_string(),
                sign,
            };
        }
    }
    Target::Symbol(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(e: &Expr<SymAtom>) -> &SymAtom {
        match e {
            Expr::Leaf(a) => a,
            other => panic!("not a leaf: {other:?}"),
        }
    }

    #[test]
    fn decorations_groups_and_options() {
        let e = parse_symbolic("~A & -B | ^g+:fuzzy & C[opt1, /x.y/i] & g-:neg").unwrap();
        let Expr::Or(v) = e else { panic!() };
        let Expr::And(l) = &v[0] else { panic!() };
        assert!(sym(&l[0]).keep_symbol);
        assert!(sym(&l[1]).leave);
        let Expr::And(r) = &v[1] else { panic!() };
        let g = sym(&r[0]);
        assert!(g.force);
        assert_eq!(
            g.target,
            Target::Group {
                name: "fuzzy".into(),
                sign: GroupSign::Positive
            }
        );
        let c = sym(&r[1]);
        assert_eq!(c.options.len(), 2);
        assert!(c.options[0].matches("opt1"));
        assert!(c.options[1].matches("X-Y"));
        assert_eq!(
            sym(&r[2]).target,
            Target::Group {
                name: "neg".into(),
                sign: GroupSign::Negative
            }
        );
    }

    #[test]
    fn words_thresholds_and_errors() {
        let e = parse_symbolic("not A and (B or ORDER) + C >= 2").unwrap();
        assert!(matches!(e, Expr::And(_)));
        assert!(parse_symbolic("A &").is_err());
        assert!(parse_symbolic("(A | B").is_err());
        assert!(parse_symbolic("A[x").is_err());
        let e = parse_symbolic("A B").unwrap_err();
        assert!(e.to_string().contains("byte 2"), "{e}");
    }
}
