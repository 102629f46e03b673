//! Shape of `force_actions { rules { NAME { ... } } }`, as in Rspamd's
//! force_actions module.
use serde::Deserialize;
use serde_json::Value;

use super::RulesConfigError;

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ForceRuleConfig {
    pub expression: String,
    pub action: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub require_action: Vec<String>,
    #[serde(default)]
    pub honor_action: Vec<String>,
    #[serde(default)]
    pub least: bool,
    #[serde(default = "crate::config::value::yes")]
    pub enabled: bool,
}

/// Reads `force_actions.rules`.
pub fn parse_section(
    v: Option<&Value>,
) -> Result<Vec<(String, ForceRuleConfig)>, RulesConfigError> {
    let Some(rules) = v.and_then(|v| v.get("rules")) else {
        return Ok(Vec::new());
    };
    let Some(m) = rules.as_object() else {
        return Err(RulesConfigError::NotAnObject {
            section: "force_actions.rules".into(),
            found: "not an object",
        });
    };
    m.iter()
        .map(|(name, r)| {
            ForceRuleConfig::deserialize(r)
                .map(|c| (name.clone(), c))
                .map_err(|source| RulesConfigError::Shape {
                    section: format!("force_actions.rules.{name}"),
                    source,
                })
        })
        .collect()
}
