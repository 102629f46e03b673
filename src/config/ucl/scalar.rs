//! Typing of unquoted UCL atoms: `yes` is a boolean, `50mb` a number of bytes, `8s` a number of
//! seconds, anything else stays a string. Quoted text is never typed, which is how an admin
//! writes a literal `"yes"`.

use nom::branch::alt;
use nom::bytes::complete::tag_no_case;
use nom::character::complete::{char, digit1, hex_digit1, one_of};
use nom::combinator::{all_consuming, opt, recognize, value};
use nom::sequence::{pair, preceded, tuple};
use nom::IResult;

use super::tree::Node;

/// A number suffix: a multiplier (sizes, counts) or a time unit (result in seconds, as float).
#[derive(Debug, Clone, Copy)]
enum Suffix {
    Mult(i64),
    Time(f64),
}

/// Types one unquoted atom as UCL does.
pub fn type_atom(atom: &str) -> Node {
    match atom.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => return Node::Bool(true),
        "false" | "no" | "off" => return Node::Bool(false),
        "null" => return Node::Null,
        _ => {}
    }
    hex_number(atom)
        .or_else(|| decimal_number(atom))
        .unwrap_or_else(|| Node::Str(atom.to_string()))
}

/// `0x1f`, `-0x10`.
fn hex_number(atom: &str) -> Option<Node> {
    let parsed: IResult<&str, (Option<char>, &str)> = all_consuming(pair(
        opt(char('-')),
        preceded(tag_no_case("0x"), hex_digit1),
    ))(atom);
    let (_, (sign, digits)) = parsed.ok()?;
    let n = i64::from_str_radix(digits, 16).ok()?;
    Some(Node::Int(if sign.is_some() { -n } else { n }))
}

/// `15`, `-1`, `0.5`, `1e3`, each optionally followed by a size or time suffix.
fn decimal_number(atom: &str) -> Option<Node> {
    let parsed: IResult<&str, (&str, Option<Suffix>)> =
        all_consuming(pair(number_text, opt(suffix)))(atom);
    let (_, (text, suffix)) = parsed.ok()?;
    let is_float = text.contains(['.', 'e', 'E']);
    match suffix {
        Some(Suffix::Time(unit)) => Some(Node::Float(text.parse::<f64>().ok()? * unit)),
        Some(Suffix::Mult(m)) if !is_float => {
            let n = text.parse::<i64>().ok()?;
            Some(
                n.checked_mul(m)
                    .map_or(Node::Float(n as f64 * m as f64), Node::Int),
            )
        }
        Some(Suffix::Mult(m)) => Some(Node::Float(text.parse::<f64>().ok()? * m as f64)),
        None if is_float => Some(Node::Float(text.parse().ok()?)),
        None => Some(
            text.parse::<i64>()
                .map(Node::Int)
                .or_else(|_| text.parse::<f64>().map(Node::Float))
                .ok()?,
        ),
    }
}

/// `-12.5e3`: sign, digits, optional fraction and exponent.
fn number_text(i: &str) -> IResult<&str, &str> {
    recognize(tuple((
        opt(char('-')),
        digit1,
        opt(pair(char('.'), digit1)),
        opt(tuple((one_of("eE"), opt(one_of("+-")), digit1))),
    )))(i)
}

/// Longer suffixes first, so `min` is not read as `m` (mega) and `mb` not as `m`.
fn suffix(i: &str) -> IResult<&str, Suffix> {
    alt((
        value(Suffix::Time(60.0), tag_no_case("min")),
        value(Suffix::Time(0.001), tag_no_case("ms")),
        value(Suffix::Mult(1 << 10), tag_no_case("kb")),
        value(Suffix::Mult(1 << 20), tag_no_case("mb")),
        value(Suffix::Mult(1 << 30), tag_no_case("gb")),
        value(Suffix::Mult(1_000), tag_no_case("k")),
        value(Suffix::Mult(1_000_000), tag_no_case("m")),
        value(Suffix::Mult(1_000_000_000), tag_no_case("g")),
        value(Suffix::Time(1.0), tag_no_case("s")),
        value(Suffix::Time(3_600.0), tag_no_case("h")),
        value(Suffix::Time(86_400.0), tag_no_case("d")),
        value(Suffix::Time(604_800.0), tag_no_case("w")),
        value(Suffix::Time(31_536_000.0), tag_no_case("y")),
    ))(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoms_are_typed_like_ucl() {
        let cases: &[(&str, Node)] = &[
            ("yes", Node::Bool(true)),
            ("OFF", Node::Bool(false)),
            ("null", Node::Null),
            ("15", Node::Int(15)),
            ("-1", Node::Int(-1)),
            ("0x1F", Node::Int(31)),
            ("0.5", Node::Float(0.5)),
            ("10k", Node::Int(10_000)),
            ("2kb", Node::Int(2048)),
            ("50mb", Node::Int(50 << 20)),
            ("3m", Node::Int(3_000_000)),
            ("1g", Node::Int(1_000_000_000)),
            ("8s", Node::Float(8.0)),
            ("250ms", Node::Float(0.25)),
            ("5min", Node::Float(300.0)),
            ("2h", Node::Float(7200.0)),
            ("1d", Node::Float(86400.0)),
            ("1w", Node::Float(604800.0)),
            ("1y", Node::Float(31536000.0)),
            ("1.5k", Node::Float(1500.0)),
            ("192.168.0.0/16", Node::Str("192.168.0.0/16".into())),
            ("5x", Node::Str("5x".into())),
            ("-", Node::Str("-".into())),
        ];
        for (atom, want) in cases {
            assert_eq!(&type_atom(atom), want, "atom {atom}");
        }
    }
}
