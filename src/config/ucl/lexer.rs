//! Tokens of UCL: trivia (whitespace and comments), keys, quoted strings, heredocs and unquoted
//! atoms. Each is a nom parser over the remaining text; a `Failure` carries the position and a
//! message, so the parser can report `file:line:column` without re-scanning.

use nom::bytes::complete::{tag, take_while, take_while1, take_while_m_n};
use nom::character::complete::char;
use nom::error::{ErrorKind, ParseError};
use nom::IResult;

/// A lexing failure: `at` is the remaining input where the problem starts.
#[derive(Debug, PartialEq)]
pub struct LexError<'a> {
    pub at: &'a str,
    pub msg: &'static str,
}

impl<'a> ParseError<&'a str> for LexError<'a> {
    fn from_error_kind(input: &'a str, _: ErrorKind) -> Self {
        LexError {
            at: input,
            msg: "syntax error",
        }
    }

    fn append(_: &'a str, _: ErrorKind, other: Self) -> Self {
        other
    }
}

pub type Lex<'a, T> = IResult<&'a str, T, LexError<'a>>;

fn failure<'a, T>(at: &'a str, msg: &'static str) -> Lex<'a, T> {
    Err(nom::Err::Failure(LexError { at, msg }))
}

/// Skips whitespace, `#` and `//` line comments and nested `/* */` comments.
pub fn trivia(mut i: &str) -> Lex<'_, ()> {
    loop {
        let before = i.len();
        i = i.trim_start();
        i = comment(i)?.0;
        if i.len() == before {
            return Ok((i, ()));
        }
    }
}

/// Like [`trivia`] but stops at a newline, which can end a value.
pub fn inline_trivia(mut i: &str) -> Lex<'_, ()> {
    loop {
        let before = i.len();
        i = i.trim_start_matches([' ', '\t', '\r']);
        i = comment(i)?.0;
        if i.len() == before {
            return Ok((i, ()));
        }
    }
}

/// One comment, if `i` starts with one; a line comment leaves its newline in place.
fn comment(i: &str) -> Lex<'_, ()> {
    if let Some(rest) = i.strip_prefix('#').or_else(|| i.strip_prefix("//")) {
        let end = rest.find('\n').unwrap_or(rest.len());
        return Ok((&rest[end..], ()));
    }
    if i.starts_with("/*") {
        return block_comment(i);
    }
    Ok((i, ()))
}

/// `/* … */`, nesting like UCL so commenting out a block that has comments works.
fn block_comment(start: &str) -> Lex<'_, ()> {
    let mut depth = 0usize;
    let mut rest = start;
    loop {
        if let Some(r) = rest.strip_prefix("/*") {
            depth += 1;
            rest = r;
        } else if let Some(r) = rest.strip_prefix("*/") {
            depth -= 1;
            rest = r;
            if depth == 0 {
                return Ok((rest, ()));
            }
        } else {
            let mut chars = rest.chars();
            if chars.next().is_none() {
                return failure(start, "unterminated comment");
            }
            rest = chars.as_str();
        }
    }
}

/// Characters of an unquoted key or section name.
pub fn is_key_char(c: char) -> bool {
    c.is_alphanumeric() || "_-./@+*$".contains(c)
}

/// An unquoted key: `reject`, `bind_socket`, `R_DKIM_ALLOW`.
pub fn bare_key(i: &str) -> Lex<'_, &str> {
    take_while1(is_key_char)(i)
}

/// A key: unquoted, or quoted like any string.
pub fn key(i: &str) -> Lex<'_, String> {
    match i.chars().next() {
        Some('"') => dquoted(i),
        Some('\'') => squoted(i),
        _ => bare_key(i).map(|(r, k)| (r, k.to_string())),
    }
}

/// A JSON string: `"…"` with `\n \r \t \b \f \uXXXX` escapes, any other escaped character
/// taken literally; no raw newline.
pub fn dquoted(i: &str) -> Lex<'_, String> {
    let (mut rest, _) = char('"')(i)?;
    let mut out = String::new();
    loop {
        let (r, chunk) = take_while(|c| c != '"' && c != '\\' && c != '\n')(rest)?;
        out.push_str(chunk);
        let mut chars = r.chars();
        match chars.next() {
            Some('"') => return Ok((chars.as_str(), out)),
            Some('\\') => {
                let (r2, c) = escape(r)?;
                out.push(c);
                rest = r2;
            }
            _ => return failure(i, "unterminated string"),
        }
    }
}

/// One escape; `i` starts at the backslash so errors point at it.
fn escape(i: &str) -> Lex<'_, char> {
    let mut chars = i[1..].chars();
    let c = match chars.next() {
        Some('n') => '\n',
        Some('r') => '\r',
        Some('t') => '\t',
        Some('b') => '\u{8}',
        Some('f') => '\u{c}',
        Some('u') => return unicode_escape(chars.as_str(), i),
        // Like libucl: any other escaped character stands for itself (`\.` is `.`), which
        // Rspamd's shipped configs rely on.
        Some(c) => c,
        None => return failure(i, "unterminated string"),
    };
    Ok((chars.as_str(), c))
}

/// `XXXX` after `\u`, joining a UTF-16 surrogate pair when one follows.
fn unicode_escape<'a>(i: &'a str, at: &'a str) -> Lex<'a, char> {
    let hex4 = |s: &'a str| -> Lex<'a, u32> {
        let (r, h) = take_while_m_n(4, 4, |c: char| c.is_ascii_hexdigit())(s)
            .or_else(|_: nom::Err<LexError>| failure(at, "invalid unicode escape"))?;
        Ok((r, u32::from_str_radix(h, 16).unwrap_or(0)))
    };
    let (rest, hi) = hex4(i)?;
    if (0xD800..0xDC00).contains(&hi) {
        let (rest, _) =
            tag("\\u")(rest).or_else(|_: nom::Err<LexError>| failure(at, "unpaired surrogate"))?;
        let (rest, lo) = hex4(rest)?;
        let code = 0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF);
        return char::from_u32(code)
            .map_or_else(|| failure(at, "invalid unicode escape"), |c| Ok((rest, c)));
    }
    char::from_u32(hi).map_or_else(|| failure(at, "invalid unicode escape"), |c| Ok((rest, c)))
}

/// `'…'`: only `\'` is an escape (and backslash-newline joins lines), so regexps stay intact.
pub fn squoted(i: &str) -> Lex<'_, String> {
    let (mut rest, _) = char('\'')(i)?;
    let mut out = String::new();
    loop {
        let (r, chunk) = take_while(|c| c != '\'' && c != '\\')(rest)?;
        out.push_str(chunk);
        if let Some(r) = r.strip_prefix('\'') {
            return Ok((r, out));
        } else if let Some(r) = r.strip_prefix("\\'") {
            out.push('\'');
            rest = r;
        } else if let Some(r) = r.strip_prefix("\\\n") {
            rest = r;
        } else if let Some(r) = r.strip_prefix('\\') {
            out.push('\\');
            rest = r;
        } else {
            return failure(i, "unterminated string");
        }
    }
}

/// Does `i` open a heredoc (`<<TERM` with an upper-case terminator)?
pub fn is_heredoc(i: &str) -> bool {
    i.strip_prefix("<<")
        .and_then(|r| r.chars().next())
        .is_some_and(|c| c.is_ascii_uppercase())
}

/// `<<EOD`, newline, text, then a line holding only `EOD`. The text excludes the final newline.
pub fn heredoc(i: &str) -> Lex<'_, String> {
    let (r, _) = tag("<<")(i)?;
    let (r, term) = take_while1(|c: char| c.is_ascii_uppercase())(r)?;
    let Some(body) = r.strip_prefix("\r\n").or_else(|| r.strip_prefix('\n')) else {
        return failure(i, "heredoc terminator must be followed by a newline");
    };
    let mut line_start = 0;
    while line_start <= body.len() {
        let line_end = body[line_start..]
            .find('\n')
            .map_or(body.len(), |n| line_start + n);
        if body[line_start..line_end].trim_end_matches('\r') == term {
            let text = body[..line_start].strip_suffix('\n').unwrap_or("");
            let text = text.strip_suffix('\r').unwrap_or(text);
            return Ok((&body[line_end..], text.to_string()));
        }
        line_start = line_end + 1;
    }
    failure(i, "unterminated heredoc")
}

/// An unquoted value: up to `;`, `,`, a newline, a comment or an unbalanced `]`/`}`; trailing
/// blanks trimmed. `//` only starts a comment after a blank, so `http://host` stays one atom.
pub fn atom(i: &str) -> Lex<'_, &str> {
    let (mut braces, mut squares) = (0usize, 0usize);
    let mut end = i.len();
    let mut prev = ' ';
    let mut iter = i.char_indices().peekable();
    while let Some((n, c)) = iter.next() {
        let next = iter.peek().map(|&(_, c)| c);
        let stop = match c {
            ';' | ',' | '\n' | '\r' | '#' => true,
            '}' if braces == 0 => true,
            ']' if squares == 0 => true,
            '/' => next == Some('*') || (next == Some('/') && prev.is_whitespace()),
            _ => false,
        };
        if stop {
            end = n;
            break;
        }
        match c {
            '{' => braces += 1,
            '}' => braces -= 1,
            '[' => squares += 1,
            ']' => squares -= 1,
            '\\' => {
                iter.next();
            }
            _ => {}
        }
        prev = c;
    }
    let text = i[..end].trim_end();
    if text.is_empty() {
        return Err(nom::Err::Error(LexError {
            at: i,
            msg: "expected a value",
        }));
    }
    Ok((&i[text.len()..], text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trivia_skips_all_comment_kinds() {
        let (rest, ()) = trivia("  # a\n // b\n /* x /* nested */ y */ key").unwrap();
        assert_eq!(rest, "key");
        assert!(trivia("/* open /* */").is_err());
    }

    #[test]
    fn strings_unescape() {
        assert_eq!(
            dquoted(r#""a\"b\n\u00e9" x"#).unwrap(),
            (" x", "a\"b\né".into())
        );
        assert_eq!(dquoted(r#""\ud83d\ude00""#).unwrap().1, "😀");
        assert_eq!(
            squoted(r"'it\'s \d+' x").unwrap(),
            (" x", r"it's \d+".into())
        );
        assert_eq!(dquoted(r#""a\.b\/""#).unwrap().1, "a.b/");
        assert!(dquoted("\"open\n\"").is_err());
    }

    #[test]
    fn atoms_end_where_ucl_ends_them() {
        assert_eq!(atom("yes; x").unwrap(), ("; x", "yes"));
        assert_eq!(atom("http://h/p // c").unwrap(), (" // c", "http://h/p"));
        assert_eq!(atom("a b  \n").unwrap(), ("  \n", "a b"));
        assert_eq!(atom("fd00::/8]").unwrap(), ("]", "fd00::/8"));
        assert_eq!(atom("x{y}z}").unwrap(), ("}", "x{y}z"));
        assert!(atom(";").is_err());
    }

    #[test]
    fn heredoc_reads_to_terminator_line() {
        let (rest, text) = heredoc("<<EOD\nline 1\n  EOD inside\nEOD\nnext").unwrap();
        assert_eq!(text, "line 1\n  EOD inside");
        assert_eq!(rest, "\nnext");
        assert!(heredoc("<<EOD\nno end\n").is_err());
    }
}
