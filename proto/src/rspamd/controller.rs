//! Reply shapes of the controller's read-only endpoints (`/actions`,
//! `/symbols`, `/counters`), as Rspamd's WebUI and scripts read them.
use serde::{Deserialize, Serialize};

/// One `/actions` entry; threshold-less actions have `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionThreshold {
    pub action: String,
    pub value: Option<f64>,
}

/// One `/symbols` group with its rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolGroup {
    pub group: String,
    pub rules: Vec<SymbolRule>,
}

/// A rule inside a `/symbols` group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolRule {
    pub symbol: String,
    pub weight: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One `/counters` entry. Rspamd also reports `frequency_stddev` and
/// `time` from its symbol cache profiler; only what is measured is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolCounter {
    pub symbol: String,
    pub weight: f64,
    /// Hits per second (rspamc shows it per minute; it prints no row
    /// without this field).
    #[serde(default)]
    pub frequency: f64,
    pub hits: u64,
}
