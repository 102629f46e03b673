//! One Redis layer for everything that keeps shared state in Redis (greylisting, rate
//! limits, replies): Rspamd's `redis` section and per-module overrides ([`config`]), one
//! multiplexed connection per server role shared by all scans ([`client`]), the master
//! found through Sentinel and found again after a failover ([`sentinel`]), or a Redis
//! Cluster's slots served by their masters ([`cluster`]), and typed
//! errors ([`error`]). Writes no answer waits for go out in batches ([`deferred`]). Every call is bounded by a deadline; callers decide what a failure
//! means for the message (the state modules fail open). The Bayes store, which runs on
//! threads of its own, uses the blocking connection of [`blocking`] with the same
//! configuration and Sentinel lookup.
pub mod blocking;
pub mod client;
pub mod cluster;
pub mod config;
pub mod deferred;
pub mod error;
pub mod sentinel;

pub use client::{Client, Role};
pub use config::{RedisConfig, Server};
pub use error::{RedisConfigError, RedisError};
