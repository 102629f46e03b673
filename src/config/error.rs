//! Errors of the configuration layer: the UCL layer's, plus settings that parse but make no
//! sense. Each names where the bad value came from so `sluice configtest` points at the line.

use super::ucl::UclError;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Ucl(#[from] UclError),
    /// A key holds a value of the wrong type or out of range.
    #[error("{location}: {key}: {message}")]
    Invalid {
        /// `file:line:column` of the definition, or `default` for a shipped value.
        location: String,
        /// Dotted key path, e.g. `milter.bind_socket`.
        key: String,
        message: String,
    },
    /// A `--var` argument without `=`.
    #[error("bad variable `{0}`: expected NAME=VALUE")]
    BadVar(String),
}
