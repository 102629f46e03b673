//! The Redis layer's errors: a bad section at load time, a failed call at scan time.
use thiserror::Error;

/// A `redis` section (or a module's override of it) that cannot be used.
#[derive(Debug, Error, PartialEq)]
pub enum RedisConfigError {
    #[error("{key}: expected {expected}")]
    Shape { key: String, expected: &'static str },
    #[error("{key}: bad server `{server}`: {reason}")]
    Server {
        key: String,
        server: String,
        reason: String,
    },
    #[error("{key}: bad pattern: {reason}")]
    Pattern { key: String, reason: String },
    #[error("{key}: {reason}")]
    Conflict { key: String, reason: &'static str },
}

/// A call that did not get its answer. Every variant means "go on without Redis" to the
/// state modules; the connection behind it is dropped and opened (and the master
/// resolved) again on the next call.
#[derive(Debug, Clone, Error)]
pub enum RedisError {
    #[error("redis {server}: no answer within the deadline")]
    Timeout { server: String },
    #[error("redis {server}: cannot connect: {reason}")]
    Connect { server: String, reason: String },
    #[error("redis {server}: {reason}")]
    Command { server: String, reason: String },
    /// The server or the path to it failed (or the server is a replica now).
    #[error("redis {server}: {reason}")]
    Lost { server: String, reason: String },
    #[error("redis sentinels: no master: {reason}")]
    NoMaster { reason: String },
    #[error("redis {server}: skipped after a recent failure")]
    Backoff { server: String },
    #[error("redis {server}: too many writes waiting; this one dropped")]
    Backlog { server: String },
}
