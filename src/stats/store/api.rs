//! The store's contract: the [`Store`] trait and the values that cross it,
//! shared by every backend (each backend imports this, never the parent
//! module that picks among them).
use crate::stats::classifier::{Counts, Learns};

/// A class to learn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Spam,
    Ham,
}

impl StoreError {
    /// The store is out of reach for now and comes back by itself: the
    /// request was refused without trying (nothing new to log).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::RedisDown { .. } | StoreError::Pending { .. }
        )
    }
}

impl Class {
    pub fn other(self) -> Class {
        match self {
            Class::Spam => Class::Ham,
            Class::Ham => Class::Spam,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Spam => "spam",
            Class::Ham => "ham",
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Class::Spam => b'S',
            Class::Ham => b'H',
        }
    }

    pub(crate) fn from_code(c: u8) -> Option<Class> {
        match c {
            b'S' => Some(Class::Spam),
            b'H' => Some(Class::Ham),
            _ => None,
        }
    }
}

/// What a learn did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LearnOutcome {
    /// New message, learned.
    Learned,
    /// It had been learned under the other class; it was moved.
    Moved { from: Class },
    /// Already learned under this class: nothing changed.
    AlreadyLearned,
}

/// One message to learn, already tokenized.
#[derive(Debug, Clone, Copy)]
pub struct LearnRequest<'a> {
    /// 0 = the global statistics; else a per-user namespace.
    pub user: u64,
    /// Identity of the message (Message-ID, or the body's digest).
    pub digest: u128,
    pub class: Class,
    /// Sorted, distinct token hashes.
    pub tokens: &'a [u64],
}

/// Learned counts and size, for `sluice stat` and the controller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStat {
    pub backend: &'static str,
    /// Where: a file path or a Redis address and prefix.
    pub location: String,
    pub learns: Learns,
    /// Distinct tokens stored (all users).
    pub tokens: u64,
    /// Bytes on disk or in Redis memory (as the server reports it).
    pub size_bytes: u64,
    /// Users with their own statistics.
    pub users: u64,
}

/// Backend failure, with the evidence.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    #[error("statistics database {path}: {reason}")]
    Embedded { path: String, reason: String },
    #[error("statistics database {path} is in use by another sluice process (learn through the running daemon's /learnspam and /learnham, or stop it)")]
    Locked { path: String },
    #[error("redis {addr}: {reason}")]
    Redis { addr: String, reason: String },
    #[error("redis {addr}: timed out after {millis} ms")]
    RedisTimeout { addr: String, millis: u128 },
    #[error(
        "redis {addr} is unreachable; reconnecting in the background (scans go on without Bayes)"
    )]
    RedisDown { addr: String },
    #[error("statistics store not open yet ({reason}); retrying in the background (scans go on without Bayes)")]
    Pending { reason: String },
    #[error("statistics store holds a bad value for {what}: {value:?}")]
    Corrupt { what: &'static str, value: String },
}

/// What [`Store::lookup_ahead`] gives.
pub type LookupFuture =
    futures_util::future::BoxFuture<'static, Result<(Learns, Vec<Counts>), StoreError>>;

/// A token-count store, shared by all scans (`Arc`).
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Counts for `tokens` (sorted, distinct) and the class totals of `user`.
    /// A backend may report tokens rarer than the classifier's
    /// `min_token_hits` as zero: the classifier ignores them either way.
    fn lookup(&self, user: u64, tokens: &[u64]) -> Result<(Learns, Vec<Counts>), StoreError>;
    /// The class totals of `user` alone, cheaply (memory or one round
    /// trip): a scan asks this first and does not tokenize a message the
    /// classifier would skip for want of learned messages.
    fn learns(&self, user: u64) -> Result<Learns, StoreError>;
    /// Whether [`Store::lookup_ahead`] may give a lookup (asked before tokenizing).
    fn looks_up_ahead(&self) -> bool {
        false
    }
    /// [`Store::lookup`] as a future on the async Redis client, for a store that has one:
    /// the scan's phase before the pipeline sends it with the state modules' calls (on
    /// the same connection when they name the same server), so one round trip carries
    /// them all. Bounded by the store's `timeout`, as [`Store::lookup`]. `None`: the pipeline calls [`Store::lookup`] itself.
    fn lookup_ahead(&self, _user: u64, _tokens: Vec<u64>) -> Option<LookupFuture> {
        None
    }
    /// Learns one message atomically, moving it if it had the other class.
    fn learn(&self, req: &LearnRequest<'_>) -> Result<LearnOutcome, StoreError>;
    /// Totals and size.
    fn stat(&self) -> Result<StoreStat, StoreError>;
    /// Makes everything learned so far durable (end of a bulk learn).
    fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Bulk learning on or off: a backend may batch writes meanwhile, as
    /// long as a crash loses at most the message in flight.
    fn bulk(&self, _on: bool) -> Result<(), StoreError> {
        Ok(())
    }
    /// Gives space the backend no longer uses back (the end of a bulk
    /// learn); needs the store alone.
    fn compact(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}
