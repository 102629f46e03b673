//! Errors of the scan layer: building the pipeline from config. A scan that
//! fails to run is a [`crate::verdict::ScanError`]; scan *outcomes* (spam,
//! GTUBE) are not errors, they are verdicts.
use super::expr::ExprError;

/// Why the scan configuration could not be turned into a pipeline. Every
/// variant names the section and key at fault so the admin can find it.
#[derive(Debug, thiserror::Error)]
pub enum ScanConfigError {
    #[error(transparent)]
    Settings(#[from] super::settings::SettingsError),
    /// A section of the wrong shape, found while reading the tree.
    #[error(transparent)]
    Config(#[from] crate::config::rules::RulesConfigError),
    #[error("section `{section}`: {source}")]
    Shape {
        section: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("regexp rule `{symbol}`: {source}")]
    Expression {
        symbol: String,
        #[source]
        source: ExprError,
    },
    #[error("regexp rule `{symbol}`: regex `{pattern}` does not compile: {reason}")]
    Regex {
        symbol: String,
        pattern: String,
        reason: String,
    },
    #[error("regexp rule `{symbol}`: match type `{kind}` is not supported yet")]
    UnsupportedType { symbol: String, kind: &'static str },
    #[error("composite `{name}`: {reason}")]
    Composite { name: String, reason: String },
    #[error("force_actions rule `{name}`: {reason}")]
    ForceAction { name: String, reason: String },
    #[error("multimap rule `{name}`: {reason}")]
    Multimap { name: String, reason: String },
    #[error("{section}: {reason}")]
    Auth { section: String, reason: String },
    /// A content module's key (`section.key`) with a value of the wrong kind.
    #[error("`{key}` must be {want}")]
    Module { key: String, want: String },
    #[error(transparent)]
    Lua(#[from] super::lua::error::LuaLoadError),
    #[error(transparent)]
    Neural(#[from] super::neural::config::NeuralConfigError),
    #[error(transparent)]
    Fuzzy(#[from] super::fuzzy::settings::FuzzySettingsError),
    /// `list` is empty for the module's own keys.
    #[error("rbl {list}: {reason}")]
    Rbl { list: String, reason: String },
}
