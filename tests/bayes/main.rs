//! The stores on their own: the Bayes embedded store (learning, crash
//! safety) and Redis store, and the shared-state modules (rate limits,
//! greylisting) and the history on Redis, against a real redis-server.
//!
//! One binary for all of them: each test binary links the whole crate, and
//! linking, not the tests, dominated `cargo test`.
#[path = "../support/mod.rs"]
mod support;

mod history_redis;
mod neural_redis;
mod redis_cluster;
mod redis_roles;
mod state_redis;
mod stats_crash;
mod stats_embedded;
mod stats_format;
mod stats_redis;
