//! The embedded backend: one redb file under `$DBDIR` for a storage on one
//! box. Checks are read transactions; writes and deletes are one durable
//! transaction each (learning is rare next to checking).
//!
//! Records: a digest's value (i64), flag (u32), first-write time (Unix s,
//! u64) and expiry (Unix ms, u64), little-endian; a shingle's key is its
//! index and value (9 bytes), its record the digest and the expiry.
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redb::{
    Database, Durability, ReadOnlyTable, ReadableTable, ReadableTableMetadata, TableDefinition,
};
use sluice_proto::fuzzy::{Command, DIGEST_LEN, SHINGLES};

use super::{BackendError, Found, Refresh};
use crate::fuzzy_storage::matching;

const HASHES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("fuzzy_hashes");
/// A table as a write transaction holds it.
type Records<'t> = redb::Table<'t, &'static [u8], &'static [u8]>;
const SHINGLE_KEYS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("fuzzy_shingles");

/// redb's page cache: enough for the hot part of a large hash set.
const CACHE_BYTES: usize = 64 << 20;

const HASH_RECORD: usize = 8 + 4 + 8 + 8;
const SHINGLE_RECORD: usize = DIGEST_LEN + 8;

pub struct Embedded {
    db: Database,
    path: PathBuf,
    /// The tables as of the last commit, shared by checks until the next
    /// write: opening a read transaction per check cost more than the
    /// lookups. Every commit here clears it; nothing else writes the file.
    snapshot: Mutex<Option<Arc<Snapshot>>>,
}

/// Both tables, read as of one commit.
struct Snapshot {
    hashes: ReadOnlyTable<&'static [u8], &'static [u8]>,
    shingles: ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl std::fmt::Debug for Embedded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedded")
            .field("path", &self.path)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Hash {
    value: i64,
    flag: u32,
    created: u64,
    expires_ms: u64,
}

impl Hash {
    fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != HASH_RECORD {
            return None;
        }
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
        Some(Self {
            value: i64::from_le_bytes(bytes[..8].try_into().unwrap_or([0; 8])),
            flag: u32::from_le_bytes(bytes[8..12].try_into().unwrap_or([0; 4])),
            created: u64_at(12),
            expires_ms: u64_at(20),
        })
    }

    fn encode(&self) -> [u8; HASH_RECORD] {
        let mut out = [0u8; HASH_RECORD];
        out[..8].copy_from_slice(&self.value.to_le_bytes());
        out[8..12].copy_from_slice(&self.flag.to_le_bytes());
        out[12..20].copy_from_slice(&self.created.to_le_bytes());
        out[20..].copy_from_slice(&self.expires_ms.to_le_bytes());
        out
    }
}

fn shingle_key(index: usize, value: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = u8::try_from(index).unwrap_or(u8::MAX);
    key[1..].copy_from_slice(&value.to_le_bytes());
    key
}

fn expires_of(record: &[u8]) -> u64 {
    record
        .get(record.len().saturating_sub(8)..)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

impl Embedded {
    pub fn open(path: &Path) -> Result<Embedded, BackendError> {
        let db = crate::state::store::create_bounded(path, CACHE_BYTES).map_err(|reason| {
            BackendError::Embedded {
                path: path.display().to_string(),
                reason,
            }
        })?;
        let store = Embedded {
            db,
            path: path.to_path_buf(),
            snapshot: Mutex::default(),
        };
        // Create the tables, so that readers never meet a missing one.
        store.update(|_, _| Ok(()))?;
        Ok(store)
    }

    fn err(&self, e: &dyn std::fmt::Display) -> BackendError {
        BackendError::Embedded {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        }
    }

    /// The current snapshot, opened if a commit cleared it.
    fn snapshot(&self) -> Result<Arc<Snapshot>, BackendError> {
        let mut slot = self
            .snapshot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(s) = slot.as_ref() {
            return Ok(Arc::clone(s));
        }
        let txn = self.db.begin_read().map_err(|e| self.err(&e))?;
        let snap = Arc::new(Snapshot {
            hashes: txn.open_table(HASHES).map_err(|e| self.err(&e))?,
            shingles: txn.open_table(SHINGLE_KEYS).map_err(|e| self.err(&e))?,
        });
        *slot = Some(Arc::clone(&snap));
        Ok(snap)
    }

    pub fn check(&self, cmd: &Command, now_ms: u64) -> Result<Option<Found>, BackendError> {
        let snap = self.snapshot()?;
        let lookup =
            |digest: &[u8; DIGEST_LEN], prob: f32| -> Result<Option<Found>, BackendError> {
                let got = snap.hashes.get(&digest[..]).map_err(|e| self.err(&e))?;
                Ok(got
                    .and_then(|g| Hash::decode(g.value()))
                    .filter(|h| h.expires_ms > now_ms)
                    .map(|h| Found {
                        digest: *digest,
                        value: i32::try_from(h.value).unwrap_or(if h.value < 0 {
                            i32::MIN
                        } else {
                            i32::MAX
                        }),
                        flag: h.flag,
                        ts: u32::try_from(h.created).unwrap_or(u32::MAX),
                        prob,
                    }))
            };
        if let Some(found) = lookup(&cmd.digest, 1.0)? {
            return Ok(Some(found));
        }
        let Some(shingles) = &cmd.shingles else {
            return Ok(None);
        };
        let mut found = [None; SHINGLES];
        for ((i, &s), slot) in shingles.iter().enumerate().zip(&mut found) {
            let got = snap
                .shingles
                .get(&shingle_key(i, s)[..])
                .map_err(|e| self.err(&e))?;
            *slot = got.and_then(|g| {
                let rec = g.value();
                (rec.len() == SHINGLE_RECORD && expires_of(rec) > now_ms)
                    .then(|| rec[..DIGEST_LEN].try_into().ok())
                    .flatten()
            });
        }
        match matching::vote(&found) {
            Some(v) => lookup(&v.digest, v.prob),
            None => Ok(None),
        }
    }

    pub fn write(&self, cmd: &Command, expire: Duration, now_ms: u64) -> Result<(), BackendError> {
        let expires_ms =
            now_ms.saturating_add(u64::try_from(expire.as_millis()).unwrap_or(u64::MAX));
        self.update(|hashes, shingles| {
            let old = hashes
                .get(&cmd.digest[..])?
                .and_then(|g| Hash::decode(g.value()))
                .filter(|h| h.expires_ms > now_ms);
            let record = Hash {
                value: old
                    .map_or(0, |h| h.value)
                    .saturating_add(i64::from(cmd.value)),
                flag: u32::from(cmd.flag),
                created: old.map_or(now_ms / 1000, |h| h.created),
                expires_ms,
            };
            hashes.insert(&cmd.digest[..], &record.encode()[..])?;
            if let Some(values) = &cmd.shingles {
                let mut rec = [0u8; SHINGLE_RECORD];
                rec[..DIGEST_LEN].copy_from_slice(&cmd.digest);
                rec[DIGEST_LEN..].copy_from_slice(&expires_ms.to_le_bytes());
                for (i, &s) in values.iter().enumerate() {
                    shingles.insert(&shingle_key(i, s)[..], &rec[..])?;
                }
            }
            Ok(())
        })
    }

    /// Renews the expiry of the batch's live hashes and of the live shingle
    /// records its queries named, in one transaction.
    pub fn refresh(
        &self,
        batch: &[Refresh],
        expire: Duration,
        now_ms: u64,
    ) -> Result<u64, BackendError> {
        let expires_ms =
            now_ms.saturating_add(u64::try_from(expire.as_millis()).unwrap_or(u64::MAX));
        let mut renewed = 0;
        self.update(|hashes, shingles| {
            for r in batch {
                let live = hashes
                    .get(&r.digest[..])?
                    .and_then(|g| Hash::decode(g.value()))
                    .filter(|h| h.expires_ms > now_ms);
                let Some(hash) = live else { continue };
                let record = Hash { expires_ms, ..hash };
                hashes.insert(&r.digest[..], &record.encode()[..])?;
                renewed += 1;
                for (i, &s) in r.shingles.iter().flat_map(|s| s.iter()).enumerate() {
                    let key = shingle_key(i, s);
                    let rec: Option<[u8; SHINGLE_RECORD]> = shingles
                        .get(&key[..])?
                        .and_then(|g| g.value().try_into().ok())
                        .filter(|rec: &[u8; SHINGLE_RECORD]| expires_of(rec) > now_ms);
                    if let Some(mut rec) = rec {
                        rec[DIGEST_LEN..].copy_from_slice(&expires_ms.to_le_bytes());
                        shingles.insert(&key[..], &rec[..])?;
                    }
                }
            }
            Ok(())
        })?;
        Ok(renewed)
    }

    pub fn delete(&self, cmd: &Command) -> Result<(), BackendError> {
        self.update(|hashes, shingles| {
            hashes.remove(&cmd.digest[..])?;
            if let Some(values) = &cmd.shingles {
                for (i, &s) in values.iter().enumerate() {
                    shingles.remove(&shingle_key(i, s)[..])?;
                }
            }
            Ok(())
        })
    }

    pub fn count(&self) -> Result<u64, BackendError> {
        self.snapshot()?.hashes.len().map_err(|e| self.err(&e))
    }

    /// Removes expired records; returns how many hashes went.
    pub fn sweep(&self, now_ms: u64) -> Result<u64, BackendError> {
        let before = self.count()?;
        self.update(|hashes, shingles| {
            hashes.retain(|_, rec| expires_of(rec) > now_ms)?;
            shingles.retain(|_, rec| expires_of(rec) > now_ms)?;
            Ok(())
        })?;
        Ok(before.saturating_sub(self.count()?))
    }

    fn update(
        &self,
        f: impl FnOnce(&mut Records<'_>, &mut Records<'_>) -> Result<(), redb::StorageError>,
    ) -> Result<(), BackendError> {
        let mut txn = self.db.begin_write().map_err(|e| self.err(&e))?;
        txn.set_durability(Durability::Immediate);
        {
            let mut hashes = txn.open_table(HASHES).map_err(|e| self.err(&e))?;
            let mut shingles = txn.open_table(SHINGLE_KEYS).map_err(|e| self.err(&e))?;
            f(&mut hashes, &mut shingles).map_err(|e| self.err(&e))?;
        }
        let done = txn.commit().map_err(|e| self.err(&e));
        // Cleared after the commit: a check between the two reads the old
        // state, as it would have a moment earlier.
        *self
            .snapshot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_proto::fuzzy::Op;

    const DAY: Duration = Duration::from_secs(86_400);

    fn store() -> (tempfile::TempDir, Embedded) {
        let dir = tempfile::tempdir().unwrap();
        let store = Embedded::open(&dir.path().join("fuzzy.redb")).unwrap();
        (dir, store)
    }

    fn shingled(digest: u8, shingles: [u64; SHINGLES]) -> Command {
        let mut cmd = Command::new(Op::Write, [digest; DIGEST_LEN]);
        cmd.shingles = Some(Box::new(shingles));
        cmd
    }

    fn write(store: &Embedded, digest: u8, flag: u8, value: i32, now: u64) {
        let mut cmd = Command::new(Op::Write, [digest; DIGEST_LEN]);
        cmd.flag = flag;
        cmd.value = value;
        store.write(&cmd, DAY, now).unwrap();
    }

    #[test]
    fn weights_add_up_and_the_first_time_stays() {
        let (_dir, s) = store();
        let q = Command::new(Op::Check, [1; DIGEST_LEN]);
        // A check before the writes: its snapshot must not hide them.
        assert!(s.check(&q, 5_000_000).unwrap().is_none());
        write(&s, 1, 1, 10, 5_000_000);
        assert_eq!(s.check(&q, 5_000_001).unwrap().unwrap().value, 10);
        write(&s, 1, 2, 5, 9_000_000);
        let found = s
            .check(&Command::new(Op::Check, [1; DIGEST_LEN]), 9_000_001)
            .unwrap()
            .unwrap();
        assert_eq!((found.value, found.flag, found.ts), (15, 2, 5_000));
        assert!((found.prob - 1.0).abs() < f32::EPSILON);
        assert_eq!(s.count().unwrap(), 1);
    }

    #[test]
    fn expired_hashes_are_not_found_and_are_swept() {
        let (_dir, s) = store();
        write(&s, 1, 1, 10, 0);
        let later = u64::try_from(DAY.as_millis()).unwrap() + 1;
        let q = Command::new(Op::Check, [1; DIGEST_LEN]);
        assert!(s.check(&q, later - 2).unwrap().is_some());
        assert!(s.check(&q, later).unwrap().is_none());
        assert_eq!(s.sweep(later).unwrap(), 1);
        assert_eq!(s.count().unwrap(), 0);
    }

    #[test]
    fn a_refresh_renews_live_hashes_and_their_shingles_only() {
        let (_dir, s) = store();
        let day = u64::try_from(DAY.as_millis()).unwrap();
        let sh: [u64; SHINGLES] = std::array::from_fn(|i| 50 + i as u64);
        let mut add = shingled(1, sh);
        add.value = 3;
        s.write(&add, DAY, 0).unwrap();
        write(&s, 2, 1, 3, 0);
        let batch = [
            Refresh {
                digest: [1; DIGEST_LEN],
                shingles: Some(Box::new(sh)),
            },
            Refresh {
                digest: [9; DIGEST_LEN],
                shingles: None,
            },
        ];
        // Half a day on: hash 1 renewed (hash 9 is not stored).
        assert_eq!(s.refresh(&batch, DAY, day / 2).unwrap(), 1);
        let past_first_expiry = day + day / 4;
        let exact = Command::new(Op::Check, [1; DIGEST_LEN]);
        let found = s.check(&exact, past_first_expiry).unwrap().unwrap();
        assert_eq!((found.value, found.ts), (3, 0), "value and first time kept");
        assert!(s
            .check(&Command::new(Op::Check, [2; DIGEST_LEN]), past_first_expiry)
            .unwrap()
            .is_none());
        // The shingles were renewed too: a changed copy still finds it.
        let mut query = shingled(7, sh);
        query.op = Op::Check;
        assert_eq!(
            s.check(&query, past_first_expiry).unwrap().unwrap().digest,
            [1; DIGEST_LEN]
        );
        // An expired hash is not brought back.
        assert_eq!(s.refresh(&batch[..1], DAY, 3 * day).unwrap(), 0);
    }

    #[test]
    fn shingles_find_a_changed_copy_and_delete_drops_it() {
        let (_dir, s) = store();
        let original: [u64; SHINGLES] = std::array::from_fn(|i| 1000 + i as u64);
        let mut add = shingled(3, original);
        add.value = 10;
        add.flag = 1;
        s.write(&add, DAY, 1000).unwrap();
        // A copy: a different digest, four shingles changed.
        let mut changed = original;
        for s in changed.iter_mut().take(4) {
            *s += 1_000_000;
        }
        let mut query = shingled(4, changed);
        query.op = Op::Check;
        let found = s.check(&query, 2000).unwrap().unwrap();
        assert_eq!(found.digest, [3; DIGEST_LEN]);
        assert_eq!((found.value, found.flag), (10, 1));
        assert!((found.prob - 28.0 / 32.0).abs() < f32::EPSILON);
        // Too different: half the shingles changed.
        let unrelated: [u64; SHINGLES] =
            std::array::from_fn(|i| if i < 16 { i as u64 } else { 1000 + i as u64 });
        assert!(s.check(&shingled(5, unrelated), 2000).unwrap().is_none());

        s.delete(&add).unwrap();
        assert!(s.check(&query, 3000).unwrap().is_none());
        assert_eq!(s.count().unwrap(), 0);
    }
}
