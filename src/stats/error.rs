//! Errors of the statistics layer.
use super::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("classifier.bayes.{key}: {reason}")]
    Config { key: String, reason: String },
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
            StatsError::Config { key, .. } => Some(format!("classifier.bayes.{key}")),
            _ => None,
        }
    }
}
