//! All regexps of all rules, compiled once and matched per message in one
//! pass per scope.
//!
//! A scope is a match type plus, for header types, the header name. Each
//! scope owns one `RegexSet`, so a message costs one search per haystack of
//! a scope (one header value, one text part, the raw message), whatever the
//! number of rules. Identical atoms used by several rules share one slot.
use std::collections::BTreeMap;

use regex::bytes::{RegexSet, RegexSetBuilder};

use super::expr::{MatchKind, ReFlags, RegexpAtom};
use super::message::MessageView;
use super::prefilter::{prefix_literals, Prefilter};

/// Compiled regex size cap per set; protects load time and memory.
const SIZE_LIMIT: usize = 64 << 20;

/// A regex that did not compile, with its translated pattern.
#[derive(Debug)]
pub struct BankError {
    pub pattern: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ScopeKey {
    kind: MatchKind,
    /// Lower-cased header name for header kinds.
    header: Option<String>,
}

#[derive(Debug)]
struct Scope {
    key: ScopeKey,
    set: RegexSet,
    /// Bank slot of each pattern of `set`.
    slots: Vec<usize>,
    /// Large scopes: patterns with literal prefixes, matched via
    /// [`Prefilter`]; it reports bank slots directly.
    pre: Option<Prefilter>,
}

/// Scopes with at least this many patterns use the literal prefilter.
const PREFILTER_FROM: usize = 8;

/// Collects atoms while rules are compiled, then builds the sets.
#[derive(Debug, Default)]
pub struct BankBuilder {
    atoms: Vec<RegexpAtom>,
}

impl BankBuilder {
    /// Returns the slot of `atom`, reusing an identical earlier one.
    /// Checks that the regex compiles so the error names its rule.
    pub fn add(&mut self, atom: RegexpAtom) -> Result<usize, BankError> {
        if let Some(i) = self.atoms.iter().position(|a| same_atom(a, &atom)) {
            return Ok(i);
        }
        let pattern = translate(&atom.pattern, atom.flags);
        regex::bytes::RegexBuilder::new(&pattern)
            .size_limit(SIZE_LIMIT)
            .build()
            .map_err(|e| BankError {
                pattern: atom.pattern.clone(),
                reason: e.to_string(),
            })?;
        self.atoms.push(atom);
        Ok(self.atoms.len() - 1)
    }

    pub fn build(self) -> Result<RegexBank, BankError> {
        let mut groups: BTreeMap<ScopeKey, (Vec<String>, Vec<usize>)> = BTreeMap::new();
        for (slot, a) in self.atoms.iter().enumerate() {
            let key = ScopeKey {
                kind: a.kind,
                header: a.header.as_ref().map(|h| h.to_ascii_lowercase()),
            };
            let g = groups.entry(key).or_default();
            g.0.push(translate(&a.pattern, a.flags));
            g.1.push(slot);
        }
        let mut scopes = Vec::with_capacity(groups.len());
        for (key, (all, all_slots)) in groups {
            let (pre, patterns, slots) = split_prefiltered(all, all_slots)?;
            let set = RegexSetBuilder::new(&patterns)
                .size_limit(SIZE_LIMIT)
                .build()
                .map_err(|e| BankError {
                    pattern: patterns.join(" | "),
                    reason: e.to_string(),
                })?;
            scopes.push(Scope {
                key,
                set,
                slots,
                pre,
            });
        }
        Ok(RegexBank {
            scopes,
            len: self.atoms.len(),
        })
    }
}

type Split = (Option<Prefilter>, Vec<String>, Vec<usize>);

/// Moves the patterns of a large scope that have literal prefixes into a
/// [`Prefilter`]; the rest stay for the `RegexSet`.
fn split_prefiltered(patterns: Vec<String>, slots: Vec<usize>) -> Result<Split, BankError> {
    if patterns.len() < PREFILTER_FROM {
        return Ok((None, patterns, slots));
    }
    let mut items = Vec::new();
    let (mut rest, mut rest_slots) = (Vec::new(), Vec::new());
    for (p, slot) in patterns.iter().zip(slots) {
        match prefix_literals(p) {
            Some(lits) => items.push((slot, p.as_str(), lits)),
            None => {
                rest.push(p.clone());
                rest_slots.push(slot);
            }
        }
    }
    if items.is_empty() {
        return Ok((None, rest, rest_slots));
    }
    let pre = Prefilter::build(items, SIZE_LIMIT).map_err(|reason| BankError {
        pattern: "(literal prefilter)".into(),
        reason,
    })?;
    Ok((Some(pre), rest, rest_slots))
}

fn same_atom(a: &RegexpAtom, b: &RegexpAtom) -> bool {
    a.kind == b.kind
        && a.pattern == b.pattern
        && a.flags == b.flags
        && match (&a.header, &b.header) {
            (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
            (None, None) => true,
            _ => false,
        }
}

/// Rspamd's flag letters as inline flags of Rust's regex syntax.
fn translate(pattern: &str, f: ReFlags) -> String {
    let mut flags = String::new();
    for (on, c) in [
        (f.caseless, 'i'),
        (f.multiline, 'm'),
        (f.dotall, 's'),
        (f.extended, 'x'),
    ] {
        if on {
            flags.push(c);
        }
    }
    // Raw regexps match bytes, not UTF-8 characters.
    let raw = if f.raw { "-u" } else { "" };
    let pattern = ascii_word_boundaries(pattern);
    if flags.is_empty() && raw.is_empty() {
        pattern
    } else {
        format!("(?{flags}{raw}){pattern}")
    }
}

/// `\b` and `\B` become ASCII boundaries, as in PCRE without UCP (what
/// Rspamd uses). It also keeps the sets on the fast DFA engines, which
/// cannot evaluate Unicode word boundaries.
fn ascii_word_boundaries(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut in_class = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(b @ ('b' | 'B')) if !in_class => {
                    out.push_str("(?-u:\\");
                    out.push(b);
                    out.push(')');
                }
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None => out.push('\\'),
            },
            '[' => {
                in_class = true;
                out.push(c);
            }
            ']' => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// The compiled sets, shared by every scan.
#[derive(Debug)]
pub struct RegexBank {
    scopes: Vec<Scope>,
    len: usize,
}

impl RegexBank {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Which slots match anywhere in their scope of `view`.
    pub fn run(&self, view: &MessageView<'_>) -> Vec<bool> {
        let mut hit = vec![false; self.len];
        for scope in &self.scopes {
            for_each_haystack(view, &scope.key, &mut |h| {
                if !scope.slots.is_empty() {
                    for i in scope.set.matches(h).iter() {
                        hit[scope.slots[i]] = true;
                    }
                }
                if let Some(pre) = &scope.pre {
                    pre.matches(h, &mut |slot| hit[slot] = true);
                }
            });
        }
        hit
    }
}

fn for_each_haystack(view: &MessageView<'_>, key: &ScopeKey, f: &mut dyn FnMut(&[u8])) {
    let name = key.header.as_deref().unwrap_or("");
    match key.kind {
        MatchKind::Header => view.headers_named(name).for_each(|h| f(h.value.as_bytes())),
        MatchKind::RawHeader => view.headers_named(name).for_each(|h| f(h.raw)),
        MatchKind::MimeHeader => view
            .mime_headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .for_each(|h| f(h.value.as_bytes())),
        MatchKind::AllHeader => f(view.header_block),
        MatchKind::Mime => view.text_parts.iter().for_each(|p| f(p.text.as_bytes())),
        MatchKind::RawMime => view.text_parts.iter().for_each(|p| f(p.raw)),
        MatchKind::Body => f(view.raw),
        MatchKind::Url => view.found.urls.iter().for_each(|u| f(u.as_bytes())),
        MatchKind::Email => view.found.emails.iter().for_each(|e| f(e.as_bytes())),
        // Rejected when rules are compiled; nothing to match here.
        MatchKind::SaBody | MatchKind::SaRawBody | MatchKind::Words | MatchKind::Selector => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atom(header: Option<&str>, pattern: &str, kind: MatchKind) -> RegexpAtom {
        RegexpAtom {
            header: header.map(str::to_string),
            pattern: pattern.into(),
            flags: ReFlags::default(),
            kind,
        }
    }

    #[test]
    fn identical_atoms_share_a_slot() {
        let mut b = BankBuilder::default();
        let a = b
            .add(atom(Some("Subject"), "x", MatchKind::Header))
            .unwrap();
        let c = b
            .add(atom(Some("subject"), "x", MatchKind::Header))
            .unwrap();
        let d = b
            .add(atom(Some("subject"), "x", MatchKind::RawHeader))
            .unwrap();
        assert_eq!(a, c);
        assert_ne!(a, d);
        assert_eq!(b.build().unwrap().len(), 2);
    }

    #[test]
    fn bad_regex_is_reported_with_pattern() {
        let mut b = BankBuilder::default();
        let e = b.add(atom(None, "(unclosed", MatchKind::Body)).unwrap_err();
        assert_eq!(e.pattern, "(unclosed");
        let e = b.add(atom(None, "(?<=x)y", MatchKind::Body)).unwrap_err();
        assert!(e.reason.contains("look"), "{}", e.reason);
    }

    #[test]
    fn flags_translate_to_inline_flags() {
        let f = ReFlags {
            caseless: true,
            dotall: true,
            ..ReFlags::default()
        };
        assert_eq!(translate("a.b", f), "(?is)a.b");
        assert_eq!(
            translate(
                "a",
                ReFlags {
                    raw: true,
                    ..ReFlags::default()
                }
            ),
            "(?-u)a"
        );
        assert_eq!(translate("a", ReFlags::default()), "a");
        assert_eq!(
            translate(r"\bx\B[\b]\\b", ReFlags::default()),
            r"(?-u:\b)x(?-u:\B)[\b]\\b"
        );
    }
}
