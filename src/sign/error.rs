//! Errors of the outbound side: a bad `dkim_signing` / `arc` section stops
//! the start (as any bad section does); a key that cannot be read or signed
//! with only skips that message's signature, and is logged.
use std::path::PathBuf;

/// A setting of `dkim_signing` or `arc` that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SignConfigError {
    #[error("{section}.{key}: expected {expected}")]
    Shape {
        section: &'static str,
        key: String,
        expected: &'static str,
    },
    #[error(
        "{section}.{key}: {value:?} is not `header`, `envelope`, `auth`, `recipient` or a domain"
    )]
    UseDomain {
        section: &'static str,
        key: String,
        value: String,
    },
    #[error("{section}.{key}: cannot read map {path}: {source}")]
    Map {
        section: &'static str,
        key: String,
        path: String,
        source: std::io::Error,
    },
    #[error("{section}.{key}: bad network {value:?}")]
    Network {
        section: &'static str,
        key: String,
        value: String,
    },
}

impl crate::config::SettingError for SignConfigError {
    fn key(&self) -> Option<String> {
        match self {
            SignConfigError::Shape { section, key, .. }
            | SignConfigError::UseDomain { section, key, .. }
            | SignConfigError::Map { section, key, .. }
            | SignConfigError::Network { section, key, .. } => Some(format!("{section}.{key}")),
        }
    }
}

/// Why one message got no signature although its rules asked for one.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key {path}: {reason}")]
    Parse { path: PathBuf, reason: String },
}

/// Why a keyed signature or seal could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("signing failed: {0}")]
    Crypto(String),
}
