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
use regex_automata::dfa::{dense, Automaton as _, StartKind};
use regex_automata::meta::Regex;
use regex_automata::nfa::thompson;
use regex_automata::{Anchored, Input};
use regex_syntax::hir::literal::{ExtractKind, Extractor};

/// Lazy DFA cache cap per regex and thread, above the 2 MiB default: warm
/// scans still build states for text not seen before, and a larger cache
/// keeps more of them (`docs/performance.md`). The cache only grows to the states a scope actually reaches.
pub(super) const DFA_CACHE_LIMIT: usize = 32 << 20;

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
    /// Literal automaton, flattened for the per-byte loop.
    dfa: FlatDfa,
    /// Pattern (index into `regexes`) of each literal.
    owner: Vec<usize>,
    regexes: Vec<Regex>,
    /// Per pattern, when small enough: an ahead-of-time DFA for the
    /// anchored confirmations (see [`anchored_dfa`]).
    anchored: Vec<Option<dense::DFA<Vec<u32>>>>,
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
        let mut anchored = Vec::with_capacity(items.len());
        let mut ids = Vec::with_capacity(items.len());
        for (i, (id, pattern, literals)) in items.into_iter().enumerate() {
            for l in literals {
                lits.push(l);
                owner.push(i);
            }
            regexes.push(confirmer(pattern, size_limit)?);
            anchored.push(anchored_dfa(pattern));
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
        let dfa = FlatDfa::new(&dfa);
        Ok(Prefilter {
            dfa,
            owner,
            regexes,
            anchored,
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
                self.confirm_at(p, input.anchored(Anchored::Yes))
            } else {
                // Settled by one search over the rest of the haystack.
                self.regexes[p].is_match(input)
            };
            hit[id] |= found;
        });
    }

    /// Whether pattern `p` matches anchored at the start of `input`: by its
    /// ahead-of-time DFA when it has one, else by its regex.
    fn confirm_at(&self, p: usize, input: Input<'_>) -> bool {
        if let Some(dfa) = &self.anchored[p] {
            if let Ok(m) = dfa.try_search_fwd(&input.clone().earliest(true)) {
                return m.is_some();
            }
        }
        self.regexes[p].is_match(input)
    }

    /// Calls `f(literal, start)` for every occurrence of every literal,
    /// overlapping ones included.
    fn each_literal(&self, hay: &[u8], f: &mut dyn FnMut(usize, usize)) {
        self.dfa.each_literal(hay, f)
    }
}

/// The literal DFA as one flat table, walked four bytes a round: per byte
/// one byte-class lookup, one masked transition load, one comparison (the
/// cost is in [`FlatDfa::next_match`]).
///
/// `aho_corasick`'s own DFA answers the same transitions, but through its
/// `Automaton` trait every byte also pays a failure-state check and the
/// special-state tests separately (the largest single cost of a scan;
/// `docs/performance.md`). Here the states are renumbered so that
/// every state where a literal ends comes first: one comparison tells a
/// plain state from one with matches. Built once per config load.
#[derive(Debug)]
struct FlatDfa {
    /// Byte to equivalence class.
    classes: [u8; 256],
    /// Number of classes (the row length).
    stride: usize,
    /// Row-major transitions; each entry is the next state's row offset
    /// (state index times `stride`).
    trans: Vec<u32>,
    /// Row offsets below this are states with matches.
    match_end: u32,
    /// Per match state (by index): `(literal, literal length)` ending there.
    matches: Vec<Vec<(u32, u32)>>,
    /// Row offset of the unanchored start state.
    start: u32,
    /// Length of the longest literal.
    max_len: usize,
}

/// Lanes of [`FlatDfa::each_literal`] (the stepping loop is written out
/// for four).
const LANES: usize = 4;
/// Haystack length from which [`FlatDfa::each_literal`] walks in lanes.
const LANES_FROM: usize = 256;

impl FlatDfa {
    /// Copies the states reachable from the unanchored start of `dfa`.
    fn new(dfa: &DFA) -> FlatDfa {
        let unanchored = aho_corasick::Anchored::No;
        let start = dfa
            .start_state(unanchored)
            .expect("an unanchored DFA has an unanchored start state");
        // Discover the reachable states, 256 transitions each.
        let mut index = std::collections::HashMap::new();
        let mut states = vec![start];
        index.insert(start, 0usize);
        let mut rows: Vec<[usize; 256]> = Vec::new();
        let mut k = 0;
        while k < states.len() {
            let sid = states[k];
            let mut row = [0usize; 256];
            for (b, slot) in row.iter_mut().enumerate() {
                let next = dfa.next_state(unanchored, sid, b as u8);
                *slot = *index.entry(next).or_insert_with(|| {
                    states.push(next);
                    states.len() - 1
                });
            }
            rows.push(row);
            k += 1;
        }
        // The dead state (never reached by an unanchored search) joins the
        // match states with no matches: it only loops to itself.
        let has_matches = |sid| dfa.is_match(sid) || dfa.is_dead(sid);
        // Match states first, then the rest, each in discovery order.
        let mut order: Vec<usize> = (0..states.len()).collect();
        order.sort_by_key(|&i| !has_matches(states[i]));
        let mut renum = vec![0usize; states.len()];
        for (new, &old) in order.iter().enumerate() {
            renum[old] = new;
        }
        let (classes, stride) = byte_classes(&rows);
        // Padded to a power of two so the walk can mask its index; the
        // padding is never reached (every entry is a row offset).
        let mut trans = vec![0u32; (order.len() * stride).next_power_of_two()];
        let mut matches = Vec::new();
        for (new, &old) in order.iter().enumerate() {
            for (b, &next) in rows[old].iter().enumerate() {
                trans[new * stride + usize::from(classes[b])] = (renum[next] * stride) as u32;
            }
            let sid = states[old];
            if dfa.is_dead(sid) {
                matches.push(Vec::new());
            } else if has_matches(sid) {
                matches.push(
                    (0..dfa.match_len(sid))
                        .map(|m| {
                            let lit = dfa.match_pattern(sid, m);
                            (lit.as_u32(), dfa.pattern_len(lit) as u32)
                        })
                        .collect(),
                );
            }
        }
        let max_len = matches.iter().flatten().map(|&(_, len)| len as usize).max();
        FlatDfa {
            classes,
            stride,
            trans,
            match_end: (matches.len() * stride) as u32,
            matches,
            start: (renum[0] * stride) as u32,
            max_len: max_len.unwrap_or(1),
        }
    }

    /// Calls `f(literal, start)` for every literal occurrence in `hay`, in
    /// the order of their ends.
    ///
    /// A long haystack is walked as [`LANES`] lanes in step: each byte's
    /// transition waits for the previous one's table load, so one walk is
    /// bound by the latency of that chain, and independent chains overlap
    /// their loads. Lane `i` answers for the occurrences that end in its
    /// share of the haystack; it starts from the start state one literal
    /// length short of that share, so it sees all of them. Lane 0 reports
    /// at once, the others afterwards in lane order: the calls are the same,
    /// in the same order, as one walk's. [`LANES`] lanes beat two and one
    /// on the corpus profile (`docs/performance.md`).
    fn each_literal(&self, hay: &[u8], f: &mut dyn FnMut(usize, usize)) {
        if hay.len() < LANES_FROM {
            return self.walk(hay, 0, self.start, 0, &mut |end, state| {
                self.report(end, state, f)
            });
        }
        let share = hay.len() / LANES;
        // Lane i reports the ends in (bound(i), bound(i + 1)].
        let bound = |i: usize| if i == LANES { hay.len() } else { i * share };
        let mut pos = [0; LANES];
        for (i, p) in pos.iter_mut().enumerate().skip(1) {
            *p = (bound(i) + 1).saturating_sub(self.max_len);
        }
        let mut states = [self.start; LANES];
        let mut later: [Vec<(usize, u32)>; LANES] = Default::default();
        while pos[0] < share {
            self.step_lanes(hay, &mut pos, &mut states, share);
            if states[0] < self.match_end {
                self.report(pos[0], states[0], f);
            }
            for i in 1..LANES {
                if states[i] < self.match_end && pos[i] > bound(i) {
                    later[i].push((pos[i], states[i]));
                }
            }
        }
        for i in 1..LANES {
            let (out, from) = (&mut later[i], bound(i) + 1);
            self.walk(
                &hay[..bound(i + 1)],
                pos[i],
                states[i],
                from,
                &mut |end, state| out.push((end, state)),
            );
        }
        for (end, state) in later.into_iter().flatten() {
            self.report(end, state, f);
        }
    }

    /// One lane from state `s` before `hay[at]` to the end, passing each
    /// match state reached at an end of at least `min_end` to `f`.
    fn walk<F: FnMut(usize, u32) + ?Sized>(
        &self,
        hay: &[u8],
        mut at: usize,
        mut s: u32,
        min_end: usize,
        f: &mut F,
    ) {
        while let Some((end, state)) = self.next_match(hay, at, s) {
            if end >= min_end {
                f(end, state);
            }
            (at, s) = (end, state);
        }
    }

    /// The literals of match state `state`, reached at `end`, to `f`.
    fn report(&self, end: usize, state: u32, f: &mut dyn FnMut(usize, usize)) {
        for &(lit, len) in &self.matches[state as usize / self.stride] {
            f(lit as usize, end - len as usize);
        }
    }

    /// The transition function of the walking loops: the index is masked
    /// into the power-of-two table instead of bounds-checked.
    #[inline(always)]
    fn stepper(&self) -> impl Fn(u32, u8) -> u32 + '_ {
        let mask = self.trans.len() - 1;
        let trans = &self.trans[..=mask];
        let classes = &self.classes;
        move |s, b| trans[(s as usize + usize::from(classes[usize::from(b)])) & mask]
    }

    /// Steps every lane one byte per round until one reaches a match state
    /// or lane 0 reaches `stop`; every lane has at least that many bytes
    /// left.
    #[inline(never)]
    fn step_lanes(
        &self,
        hay: &[u8],
        pos: &mut [usize; LANES],
        states: &mut [u32; LANES],
        stop: usize,
    ) {
        let step = self.stepper();
        let match_end = self.match_end;
        let n = stop - pos[0];
        let lane = |i: usize| &hay[pos[i]..pos[i] + n];
        let [mut s0, mut s1, mut s2, mut s3] = *states;
        let mut taken = n;
        let bytes = lane(0).iter().zip(lane(1)).zip(lane(2)).zip(lane(3));
        for (k, (((&a, &b), &c), &d)) in bytes.enumerate() {
            s0 = step(s0, a);
            s1 = step(s1, b);
            s2 = step(s2, c);
            s3 = step(s3, d);
            if s0.min(s1).min(s2.min(s3)) < match_end {
                taken = k + 1;
                break;
            }
        }
        *states = [s0, s1, s2, s3];
        for p in pos.iter_mut() {
            *p += taken;
        }
    }

    /// From state `s` before `hay[at]`, the first match state reached and
    /// the offset just past the byte that reached it. Kept out of line so
    /// the loop holds its few values in registers (inlined next to the
    /// callback it spilled them).
    ///
    /// Four bytes a round, so the loop counter and its bound are paid once
    /// per four bytes, and the transition index is masked into the
    /// power-of-two table instead of bounds-checked (instruction counts in
    /// `docs/performance.md`).
    #[inline(never)]
    fn next_match(&self, hay: &[u8], at: usize, mut s: u32) -> Option<(usize, u32)> {
        let step = self.stepper();
        let match_end = self.match_end;
        let rest = hay.get(at..).unwrap_or_default();
        let mut chunks = rest.chunks_exact(4);
        let mut i = at;
        for c in &mut chunks {
            for (k, &b) in c.iter().enumerate() {
                s = step(s, b);
                if s < match_end {
                    return Some((i + k + 1, s));
                }
            }
            i += 4;
        }
        for &b in chunks.remainder() {
            s = step(s, b);
            i += 1;
            if s < match_end {
                return Some((i, s));
            }
        }
        None
    }
}

/// Groups bytes whose transitions agree in every state; returns the class
/// of each byte and the number of classes.
fn byte_classes(rows: &[[usize; 256]]) -> ([u8; 256], usize) {
    let mut classes = [0u8; 256];
    let mut seen: std::collections::HashMap<Vec<usize>, u8> = std::collections::HashMap::new();
    for (b, class) in classes.iter_mut().enumerate() {
        let column: Vec<usize> = rows.iter().map(|row| row[b]).collect();
        let n = seen.len() as u8;
        *class = *seen.entry(column).or_insert(n);
    }
    (classes, seen.len())
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
                .nfa_size_limit(Some(size_limit))
                .hybrid_cache_capacity(DFA_CACHE_LIMIT),
        )
        .build(pattern)
        .map_err(|e| e.to_string())
}

/// Largest ahead-of-time confirmation DFA, in bytes of transition table.
const ANCHORED_DFA_LIMIT: usize = 256 << 10;

/// A full DFA answering anchored searches only, or `None` when the pattern
/// needs more than [`ANCHORED_DFA_LIMIT`] (big Unicode classes) or what a
/// full DFA cannot do (Unicode word boundaries).
///
/// Why: a confirmation runs at every occurrence of a pattern's literals,
/// often a common word, so its fixed cost counts more than its per-byte
/// one. The meta regex checks a cache out of its pool per search, and its
/// lazy DFA keeps building states for texts it has not seen; a prebuilt
/// table does neither and, shared by all threads, stays warm. It costs
/// memory and load time once per config load and saves scan CPU
/// (`docs/performance.md`).
fn anchored_dfa(pattern: &str) -> Option<dense::DFA<Vec<u32>>> {
    dense::Builder::new()
        .syntax(regex_automata::util::syntax::Config::new().utf8(false))
        .thompson(thompson::Config::new().utf8(false))
        .configure(
            dense::Config::new()
                .start_kind(StartKind::Anchored)
                .dfa_size_limit(Some(ANCHORED_DFA_LIMIT))
                .determinize_size_limit(Some(4 * ANCHORED_DFA_LIMIT)),
        )
        .build(pattern)
        .ok()
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

    /// The walk over `aho_corasick`'s own DFA that [`FlatDfa`] replaces.
    fn reference_literals(dfa: &DFA, hay: &[u8]) -> Vec<(usize, usize)> {
        let unanchored = aho_corasick::Anchored::No;
        let mut out = Vec::new();
        let mut sid = dfa.start_state(unanchored).unwrap();
        for (i, &b) in hay.iter().enumerate() {
            sid = dfa.next_state(unanchored, sid, b);
            if !dfa.is_special(sid) {
                continue;
            }
            if dfa.is_dead(sid) {
                break;
            }
            for k in 0..dfa.match_len(sid) {
                let lit = dfa.match_pattern(sid, k);
                out.push((lit.as_usize(), i + 1 - dfa.pattern_len(lit)));
            }
        }
        out
    }

    fn flat_literals(flat: &FlatDfa, hay: &[u8]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        flat.each_literal(hay, &mut |lit, start| out.push((lit, start)));
        out
    }

    /// A small xorshift generator: reproducible random input without a
    /// dependency.
    fn random_bytes(seed: &mut u64, len: usize, alphabet: &[u8]) -> Vec<u8> {
        (0..len)
            .map(|_| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                alphabet[(*seed % alphabet.len() as u64) as usize]
            })
            .collect()
    }

    #[test]
    fn flat_dfa_reports_what_the_crate_dfa_does() {
        let lits: Vec<&[u8]> = vec![
            b"free", b"ree", b"e m", b"money", b"act now", b"click", b"lick h", b"\n--", b"%\xff",
            b"aaa", b"aa\xc3",
        ];
        let dfa = aho_corasick::dfa::Builder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(&lits)
            .unwrap();
        let flat = FlatDfa::new(&dfa);
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        let alphabet: Vec<u8> = b"freEmMoNnyaActwlikh -%\n\xff\xc3\x00".to_vec();
        for len in [0, 1, 3, 17, 200, 255, 256, 257, 300, 511, 5000] {
            for _ in 0..20 {
                let hay = random_bytes(&mut seed, len, &alphabet);
                assert_eq!(flat_literals(&flat, &hay), reference_literals(&dfa, &hay));
            }
        }
        // The longest literal at every offset across each seam of the lanes.
        for at in (90..=110).chain(190..=210).chain(290..=310) {
            let mut hay = vec![b' '; 400];
            hay[at..at + 7].copy_from_slice(b"act now");
            assert_eq!(flat_literals(&flat, &hay), reference_literals(&dfa, &hay));
            assert_eq!(flat_literals(&flat, &hay), vec![(4, at)]);
        }
        let all: Vec<u8> = (0..=255u8).cycle().take(2000).collect();
        assert_eq!(flat_literals(&flat, &all), reference_literals(&dfa, &all));
        let mut found = flat_literals(&flat, b"FREE MONEY");
        found.sort_unstable();
        assert_eq!(found, vec![(0, 0), (1, 1), (2, 3), (3, 5)]);
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

    #[test]
    fn prebuilt_confirmations_agree_with_the_regex() {
        let patterns = [
            r"(?i)(?-u:\b)free (gift|trial)(?-u:\b)",
            r"(?i)(?-u:\b)refinanc\w+", // Unicode \w: DFA or fallback, either must agree
            r"(?i)^subject: act now$",
            r"(?-u)caf\xe9 \d+",
            r"(?i)(?m)^dear (friend|sir)\b", // Unicode \b: no full DFA
        ];
        assert!(anchored_dfa(patterns[0]).is_some());
        assert!(anchored_dfa(patterns[4]).is_none());
        let hays: [&[u8]; 8] = [
            b"get a FREE Trial today",
            b"a free trialist",
            b"we refinance\xc3\xa9s and REFINANCING",
            b"x\nsubject: act now\ny",
            b"subject: act now",
            b"caf\xe9 42 and caf\xc3\xa9 7",
            b"hello\ndear friend,",
            b"dear friends",
        ];
        for (id, p) in patterns.iter().enumerate() {
            let lits = prefix_literals(p).unwrap_or_else(|| panic!("{p}: no literals"));
            let pf = Prefilter::build(vec![(0, p, lits)], 1 << 20).unwrap();
            let re = regex::bytes::Regex::new(p).unwrap();
            for hay in hays {
                let mut hit = vec![false];
                pf.matches(hay, &mut hit);
                assert_eq!(hit[0], re.is_match(hay), "pattern {id} {p} on {hay:?}");
            }
        }
    }
}
