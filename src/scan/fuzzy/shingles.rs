//! Shingles of a text, as Rspamd computes them: 32 minima, each over the
//! hashes of a sliding window of three words under its own key. Two texts
//! that share most of their word windows share most minima, which is what
//! the storage's fuzzy match counts.
use std::hash::Hasher;

use siphasher::sip::SipHasher24;
use xxhash_rust::xxh3::xxh3_64_with_seed;
use xxhash_rust::xxh64::xxh64;

use super::keys::{RuleKeys, SHINGLES};
use super::mum::mum_hash;

/// Words per window (`SHINGLES_WINDOW`).
const WINDOW: usize = 3;

/// The rule's `algorithm`: the hash applied to the words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// "siphash" or "old" (Rspamd's default).
    #[default]
    Siphash,
    Xxhash,
    Mumhash,
    /// "fasthash" or "fast".
    Fasthash,
}

impl Algorithm {
    /// The name a rule's `algorithm` gives (case-insensitive); `None` for
    /// an unknown one, which Rspamd warns about and replaces by siphash.
    pub fn parse(name: &str) -> Option<Algorithm> {
        match name.to_ascii_lowercase().as_str() {
            "old" | "siphash" => Some(Algorithm::Siphash),
            "xxhash" => Some(Algorithm::Xxhash),
            "mumhash" => Some(Algorithm::Mumhash),
            "fasthash" | "fast" => Some(Algorithm::Fasthash),
            _ => None,
        }
    }

    fn word_hash(self, word: &[u8], seed: u64) -> u64 {
        match self {
            Algorithm::Xxhash => xxh64(word, seed),
            Algorithm::Mumhash => mum_hash(word, seed),
            // Siphash rows are hashed whole ([`siphash_rows`]), never here.
            Algorithm::Fasthash | Algorithm::Siphash => xxh3_64_with_seed(word, seed),
        }
    }
}

/// The 32 shingles of `words` (the text's normalised, stemmed words), or
/// `None` for a text without words.
pub fn shingles<W: AsRef<[u8]>>(
    words: &[W],
    keys: &RuleKeys,
    alg: Algorithm,
) -> Option<[u64; SHINGLES]> {
    if words.is_empty() {
        return None;
    }
    let rows = rows(words.len());
    let mut out = [u64::MAX; SHINGLES];
    match alg {
        Algorithm::Siphash => siphash_rows(words, rows, keys, &mut out),
        _ => window_rows(words, rows, keys, alg, &mut out),
    }
    Some(out)
}

/// Number of windows: one per word after the second, at least one. Rspamd
/// emits a window each time three new positions have been seen, so only the
/// first `len - 2` words start one.
fn rows(len: usize) -> usize {
    if len > WINDOW {
        len - WINDOW + 1
    } else {
        1
    }
}

/// The "old" algorithm: each window's row is keyed SipHash-2-4 of the
/// concatenated row. Rspamd's row repeats the window's first word (its word
/// index only moves once per row), and sluice must hash what Rspamd hashes.
fn siphash_rows<W: AsRef<[u8]>>(
    words: &[W],
    rows: usize,
    keys: &RuleKeys,
    out: &mut [u64; SHINGLES],
) {
    let mut row = Vec::with_capacity(64);
    for word in words.iter().take(rows) {
        row.clear();
        for _ in 0..WINDOW.min(words.len()) {
            row.extend_from_slice(word.as_ref());
        }
        for (slot, key) in out.iter_mut().zip(&keys.shingle_keys) {
            let mut h = SipHasher24::new_with_key(key);
            h.write(&row);
            *slot = (*slot).min(h.finish());
        }
    }
}

/// xxhash, mumhash and fasthash: per key, a window of the last three word
/// hashes (zeros before the first), combined by shifted XOR.
fn window_rows<W: AsRef<[u8]>>(
    words: &[W],
    rows: usize,
    keys: &RuleKeys,
    alg: Algorithm,
    out: &mut [u64; SHINGLES],
) {
    let seeds: Vec<u64> = keys
        .shingle_keys
        .iter()
        .map(|k| {
            let mut s = [0u8; 8];
            s.copy_from_slice(&k[..8]);
            u64::from_le_bytes(s)
        })
        .collect();
    let mut window = [[0u64; WINDOW]; SHINGLES];
    for word in words.iter().take(rows) {
        for ((slot, win), seed) in out.iter_mut().zip(&mut window).zip(&seeds) {
            win.rotate_left(1);
            win[WINDOW - 1] = alg.word_hash(word.as_ref(), *seed);
            let mut val = 0u64;
            for (k, h) in win.iter().enumerate() {
                val ^= h >> (8 * (WINDOW - k - 1));
            }
            *slot = (*slot).min(val);
        }
    }
}

/// Share of equal shingles, Rspamd's similarity of two texts.
pub fn similarity(a: &[u64; SHINGLES], b: &[u64; SHINGLES]) -> f64 {
    let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
    same as f64 / SHINGLES as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(n: usize, changed: Option<usize>) -> Vec<String> {
        (0..n)
            .map(|i| {
                if Some(i) == changed {
                    "different".to_string()
                } else {
                    format!("word{}", i * 7 % 101)
                }
            })
            .collect()
    }

    fn refs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }

    #[test]
    fn a_changed_word_keeps_most_shingles_for_every_algorithm() {
        let keys = RuleKeys::default();
        let a = text(200, None);
        let b = text(200, Some(100));
        let c: Vec<String> = (0..200).map(|i| format!("other{i}")).collect();
        for alg in [
            Algorithm::Siphash,
            Algorithm::Xxhash,
            Algorithm::Mumhash,
            Algorithm::Fasthash,
        ] {
            let sa = shingles(&refs(&a), &keys, alg).unwrap();
            let sb = shingles(&refs(&b), &keys, alg).unwrap();
            let sc = shingles(&refs(&c), &keys, alg).unwrap();
            assert!(
                similarity(&sa, &sb) > 0.8,
                "{alg:?}: {}",
                similarity(&sa, &sb)
            );
            assert!(similarity(&sa, &sc) < 0.2, "{alg:?}");
        }
    }

    #[test]
    fn keys_and_algorithms_give_different_shingles() {
        let a = text(100, None);
        let k1 = RuleKeys::default();
        let k2 = RuleKeys::new(None, Some("other"));
        let s1 = shingles(&refs(&a), &k1, Algorithm::Mumhash).unwrap();
        assert_ne!(s1, shingles(&refs(&a), &k2, Algorithm::Mumhash).unwrap());
        assert_ne!(s1, shingles(&refs(&a), &k1, Algorithm::Xxhash).unwrap());
        assert!(shingles::<&str>(&[], &k1, Algorithm::Siphash).is_none());
    }

    #[test]
    fn only_the_first_len_minus_two_words_start_a_window() {
        // Rspamd's windows stop two words before the end: the last two
        // words do not change the shingles of the fast algorithms.
        let keys = RuleKeys::default();
        let a = text(50, None);
        let mut b = a.clone();
        b[49] = "changed".into();
        b[48] = "changed".into();
        let sa = shingles(&refs(&a), &keys, Algorithm::Xxhash).unwrap();
        let sb = shingles(&refs(&b), &keys, Algorithm::Xxhash).unwrap();
        assert_eq!(sa, sb);
    }
}
