//! Shape of `composites { NAME { ... } }`, as in Rspamd's composites.
use serde::Deserialize;
use serde_json::Value;

use super::RulesConfigError;

/// `composites { NAME { ... } }`, or the short form `NAME = "expr"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct CompositeConfig {
    pub expression: String,
    #[serde(default, alias = "weight")]
    pub score: Option<f64>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub policy: Option<String>,
    #[serde(default = "crate::config::value::yes")]
    pub enabled: bool,
}

/// Reads the `composites` section (object or short string form).
pub fn parse_section(
    v: Option<&Value>,
) -> Result<Vec<(String, CompositeConfig)>, RulesConfigError> {
    let mut out = Vec::new();
    let Some(v) = v else { return Ok(out) };
    let Some(m) = v.as_object() else {
        return Err(RulesConfigError::NotAnObject {
            section: "composites".into(),
            found: "not an object",
        });
    };
    for (name, c) in m {
        let cfg = match c {
            Value::String(e) => CompositeConfig {
                expression: e.clone(),
                score: None,
                description: None,
                group: None,
                policy: None,
                enabled: true,
            },
            other => {
                CompositeConfig::deserialize(other).map_err(|source| RulesConfigError::Shape {
                    section: format!("composites.{name}"),
                    source,
                })?
            }
        };
        out.push((name.clone(), cfg));
    }
    Ok(out)
}
