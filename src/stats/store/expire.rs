//! Token expiry for the embedded store, SpamAssassin's way: once the store
//! holds more than `max_tokens` tokens, the oldest are dropped until a
//! quarter of the bound is free again, so expiry runs once per many learns
//! rather than at each one.
//!
//! "Oldest" is by the learn clock (messages learned so far) of a token's
//! last learn, not wall time: a store that learns nothing for a month
//! keeps its tokens. Among tokens last learned with the same message, the
//! rarer go first. Tokens the classifier leans on are learned again and
//! again, so they stay young; what goes is mostly words seen once long ago.
// redb's error enum is large, but it only travels on the failure path
// and is turned into a `StoreError` string by the caller.
#![allow(clippy::result_large_err)]

use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};

use super::cache::Changes;
use super::layout::{Row, COUNTS};

/// What expiry leaves of `max_tokens`: SpamAssassin keeps three quarters
/// of `bayes_expiry_max_db_size`.
pub fn target(max_tokens: u64) -> u64 {
    max_tokens - max_tokens / 4
}

/// Drops the oldest, rarest tokens inside `txn` when there are more than
/// `max_tokens` (0: no bound). The rows removed go to `changes` as zero
/// counts, for the cache. Returns how many were removed.
pub fn expire(
    txn: &WriteTransaction,
    max_tokens: u64,
    changes: &mut Changes,
) -> Result<u64, redb::Error> {
    let mut counts = txn.open_table(COUNTS)?;
    let len = counts.len()?;
    if max_tokens == 0 || len <= max_tokens {
        return Ok(0);
    }
    let drop = usize::try_from(len - target(max_tokens)).unwrap_or(usize::MAX);
    // (seen, hits, slot): sorting these puts the oldest, then rarest, first.
    let mut all: Vec<(u32, u64, u64)> = Vec::with_capacity(len as usize);
    for row in counts.iter()? {
        let (k, v) = row?;
        let r = Row::from_value(v.value());
        all.push((r.seen, r.hits(), k.value()));
    }
    let drop = drop.min(all.len());
    if drop < all.len() {
        all.select_nth_unstable(drop);
    }
    for &(_, _, slot) in &all[..drop] {
        counts.remove(slot)?;
        changes.tokens.push((slot, (0, 0)));
    }
    Ok(drop as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarter_of_the_bound_is_freed() {
        assert_eq!(target(100), 75);
        assert_eq!(target(1), 1);
        assert_eq!(target(4), 3);
    }
}
