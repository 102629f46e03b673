//! Where token counts live. Two backends behind one trait: an embedded
//! database file (the default; nothing to install) and Redis (shared by
//! several nodes).
//!
//! Each operation on one message is atomic in the backend: a learn either
//! lands whole (tokens, class counter, the message's digest) or not at all.
pub mod api;
pub mod cache;
pub mod embedded;
pub mod expire;
pub mod journal;
pub mod layout;
pub mod pending;
pub mod redis;
pub mod upgrade;

pub use api::{Class, LearnOutcome, LearnRequest, Store, StoreError, StoreStat};
pub use cache::CacheLimits;
pub use embedded::{EmbeddedStore, REDB_MAGIC};
pub use pending::PendingStore;
pub use redis::RedisStore;
