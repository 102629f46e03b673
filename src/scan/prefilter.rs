//! Literal prefilter for large scopes: one Aho-Corasick pass finds which
//! patterns can match at all, and only those run their own regex.
//!
//! A `RegexSet` of a hundred caseless phrase lists outgrows the lazy DFA's
//! cache and falls back to a slow engine; most rule regexps start with one
//! of a few literal words, so a multi-literal scan (what Rspamd does with
//! Hyperscan's literal stage) plus a handful of confirmations is far
//! cheaper. Patterns without a usable literal prefix stay in the set.
use aho_corasick::automaton::Automaton;
use aho_corasick::dfa::DFA;
use aho_corasick::MatchKind;
use regex_automata::meta::Regex;
use regex_automata::{Anchored, Input};
use regex_syntax::hir::literal::{ExtractKind, Extractor};

/// Shortest literal worth prefiltering on; shorter ones hit too often.
const MIN_LITERAL: usize = 3;
/// Most literals one pattern may contribute.
const MAX_LITERALS: usize = 64;
/// Anchored confirmations a pattern gets before one unanchored search
/// settles it: bounds the cost of a pattern whose literal is frequent but
/// whose full match is rare (`free.*money` on a page of "free").
const MAX_ANCHORED_TRIES: u8 = 64;

/// The prefiltered patterns of one scope.
#[derive(Debug)]
pub struct Prefilter {
    /// Literal automaton, walked by hand in [`Prefilter::matches`].
    dfa: DFA,
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
            regexes.push(confirmer(pattern, size_limit)?);
            ids.push(id);
        }
        // A full DFA: one table lookup per byte. The literal sets are a few
        // hundred short strings, so its memory stays small.
        let dfa = aho_corasick::dfa::Builder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(&lits)
            .map_err(|e| e.to_string())?;
        Ok(Prefilter {
            dfa,
            owner,
            regexes,
            ids,
        })
    }

    /// Sets `hit[id]` for the caller id of every pattern matching `hay`.
    /// Patterns already marked (by an earlier haystack of the same scope)
    /// are not tried again.
    ///
    /// Every match of a pattern starts with one of its literals, so a
    /// literal occurrence is confirmed by a match anchored right there:
    /// that costs the length of the match, not of the rest of the haystack.
    pub fn matches(&self, hay: &[u8], hit: &mut [bool]) {
        // Per pattern: anchored tries so far.
        let mut tries = vec![0u8; self.regexes.len()];
        self.each_literal(hay, &mut |lit, start| {
            let p = self.owner[lit];
            let id = self.ids[p];
            if hit[id] || tries[p] > MAX_ANCHORED_TRIES {
                return;
            }
            let input = Input::new(hay).range(start..);
            tries[p] += 1;
            let found = if tries[p] <= MAX_ANCHORED_TRIES {
                self.regexes[p].is_match(input.anchored(Anchored::Yes))
            } else {
                // Settled by one search over the rest of the haystack.
                self.regexes[p].is_match(input)
            };
            hit[id] |= found;
        });
    }

    /// Calls `f(literal, start)` for every occurrence of every literal,
    /// overlapping ones included. A plain loop over the DFA's transitions:
    /// the crate's overlapping iterator spends about twice the
    /// instructions per byte on resumable-search bookkeeping we don't need.
    fn each_literal(&self, hay: &[u8], f: &mut dyn FnMut(usize, usize)) {
        let dfa = &self.dfa;
        let unanchored = aho_corasick::Anchored::No;
        let Ok(mut sid) = dfa.start_state(unanchored) else {
            return;
        };
        for (i, &b) in hay.iter().enumerate() {
            sid = dfa.next_state(unanchored, sid, b);
            if !dfa.is_special(sid) {
                continue;
            }
            if dfa.is_dead(sid) {
                return;
            }
            for k in 0..dfa.match_len(sid) {
                let lit = dfa.match_pattern(sid, k);
                f(lit.as_usize(), i + 1 - dfa.pattern_len(lit));
            }
        }
    }
}

/// The confirming regex of one pattern, with the semantics of
/// `regex::bytes::Regex` (matches bytes, not only UTF-8), built on the
/// engine directly because only it offers anchored searches at an offset.
fn confirmer(pattern: &str, size_limit: usize) -> Result<Regex, String> {
    Regex::builder()
        .syntax(regex_automata::util::syntax::Config::new().utf8(false))
        .configure(
            Regex::config()
                .utf8_empty(false)
                .nfa_size_limit(Some(size_limit)),
        )
        .build(pattern)
        .map_err(|e| e.to_string())
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
        let hits = |hay: &[u8]| {
            let mut hit = vec![false; 11];
            pf.matches(hay, &mut hit);
            (0..11).filter(|&i| hit[i]).collect::<Vec<_>>()
        };
        assert_eq!(hits(b"a FREE Gift, free lunch, Click Here"), vec![0, 10]);
        assert!(hits(b"free lunch").is_empty());
    }

    #[test]
    fn frequent_literal_rare_match() {
        // More literal occurrences than anchored tries: the match after
        // them is still found, and one before them too.
        let p = r"(?i)free\s+money";
        let items = vec![(0, p, prefix_literals(p).unwrap())];
        let pf = Prefilter::build(items, 1 << 20).unwrap();
        let many = MAX_ANCHORED_TRIES as usize + 10;
        for hay in [
            format!("{}free money", "free lunch ".repeat(many)),
            format!("free money{}", " free lunch".repeat(many)),
        ] {
            let mut hit = vec![false];
            pf.matches(hay.as_bytes(), &mut hit);
            assert!(hit[0], "{hay}");
        }
        let mut hit = vec![false];
        pf.matches("free lunch ".repeat(many).as_bytes(), &mut hit);
        assert!(!hit[0]);
    }

    #[test]
    fn anchored_confirmation_sees_word_boundaries() {
        let p = r"(?i)(?-u:\b)act\s+now(?-u:\b)";
        let items = vec![(0, p, prefix_literals(p).unwrap())];
        let pf = Prefilter::build(items, 1 << 20).unwrap();
        let test = |hay: &[u8]| {
            let mut hit = vec![false];
            pf.matches(hay, &mut hit);
            hit[0]
        };
        assert!(test(b"please ACT NOW!"));
        assert!(!test(b"react now"));
        assert!(!test(b"act nowhere"));
    }
}
