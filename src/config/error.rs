//! Errors of the configuration layer: the UCL layer's, plus settings that parse but make no
//! sense. Each names where the bad value came from so `sluice configtest` points at the line.

use super::setting::SettingError;
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
    /// A section read into [`Config`](super::Config), with where its bad key was set.
    #[error("{location}: {error}")]
    Section {
        location: String,
        error: SectionError,
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

/// What a section's reader refused (the sections added after logging and
/// the workers; the error names the key).
#[derive(Debug, thiserror::Error)]
pub enum SectionError {
    #[error("bayes: {0}")]
    Bayes(#[from] super::bayes::BayesConfigError),
    #[error("forward mode: {0}")]
    Forward(#[from] super::forward::ForwardConfigError),
    #[error("rules: {0}")]
    Rules(#[from] super::rules::RulesConfigError),
}

impl SettingError for super::dns::DnsSettingsError {
    fn key(&self) -> Option<String> {
        Some(format!("options.dns.{}", self.key))
    }
}
