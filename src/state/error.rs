//! The state modules' errors: a bad section at load time, a store that failed a call.
use thiserror::Error;

use crate::redis::{RedisConfigError, RedisError};

/// A `greylist`, `ratelimit` or `replies` section that cannot be used.
#[derive(Debug, Error)]
pub enum StateConfigError {
    #[error(transparent)]
    Redis(#[from] RedisConfigError),
    #[error("{key}: expected {expected}")]
    Shape { key: String, expected: &'static str },
    #[error("{key}: bad selector: {reason}")]
    Selector { key: String, reason: String },
    #[error("{key}: cannot read map {path}: {reason}")]
    Map {
        key: String,
        path: String,
        reason: String,
    },
}

impl crate::config::SettingError for StateConfigError {
    fn key(&self) -> Option<String> {
        match self {
            StateConfigError::Redis(e) => crate::config::SettingError::key(e),
            StateConfigError::Shape { key, .. }
            | StateConfigError::Map { key, .. }
            | StateConfigError::Selector { key, .. } => Some(key.clone()),
        }
    }
}

/// A store call that failed; the module goes on without it (fails open).
#[derive(Debug, Error)]
pub enum StateError {
    #[error(transparent)]
    Redis(#[from] RedisError),
    #[error("state file {path}: {reason}")]
    Embedded { path: String, reason: String },
    #[error("no answer within the scan's deadline")]
    Deadline,
}
