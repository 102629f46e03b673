//! Errors that stop a benchmark before it produces a report. Failures of
//! individual sessions are not errors: they are counted in the report.
use std::path::PathBuf;

/// Why `bench_milter` could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The address could not be parsed.
    #[error("bad milter address {addr:?}: {reason}")]
    BadAddr { addr: String, reason: String },
    /// The address is not loopback; the tool refuses to load other hosts.
    #[error("milter address {addr:?} is not a loopback address")]
    NotLoopback { addr: String },
    /// An option is out of range.
    #[error("bad option {option}: {reason}")]
    BadOption {
        option: &'static str,
        reason: String,
    },
    /// A corpus directory or file could not be read.
    #[error("cannot read {path}: {source}")]
    Corpus {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The directories held no regular files.
    #[error("no messages found in {dirs:?}")]
    EmptyCorpus { dirs: Vec<PathBuf> },
    /// Not one session could be opened: nothing to measure.
    #[error("cannot reach milter at {addr}: {reason}")]
    Unreachable { addr: String, reason: String },
}
