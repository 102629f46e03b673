//! sluice: a milter-first mail filter, compatible with Rspamd's clients,
//! configuration and protocol.
//!
//! # Layout (follows the data flow)
//! - [`server`]: listeners (TCP, unix), the session cap, draining.
//! - [`milter`]: one session per MTA connection over `sluice-proto`'s codec;
//!   negotiation policy, message assembly, progress keepalives, and
//!   [`milter::respond`] turning a verdict into replies.
//! - [`message`]: the envelope and the raw message as the MTA handed them over.
//! - [`scan`]: the in-process pipeline behind the [`scan::Scanner`] trait.
//! - [`verdict`]: the transport-neutral result; the only vocabulary `milter/`
//!   and `scan/` share.
//! - [`config`]: UCL parsing, Rspamd-style layering, validated settings.
//! - [`bench`]: the milter load tool behind `sluice bench milter`.
//! - [`stats`]: Bayes statistics (tokenizer, classifier, stores, learning).
//! - [`daemon`]: `sluice run` (load, validate, bind, serve, signals).
// BENCH pub mod bench;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod message;
pub mod milter;
pub mod scan;
pub mod server;
pub mod stats;
pub mod verdict;
