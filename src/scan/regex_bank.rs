//! All regexps of all rules, compiled once and matched per message in one
//! pass per scope.
//!
//! A scope is a match type plus, for header types, the header name. Each
//! scope owns one `RegexSet`, so a message costs one search per haystack of
//! a scope (one header value, one text part, the raw message), whatever the
//! number of rules. Identical atoms used by several rules share one slot.
//! Scopes of many patterns move those with literal prefixes into a
//! [`Prefilter`], so only patterns whose literals occur run their regex.
use std::collections::BTreeMap;

use regex::bytes::{RegexSet, RegexSetBuilder};

use super::context::ScanCtx;
use super::expr::{MatchKind, ReFlags, RegexpAtom};
use super::multimap::selector::Selector;
use super::prefilter::{prefix_literals, Prefilter, DFA_CACHE_LIMIT};

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
    /// The patterns without a literal prefix (all of them in small scopes).
    rest: Rest,
    /// Bank slot of each pattern of `rest`.
    set_slots: Vec<usize>,
    /// Large scopes: patterns with literal prefixes, matched via
    /// [`Prefilter`]; it reports bank slots directly.
    pre: Option<Prefilter>,
    /// Every bank slot of the scope (set and prefilter).
    slots: Vec<usize>,
    /// For `{selector}` scopes: the parsed selector.
    selector: Option<Selector>,
}

/// Scopes with at least this many patterns use the literal prefilter.
const PREFILTER_FROM: usize = 8;
/// Scopes of short haystacks with at least this many patterns use the
/// literal prefilter too. A set that large meets new lazy-DFA states on
/// nearly every new value (each new Subject line); prefiltered, the
/// Subject patterns cost less than half as much (`docs/performance.md`).
const SHORT_PREFILTER_FROM: usize = 32;
/// Cost class from which a scope's haystacks are long (text, body, raw
/// message). Those use the literal prefilter from [`PREFILTER_FROM`]
/// patterns; short haystacks (header values, URLs) only from
/// [`SHORT_PREFILTER_FROM`]: below that, one automaton pass for all
/// patterns is cheaper than literal search plus confirmations.
const LONG_HAYSTACKS: u32 = 6;

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
        if atom.kind == MatchKind::Selector {
            let sel = atom.header.as_deref().unwrap_or("");
            Selector::parse(sel).map_err(|reason| BankError {
                pattern: sel.to_string(),
                reason,
            })?;
        }
        // Parsing is enough to name the rule of a bad pattern; compiling
        // here too would compile every regex twice (it is compiled again
        // into its scope by `build`), doubling load and reload time.
        let pattern = translate(&atom.pattern, effective_flags(&atom));
        regex_syntax::ParserBuilder::new()
            .utf8(false)
            .build()
            .parse(&pattern)
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
            g.0.push(translate(&a.pattern, effective_flags(a)));
            g.1.push(slot);
        }
        let mut scopes = Vec::with_capacity(groups.len());
        for (key, (all, slots)) in groups {
            let (pre, patterns, set_slots) =
                if kind_cost(key.kind) >= LONG_HAYSTACKS || all.len() >= SHORT_PREFILTER_FROM {
                    split_prefiltered(all, slots.clone())?
                } else {
                    (None, all, slots.clone())
                };
            let rest = Rest::build(&patterns, kind_cost(key.kind) < LONG_HAYSTACKS)?;
            let selector = match key.kind {
                MatchKind::Selector => Some(
                    Selector::parse(key.header.as_deref().unwrap_or("")).map_err(|reason| {
                        BankError {
                            pattern: key.header.clone().unwrap_or_default(),
                            reason,
                        }
                    })?,
                ),
                _ => None,
            };
            scopes.push(Scope {
                key,
                rest,
                set_slots,
                pre,
                slots,
                selector,
            });
        }
        let mut slot_scope = vec![0; self.atoms.len()];
        for (i, sc) in scopes.iter().enumerate() {
            for &slot in &sc.slots {
                slot_scope[slot] = i;
            }
        }
        Ok(RegexBank { scopes, slot_scope })
    }
}

type Split = (Option<Prefilter>, Vec<String>, Vec<usize>);

/// Scopes of long haystacks with at most this many literal-less patterns
/// try them one by one; more share one `RegexSet`. Scopes of short
/// haystacks (header values, URLs) always share one set: there a search
/// costs its setup, not its bytes, and one set's lazy DFA stays in cache
/// where a dozen regexes' each lose theirs (Content-Type, which matches
/// some pattern in nearly every message, paid one search per pattern;
/// `docs/performance.md`).
const SINGLES_UP_TO: usize = 16;

/// How a scope matches its patterns that have no literal prefix.
#[derive(Debug)]
enum Rest {
    /// One regex each: each search uses its own literal accelerations and
    /// stops at the first match, and a pattern that matched one haystack
    /// is not tried on the next. Cheaper than a set for a few patterns.
    /// `any` (two patterns or more) answers "does any match?" in one
    /// early-exit pass, so a haystack matching none (the usual case)
    /// costs one search, not one per pattern.
    Singles {
        any: Option<RegexSet>,
        res: Vec<regex::bytes::Regex>,
    },
    /// One early-exit pass says whether any matches; only then an
    /// overlapping pass says which. Cheaper when there are many.
    Set(RegexSet),
}

impl Rest {
    fn build(patterns: &[String], short: bool) -> Result<Rest, BankError> {
        let set = || {
            RegexSetBuilder::new(patterns)
                .size_limit(SIZE_LIMIT)
                .dfa_size_limit(DFA_CACHE_LIMIT)
                .build()
                .map_err(|e| BankError {
                    pattern: patterns.join(" | "),
                    reason: e.to_string(),
                })
        };
        if patterns.len() > SINGLES_UP_TO || (short && patterns.len() > 1) {
            return Ok(Rest::Set(set()?));
        }
        let singles = patterns
            .iter()
            .map(|p| {
                regex::bytes::RegexBuilder::new(p)
                    .size_limit(SIZE_LIMIT)
                    .dfa_size_limit(DFA_CACHE_LIMIT)
                    .build()
                    .map_err(|e| BankError {
                        pattern: p.clone(),
                        reason: e.to_string(),
                    })
            })
            .collect::<Result<_, _>>()?;
        let any = if patterns.len() > 1 {
            Some(set()?)
        } else {
            None
        };
        Ok(Rest::Singles { any, res: singles })
    }

    /// Marks `hit[slots[i]]` for every pattern `i` matching `hay`.
    fn matches(&self, hay: &[u8], slots: &[usize], hit: &mut [bool]) {
        match self {
            Rest::Singles { any, res } => {
                if any.as_ref().is_some_and(|set| !set.is_match(hay)) {
                    return;
                }
                for (re, &slot) in res.iter().zip(slots) {
                    if !hit[slot] && re.is_match(hay) {
                        hit[slot] = true;
                    }
                }
            }
            Rest::Set(set) => {
                if !set.is_match(hay) {
                    return;
                }
                for i in &set.matches(hay) {
                    hit[slots[i]] = true;
                }
            }
        }
    }
}

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

/// An atom's flags as matched: the types whose haystacks are raw bytes
/// (raw headers, the header block, raw text parts, the whole message)
/// match in byte mode whatever the flags say, as Rspamd does (its cache
/// runs those with the regexp compiled without UTF). `.` and negated
/// classes then take one byte, not one UTF-8 character, and the automata
/// are smaller.
fn effective_flags(atom: &RegexpAtom) -> ReFlags {
    let raw_haystack = matches!(
        atom.kind,
        MatchKind::RawHeader | MatchKind::AllHeader | MatchKind::RawMime | MatchKind::Body
    );
    ReFlags {
        raw: atom.flags.raw || raw_haystack,
        ..atom.flags
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
    let pattern = pcre_classes(pattern);
    if flags.is_empty() && raw.is_empty() {
        pattern
    } else {
        format!("(?{flags}{raw}){pattern}")
    }
}

/// Perl classes get PCRE's meaning without UCP, which is how Rspamd
/// compiles its regexps (and Hyperscan without `HS_FLAG_UCP` agrees): `\b`
/// and `\B` become ASCII boundaries, `\w`, `\d` and `\s` match ASCII only,
/// while their negations still match any other character (in UTF-8 mode a
/// whole character, not one byte of it). Besides compatibility this keeps
/// the sets small: Unicode `\w` alone is hundreds of automaton states, and
/// the lazy DFAs pay for NFA size every time they meet a new state.
///
/// Each class becomes a bracketed class, which Rust's syntax also accepts
/// nested inside another class (`[a\w]` → `[a[0-9A-Za-z_]]`), so no class
/// tracking is needed for them; only `\b` inside a class (a backspace)
/// is left alone.
fn pcre_classes(pattern: &str) -> String {
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
                Some(e) => match ascii_class(e) {
                    Some(class) => out.push_str(class),
                    None => {
                        out.push('\\');
                        out.push(e);
                    }
                },
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

/// PCRE's non-UCP meaning of a Perl class escape letter. `\s` is PCRE2's
/// (and Hyperscan's): space, tab, LF, VT, FF, CR. Spaces are written as
/// escapes so the `x` flag cannot drop them.
fn ascii_class(letter: char) -> Option<&'static str> {
    Some(match letter {
        'w' => "[0-9A-Za-z_]",
        'W' => "[^0-9A-Za-z_]",
        'd' => "[0-9]",
        'D' => "[^0-9]",
        's' => r"[\t\n\x0B\x0C\r\x20]",
        'S' => r"[^\t\n\x0B\x0C\r\x20]",
        _ => return None,
    })
}

/// The compiled sets, shared by every scan.
#[derive(Debug)]
pub struct RegexBank {
    scopes: Vec<Scope>,
    /// Scope index of each slot.
    slot_scope: Vec<usize>,
}

/// Per-scan results: which slots matched, for the scopes run so far.
#[derive(Debug, Clone)]
pub struct Hits {
    hit: Vec<bool>,
    scope_done: Vec<bool>,
    /// Time spent per scope, when timing is on.
    pub scope_nanos: Vec<u64>,
}

impl RegexBank {
    pub fn len(&self) -> usize {
        self.slot_scope.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slot_scope.is_empty()
    }

    pub fn scope_of(&self, slot: usize) -> usize {
        self.slot_scope[slot]
    }

    /// Static cost class of a scope: header lookups are cheap, whole-body
    /// scans dear. Drives rule ordering.
    pub fn scope_cost(&self, scope: usize) -> u32 {
        kind_cost(self.scopes[scope].key.kind)
    }

    /// Fresh per-scan state; no scope has run.
    pub fn start(&self) -> Hits {
        Hits {
            hit: vec![false; self.len()],
            scope_done: vec![false; self.scopes.len()],
            scope_nanos: vec![0; self.scopes.len()],
        }
    }

    /// Whether `slot` matched, running its scope first if needed (one pass
    /// over the scope's haystacks for all of its patterns).
    pub fn hit(&self, slot: usize, hits: &mut Hits, ctx: &ScanCtx<'_>, timed: bool) -> bool {
        let scope = self.slot_scope[slot];
        if !hits.scope_done[scope] {
            self.run_scope(scope, hits, ctx, timed);
        }
        hits.hit[slot]
    }

    /// One line per scope: match type, header, patterns in the set and
    /// behind the literal prefilter (for tuning rule sets).
    pub fn describe(&self) -> Vec<String> {
        self.scopes
            .iter()
            .map(|sc| {
                format!(
                    "{:?} {} set={} prefiltered={}",
                    sc.key.kind,
                    sc.key.header.as_deref().unwrap_or("-"),
                    sc.set_slots.len(),
                    sc.slots.len() - sc.set_slots.len()
                )
            })
            .collect()
    }

    /// Runs every scope (tests, tools).
    pub fn run(&self, ctx: &ScanCtx<'_>) -> Vec<bool> {
        let mut h = self.start();
        for scope in 0..self.scopes.len() {
            self.run_scope(scope, &mut h, ctx, false);
        }
        h.hit
    }

    fn run_scope(&self, scope: usize, hits: &mut Hits, ctx: &ScanCtx<'_>, timed: bool) {
        let start = timed.then(std::time::Instant::now);
        let sc = &self.scopes[scope];
        let hit = &mut hits.hit;
        for_each_haystack(ctx, sc, &mut |h| {
            sc.rest.matches(h, &sc.set_slots, hit);
            if let Some(pre) = &sc.pre {
                pre.matches(h, hit);
            }
        });
        hits.scope_done[scope] = true;
        if let Some(t) = start {
            hits.scope_nanos[scope] += t.elapsed().as_nanos() as u64;
        }
    }
}

fn kind_cost(k: MatchKind) -> u32 {
    match k {
        MatchKind::Header | MatchKind::RawHeader | MatchKind::Selector => 1,
        MatchKind::MimeHeader | MatchKind::Url | MatchKind::Email => 2,
        MatchKind::AllHeader => 3,
        MatchKind::Mime | MatchKind::RawMime | MatchKind::SaBody | MatchKind::SaRawBody => 6,
        MatchKind::Words => 8,
        MatchKind::Body => 10,
    }
}

/// Words are matched one by one; this bounds the work on huge texts.
const MAX_WORDS: usize = 4096;

/// Each distinct string once: a link repeated in the HTML and the text
/// part cannot match anything its first copy did not.
fn distinct(items: &[String]) -> impl Iterator<Item = &[u8]> {
    let mut v: Vec<&[u8]> = items.iter().map(|s| s.as_bytes()).collect();
    v.sort_unstable();
    v.dedup();
    v.into_iter()
}

fn for_each_haystack(ctx: &ScanCtx<'_>, scope: &Scope, f: &mut dyn FnMut(&[u8])) {
    let view = ctx.view;
    let name = scope.key.header.as_deref().unwrap_or("");
    match scope.key.kind {
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
        MatchKind::Url => distinct(&view.found.urls).for_each(&mut *f),
        MatchKind::Email => distinct(&view.found.emails).for_each(&mut *f),
        MatchKind::SaBody => f(sa_body(ctx).as_bytes()),
        MatchKind::SaRawBody => view
            .text_parts
            .iter()
            .for_each(|p| f(p.html.unwrap_or(&p.text).as_bytes())),
        MatchKind::Words => {
            for p in &view.text_parts {
                for w in p
                    .text
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .take(MAX_WORDS)
                {
                    f(w.to_lowercase().as_bytes());
                }
            }
        }
        MatchKind::Selector => {
            if let Some(sel) = &scope.selector {
                sel.values(ctx).iter().for_each(|v| f(v.as_bytes()))
            }
        }
    }
}

/// SpamAssassin's `body`: the Subject, then each text part with its lines
/// joined by spaces, so a phrase split across lines still matches.
fn sa_body(ctx: &ScanCtx<'_>) -> String {
    let view = ctx.view;
    let mut out = String::new();
    if let Some(s) = view.subject() {
        out.push_str(s);
        out.push('\n');
    }
    for p in &view.text_parts {
        for line in p.text.lines() {
            let line = line.trim();
            if !line.is_empty() {
                out.push_str(line);
                out.push(' ');
            }
        }
        out.push('\n');
    }
    out
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

    /// Raw types match bytes, as in Rspamd: `[\x80-\xff]` finds an
    /// unencoded Latin-1 byte in a raw header, which in UTF-8 mode it
    /// cannot (there it means U+0080..U+00FF).
    #[test]
    fn raw_types_match_bytes() {
        let compiled = |kind| {
            let a = atom(Some("From"), r"^caf[\x80-\xff]$", kind);
            regex::bytes::Regex::new(&translate(&a.pattern, effective_flags(&a))).unwrap()
        };
        let latin1 = b"caf\xe9";
        assert!(compiled(MatchKind::RawHeader).is_match(latin1));
        assert!(!compiled(MatchKind::Header).is_match(latin1));
        assert!(compiled(MatchKind::Header).is_match("caf\u{e9}".as_bytes()));
        for kind in [MatchKind::AllHeader, MatchKind::RawMime, MatchKind::Body] {
            assert!(effective_flags(&atom(None, "x", kind)).raw, "{kind:?}");
        }
        for kind in [MatchKind::Mime, MatchKind::Url, MatchKind::MimeHeader] {
            assert!(!effective_flags(&atom(None, "x", kind)).raw, "{kind:?}");
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
        assert_eq!(
            translate(r"\w[\d.]\\s", ReFlags::default()),
            r"[0-9A-Za-z_][[0-9].]\\s"
        );
    }

    /// PCRE without UCP, as Rspamd compiles: `\w`, `\d`, `\s` are ASCII,
    /// their negations take any other whole character.
    #[test]
    fn perl_classes_are_ascii_as_in_pcre() {
        let re = |p: &str| regex::bytes::Regex::new(&translate(p, ReFlags::default())).unwrap();
        assert!(re(r"^\w+$").is_match(b"abc_09"));
        assert!(!re(r"^\w+$").is_match("caf\u{e9}".as_bytes()));
        assert!(re(r"^caf\W$").is_match("caf\u{e9}".as_bytes()));
        assert!(!re(r"^\d$").is_match("\u{661}".as_bytes()));
        assert!(re(r"^\D$").is_match("\u{661}".as_bytes()));
        assert!(!re(r"100%\sfree").is_match("100%\u{a0}free".as_bytes()));
        assert!(re(r"a\sb\sc").is_match(b"a\x0bb\x0cc"));
        assert!(re(r"^[^\s]+$").is_match("\u{a0}x".as_bytes()));
        assert!(re(r"^[\w-]+$").is_match(b"a-b"));
        let x = regex::bytes::Regex::new(&translate(
            r"a \s b",
            ReFlags {
                extended: true,
                ..ReFlags::default()
            },
        ))
        .unwrap();
        assert!(x.is_match(b"a b"));
    }
}
