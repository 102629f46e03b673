//! sluice: a milter-first mail filter, compatible with Rspamd's clients,
//! configuration and protocol.
//!
//! # Layout (follows the data flow)
//! - [`server`]: listeners (TCP, unix), the session cap, draining.
//! - [`milter`]: one session per MTA connection over `sluice-proto`'s codec;
//!   negotiation policy, message assembly, progress keepalives, and
//!   [`milter::respond`] turning a verdict into replies.
//! - [`message`]: the message as data: envelope, raw bytes, and the parsed view the rules read.
//! - [`scan`]: the in-process pipeline behind the [`verdict::Scanner`] trait.
//! - [`verdict`]: the verdict room: the result, the [`verdict::Scanner`]
//!   trait and its request, the read-only [`verdict::RuleBook`], and the
//!   `/checkv2` reply both ways; all that `milter/`, `http/` and `forward/`
//!   know of scanning.
//! - [`config`]: UCL parsing, Rspamd-style layering, validated settings.
//! - [`dns`]: the shared DNS resolver: typed lookups, cache, per-message budget, counters.
//! - [`bench`]: the milter load tool behind `sluice bench milter`.
//! - [`http`]: Rspamd's HTTP protocol: the scan (normal worker) and
//!   controller listeners.
//! - [`metrics`]: process-wide counters for `/stat` and `/metrics`.
//! - [`state`]: shared state around the scan: greylisting, rate limits, replies, in
//!   Redis or the embedded store.
//! - [`fuzzy_storage`]: Rspamd's fuzzy storage worker: a UDP listener answering
//!   `fuzzy_check` clients from an embedded file or Redis.
//! - [`redis`]: the one Redis layer (servers, Sentinel, deadlines) the state modules use.
//! - [`stats`]: Bayes statistics (tokenizer, classifier, stores, learning).
//! - [`eval_bayes`]: `sluice eval-bayes`, cross-validation over `scan` and `stats`.
//! - [`rescore`]: `sluice rescore`, rule weights fitted to a labelled store (above `eval_bayes`).
//! - [`daemon`]: `sluice run` (load, validate, bind, serve, signals).
//! - [`log`]: the `logging` section: stderr, file (reopened on SIGUSR1),
//!   syslog; text or JSON; per-client milter debugging.
//! - [`notify`]: systemd readiness (`Type=notify`) and the PID file.
//! - [`progress`]: progress bars of the longer command-line jobs (terminal only).
//! - [`status`]: `sluice status`, a client of the controller's `/stat`.
//! - [`reload`]: `sluice reload`, SIGHUP and the wait for its result (systemd's `ExecReload`).
//! - [`manpage`]: the man page, generated from the clap definitions.
//! - [`sign`]: outbound DKIM signing and ARC sealing, added to the verdict;
//!   `sluice dkim-keygen`.
pub mod bench;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod dns;
pub mod eval_bayes;
pub mod forward;
#[doc(hidden)]
pub mod fuzzing;
pub mod fuzzy_cli;
pub mod fuzzy_storage;
pub mod history;
pub mod http;
pub mod log;
pub mod manpage;
pub mod message;
pub mod metrics;
pub mod milter;
pub mod notify;
pub mod progress;
pub mod redis;
pub mod reload;
pub mod rescore;
pub mod scan;
pub mod server;
pub mod sign;
pub mod state;
pub mod stats;
pub mod status;
pub mod verdict;
pub mod via_controller;
