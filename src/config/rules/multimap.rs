//! Shape of `multimap { RULE { ... } }`, as in Rspamd's multimap module.
use serde::Deserialize;
use serde_json::Value;

use super::RulesConfigError;

/// One multimap rule as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct MultimapRuleConfig {
    #[serde(rename = "type")]
    pub kind: String,
    /// File paths (`/path`, `file:///path`) or inline entries.
    #[serde(default, deserialize_with = "one_or_many")]
    pub map: Vec<String>,
    /// Symbol to insert; defaults to the rule name.
    #[serde(default)]
    pub symbol: Option<String>,
    #[serde(default, alias = "weight")]
    pub score: Option<f64>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    /// For `header` rules: the header name.
    #[serde(default)]
    pub header: Option<String>,
    /// `email:domain`, `email:user`, `email:addr`, `tld`, `full`, `body`...
    #[serde(default)]
    pub filter: Option<String>,
    /// For `from` / `rcpt`: `smtp` (default), `mime`, `both`, `default`.
    #[serde(default)]
    pub extract_from: Option<String>,
    /// For `selector` rules: the selector-lite expression.
    #[serde(default)]
    pub selector: Option<String>,
    #[serde(default)]
    pub regexp: bool,
    #[serde(default)]
    pub glob: bool,
    #[serde(default)]
    pub prefilter: bool,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default = "crate::config::value::yes")]
    pub enabled: bool,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// Reads the `multimap` section; non-object entries (module switches such
/// as `enabled = true`) are skipped.
pub fn parse_section(
    v: Option<&Value>,
) -> Result<Vec<(String, MultimapRuleConfig)>, RulesConfigError> {
    let Some(m) = v.and_then(Value::as_object) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (name, r) in m.iter().filter(|(_, r)| r.is_object()) {
        let c = MultimapRuleConfig::deserialize(r).map_err(|source| RulesConfigError::Shape {
            section: format!("multimap.{name}"),
            source,
        })?;
        out.push((name.clone(), c));
    }
    Ok(out)
}
