//! Errors of the network layer: training on unusable data and reading a
//! stored network back.

/// Why a network could not be trained or read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NeuralError {
    #[error("no training samples")]
    NoSamples,
    #[error("training needs both classes: {spam} spam and {ham} ham samples")]
    OneClass { spam: usize, ham: usize },
    #[error("sample {index} has {got} inputs, the network takes {want}")]
    InputWidth {
        index: usize,
        got: usize,
        want: usize,
    },
    #[error("training diverged (the cost is not a number)")]
    Diverged,
    #[error("stored network: {0}")]
    Corrupt(&'static str),
    #[error("stored network has format version {0}, this build reads version {FORMAT_VERSION}", FORMAT_VERSION = super::net::FORMAT_VERSION)]
    FormatVersion(u32),
}

/// Why the module could not read or write its records; the scan goes on
/// without that step (the network in memory stays as it was).
#[derive(Debug, thiserror::Error)]
pub enum NeuralStoreError {
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error("record `{key}`: {reason}")]
    Record { key: String, reason: String },
    #[error("record `{key}`: {source}")]
    Net {
        key: String,
        #[source]
        source: NeuralError,
    },
    /// The stored network was trained on another symbol set: retired.
    #[error("record `{key}`: network of symbol set {stored}, the config's is {want}: retired")]
    Retired {
        key: String,
        stored: String,
        want: String,
    },
}
