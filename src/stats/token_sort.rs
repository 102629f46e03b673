//! Sorting a message's tokens by hash and keeping one of each.
//!
//! A scan sorts a few thousand tokens, and a comparison sort of them showed in
//! profiles as a sizeable share of the whole Bayes classification. The hashes are
//! uniformly spread 64-bit keys, so one pass that distributes them by their top byte
//! leaves buckets of a few tokens each, which a comparison sort orders cheaply: most of
//! the comparisons of a sort of the whole list are saved. Short lists keep the
//! comparison sort alone.
use super::tokenizer::Token;

/// Below this many tokens most buckets would hold one token or none: the
/// comparison sort alone.
const BUCKETS_FROM: usize = 256;

/// Sorts `tokens` by hash and keeps one token per hash: of tokens with the same hash,
/// the one of the smallest distance (what sorting by hash then distance and keeping
/// the first gives; the result does not depend on the input's order).
pub fn sort_dedup(tokens: &mut Vec<Token>) {
    if tokens.len() < BUCKETS_FROM {
        tokens.sort_unstable();
    } else {
        bucket_sort_by_hash(tokens);
    }
    dedup_min_distance(tokens);
}

/// One distribution pass on the hash's top byte, then each bucket (a handful of
/// tokens: the hashes are uniform) sorted on its own by the comparison sort.
fn bucket_sort_by_hash(tokens: &mut Vec<Token>) {
    let mut starts = [0u32; 257];
    for t in tokens.iter() {
        starts[(t.hash >> 56) as usize + 1] += 1;
    }
    for b in 1..starts.len() {
        starts[b] += starts[b - 1];
    }
    let mut next = starts;
    let mut out = vec![
        Token {
            hash: 0,
            distance: 0
        };
        tokens.len()
    ];
    for t in tokens.iter() {
        let b = (t.hash >> 56) as usize;
        out[next[b] as usize] = *t;
        next[b] += 1;
    }
    for w in starts.windows(2) {
        out[w[0] as usize..w[1] as usize].sort_unstable();
    }
    *tokens = out;
}

/// Collapses runs of one hash (adjacent after sorting) to their smallest distance.
fn dedup_min_distance(tokens: &mut Vec<Token>) {
    let mut kept = 0;
    for i in 0..tokens.len() {
        let t = tokens[i];
        if kept > 0 && tokens[kept - 1].hash == t.hash {
            let last = &mut tokens[kept - 1];
            last.distance = last.distance.min(t.distance);
        } else {
            tokens[kept] = t;
            kept += 1;
        }
    }
    tokens.truncate(kept);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the tokenizer did before: a comparison sort, the first of each hash kept.
    fn reference(mut v: Vec<Token>) -> Vec<Token> {
        v.sort_unstable();
        v.dedup_by_key(|t| t.hash);
        v
    }

    /// A deterministic spread of hashes (splitmix64), some repeated with other
    /// distances, some sharing high or low bytes so that passes are skipped.
    fn tokens(n: usize, seed: u64) -> Vec<Token> {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let mut v: Vec<Token> = Vec::with_capacity(n);
        for i in 0..n {
            let r = next();
            let hash = match i % 7 {
                0 if i > 0 => v[i / 2].hash,
                1 => r & 0xffff,
                _ => r,
            };
            v.push(Token {
                hash,
                distance: (r >> 60) as u8 % 5,
            });
        }
        v
    }

    #[test]
    fn the_result_is_the_comparison_sorts_at_every_size() {
        for n in [0, 1, 2, 255, 256, 257, 1000, 4000] {
            for seed in 0..4 {
                let v = tokens(n, seed);
                let mut got = v.clone();
                sort_dedup(&mut got);
                assert_eq!(got, reference(v), "n={n} seed={seed}");
            }
        }
    }

    #[test]
    fn keys_alike_in_every_byte_but_one_sort_by_it() {
        let mut v: Vec<Token> = (0..600u64)
            .rev()
            .map(|i| Token {
                hash: (i % 256) << 40,
                distance: (i % 3) as u8 + 1,
            })
            .collect();
        let want = reference(v.clone());
        sort_dedup(&mut v);
        assert_eq!(v, want);
        assert_eq!(v.len(), 256);
    }
}
