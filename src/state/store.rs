//! Where a state module keeps its records: Redis (shared by every node that uses it), or
//! the embedded store, one redb file for the box (no Redis needed).
//!
//! Both offer the same few operations with Redis's semantics (values expire): read some
//! keys, write some keys with a lifetime, renew lifetimes, and the rate limiter's leaky
//! buckets checked and filled atomically ([`super::ratelimit`]).
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use redb::{Database, Durability, ReadableTable, TableDefinition};

use super::error::StateError;
use super::metrics;
use crate::redis::client::Script;
use crate::redis::deferred::Write;
use crate::redis::{Client, Role};

/// key -> 8 bytes of expiry (Unix ms, little endian), then the value.
const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("state");

/// One module's store.
#[derive(Debug, Clone)]
pub enum Store {
    Redis(Client),
    Embedded(Arc<Lazy>),
}

impl Store {
    /// `GET` of each key (Redis: one `MGET`).
    pub async fn get(
        &self,
        keys: &[String],
        deadline: Instant,
    ) -> Result<Vec<Option<String>>, StateError> {
        match self {
            Store::Redis(c) => {
                let mut cmd = redis::cmd("MGET");
                cmd.arg(keys);
                Ok(c.query(Role::Read, &cmd, deadline).await?)
            }
            Store::Embedded(e) => e.get()?.get(keys, now_ms()),
        }
    }

    /// `SETEX` of each pair (Redis: one pipeline).
    pub async fn set(
        &self,
        pairs: &[(String, String)],
        ttl: Duration,
        deadline: Instant,
    ) -> Result<(), StateError> {
        match self {
            Store::Redis(c) => {
                let mut p = redis::pipe();
                for (k, v) in pairs {
                    p.cmd("PSETEX").arg(k).arg(millis(ttl)).arg(v).ignore();
                }
                Ok(c.pipe(Role::Write, &p, deadline).await?)
            }
            Store::Embedded(e) => e.get()?.set(pairs, ttl, now_ms()),
        }
    }

    /// `PEXPIRE` of each key.
    pub async fn expire(
        &self,
        keys: &[String],
        ttl: Duration,
        deadline: Instant,
    ) -> Result<(), StateError> {
        match self {
            Store::Redis(c) => {
                let mut p = redis::pipe();
                for k in keys {
                    p.cmd("PEXPIRE").arg(k).arg(millis(ttl)).ignore();
                }
                Ok(c.pipe(Role::Write, &p, deadline).await?)
            }
            Store::Embedded(e) => e.get()?.expire(keys, ttl, now_ms()),
        }
    }

    /// Runs `script` on Redis, or `local` on the embedded store's records (in one write
    /// transaction, so both are atomic).
    pub async fn atomic<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        keys: &[String],
        args: &[String],
        local: impl FnOnce(&mut dyn Records) -> T,
        deadline: Instant,
    ) -> Result<T, StateError> {
        match self {
            Store::Redis(c) => Ok(c.script(script, keys, args, deadline).await?),
            Store::Embedded(e) => e.get()?.update(now_ms(), local),
        }
    }

    /// [`Store::set`] that no answer waits for: on Redis queued for the client's writer
    /// ([`crate::redis::deferred`]); a failure is counted for `module` when it happens.
    pub fn set_later(&self, pairs: &[(String, String)], ttl: Duration, module: &'static str) {
        match self {
            Store::Redis(c) => {
                let cmds = pairs
                    .iter()
                    .map(|(k, v)| {
                        let mut cmd = redis::cmd("PSETEX");
                        cmd.arg(k).arg(millis(ttl)).arg(v);
                        cmd
                    })
                    .collect();
                c.later(Write::new(cmds, counted(module)));
            }
            Store::Embedded(e) => {
                counted_now(module, e.get().and_then(|e| e.set(pairs, ttl, now_ms())))
            }
        }
    }

    /// [`Store::expire`] that no answer waits for (see [`Store::set_later`]).
    pub fn expire_later(&self, keys: &[String], ttl: Duration, module: &'static str) {
        match self {
            Store::Redis(c) => {
                let cmds = keys
                    .iter()
                    .map(|k| {
                        let mut cmd = redis::cmd("PEXPIRE");
                        cmd.arg(k).arg(millis(ttl));
                        cmd
                    })
                    .collect();
                c.later(Write::new(cmds, counted(module)));
            }
            Store::Embedded(e) => {
                counted_now(module, e.get().and_then(|e| e.expire(keys, ttl, now_ms())))
            }
        }
    }

    /// [`Store::atomic`] that no answer waits for and whose result is not read (see
    /// [`Store::set_later`]).
    pub fn atomic_later(
        &self,
        script: &Script,
        keys: &[String],
        args: &[String],
        local: impl FnOnce(&mut dyn Records),
        module: &'static str,
    ) {
        match self {
            Store::Redis(c) => c.later(Write::script(script, keys, args, counted(module))),
            Store::Embedded(e) => {
                counted_now(module, e.get().and_then(|e| e.update(now_ms(), local)))
            }
        }
    }

    pub fn is_redis(&self) -> bool {
        matches!(self, Store::Redis(_))
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Store::Redis(c) if c.is_cluster())
    }

    /// `key` with the hash tag `tag` when the store is a Redis Cluster (keys one script
    /// touches must share a slot); unchanged otherwise, as Rspamd names it.
    pub fn tag(&self, tag: &str, key: String) -> String {
        match self {
            Store::Redis(c) if c.is_cluster() => c.config().tag(tag, &key),
            _ => key,
        }
    }
}

/// What a write no answer waits for does with its failure: counted for `module`.
fn counted(module: &'static str) -> impl FnOnce(crate::redis::RedisError) + Send + Sync {
    move |e| metrics::failed(module, &StateError::Redis(e))
}

fn counted_now(module: &str, r: Result<(), StateError>) {
    if let Err(e) = r {
        metrics::failed(module, &e);
    }
}

/// The embedded store, opened when a message first needs it (so `configtest` beside a
/// running daemon, which holds the file, never opens it). A file that cannot be opened
/// stays an error for every call (logged, counted, the message passes).
#[derive(Debug)]
pub struct Lazy {
    path: PathBuf,
    opened: OnceLock<Result<Arc<Embedded>, String>>,
}

impl Lazy {
    pub fn new(path: PathBuf) -> Lazy {
        Lazy {
            path,
            opened: OnceLock::new(),
        }
    }

    /// A store already open (tests).
    pub fn ready(e: Embedded) -> Lazy {
        let path = e.path.clone();
        Lazy {
            path,
            opened: OnceLock::from(Ok(Arc::new(e))),
        }
    }

    fn get(&self) -> Result<Arc<Embedded>, StateError> {
        self.opened
            .get_or_init(|| Embedded::shared(&self.path).map_err(|e| e.to_string()))
            .clone()
            .map_err(|reason| StateError::Embedded {
                path: self.path.display().to_string(),
                reason,
            })
    }
}

/// Records the embedded store's atomic updates read and write.
pub trait Records {
    fn read(&mut self, key: &str) -> Option<String>;
    fn write(&mut self, key: &str, value: &str, ttl: Duration);
}

/// The embedded store: a redb file, opened once per process and path (reloads reuse it;
/// redb allows one opener of a file).
pub struct Embedded {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for Embedded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedded")
            .field("path", &self.path)
            .finish()
    }
}

impl Embedded {
    /// The process's store at `path`, opened (created) on first use.
    pub fn shared(path: &Path) -> Result<Arc<Embedded>, StateError> {
        static OPEN: OnceLock<Mutex<HashMap<PathBuf, Arc<Embedded>>>> = OnceLock::new();
        let mut open = OPEN
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(e) = open.get(path) {
            return Ok(Arc::clone(e));
        }
        let e = Arc::new(Embedded::open(path)?);
        open.insert(path.to_path_buf(), Arc::clone(&e));
        Ok(e)
    }

    pub fn open(path: &Path) -> Result<Embedded, StateError> {
        // A bounded cache: the records are small and short-lived, and redb's default cache
        // would let a busy box's memory grow with every record written.
        let db = create_bounded(path, CACHE_BYTES).map_err(|reason| StateError::Embedded {
            path: path.display().to_string(),
            reason,
        })?;
        Ok(Embedded {
            db,
            path: path.to_path_buf(),
        })
    }

    fn err(&self, e: &dyn std::fmt::Display) -> StateError {
        StateError::Embedded {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        }
    }

    pub fn get(&self, keys: &[String], now: u64) -> Result<Vec<Option<String>>, StateError> {
        let txn = self.db.begin_read().map_err(|e| self.err(&e))?;
        let table = match txn.open_table(KV) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(vec![None; keys.len()]),
            Err(e) => return Err(self.err(&e)),
        };
        keys.iter()
            .map(|k| {
                let v = table.get(k.as_str()).map_err(|e| self.err(&e))?;
                Ok(v.and_then(|v| live(v.value(), now)))
            })
            .collect()
    }

    pub fn set(
        &self,
        pairs: &[(String, String)],
        ttl: Duration,
        now: u64,
    ) -> Result<(), StateError> {
        self.update(now, |r| {
            for (k, v) in pairs {
                r.write(k, v, ttl);
            }
        })
    }

    pub fn expire(&self, keys: &[String], ttl: Duration, now: u64) -> Result<(), StateError> {
        self.update(now, |r| {
            for k in keys {
                if let Some(v) = r.read(k) {
                    r.write(k, &v, ttl);
                }
            }
        })
    }

    /// Runs `f` in one write transaction; expired records read as absent.
    pub fn update<T>(
        &self,
        now: u64,
        f: impl FnOnce(&mut dyn Records) -> T,
    ) -> Result<T, StateError> {
        let mut txn = self.db.begin_write().map_err(|e| self.err(&e))?;
        // A crash loses the last records, never the file: state, not mail.
        txn.set_durability(Durability::Eventual);
        let out = {
            let mut table = txn.open_table(KV).map_err(|e| self.err(&e))?;
            let mut recs = Txn {
                table: &mut table,
                now,
                failed: None,
            };
            let out = f(&mut recs);
            if let Some(e) = recs.failed {
                return Err(self.err(&e));
            }
            if fastrand::u32(..SWEEP_EVERY) == 0 {
                sweep(&mut table, now).map_err(|e| self.err(&e))?;
            }
            out
        };
        txn.commit().map_err(|e| self.err(&e))?;
        Ok(out)
    }
}

/// The embedded store's page cache.
const CACHE_BYTES: usize = 16 << 20;

/// About one write in this many also removes every expired record.
const SWEEP_EVERY: u32 = 1000;

fn sweep(table: &mut redb::Table<'_, &str, &[u8]>, now: u64) -> Result<(), redb::StorageError> {
    table.retain(|_, v| live(v, now).is_some())
}

struct Txn<'a, 't> {
    table: &'a mut redb::Table<'t, &'static str, &'static [u8]>,
    now: u64,
    failed: Option<redb::StorageError>,
}

impl Records for Txn<'_, '_> {
    fn read(&mut self, key: &str) -> Option<String> {
        match self.table.get(key) {
            Ok(v) => v.and_then(|v| live(v.value(), self.now)),
            Err(e) => {
                self.failed.get_or_insert(e);
                None
            }
        }
    }

    fn write(&mut self, key: &str, value: &str, ttl: Duration) {
        let mut rec = (self.now + millis(ttl)).to_le_bytes().to_vec();
        rec.extend_from_slice(value.as_bytes());
        if let Err(e) = self.table.insert(key, rec.as_slice()) {
            self.failed.get_or_insert(e);
        }
    }
}

/// The value of a record that has not expired at `now`.
fn live(rec: &[u8], now: u64) -> Option<String> {
    let (exp, value) = rec.split_first_chunk::<8>()?;
    (u64::from_le_bytes(*exp) > now).then(|| String::from_utf8_lossy(value).into_owned())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Unix time in milliseconds (records are compared across nodes, so wall time).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, millis)
}

/// Opens (or creates) the redb file at `path` with a cache of `cache_bytes`,
/// creating its directory first; the error says what failed. Shared by the
/// embedded stores of small, short-lived records (state, fuzzy hashes).
pub fn create_bounded(path: &Path, cache_bytes: usize) -> Result<redb::Database, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    redb::Builder::new()
        .set_cache_size(cache_bytes)
        .create(path)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_expire_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.redb");
        let keys = vec!["a".to_string(), "b".to_string()];
        {
            let e = Embedded::open(&path).unwrap();
            assert_eq!(e.get(&keys, 0).unwrap(), vec![None, None]);
            e.set(&[("a".into(), "1".into())], Duration::from_secs(10), 1_000)
                .unwrap();
            e.set(&[("b".into(), "2".into())], Duration::from_secs(1), 1_000)
                .unwrap();
            assert_eq!(
                e.get(&keys, 1_500).unwrap(),
                vec![Some("1".into()), Some("2".into())]
            );
            assert_eq!(e.get(&keys, 2_000).unwrap(), vec![Some("1".into()), None]);
            e.expire(&keys, Duration::from_secs(100), 5_000).unwrap();
        }
        let e = Embedded::open(&path).unwrap();
        assert_eq!(e.get(&keys, 50_000).unwrap(), vec![Some("1".into()), None]);
        let n = e
            .update(50_000, |r| {
                let v: u32 = r.read("a").unwrap().parse().unwrap();
                r.write("a", &(v + 1).to_string(), Duration::from_secs(1));
                v
            })
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(e.get(&keys[..1], 50_500).unwrap(), vec![Some("2".into())]);
    }
}
