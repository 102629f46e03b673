//! Why a rules section could not be read; each names its section or key.

/// A rules section of the wrong shape.
#[derive(Debug, thiserror::Error)]
pub enum RulesConfigError {
    #[error("section `{section}` must be an object, found {found}")]
    NotAnObject {
        section: String,
        found: &'static str,
    },
    #[error("section `{section}`: {source}")]
    Shape {
        section: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("actions: unknown action `{name}`")]
    UnknownAction { name: String },
    #[error("actions: `{name}` needs a number, found {found}")]
    BadThreshold { name: String, found: String },
    #[error("options: invalid gtube_patterns policy `{0}` (all, reject or disabled)")]
    GtubePolicy(String),
    #[error("{at}: needs {expected}")]
    Whitelist { at: String, expected: String },
}

impl crate::config::SettingError for RulesConfigError {
    fn key(&self) -> Option<String> {
        Some(match self {
            RulesConfigError::NotAnObject { section, .. }
            | RulesConfigError::Shape { section, .. } => section.clone(),
            RulesConfigError::UnknownAction { name }
            | RulesConfigError::BadThreshold { name, .. } => format!("actions.{name}"),
            RulesConfigError::GtubePolicy(_) => "options.gtube_patterns".into(),
            RulesConfigError::Whitelist { at, .. } => at.clone(),
        })
    }
}
