//! Literal prefilter for large scopes: one Aho-Corasick pass finds which
//! patterns can match at all, and only those run their own regex.
//!
//! A `RegexSet` of a hundred caseless phrase lists outgrows the lazy DFA's
//! cache and falls back to a slow engine; most rule regexps start with one
//! of a few literal words, so a multi-literal scan (what Rspamd does with
//! Hyperscan's literal stage) plus a handful of confirmations is far
//! cheaper. Patterns without a usable literal prefix stay in the set.
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::bytes::{Regex, RegexBuilder};
use regex_syntax::hir::literal::{ExtractKind, Extractor};

/// Shortest literal worth prefiltering on; shorter ones hit too often.
const MIN_LITERAL: usize = 3;
/// Most literals one pattern may contribute.
const MAX_LITERALS: usize = 64;

/// The prefiltered patterns of one scope.
#[derive(Debug)]
pub struct Prefilter {
    ac: AhoCorasick,
    /// Pattern (index into `regexes`) of each literal.
    owner: Vec<usize>,
    regexes: Vec<Regex>,
    /// Caller's index of each prefiltered pattern.
    ids: Vec<usize>,
}

/// Lower-cased prefix literals every match of `pattern` starts with, or
/// `None` when there is no finite set of long-enough literals.
pub fn prefix_literals(pattern: &str) -> Option<Vec<Vec<u8>>> {
    // Case is handled by the caseless automaton: extract from the
    // case-sensitive reading so the set does not explode into variants.
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(false)
        .utf8(false)
        .build()
        .parse(&strip_caseless(pattern))
        .ok()?;
    let mut seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    // Long alternations multiply out; shorter prefixes collapse them.
    let mut keep = 8;
    while seq.len().is_some_and(|n| n > MAX_LITERALS) && keep > MIN_LITERAL {
        seq.keep_first_bytes(keep);
        seq.dedup();
        keep -= 1;
    }
    let lits = seq.literals()?;
    if lits.is_empty() || lits.len() > MAX_LITERALS {
        return None;
    }
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(lits.len());
    for l in lits {
        if l.as_bytes().len() < MIN_LITERAL {
            return None;
        }
        let lower = l.as_bytes().to_ascii_lowercase();
        if !out.contains(&lower) {
            out.push(lower);
        }
    }
    Some(out)
}

/// Drops a leading `(?i)` group flag so extraction sees the plain literals.
fn strip_caseless(pattern: &str) -> String {
    pattern
        .replacen("(?i)", "", 1)
        .replacen("(?i-u)", "(?-u)", 1)
}

impl Prefilter {
    /// Builds the prefilter from `(caller id, translated pattern, literals)`.
    pub fn build(
        items: Vec<(usize, &str, Vec<Vec<u8>>)>,
        size_limit: usize,
    ) -> Result<Prefilter, String> {
        let mut lits = Vec::new();
        let mut owner = Vec::new();
        let mut regexes = Vec::with_capacity(items.len());
        let mut ids = Vec::with_capacity(items.len());
        for (i, (id, pattern, literals)) in items.into_iter().enumerate() {
            for l in literals {
                lits.push(l);
                owner.push(i);
            }
            regexes.push(
                RegexBuilder::new(pattern)
                    .size_limit(size_limit)
                    .build()
                    .map_err(|e| e.to_string())?,
            );
            ids.push(id);
        }
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&lits)
            .map_err(|e| e.to_string())?;
        Ok(Prefilter {
            ac,
            owner,
            regexes,
            ids,
        })
    }

    /// Calls `hit` with the caller id of every pattern matching `hay`.
    pub fn matches(&self, hay: &[u8], hit: &mut dyn FnMut(usize)) {
        let mut state = vec![0u8; self.regexes.len()]; // 0 unseen, 1 tried
        for m in self.ac.find_overlapping_iter(hay) {
            let p = self.owner[m.pattern().as_usize()];
            if state[p] == 0 {
                state[p] = 1;
                if self.regexes[p].is_match_at(hay, m.start()) {
                    hit(self.ids[p]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_of_phrase_lists() {
        let l = prefix_literals(r"(?i)(?-u:\b)(free|risk)[- ]trial(?-u:\b)").unwrap();
        let want: Vec<Vec<u8>> = ["free trial", "free-trial", "risk trial", "risk-trial"]
            .iter()
            .map(|w| w.as_bytes().to_vec())
            .collect();
        assert_eq!(l, want);
        assert_eq!(prefix_literals(r"(?i)\s+free"), None);
        assert_eq!(prefix_literals(r"(?i)a|free"), None);
    }

    #[test]
    fn confirms_with_the_regex() {
        let pats = [r"(?i)free (gift|trial)", r"(?i)click here\b"];
        let items = pats
            .iter()
            .enumerate()
            .map(|(i, p)| (i * 10, *p, prefix_literals(p).unwrap()))
            .collect();
        let pf = Prefilter::build(items, 1 << 20).unwrap();
        let mut got = Vec::new();
        pf.matches(b"a FREE Gift, free lunch, Click Here", &mut |i| got.push(i));
        got.sort();
        assert_eq!(got, vec![0, 10]);
        got.clear();
        pf.matches(b"free lunch", &mut |i| got.push(i));
        assert!(got.is_empty());
    }
}
