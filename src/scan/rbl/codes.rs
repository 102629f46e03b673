//! What a list's answer means: Rspamd's `returncodes` (Lua patterns over the answer's
//! dotted address, e.g. `127.0.%d+.2`), `returnbits` (bit masks over it), or, with neither,
//! any answer means the rule's own symbol. And which answers mean the list refused the query.

use std::net::Ipv4Addr;

use regex::Regex;

/// One return-code pattern, compiled.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    re: Regex,
}

impl Pattern {
    /// A Lua pattern as Rspamd matches it: anchored at both ends, `.` any character, `%d`
    /// a digit, `%.` a dot, `+ * - ?` repetitions, `[...]` sets.
    pub fn new(lua: &str) -> Result<Pattern, String> {
        let re = Regex::new(&format!("^(?:{})$", lua_to_regex(lua)?))
            .map_err(|e| format!("pattern `{lua}`: {e}"))?;
        Ok(Pattern {
            source: lua.to_string(),
            re,
        })
    }

    pub fn matches(&self, answer: &str) -> bool {
        self.re.is_match(answer)
    }

    pub fn source(&self) -> &str {
        &self.source
    }
}

fn class(c: char) -> Option<&'static str> {
    Some(match c {
        'd' => r"\d",
        'D' => r"\D",
        'a' => "[A-Za-z]",
        'A' => "[^A-Za-z]",
        'w' => "[A-Za-z0-9]",
        'W' => "[^A-Za-z0-9]",
        's' => r"\s",
        'S' => r"\S",
        'l' => "[a-z]",
        'u' => "[A-Z]",
        'x' => "[0-9A-Fa-f]",
        'p' => "[[:punct:]]",
        _ => return None,
    })
}

fn lua_to_regex(lua: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = lua.chars().peekable();
    let mut in_set = false;
    while let Some(c) = chars.next() {
        match c {
            '%' => {
                let n = chars
                    .next()
                    .ok_or_else(|| format!("pattern `{lua}` ends with `%`"))?;
                match class(n) {
                    // Inside a set, the class's own brackets must go.
                    Some(cl) if in_set => {
                        out.push_str(cl.trim_start_matches('[').trim_end_matches(']'))
                    }
                    Some(cl) => out.push_str(cl),
                    None => out.push_str(&regex::escape(&n.to_string())),
                }
            }
            '[' if !in_set => {
                in_set = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
            }
            ']' if in_set => {
                in_set = false;
                out.push(']');
            }
            '.' if !in_set => out.push('.'),
            '-' if !in_set => out.push_str("*?"),
            '*' | '+' | '?' if !in_set => out.push(c),
            '^' if out.is_empty() => {}
            '$' if chars.peek().is_none() => {}
            _ if in_set && c == '-' => out.push('-'),
            _ => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    if in_set {
        return Err(format!("pattern `{lua}` has an unclosed `[`"));
    }
    Ok(out)
}

/// How a rule reads its answers.
#[derive(Debug, Clone, Default)]
pub enum Codes {
    /// Any answer: the rule's own symbol.
    #[default]
    Any,
    /// Symbol and its patterns (`returncodes`).
    Patterns(Vec<(String, Vec<Pattern>)>),
    /// Symbol and its bit masks (`returnbits`).
    Bits(Vec<(String, Vec<u32>)>),
}

impl Codes {
    /// The symbols this reading can give (none for [`Codes::Any`]).
    pub fn symbols(&self) -> impl Iterator<Item = &str> {
        let names: Vec<&str> = match self {
            Codes::Any => Vec::new(),
            Codes::Patterns(p) => p.iter().map(|(s, _)| s.as_str()).collect(),
            Codes::Bits(b) => b.iter().map(|(s, _)| s.as_str()).collect(),
        };
        names.into_iter()
    }

    /// The symbols one answer means; `None` for [`Codes::Any`] (the rule's own symbol).
    pub fn matched(&self, answer: Ipv4Addr) -> Option<Vec<&str>> {
        match self {
            Codes::Any => None,
            Codes::Patterns(p) => {
                let text = answer.to_string();
                Some(
                    p.iter()
                        .filter(|(_, pats)| pats.iter().any(|x| x.matches(&text)))
                        .map(|(s, _)| s.as_str())
                        .collect(),
                )
            }
            Codes::Bits(b) => {
                let n = u32::from(answer);
                Some(
                    b.iter()
                        .filter(|(_, masks)| masks.iter().any(|&m| has_bits(n, m)))
                        .map(|(s, _)| s.as_str())
                        .collect(),
                )
            }
        }
    }
}

/// Whether every bit of `mask` is set in `n` (Rspamd's `returnbits` test).
fn has_bits(n: u32, mask: u32) -> bool {
    n & mask == mask
}

/// Whether an answer means "query refused" rather than "listed": Spamhaus's error range
/// (127.255.255.0/24: .252 a malformed query, .254 a public resolver, .255 too many queries)
/// or a code the list's own config names `..._BLOCKED` (Rspamd's shipped names for the
/// refusal codes of Spamhaus, DNSWL, SURBL and URIBL).
pub fn refused(answer: Ipv4Addr, matched: &[&str]) -> bool {
    let [a, b, c, _] = answer.octets();
    (a, b, c) == (127, 255, 255) || matched.iter().any(|s| is_blocked_name(s))
}

fn is_blocked_name(symbol: &str) -> bool {
    symbol.ends_with("_BLOCKED") || symbol.contains("_BLOCKED_")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn lua_patterns_match_as_rspamd_reads_them() {
        let p = Pattern::new("127.0.%d+.1").unwrap();
        assert!(p.matches("127.0.15.1"));
        assert!(!p.matches("127.0.15.10"), "anchored at the end");
        assert!(!p.matches("127.0..1"), "%d+ needs a digit");
        let exact = Pattern::new("127.0.0.2").unwrap();
        assert!(exact.matches("127.0.0.2") && !exact.matches("127.0.0.20"));
        assert!(Pattern::new("127.0.0.[23]").unwrap().matches("127.0.0.3"));
        assert!(Pattern::new("127%.0%.0%.%d").unwrap().matches("127.0.0.9"));
        assert!(Pattern::new("127.0.0.[2").is_err());
    }

    #[test]
    fn codes_bits_and_any() {
        let codes = Codes::Patterns(vec![
            ("SBL".into(), vec![Pattern::new("127.0.0.2").unwrap()]),
            (
                "XBL".into(),
                vec![
                    Pattern::new("127.0.0.4").unwrap(),
                    Pattern::new("127.0.0.5").unwrap(),
                ],
            ),
        ]);
        assert_eq!(codes.matched(ip("127.0.0.5")), Some(vec!["XBL"]));
        assert_eq!(codes.matched(ip("127.0.0.9")), Some(vec![]));
        let bits = Codes::Bits(vec![("BLACK".into(), vec![2]), ("GREY".into(), vec![4])]);
        assert_eq!(bits.matched(ip("127.0.0.6")), Some(vec!["BLACK", "GREY"]));
        assert_eq!(bits.matched(ip("127.0.0.8")), Some(vec![]));
        assert_eq!(Codes::Any.matched(ip("127.0.0.2")), None);
    }

    #[test]
    fn refusals_are_told_apart() {
        assert!(refused(ip("127.255.255.254"), &[]));
        assert!(refused(ip("127.0.0.1"), &["URIBL_BLOCKED"]));
        assert!(refused(
            ip("127.255.255.254"),
            &["SPAMHAUS_BLOCKED_OPENRESOLVER"]
        ));
        assert!(!refused(ip("127.0.0.2"), &["SPAMHAUS_SBL"]));
    }
}
