//! The symbol profile: which symbols feed the network, in which order, and
//! the digest that ties a trained network to that list.
//!
//! As in Rspamd, the list is sorted by name, and each input is
//! `max(0.1, |tanh(score)|)` for a symbol the message got (its score after
//! the weight) and 0 for one it did not: a symbol's presence always shows,
//! whatever its weight, and no single score dominates. A network is only
//! ever applied to vectors built by a profile with its digest.

use std::collections::HashMap;

use crate::verdict::Verdict;

/// The version of the input encoding. It is part of every digest, so a
/// change to how inputs are built retires every stored network.
pub const PROFILE_VERSION: u32 = 1;

/// The smallest input of a symbol that fired (Rspamd's `0.1`).
pub const MIN_INPUT: f32 = 0.1;

/// A sorted, de-duplicated symbol list and its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    symbols: Vec<String>,
    index: HashMap<String, usize>,
    digest: String,
}

impl Profile {
    /// The profile over `symbols` (any order; duplicates are dropped).
    pub fn new<I, S>(symbols: I) -> Profile
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut symbols: Vec<String> = symbols.into_iter().map(Into::into).collect();
        symbols.sort_unstable();
        symbols.dedup();
        let index = symbols
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i))
            .collect();
        let digest = digest(&symbols);
        Profile {
            symbols,
            index,
            digest,
        }
    }

    /// The symbols, in input order.
    pub fn symbols(&self) -> &[String] {
        &self.symbols
    }

    /// The input width.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// Hex digest of [`PROFILE_VERSION`] and the symbol list: equal digests,
    /// equal inputs.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The input vector for a message that got `hits` (symbol name, score
    /// after the weight). Symbols outside the profile are ignored; a score
    /// that is not a finite number counts as not fired.
    pub fn inputs<'a, I>(&self, hits: I) -> Vec<f32>
    where
        I: IntoIterator<Item = (&'a str, f64)>,
    {
        let mut v = vec![0.0; self.symbols.len()];
        for (name, score) in hits {
            if let Some(&i) = self.index.get(name) {
                if let Some(x) = input_value(score) {
                    v[i] = x;
                }
            }
        }
        v
    }

    /// [`Profile::inputs`] over a scan result's symbols.
    pub fn inputs_from_verdict(&self, verdict: &Verdict) -> Vec<f32> {
        self.inputs(verdict.symbols.iter().map(|s| (s.name.as_str(), s.score)))
    }
}

/// One fired symbol's input; `None` for a score that is not a number.
pub fn input_value(score: f64) -> Option<f32> {
    if !score.is_finite() {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)]
    let x = score.tanh().abs() as f32;
    Some(x.max(MIN_INPUT))
}

fn digest(symbols: &[String]) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&PROFILE_VERSION.to_le_bytes());
    for s in symbols {
        h.update(s.as_bytes());
        h.update(b"\n");
    }
    format!("{:016x}", h.digest())
}
