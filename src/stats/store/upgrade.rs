//! Converts an embedded store written in the first format (a `tokens`
//! table of 64-bit (user, token) keys and 64-bit counts) to the current
//! one on open, in one transaction: a conversion killed halfway leaves the
//! old file as it was, and the next open starts again.
//!
//! Converted tokens get age 0 (their learn order is not known), so they are
//! the first to expire if a `max_tokens` bound is set.
// redb's error enum is large, but it only travels on the failure path
// and is turned into a `StoreError` string by the caller.
#![allow(clippy::result_large_err)]

use redb::{Database, ReadableTable, TableHandle};

use super::layout::{narrow, slot, Row, COUNTS, FORMAT, META, OLD_TOKENS, OLD_TOKENS_NAME};

/// What a conversion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Converted {
    pub tokens: u64,
}

/// Converts `db` if it holds the first format; `None` if it does not.
pub fn convert(db: &Database) -> Result<Option<Converted>, redb::Error> {
    let txn = db.begin_write()?;
    let old = txn.list_tables()?.any(|t| t.name() == OLD_TOKENS_NAME);
    if !old {
        return Ok(None);
    }
    let mut tokens = 0;
    {
        let from = txn.open_table(OLD_TOKENS)?;
        let mut to = txn.open_table(COUNTS)?;
        for row in from.iter()? {
            let (k, v) = row?;
            let ((user, token), (spam, ham)) = (k.value(), v.value());
            let r = Row {
                spam: narrow(spam),
                ham: narrow(ham),
                seen: 0,
            };
            if !r.is_empty() {
                to.insert(slot(user, token), r.value())?;
                tokens += 1;
            }
        }
    }
    txn.delete_table(OLD_TOKENS)?;
    txn.open_table(META)?.insert("format", FORMAT)?;
    txn.commit()?;
    Ok(Some(Converted { tokens }))
}

#[cfg(test)]
mod tests {
    use redb::TableDefinition;

    use super::*;
    use crate::stats::classifier::{Counts, Learns};
    use crate::stats::store::api::{Class, LearnOutcome, LearnRequest, Store};
    use crate::stats::store::EmbeddedStore;

    const OLD_LEARNS: TableDefinition<u64, (u64, u64)> = TableDefinition::new("learns");
    const OLD_LEARNED: TableDefinition<(u64, u128), u8> = TableDefinition::new("learned");
    const OLD_META: TableDefinition<&str, u64> = TableDefinition::new("meta");

    /// A file as the first format wrote it: two users, a message digest.
    fn write_old(path: &std::path::Path) {
        let db = Database::create(path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(OLD_TOKENS).unwrap();
            t.insert((0, 11), (3, 1)).unwrap();
            t.insert((0, 12), (0, 2)).unwrap();
            t.insert((7, 11), (2, 0)).unwrap();
            t.insert((0, 13), (u64::from(u32::MAX) + 5, 0)).unwrap();
            let mut l = txn.open_table(OLD_LEARNS).unwrap();
            l.insert(0, (3, 2)).unwrap();
            l.insert(7, (2, 0)).unwrap();
            txn.open_table(OLD_LEARNED)
                .unwrap()
                .insert((0, 99), b'S')
                .unwrap();
            txn.open_table(OLD_META)
                .unwrap()
                .insert("journal_seq", 4)
                .unwrap();
        }
        txn.commit().unwrap();
    }

    #[test]
    fn a_first_format_file_is_converted_on_open_with_its_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bayes.redb");
        write_old(&path);
        let store = EmbeddedStore::open(&path).unwrap();
        let stat = store.stat().unwrap();
        assert_eq!(stat.tokens, 4);
        assert_eq!(stat.learns, Learns { spam: 3, ham: 2 });
        assert_eq!(stat.users, 1);
        let (l, c) = store.lookup(0, &[11, 12, 13, 14]).unwrap();
        assert_eq!(l, Learns { spam: 3, ham: 2 });
        assert_eq!(c[0], Counts { spam: 3, ham: 1 });
        assert_eq!(c[1], Counts { spam: 0, ham: 2 });
        assert_eq!(c[2].spam, u64::from(u32::MAX), "saturated, not wrapped");
        assert_eq!(c[3], Counts::default());
        let (l, c) = store.lookup(7, &[11]).unwrap();
        assert_eq!((l.spam, c[0].spam), (2, 2));
        // The learned digests came along: a relearn is recognised.
        let again = LearnRequest {
            user: 0,
            digest: 99,
            class: Class::Spam,
            tokens: &[11],
        };
        assert_eq!(store.learn(&again).unwrap(), LearnOutcome::AlreadyLearned);
        drop(store);
        // Converted once: the old table is gone, the format recorded.
        let db = Database::create(&path).unwrap();
        let txn = db.begin_read().unwrap();
        assert!(!txn
            .list_tables()
            .unwrap()
            .any(|t| t.name() == OLD_TOKENS_NAME));
        let meta = txn.open_table(META).unwrap();
        assert_eq!(meta.get("format").unwrap().unwrap().value(), FORMAT);
    }

    #[test]
    fn a_file_of_a_newer_format_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bayes.redb");
        drop(EmbeddedStore::open(&path).unwrap());
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META)
                .unwrap()
                .insert("format", FORMAT + 1)
                .unwrap();
            txn.commit().unwrap();
        }
        let e = EmbeddedStore::open(&path).unwrap_err().to_string();
        assert!(e.contains("newer sluice"), "{e}");
    }
}
