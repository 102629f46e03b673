//! Parser for Rspamd's rule expression language.
//!
//! Grammar (priorities as Rspamd documents them: NOT, PLUS, COMPARE, AND, OR):
//! ```text
//! or      = and  { ("||" | "|" | "or")  and }
//! and     = cmp  { ("&&" | "&" | "and") cmp }
//! cmp     = sum  [ (">=" | "<=" | "==" | ">" | "<") number ]
//! sum     = unary { "+" unary }
//! unary   = ("!" | "not") unary | primary
//! primary = "(" or ")" | function | regexp
//! function = ident "(" [ arg { "," arg } ] ")"
//! regexp  = [ header-name "=" ] "/" body "/" { flag } [ "{" type "}" { flag } ]
//! ```
//! Whole input is available, so nom's complete combinators are used.
use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, multispace0};
use nom::combinator::{map, opt, recognize};
use nom::number::complete::double;
use nom::sequence::{delimited, preceded};
use nom::IResult;

use super::ast::{ArgMatch, Atom, CmpOp, Expr, Function, MatchKind, ReFlags, RegexpAtom};
use super::ExprError;

type Res<'a, T> = IResult<&'a str, T, Fail<'a>>;

/// nom error carrying where and why, turned into [`ExprError`] at the top.
#[derive(Debug)]
pub struct Fail<'a> {
    at: &'a str,
    why: String,
}

impl<'a> nom::error::ParseError<&'a str> for Fail<'a> {
    fn from_error_kind(at: &'a str, kind: nom::error::ErrorKind) -> Self {
        Fail {
            at,
            why: format!("unexpected input ({kind:?})"),
        }
    }
    fn append(_: &'a str, _: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

fn fail<T>(at: &str, why: impl Into<String>) -> Res<'_, T> {
    Err(nom::Err::Failure(Fail {
        at,
        why: why.into(),
    }))
}

/// Parses a whole expression; trailing input is an error.
pub fn parse(src: &str) -> Result<Expr<Atom>, ExprError> {
    let to_err = |f: Fail<'_>| ExprError::Syntax {
        expr: src.to_string(),
        offset: src.len() - f.at.len(),
        reason: f.why,
    };
    match ws(or_expr)(src) {
        Ok(("", e)) => Ok(e),
        Ok((rest, _)) => Err(to_err(Fail {
            at: rest,
            why: "unexpected trailing input".into(),
        })),
        Err(nom::Err::Error(f) | nom::Err::Failure(f)) => Err(to_err(f)),
        Err(nom::Err::Incomplete(_)) => Err(to_err(Fail {
            at: "",
            why: "incomplete".into(),
        })),
    }
}

fn ws<'a, T>(p: impl FnMut(&'a str) -> Res<'a, T>) -> impl FnMut(&'a str) -> Res<'a, T> {
    delimited(multispace0, p, multispace0)
}

/// A keyword operator must not run into an identifier (`order` is not `or`).
fn keyword<'a>(k: &'static str) -> impl FnMut(&'a str) -> Res<'a, &'a str> {
    move |i: &'a str| {
        let (rest, w) = tag(k)(i)?;
        match rest.chars().next() {
            Some(c) if c.is_ascii_alphanumeric() || c == '_' => Err(nom::Err::Error(Fail {
                at: i,
                why: "not a keyword".into(),
            })),
            _ => Ok((rest, w)),
        }
    }
}

fn chain<'a>(
    op: impl FnMut(&'a str) -> Res<'a, &'a str> + Copy,
    item: fn(&'a str) -> Res<'a, Expr<Atom>>,
    build: fn(Vec<Expr<Atom>>) -> Expr<Atom>,
) -> impl FnMut(&'a str) -> Res<'a, Expr<Atom>> {
    move |i| {
        let (mut i, first) = item(i)?;
        let mut items = vec![first];
        while let Ok((rest, _)) = ws(op)(i) {
            let (rest, next) = item(rest)?;
            items.push(next);
            i = rest;
        }
        Ok((
            i,
            if items.len() == 1 {
                items.pop().expect("one item")
            } else {
                build(items)
            },
        ))
    }
}

fn or_op(i: &str) -> Res<'_, &str> {
    alt((tag("||"), tag("|"), keyword("or")))(i)
}

fn and_op(i: &str) -> Res<'_, &str> {
    alt((tag("&&"), tag("&"), keyword("and")))(i)
}

fn plus_op(i: &str) -> Res<'_, &str> {
    tag("+")(i)
}

fn or_expr(i: &str) -> Res<'_, Expr<Atom>> {
    chain(or_op, and_expr, Expr::Or)(i)
}

fn and_expr(i: &str) -> Res<'_, Expr<Atom>> {
    chain(and_op, cmp_expr, Expr::And)(i)
}

fn cmp_expr(i: &str) -> Res<'_, Expr<Atom>> {
    let (i, lhs) = sum_expr(i)?;
    let (i, rhs) = opt(|i| {
        let (i, op) = ws(cmp_op)(i)?;
        let (i, n) = ws(double)(i)?;
        Ok((i, (op, n)))
    })(i)?;
    Ok((
        i,
        match rhs {
            Some((op, n)) => Expr::Cmp(Box::new(lhs), op, n),
            None => lhs,
        },
    ))
}

fn cmp_op(i: &str) -> Res<'_, CmpOp> {
    alt((
        map(tag(">="), |_| CmpOp::Ge),
        map(tag("<="), |_| CmpOp::Le),
        map(tag("=="), |_| CmpOp::Eq),
        map(tag(">"), |_| CmpOp::Gt),
        map(tag("<"), |_| CmpOp::Lt),
    ))(i)
}

fn sum_expr(i: &str) -> Res<'_, Expr<Atom>> {
    chain(plus_op, unary, Expr::Sum)(i)
}

fn unary(i: &str) -> Res<'_, Expr<Atom>> {
    let neg = preceded(ws(alt((tag("!"), keyword("not")))), unary);
    alt((map(neg, |e| Expr::Not(Box::new(e))), ws(primary)))(i)
}

fn primary(i: &str) -> Res<'_, Expr<Atom>> {
    if let Some(rest) = i.strip_prefix('(') {
        let (rest, e) = ws(or_expr)(rest)?;
        return match rest.strip_prefix(')') {
            Some(r) => Ok((r, e)),
            None => fail(rest, "expected `)`"),
        };
    }
    if i.is_empty() {
        return fail(i, "expected an atom, found end of expression");
    }
    match alt((function, map(regexp, |r| Expr::Leaf(Atom::Regexp(r)))))(i) {
        Err(nom::Err::Error(_)) => fail(i, "expected an atom (regexp or function)"),
        other => other,
    }
}

fn ident(i: &str) -> Res<'_, &str> {
    take_while1(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')(i)
}

fn function(i: &str) -> Res<'_, Expr<Atom>> {
    let (rest, name) = ident(i)?;
    let (rest, _) = preceded(multispace0, char('('))(rest)?;
    let (rest, args) = args(rest)?;
    let Some(rest) = rest.strip_prefix(')') else {
        return fail(rest, "expected `)` after arguments");
    };
    match make_function(name, args) {
        Ok(f) => Ok((rest, Expr::Leaf(Atom::Function(f)))),
        Err(why) => fail(i, why),
    }
}

fn args(i: &str) -> Res<'_, Vec<String>> {
    let mut out = Vec::new();
    let (mut i, _) = multispace0(i)?;
    while !i.starts_with(')') && !i.is_empty() {
        let (rest, a) = ws(arg)(i)?;
        out.push(a);
        i = rest.strip_prefix(',').unwrap_or(rest);
        if rest.len() == i.len() && !i.starts_with(')') {
            return fail(i, "expected `,` or `)`");
        }
    }
    Ok((i, out))
}

fn arg(i: &str) -> Res<'_, String> {
    let quoted = |q: char| delimited(char(q), take_while(move |c| c != q), char(q));
    alt((
        map(alt((quoted('\''), quoted('"'))), str::to_string),
        map(
            take_while1(|c: char| !c.is_whitespace() && c != ',' && c != ')'),
            str::to_string,
        ),
    ))(i)
}

fn make_function(name: &str, args: Vec<String>) -> Result<Function, String> {
    let n = args.len();
    let arity = |lo: usize, hi: usize| {
        if (lo..=hi).contains(&n) {
            Ok(())
        } else if lo == hi {
            Err(format!("function `{name}` takes {lo} argument(s), got {n}"))
        } else {
            Err(format!(
                "function `{name}` takes {lo} to {hi} arguments, got {n}"
            ))
        }
    };
    let num = |i: usize| -> Result<f64, String> {
        args[i]
            .trim()
            .parse()
            .map_err(|_| format!("function `{name}`: `{}` is not a number", args[i]))
    };
    let lower = |i: usize| args[i].to_ascii_lowercase();
    Ok(match name {
        "header_exists" | "raw_header_exists" => {
            arity(1, 1)?;
            Function::HeaderExists(args[0].clone())
        }
        "has_only_html_part" => arity(0, 0).map(|_| Function::HasOnlyHtmlPart)?,
        "is_html_only" => arity(0, 0).map(|_| Function::IsHtmlOnly)?,
        "is_empty_body" => arity(0, 0).map(|_| Function::IsEmptyBody)?,
        "has_fake_html" => arity(0, 0).map(|_| Function::HasFakeHtml)?,
        "is_recipients_sorted" => arity(0, 0).map(|_| Function::IsRecipientsSorted)?,
        "compare_parts_distance" => {
            arity(0, 1)?;
            Function::ComparePartsDistance(if n == 1 { num(0)? } else { 10.0 })
        }
        "compare_recipients_distance" => {
            arity(1, 1)?;
            Function::CompareRecipientsDistance(num(0)?)
        }
        "has_content_part" => {
            arity(1, 2)?;
            Function::HasContentPart(lower(0), (n == 2).then(|| lower(1)))
        }
        "has_content_part_len" => {
            arity(2, 3)?;
            let max = if n == 3 { Some(num(2)? as usize) } else { None };
            Function::HasContentPartLen(lower(0), num(1)? as usize, max)
        }
        "content_type_is_type" => arity(1, 1).map(|_| Function::ContentTypeIsType(lower(0)))?,
        "content_type_is_subtype" => {
            arity(1, 1).map(|_| Function::ContentTypeIsSubtype(lower(0)))?
        }
        "has_html_tag" => arity(1, 1).map(|_| Function::HasHtmlTag(lower(0)))?,
        "check_smtp_data" => {
            arity(1, 2)?;
            let value = match args.get(1) {
                Some(v) => Some(ArgMatch::parse(v)?),
                None => None,
            };
            Function::CheckSmtpData(lower(0), value)
        }
        "compare_transfer_encoding" => {
            arity(1, 1).map(|_| Function::CompareTransferEncoding(lower(0)))?
        }
        _ => return Err(format!("unknown function `{name}`")),
    })
}

/// A header name, or a selector-lite expression (`from:domain`).
fn header_ident(i: &str) -> Res<'_, &str> {
    take_while1(|c: char| c.is_ascii_alphanumeric() || "_-.:".contains(c))(i)
}

fn regexp(i: &str) -> Res<'_, RegexpAtom> {
    let (rest, header) = opt(|i| {
        let (r, h) = header_ident(i)?;
        let (r, _) = char('=')(r)?;
        Ok((r, h))
    })(i)?;
    let (rest, _) = char('/')(rest)?;
    let (rest, pattern) = regex_body(rest)?;
    let (rest, flags) = recognize(flag_run)(rest)?;
    let mut atom = RegexpAtom {
        header: header.map(str::to_string),
        pattern,
        flags: ReFlags::default(),
        kind: MatchKind::Header,
    };
    match apply_flags(&mut atom, flags) {
        Ok(()) => Ok((rest, atom)),
        Err(why) => fail(i, why),
    }
}

/// Reads up to the closing unescaped `/`; `\/` becomes `/`, other escapes
/// are kept for the regex engine.
fn regex_body(i: &str) -> Res<'_, String> {
    let mut out = String::new();
    let mut chars = i.char_indices();
    while let Some((pos, c)) = chars.next() {
        match c {
            '/' => return Ok((&i[pos + 1..], out)),
            '\\' => match chars.next() {
                Some((_, '/')) => out.push('/'),
                Some((_, e)) => {
                    out.push('\\');
                    out.push(e);
                }
                None => break,
            },
            _ => out.push(c),
        }
    }
    fail(i, "regexp is not closed by `/`")
}

fn flag_run(i: &str) -> Res<'_, ()> {
    let (i, _) = take_while(|c: char| c.is_ascii_alphabetic())(i)?;
    let (i, _) = opt(delimited(char('{'), take_while(|c| c != '}'), char('}')))(i)?;
    let (i, _) = take_while(|c: char| c.is_ascii_alphabetic())(i)?;
    Ok((i, ()))
}

fn apply_flags(atom: &mut RegexpAtom, flags: &str) -> Result<(), String> {
    let mut kind = None;
    let mut rest = flags;
    while let Some(c) = rest.chars().next() {
        if c == '{' {
            let end = rest.find('}').ok_or("unclosed `{` in regexp type")?;
            let name = &rest[1..end];
            kind = Some(
                MatchKind::from_name(name).ok_or(format!("unknown regexp type `{{{name}}}`"))?,
            );
            rest = &rest[end + 1..];
            continue;
        }
        match c {
            'i' => atom.flags.caseless = true,
            'm' => atom.flags.multiline = true,
            's' => atom.flags.dotall = true,
            'x' => atom.flags.extended = true,
            'r' => atom.flags.raw = true,
            'u' | 'O' => {}
            _ => {
                kind = Some(MatchKind::from_letter(c).ok_or(format!("unknown regexp flag `{c}`"))?)
            }
        }
        rest = &rest[c.len_utf8()..];
    }
    atom.kind = match (kind, &atom.header) {
        (Some(k), Some(_)) if k.needs_header() => k,
        (Some(k), Some(h)) => {
            return Err(format!(
                "type `{}` does not take a header name (`{h}`)",
                k.as_str()
            ))
        }
        (Some(k), None) if k.needs_header() => {
            return Err(format!(
                "type `{}` needs a header name (`Name=/re/`)",
                k.as_str()
            ))
        }
        (Some(k), None) => k,
        (None, Some(_)) => MatchKind::Header,
        (None, None) => return Err("regexp without a header name needs a type flag".into()),
    };
    Ok(())
}
