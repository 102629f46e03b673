//! The Bayes stores on their own: the embedded store (learning, crash
//! safety) and the Redis store against a real redis-server.
//!
//! One binary for all of them: each test binary links the whole crate, and
//! linking, not the tests, dominated `cargo test`.
#[path = "../support/mod.rs"]
mod support;

mod stats_crash;
mod stats_embedded;
mod stats_format;
mod stats_redis;
