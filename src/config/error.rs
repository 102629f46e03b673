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
    /// The `logging` section, with where its bad key was set.
    #[error("{location}: {error}")]
    Logging {
        location: String,
        error: super::logging::LogConfigError,
    },
    /// A worker section, with where its bad key was set.
    #[error("{location}: worker sections: {error}")]
    Http {
        location: String,
        error: super::http::HttpConfigError,
    },
    /// The `options.dns` section, with where its bad key was set.
    #[error("{location}: {error}")]
    Dns {
        location: String,
        error: super::dns::DnsSettingsError,
    },
    /// A `--var` argument without `=`.
    #[error("bad variable `{0}`: expected NAME=VALUE")]
    BadVar(String),
}

/// An error of a section's reader that knows which setting it is about, so the caller holding
/// the [`Config`](super::Config) can put the file and line of that setting in front of it.
pub trait SettingError: std::error::Error {
    /// The dotted key path of the bad setting (`logging.type`), when there is one.
    fn key(&self) -> Option<String>;
}

impl SettingError for super::dns::DnsSettingsError {
    fn key(&self) -> Option<String> {
        Some(format!("options.dns.{}", self.key))
    }
}
