//! The embedded store: one redb file under `$DBDIR`.
//!
//! Why redb rather than SQLite: it is pure Rust (no C toolchain, nothing
//! `unsafe` of ours, quick to build on a small CI box), it is a typed
//! key-value B-tree, which is exactly the shape of token counts (u64 ->
//! two counters) with no SQL layer to cross per token, and its commits are
//! copy-on-write with a checksummed root swap: a process killed at any
//! point reopens at the last commit, never half a message.
//!
//! Durability: a single learn (`/learnspam`) is one write transaction
//! committed with `Durability::Eventual`: handed to the OS before `learn`
//! returns (a `kill -9` loses nothing) without an fsync per message (a
//! power cut loses at most the last unsynced messages; the file still opens
//! at a consistent commit). In bulk mode (`sluice learn`) messages go to
//! the [`journal`](super::journal) and are applied in batches; a killed run
//! is replayed on the next open.
//!
//! Size: see [`layout`](super::layout) for the rows; and since every commit
//! copies the pages it changes, `sluice learn` compacts the file when done
//! (freed pages at its end are given back to the file system).
//!
//! Expiry: with `max_tokens` set, the learn that takes the store past it
//! also drops the oldest tokens ([`expire`](super::expire)), in the same
//! transaction.
// redb's error enum is large, but it only travels on the failure path
// and is turned into a `StoreError` string right away.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use redb::{Database, DatabaseError, Durability, ReadableTable, ReadableTableMetadata};

use super::api::{Class, LearnOutcome, LearnRequest, Store, StoreError, StoreStat};
use super::cache::{Cache, CacheLimits, Changes, Key, Miss, Pair};
use super::expire;
use super::journal::{self, Journal, Record};
use super::layout::{slot, Row, COUNTS, FORMAT, LEARNED, LEARNS, META};
use super::upgrade;
use crate::stats::classifier::{Counts, Learns};

/// The first bytes of every redb file (its format's magic number), which
/// `sluice configtest` checks without opening the database.
pub const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// The path an in-memory store reports.
const MEMORY: &str = ":memory:";

/// Messages per batch in bulk mode.
const BATCH: usize = 512;

/// Bulk-mode state: journaled messages not yet in the database.
#[derive(Debug)]
struct Bulk {
    journal: Journal,
    pending: Vec<Record>,
    /// Class of each pending message, so relearns see the batch.
    classes: HashMap<(u64, u128), Class>,
    next_seq: u64,
}

/// The redb-backed store. `Database` is `Sync`: readers never wait for the
/// writer, so scans run while a learn commits. Every write happens under
/// the `bulk` lock, which also orders the [`Cache`] updates.
pub struct EmbeddedStore {
    db: Database,
    path: PathBuf,
    bulk: Mutex<Option<Bulk>>,
    cache: Cache,
    /// Expiry bound (`max_tokens`); 0: none.
    max_tokens: u64,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .finish()
    }
}

impl EmbeddedStore {
    /// Opens with the default [`CacheLimits`]; see [`EmbeddedStore::open_with`].
    pub fn open(path: &Path) -> Result<EmbeddedStore, StoreError> {
        Self::open_with(path, CacheLimits::default())
    }

    /// Opens (creating the file and its directory if needed) and checks the
    /// file: a torn or foreign file is an error here, not at the first scan.
    /// `limits` bound what lookups keep in memory.
    pub fn open_with(path: &Path, limits: CacheLimits) -> Result<EmbeddedStore, StoreError> {
        let err = |reason: String| StoreError::Embedded {
            path: path.display().to_string(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| err(format!("creating directory: {e}")))?;
        }
        let mut db = Database::create(path).map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
                path: path.display().to_string(),
            },
            other => err(other.to_string()),
        })?;
        if let Some(c) = upgrade::convert(&db).map_err(|e| err(e.to_string()))? {
            tracing::info!(
                "bayes: {} converted to the current format ({} tokens)",
                path.display(),
                c.tokens
            );
            while db.compact().map_err(|e| err(e.to_string()))? {}
        }
        let mut store = EmbeddedStore {
            db,
            path: path.to_path_buf(),
            bulk: Mutex::new(None),
            cache: Cache::new(limits, HashMap::new()),
            max_tokens: 0,
        };
        store.create_tables()?;
        store.replay()?;
        store.cache = Cache::new(limits, store.all_learns()?);
        Ok(store)
    }

    /// Expires the oldest tokens past `max` (0: no bound) from the next
    /// learn on.
    pub fn with_max_tokens(mut self, max: u64) -> EmbeddedStore {
        self.max_tokens = max;
        self
    }

    /// Every user's learned totals (one row per user: small).
    fn all_learns(&self) -> Result<HashMap<u64, Learns>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = txn.open_table(LEARNS).map_err(|e| self.err(e))?;
        let mut out = HashMap::new();
        for row in t.iter().map_err(|e| self.err(e))? {
            let (user, v) = row.map_err(|e| self.err(e))?;
            let (spam, ham) = v.value();
            out.insert(user.value(), Learns { spam, ham });
        }
        Ok(out)
    }

    /// Reads every stored token into the cache (its first lookup).
    fn build_cache(&self) -> Result<(), StoreError> {
        self.cache.build(|push: &mut dyn FnMut(Key, Pair) -> bool| {
            let txn = self.db.begin_read().map_err(|e| self.err(e))?;
            let t = txn.open_table(COUNTS).map_err(|e| self.err(e))?;
            for row in t.iter().map_err(|e| self.err(e))? {
                let (k, v) = row.map_err(|e| self.err(e))?;
                let r = Row::from_value(v.value());
                if !push(k.value(), (r.spam, r.ham)) {
                    break;
                }
            }
            Ok(())
        })
    }

    /// One read transaction, one B-tree descent per token: the path when
    /// the frequent tokens do not fit the cache.
    fn lookup_db(&self, user: u64, tokens: &[u64]) -> Result<(Learns, Vec<Counts>), StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let learns_t = txn.open_table(LEARNS).map_err(|e| self.err(e))?;
        let tokens_t = txn.open_table(COUNTS).map_err(|e| self.err(e))?;
        let (spam, ham) = learns_t
            .get(user)
            .map_err(|e| self.err(e))?
            .map_or((0, 0), |v| v.value());
        let mut out = Vec::with_capacity(tokens.len());
        for &t in tokens {
            let r = tokens_t
                .get(slot(user, t))
                .map_err(|e| self.err(e))?
                .map_or(Row::default(), |v| Row::from_value(v.value()));
            out.push(Counts {
                spam: u64::from(r.spam),
                ham: u64::from(r.ham),
            });
        }
        Ok((Learns { spam, ham }, out))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Embedded {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        }
    }

    /// Creates what a new file lacks and checks the format of an old one.
    fn create_tables(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        txn.open_table(COUNTS).map_err(|e| self.err(e))?;
        txn.open_table(LEARNS).map_err(|e| self.err(e))?;
        txn.open_table(LEARNED).map_err(|e| self.err(e))?;
        let mut meta = txn.open_table(META).map_err(|e| self.err(e))?;
        let format = meta
            .get("format")
            .map_err(|e| self.err(e))?
            .map(|v| v.value());
        match format {
            None => {
                meta.insert("format", FORMAT).map_err(|e| self.err(e))?;
            }
            Some(f) if f > FORMAT => {
                return Err(self.err(format!(
                    "written in format {f} by a newer sluice; this one reads format {FORMAT} \
                     (use the newer sluice, or move the file away and learn again)"
                )))
            }
            Some(_) => {}
        }
        drop(meta);
        txn.commit().map_err(|e| self.err(e))
    }

    /// Applies what a killed bulk run left in the journal.
    fn replay(&self) -> Result<(), StoreError> {
        let jpath = Journal::path_for(&self.path);
        let records = journal::read(&jpath).map_err(|e| self.err(e))?;
        let done = self.applied_seq()?;
        let todo: Vec<Record> = records.into_iter().filter(|r| r.seq > done).collect();
        if !todo.is_empty() {
            tracing::info!("bayes: replaying {} journaled learns", todo.len());
            self.apply(&todo).map_err(|e| self.err(e))?;
        }
        if jpath.exists() {
            std::fs::remove_file(&jpath).map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    fn applied_seq(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let meta = txn.open_table(META).map_err(|e| self.err(e))?;
        Ok(meta
            .get("journal_seq")
            .map_err(|e| self.err(e))?
            .map_or(0, |v| v.value()))
    }

    /// Commits journaled records in one transaction, with the last
    /// sequence number, so a replay after a crash skips what is in.
    fn apply(&self, records: &[Record]) -> Result<(), redb::Error> {
        let txn = self.db.begin_write()?;
        let mut changes = Changes::default();
        for r in records {
            let req = LearnRequest {
                user: r.user,
                digest: r.digest,
                class: r.class,
                tokens: &r.tokens,
            };
            learn_in(&txn, &req, &mut changes)?;
        }
        if let Some(last) = records.last() {
            txn.open_table(META)?.insert("journal_seq", last.seq)?;
        }
        self.expire_in(&txn, &mut changes)?;
        txn.commit()?;
        self.cache.apply(&changes);
        Ok(())
    }

    /// Bulk mode on: learns are journaled and applied in batches; off:
    /// whatever is pending is applied first.
    pub fn set_bulk(&self, on: bool) -> Result<(), StoreError> {
        if self.path == Path::new(MEMORY) {
            return Ok(()); // no disk, nothing to batch
        }
        self.flush()?;
        let mut bulk = self.bulk.lock().map_err(|e| self.err(e))?;
        *bulk = if on {
            let journal = Journal::open(Journal::path_for(&self.path)).map_err(|e| self.err(e))?;
            Some(Bulk {
                journal,
                pending: Vec::new(),
                classes: HashMap::new(),
                next_seq: self.applied_seq()? + 1,
            })
        } else {
            None
        };
        Ok(())
    }

    /// Applies pending journaled learns and empties the journal.
    fn flush(&self) -> Result<(), StoreError> {
        let mut guard = self.bulk.lock().map_err(|e| self.err(e))?;
        if let Some(b) = guard.as_mut() {
            self.flush_bulk(b)?;
        }
        Ok(())
    }

    fn flush_bulk(&self, b: &mut Bulk) -> Result<(), StoreError> {
        if b.pending.is_empty() {
            return Ok(());
        }
        self.apply(&b.pending).map_err(|e| self.err(e))?;
        b.pending.clear();
        b.classes.clear();
        b.journal.clear().map_err(|e| self.err(e))
    }

    fn learned_class(&self, user: u64, digest: u128) -> Result<Option<Class>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = txn.open_table(LEARNED).map_err(|e| self.err(e))?;
        Ok(t.get((user, digest))
            .map_err(|e| self.err(e))?
            .and_then(|v| Class::from_code(v.value())))
    }

    fn learn_bulk(&self, b: &mut Bulk, req: &LearnRequest<'_>) -> Result<LearnOutcome, StoreError> {
        let key = (req.user, req.digest);
        let before = match b.classes.get(&key) {
            Some(c) => Some(*c),
            None => self.learned_class(req.user, req.digest)?,
        };
        if before == Some(req.class) {
            return Ok(LearnOutcome::AlreadyLearned);
        }
        let rec = Record {
            seq: b.next_seq,
            user: req.user,
            digest: req.digest,
            class: req.class,
            tokens: req.tokens.to_vec(),
        };
        b.journal.append(&rec).map_err(|e| self.err(e))?;
        b.next_seq += 1;
        b.classes.insert(key, req.class);
        b.pending.push(rec);
        if b.pending.len() >= BATCH {
            self.flush_bulk(b)?;
        }
        Ok(match before {
            Some(from) => LearnOutcome::Moved { from },
            None => LearnOutcome::Learned,
        })
    }

    fn learn_txn(&self, req: &LearnRequest<'_>) -> Result<LearnOutcome, redb::Error> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Eventual);
        let mut changes = Changes::default();
        let outcome = learn_in(&txn, req, &mut changes)?;
        self.expire_in(&txn, &mut changes)?;
        txn.commit()?;
        self.cache.apply(&changes);
        Ok(outcome)
    }

    fn expire_in(
        &self,
        txn: &redb::WriteTransaction,
        changes: &mut Changes,
    ) -> Result<(), redb::Error> {
        let n = expire::expire(txn, self.max_tokens, changes)?;
        if n > 0 {
            tracing::info!(
                "bayes: more than {} tokens; expired the {n} oldest",
                self.max_tokens
            );
        }
        Ok(())
    }

    /// Applies what is pending and gives the file's free pages back to the
    /// file system (the end of `sluice learn`). Needs the store alone.
    pub fn compact(&mut self) -> Result<(), StoreError> {
        self.flush()?;
        while self.db.compact().map_err(|e| self.err(e))? {}
        Ok(())
    }
}

/// One message inside an open write transaction: record its digest, move
/// it from the other class if needed, count its tokens and stamp them with
/// the learn clock. The values written go to `changes`, for the cache once
/// the transaction commits.
fn learn_in(
    txn: &redb::WriteTransaction,
    req: &LearnRequest<'_>,
    changes: &mut Changes,
) -> Result<LearnOutcome, redb::Error> {
    let mut learned = txn.open_table(LEARNED)?;
    let before = learned
        .get((req.user, req.digest))?
        .and_then(|v| Class::from_code(v.value()));
    if before == Some(req.class) {
        return Ok(LearnOutcome::AlreadyLearned);
    }
    learned.insert((req.user, req.digest), req.class.code())?;
    let mut meta = txn.open_table(META)?;
    let clock = meta.get("clock")?.map_or(0, |v| v.value()) + 1;
    meta.insert("clock", clock)?;
    let seen = u32::try_from(clock).unwrap_or(u32::MAX);
    let mut tokens = txn.open_table(COUNTS)?;
    let mut learns = txn.open_table(LEARNS)?;
    let mut totals = learns.get(req.user)?.map_or((0, 0), |v| v.value());
    if let Some(old) = before {
        bump(&mut totals, old, -1);
    }
    bump(&mut totals, req.class, 1);
    learns.insert(req.user, totals)?;
    changes.learns.push((req.user, totals));
    for &t in req.tokens {
        let key = slot(req.user, t);
        let mut r = tokens
            .get(key)?
            .map_or(Row::default(), |v| Row::from_value(v.value()));
        if let Some(old) = before {
            r.bump(old, -1);
        }
        r.bump(req.class, 1);
        r.seen = seen;
        if r.is_empty() {
            tokens.remove(key)?;
        } else {
            tokens.insert(key, r.value())?;
        }
        changes.tokens.push((key, (r.spam, r.ham)));
    }
    Ok(match before {
        Some(from) => LearnOutcome::Moved { from },
        None => LearnOutcome::Learned,
    })
}

/// Adds `delta` to the class's total, never below zero.
fn bump(c: &mut (u64, u64), class: Class, delta: i64) {
    let slot = match class {
        Class::Spam => &mut c.0,
        Class::Ham => &mut c.1,
    };
    *slot = slot.saturating_add_signed(delta);
}

impl Store for EmbeddedStore {
    /// From memory; tokens in fewer than `min_hits` messages read as zero.
    fn lookup(&self, user: u64, tokens: &[u64]) -> Result<(Learns, Vec<Counts>), StoreError> {
        match self.cache.lookup(user, tokens) {
            Ok(found) => Ok(found),
            Err(Miss::Database) => self.lookup_db(user, tokens),
            Err(Miss::Build) => {
                self.build_cache()?;
                match self.cache.lookup(user, tokens) {
                    Ok(found) => Ok(found),
                    Err(_) => self.lookup_db(user, tokens),
                }
            }
        }
    }

    fn learns(&self, user: u64) -> Result<Learns, StoreError> {
        Ok(self.cache.learns(user))
    }

    fn learn(&self, req: &LearnRequest<'_>) -> Result<LearnOutcome, StoreError> {
        let mut guard = self.bulk.lock().map_err(|e| self.err(e))?;
        match guard.as_mut() {
            Some(b) => self.learn_bulk(b, req),
            None => self.learn_txn(req).map_err(|e| self.err(e)),
        }
    }

    fn bulk(&self, on: bool) -> Result<(), StoreError> {
        self.set_bulk(on)
    }

    fn stat(&self) -> Result<StoreStat, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let learns_t = txn.open_table(LEARNS).map_err(|e| self.err(e))?;
        let tokens_t = txn.open_table(COUNTS).map_err(|e| self.err(e))?;
        let mut stat = StoreStat {
            backend: "embedded",
            location: self.path.display().to_string(),
            ..StoreStat::default()
        };
        for row in learns_t.iter().map_err(|e| self.err(e))? {
            let (user, v) = row.map_err(|e| self.err(e))?;
            let (s, h) = v.value();
            if user.value() == 0 {
                stat.learns = Learns { spam: s, ham: h };
            } else {
                stat.users += 1;
            }
        }
        stat.tokens = tokens_t.len().map_err(|e| self.err(e))?;
        stat.size_bytes = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        Ok(stat)
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.flush()?;
        let mut txn = self.db.begin_write().map_err(|e| self.err(e))?;
        txn.set_durability(Durability::Immediate);
        txn.commit().map_err(|e| self.err(e))
    }

    fn compact(&mut self) -> Result<(), StoreError> {
        EmbeddedStore::compact(self)
    }
}

impl EmbeddedStore {
    /// A store that lives in memory only: the k-fold evaluation trains a
    /// fresh one per fold without touching the disk.
    pub fn in_memory() -> Result<EmbeddedStore, StoreError> {
        Self::in_memory_with(CacheLimits::default())
    }

    /// [`EmbeddedStore::in_memory`] with the given cache limits.
    pub fn in_memory_with(limits: CacheLimits) -> Result<EmbeddedStore, StoreError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| StoreError::Embedded {
                path: MEMORY.into(),
                reason: e.to_string(),
            })?;
        let store = EmbeddedStore {
            db,
            path: PathBuf::from(MEMORY),
            bulk: Mutex::new(None),
            cache: Cache::new(limits, HashMap::new()),
            max_tokens: 0,
        };
        store.create_tables()?;
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(digest: u128, class: Class, tokens: &[u64]) -> LearnRequest<'_> {
        LearnRequest {
            user: 0,
            digest,
            class,
            tokens,
        }
    }

    /// What the cache answers must be what the file holds, for every
    /// token the classifier can use, across learns, moves and batches.
    fn assert_cache_matches_file(store: &EmbeddedStore, tokens: &[u64]) {
        let (l1, cached) = store.lookup(0, tokens).unwrap();
        let (l2, file) = store.lookup_db(0, tokens).unwrap();
        assert_eq!(l1, l2);
        assert_eq!(store.learns(0).unwrap(), l2);
        for ((t, c), f) in tokens.iter().zip(&cached).zip(&file) {
            let expect = if f.spam + f.ham >= 2 {
                *f
            } else {
                Counts::default()
            };
            assert_eq!(*c, expect, "token {t}");
        }
    }

    #[test]
    fn cache_follows_learns_moves_and_batches() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("b.redb")).unwrap();
        let all: Vec<u64> = (1..=6).collect();
        store.learn(&req(1, Class::Spam, &[1, 2, 3])).unwrap();
        store.learn(&req(2, Class::Spam, &[1, 2])).unwrap();
        assert_cache_matches_file(&store, &all); // builds the map
        store.learn(&req(3, Class::Ham, &[2, 3, 4])).unwrap();
        store.learn(&req(2, Class::Ham, &[1, 2])).unwrap(); // move
        assert_cache_matches_file(&store, &all);
        store.bulk(true).unwrap();
        store.learn(&req(4, Class::Spam, &[4, 5])).unwrap();
        store.learn(&req(5, Class::Spam, &[5, 6])).unwrap();
        store.bulk(false).unwrap();
        assert_cache_matches_file(&store, &all);
        let (l, c) = store.lookup(0, &[2, 5]).unwrap();
        assert_eq!(l, Learns { spam: 3, ham: 2 });
        assert_eq!(c[0], Counts { spam: 1, ham: 2 });
        assert_eq!(c[1], Counts { spam: 2, ham: 0 });
    }

    #[test]
    fn learned_totals_survive_a_reopen_without_a_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.redb");
        {
            let store = EmbeddedStore::open(&path).unwrap();
            store.learn(&req(1, Class::Ham, &[1])).unwrap();
            assert_eq!(store.learns(0).unwrap(), Learns { spam: 0, ham: 1 });
        }
        let store = EmbeddedStore::open(&path).unwrap();
        assert_eq!(store.learns(0).unwrap(), Learns { spam: 0, ham: 1 });
    }

    #[test]
    fn past_max_tokens_the_oldest_rarest_tokens_expire() {
        let store = EmbeddedStore::in_memory().unwrap().with_max_tokens(8);
        // Token 1 is in every message (common, always young); 2 and 3 are
        // in the first message only, 3 learned twice (2 is the rarer).
        store.learn(&req(1, Class::Spam, &[1, 2, 3])).unwrap();
        store.learn(&req(2, Class::Ham, &[1, 3])).unwrap();
        assert_cache_matches_file(&store, &[1, 2, 3]); // builds the map
        for d in 3..=6 {
            let t = 10 * d as u64;
            store.learn(&req(d, Class::Spam, &[1, t, t + 1])).unwrap();
        }
        // Message 5 makes 9 tokens > 8: down to 6 (3/4 of the bound), the
        // three oldest gone: 2 (message 1), 3 (message 2), then 30 of the
        // two from message 3 (same age and hits: by slot). Message 6 adds
        // two: 8, not past the bound.
        let all: Vec<u64> = vec![1, 2, 3, 30, 31, 40, 41, 50, 51, 60, 61];
        let (_, c) = store.lookup_db(0, &all).unwrap();
        let kept: Vec<u64> = all
            .iter()
            .zip(&c)
            .filter(|(_, c)| c.spam + c.ham > 0)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(kept, vec![1, 31, 40, 41, 50, 51, 60, 61]);
        assert_eq!(store.stat().unwrap().tokens, 8);
        assert_cache_matches_file(&store, &all);
        assert_eq!(store.learns(0).unwrap(), Learns { spam: 5, ham: 1 });
    }

    #[test]
    fn compaction_gives_the_copied_pages_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.redb");
        let mut store = EmbeddedStore::open(&path).unwrap();
        // One commit per message, each rewriting pages all over the tree.
        let mut x = 1u64;
        for d in 1..=150u128 {
            let mut tokens: Vec<u64> = (0..200)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    x
                })
                .collect();
            tokens.sort_unstable();
            store.learn(&req(d, Class::Spam, &tokens)).unwrap();
        }
        store.sync().unwrap();
        let grown = std::fs::metadata(&path).unwrap().len();
        let before = store.stat().unwrap();
        store.compact().unwrap();
        let compacted = std::fs::metadata(&path).unwrap().len();
        assert!(compacted < grown, "{compacted} >= {grown}");
        let after = store.stat().unwrap();
        assert_eq!((after.tokens, after.learns), (before.tokens, before.learns));
    }

    #[test]
    fn no_bound_no_expiry() {
        let store = EmbeddedStore::in_memory().unwrap();
        for d in 1..=20u128 {
            let t = d as u64 * 10;
            store.learn(&req(d, Class::Spam, &[t, t + 1])).unwrap();
        }
        assert_eq!(store.stat().unwrap().tokens, 40);
    }

    #[test]
    fn without_a_cache_lookups_read_the_file() {
        let limits = CacheLimits {
            min_hits: 2,
            max_tokens: 0,
        };
        let store = EmbeddedStore::in_memory_with(limits).unwrap();
        store.learn(&req(1, Class::Spam, &[7])).unwrap();
        let (_, c) = store.lookup(0, &[7]).unwrap();
        assert_eq!(c[0], Counts { spam: 1, ham: 0 }, "exact, rare or not");
    }
}
