//! Load and measurement tools (`sluice bench ...`).
//!
//! `bench milter` plays the MTA: it replays a mail corpus through any milter
//! (sluice, Rspamd's proxy, anything speaking milter v6) over many concurrent
//! connections, the way Postfix would, and reports throughput, latency
//! percentiles, the verdicts and the modifications it got back. The
//! integration scripts use its JSON output to check whole corpora and to
//! compare sluice with Rspamd on the same mail.
//!
//! Layout: [`cli`] (the subcommand), [`addr`] (where to connect), [`corpus`] (messages read up front),
//! `session` (one Postfix-like connection), [`tally`] and [`report`] (the
//! figures), [`milter`] (the run itself).
pub mod addr;
mod classify;
pub mod cli;
pub mod corpus;
mod envelope;
mod error;
pub mod milter;
pub mod report;
mod session;
pub mod tally;
#[cfg(test)]
mod tests;

pub use error::BenchError;
pub use milter::{bench_milter, BenchOptions};
pub use report::BenchReport;
