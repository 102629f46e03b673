//! Where the storage keeps hashes: the embedded redb file (one box) or
//! Redis in Rspamd's layout (shared by nodes, and by Rspamd's storages).
//!
//! Both do what Rspamd's backends do: a write sets the hash's flag, adds
//! its value to the stored weight, keeps the first write's time and renews
//! the expiry; a shingles write also points each of its 32 shingles at the
//! digest. A delete drops the digest (and the shingles sent with it). A
//! check that finds a hash renews its expiry later, in a batch.
use std::time::Duration;

use sluice_proto::fuzzy::{Command, DIGEST_LEN, SHINGLES};

pub mod embedded;
pub mod redis;

pub use embedded::Embedded;
pub use redis::RedisBackend;

/// A stored hash, as a check answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub digest: [u8; DIGEST_LEN],
    pub value: i32,
    pub flag: u32,
    /// Unix seconds of the first write.
    pub ts: u32,
    /// 1.0 for the digest itself, the shingles' vote otherwise.
    pub prob: f32,
}

/// A hash a check found, whose expiry is renewed: the digest found and the
/// shingles of the query that found it.
#[derive(Debug, Clone, PartialEq)]
pub struct Refresh {
    pub digest: [u8; DIGEST_LEN],
    pub shingles: Option<Box<[u64; SHINGLES]>>,
}

/// A backend failure: the command is answered with status 500.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("fuzzy store {path}: {reason}")]
    Embedded { path: String, reason: String },
    #[error("fuzzy store on Redis: {0}")]
    Redis(#[from] crate::redis::RedisError),
}

#[derive(Debug, Clone)]
pub enum Backend {
    Embedded(std::sync::Arc<Embedded>),
    Redis(RedisBackend),
}

impl Backend {
    pub async fn check(&self, cmd: &Command) -> Result<Option<Found>, BackendError> {
        match self {
            Backend::Embedded(e) => e.check(cmd, now()),
            Backend::Redis(r) => r.check(cmd).await,
        }
    }

    pub async fn write(&self, cmd: &Command, expire: Duration) -> Result<(), BackendError> {
        match self {
            Backend::Embedded(e) => e.write(cmd, expire, now()),
            Backend::Redis(r) => r.write(cmd, expire).await,
        }
    }

    pub async fn delete(&self, cmd: &Command) -> Result<(), BackendError> {
        match self {
            Backend::Embedded(e) => e.delete(cmd),
            Backend::Redis(r) => r.delete(cmd).await,
        }
    }

    /// Renews the expiry of the hashes in `batch` that are still stored,
    /// and of the shingles sent with them; returns how many hashes.
    pub async fn refresh(&self, batch: &[Refresh], expire: Duration) -> Result<u64, BackendError> {
        match self {
            Backend::Embedded(e) => e.refresh(batch, expire, now()),
            Backend::Redis(r) => r.refresh(batch, expire).await,
        }
    }

    /// How many hashes are stored (the stat command's answer).
    pub async fn count(&self) -> Result<u64, BackendError> {
        match self {
            Backend::Embedded(e) => e.count(),
            Backend::Redis(r) => r.count().await,
        }
    }

    /// Drops expired hashes (Redis expires its own keys).
    pub fn sweep(&self) -> Result<u64, BackendError> {
        match self {
            Backend::Embedded(e) => e.sweep(now()),
            Backend::Redis(_) => Ok(0),
        }
    }
}

/// Unix time in milliseconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
