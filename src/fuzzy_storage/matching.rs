//! Which stored hash a text's shingles point at, and how strongly: the
//! vote of Rspamd's Redis backend (`fuzzy_backend_redis.c`), so a sluice
//! storage answers a shingles query with the same digest and probability.
//!
//! Each of the 32 shingles may name the digest it was stored with. More
//! than half must be present; the present ones are sorted by digest and the
//! longest run of one digest wins if it is longer than half of 32; its
//! probability is the run's length over 32. Rspamd counts the run that
//! starts the sorted list one short (its counter starts at zero on the
//! first element), so when all 32 shingles name the same digest the answer
//! is 31/32; we keep that, so both storages score a copy alike.
use sluice_proto::fuzzy::{DIGEST_LEN, SHINGLES};

/// The digest a shingles query matched, and the match's probability.
#[derive(Debug, Clone, PartialEq)]
pub struct Vote {
    pub digest: [u8; DIGEST_LEN],
    pub prob: f32,
}

/// `found[i]`: the digest shingle `i` was stored with, if any.
#[must_use]
pub fn vote(found: &[Option<[u8; DIGEST_LEN]>]) -> Option<Vote> {
    let present = found.iter().flatten().count();
    if present <= SHINGLES / 2 {
        return None;
    }
    // A missing shingle sorts as an all-zero digest, as in Rspamd.
    let mut sorted: Vec<(&[u8; DIGEST_LEN], bool)> = found
        .iter()
        .map(|d| {
            d.as_ref()
                .map_or((&[0u8; DIGEST_LEN], false), |d| (d, true))
        })
        .collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let (mut prev, mut run, mut best, mut chosen) = (0usize, 0usize, 0usize, None);
    for i in 1..sorted.len() {
        if !sorted[i].1 {
            continue;
        }
        if sorted[i].0 == sorted[prev].0 {
            run += 1;
            if run > best {
                best = run;
                chosen = Some(i);
            }
        } else {
            run = 1;
            prev = i;
        }
    }
    if best <= SHINGLES / 2 {
        return None;
    }
    chosen.map(|i| Vote {
        digest: *sorted[i].0,
        prob: best as f32 / SHINGLES as f32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(n: usize, digest: u8, rest: Option<u8>) -> Vec<Option<[u8; DIGEST_LEN]>> {
        (0..SHINGLES)
            .map(|i| {
                if i < n {
                    Some([digest; DIGEST_LEN])
                } else {
                    rest.map(|r| [r; DIGEST_LEN])
                }
            })
            .collect()
    }

    #[test]
    fn all_shingles_give_thirty_one_of_thirty_two() {
        let v = vote(&found(32, 7, None)).unwrap();
        assert_eq!(v.digest, [7; DIGEST_LEN]);
        assert!((v.prob - 31.0 / 32.0).abs() < f32::EPSILON);
    }

    #[test]
    fn a_changed_word_still_matches_with_the_count_of_the_rest() {
        // 28 shingles still name the digest, 4 are unknown.
        let v = vote(&found(28, 7, None)).unwrap();
        assert!((v.prob - 28.0 / 32.0).abs() < f32::EPSILON);
    }

    #[test]
    fn half_or_fewer_is_no_match() {
        assert_eq!(vote(&found(16, 7, None)), None);
        assert!(vote(&found(17, 7, None)).is_some());
        // All present, but split 16/16 between two digests.
        assert_eq!(vote(&found(16, 7, Some(9))), None);
    }

    #[test]
    fn the_larger_share_wins() {
        // 20 name digest 9, 12 name digest 7.
        let v = vote(&found(12, 7, Some(9))).unwrap();
        assert_eq!(v.digest, [9; DIGEST_LEN]);
        assert!((v.prob - 20.0 / 32.0).abs() < f32::EPSILON);
    }
}
