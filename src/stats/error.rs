//! Errors of the statistics layer.
use super::store::StoreError;
use crate::config::bayes::BayesConfigError;

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error(transparent)]
    Config(#[from] BayesConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "Bayes statistics are not configured (no classifier \"bayes\" section, or enabled = false)"
    )]
    Disabled,
    #[error("{path}: {reason}")]
    Input { path: String, reason: String },
}

impl crate::config::SettingError for StatsError {
    fn key(&self) -> Option<String> {
        match self {
            StatsError::Config(e) => crate::config::SettingError::key(e),
            _ => None,
        }
    }
}
