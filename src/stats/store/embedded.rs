//! The embedded store: one redb file under `$DBDIR`.
//!
//! Why redb rather than SQLite: it is pure Rust (no C toolchain, nothing
//! `unsafe` of ours, quick to build on a small CI box), it is a typed
//! key-value B-tree, which is exactly the shape of token counts (u64 ->
//! two counters) with no SQL layer to cross per token, and its commits are
//! copy-on-write with a checksummed root swap: a process killed at any
//! point reopens at the last commit, never half a message.
//!
//! Durability: each message is one write transaction committed with
//! `Durability::Eventual`: the commit is handed to the OS before `learn`
//! returns (so `kill -9` loses at most the message in flight) but not
//! fsync'ed one by one (a power cut loses at most the last unsynced
//! messages, and the file still opens at a consistent commit). [`sync`]
//! makes everything durable at the end of a bulk learn.
//!
//! [`sync`]: super::Store::sync
use std::path::{Path, PathBuf};

use redb::{
    Database, DatabaseError, Durability, ReadableTable, ReadableTableMetadata, TableDefinition,
};

use super::{Class, LearnOutcome, LearnRequest, Store, StoreError, StoreStat};
use crate::stats::classifier::{Counts, Learns};

/// (user, token) -> (spam, ham) message counts.
const TOKENS: TableDefinition<(u64, u64), (u64, u64)> = TableDefinition::new("tokens");
/// user -> (spam, ham) learned messages.
const LEARNS: TableDefinition<u64, (u64, u64)> = TableDefinition::new("learns");
/// (user, message digest) -> class code, for relearn moves.
const LEARNED: TableDefinition<(u64, u128), u8> = TableDefinition::new("learned");

/// The redb-backed store. `Database` is `Sync`: readers never wait for the
/// writer, so scans run while a learn commits.
pub struct EmbeddedStore {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .finish()
    }
}

impl EmbeddedStore {
    /// Opens (creating the file and its directory if needed) and checks the
    /// file: a torn or foreign file is an error here, not at the first scan.
    pub fn open(path: &Path) -> Result<EmbeddedStore, StoreError> {
        let err = |reason: String| StoreError::Embedded {
            path: path.display().to_string(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| err(format!("creating directory: {e}")))?;
        }
        let db = Database::create(path).map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
                path: path.display().to_string(),
            },
            other => err(other.to_string()),
        })?;
        let store = EmbeddedStore {
            db,
            path: path.to_path_buf(),
        };
        store.create_tables()?;
        Ok(store)
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

    fn create_tables(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        txn.open_table(TOKENS).map_err(|e| self.err(e))?;
        txn.open_table(LEARNS).map_err(|e| self.err(e))?;
        txn.open_table(LEARNED).map_err(|e| self.err(e))?;
        txn.commit().map_err(|e| self.err(e))
    }

    fn learn_txn(&self, req: &LearnRequest<'_>) -> Result<LearnOutcome, redb::Error> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Eventual);
        let outcome = {
            let mut learned = txn.open_table(LEARNED)?;
            let before = learned
                .get((req.user, req.digest))?
                .and_then(|v| Class::from_code(v.value()));
            if before == Some(req.class) {
                return Ok(LearnOutcome::AlreadyLearned);
            }
            learned.insert((req.user, req.digest), req.class.code())?;
            let mut tokens = txn.open_table(TOKENS)?;
            let mut learns = txn.open_table(LEARNS)?;
            let mut totals = learns.get(req.user)?.map_or((0, 0), |v| v.value());
            if let Some(old) = before {
                bump(&mut totals, old, -1);
            }
            bump(&mut totals, req.class, 1);
            learns.insert(req.user, totals)?;
            for &t in req.tokens {
                let key = (req.user, t);
                let mut c = tokens.get(key)?.map_or((0, 0), |v| v.value());
                if let Some(old) = before {
                    bump(&mut c, old, -1);
                }
                bump(&mut c, req.class, 1);
                if c == (0, 0) {
                    tokens.remove(key)?;
                } else {
                    tokens.insert(key, c)?;
                }
            }
            match before {
                Some(from) => LearnOutcome::Moved { from },
                None => LearnOutcome::Learned,
            }
        };
        txn.commit()?;
        Ok(outcome)
    }
}

/// Adds `delta` to the class's counter, never below zero (a relearn of a
/// message whose tokens changed with a new tokenizer must not underflow).
fn bump(c: &mut (u64, u64), class: Class, delta: i64) {
    let slot = match class {
        Class::Spam => &mut c.0,
        Class::Ham => &mut c.1,
    };
    *slot = slot.saturating_add_signed(delta);
}

impl Store for EmbeddedStore {
    fn lookup(&self, user: u64, tokens: &[u64]) -> Result<(Learns, Vec<Counts>), StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let learns_t = txn.open_table(LEARNS).map_err(|e| self.err(e))?;
        let tokens_t = txn.open_table(TOKENS).map_err(|e| self.err(e))?;
        let (spam, ham) = learns_t
            .get(user)
            .map_err(|e| self.err(e))?
            .map_or((0, 0), |v| v.value());
        let mut out = Vec::with_capacity(tokens.len());
        for &t in tokens {
            let (s, h) = tokens_t
                .get((user, t))
                .map_err(|e| self.err(e))?
                .map_or((0, 0), |v| v.value());
            out.push(Counts { spam: s, ham: h });
        }
        Ok((Learns { spam, ham }, out))
    }

    fn learn(&self, req: &LearnRequest<'_>) -> Result<LearnOutcome, StoreError> {
        self.learn_txn(req).map_err(|e| self.err(e))
    }

    fn stat(&self) -> Result<StoreStat, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let learns_t = txn.open_table(LEARNS).map_err(|e| self.err(e))?;
        let tokens_t = txn.open_table(TOKENS).map_err(|e| self.err(e))?;
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
        let mut txn = self.db.begin_write().map_err(|e| self.err(e))?;
        txn.set_durability(Durability::Immediate);
        txn.commit().map_err(|e| self.err(e))
    }
}

impl EmbeddedStore {
    /// A store that lives in memory only: the k-fold evaluation trains a
    /// fresh one per fold without touching the disk.
    pub fn in_memory() -> Result<EmbeddedStore, StoreError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| StoreError::Embedded {
                path: ":memory:".into(),
                reason: e.to_string(),
            })?;
        let store = EmbeddedStore {
            db,
            path: PathBuf::from(":memory:"),
        };
        store.create_tables()?;
        Ok(store)
    }
}
