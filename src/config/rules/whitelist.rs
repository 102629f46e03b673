//! Shape of `whitelist { rules { NAME { ... } } }`, as in Rspamd's whitelist module: domains
//! whitelisted (or blacklisted) only when their SPF, DKIM or DMARC validates.
use serde_json::Value;

use super::RulesConfigError;
use crate::config::value;

/// The section as written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WhitelistConfig {
    pub enabled: bool,
    /// Blacklist SPF and DMARC rules also for local and authenticated mail.
    pub check_local: bool,
    pub check_authed: bool,
    pub rules: Vec<(String, WhitelistRuleConfig)>,
}

/// One rule as written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WhitelistRuleConfig {
    pub valid_spf: bool,
    pub valid_dkim: bool,
    pub valid_dmarc: bool,
    /// Inline domains (`"example.org"`, `["example.org", 2.0]`) or map sources.
    pub domains: Vec<Value>,
    pub score: Option<f64>,
    pub inverse_symbol: Option<String>,
    pub inverse_multiplier: Option<f64>,
    pub blacklist: bool,
    pub strict: bool,
    pub group: Option<String>,
    pub description: Option<String>,
}

/// The keys a rule reads (for the unknown-key warnings).
pub const RULE_KEYS: &[&str] = &[
    "valid_spf",
    "valid_dkim",
    "valid_dmarc",
    "domains",
    "score",
    "inverse_symbol",
    "inverse_multiplier",
    "blacklist",
    "strict",
    "group",
    "description",
];

/// Reads the `whitelist` section; `None` when there is none.
pub fn parse_section(v: Option<&Value>) -> Result<Option<WhitelistConfig>, RulesConfigError> {
    let Some(section) = v.and_then(Value::as_object) else {
        return Ok(None);
    };
    let flag = |key: &str, default: bool| -> Result<bool, RulesConfigError> {
        section
            .get(key)
            .map_or(Ok(default), value::boolean)
            .map_err(|e| bad(&format!("whitelist.{key}"), e))
    };
    let mut out = WhitelistConfig {
        enabled: flag("enabled", true)?,
        check_local: flag("check_local", false)?,
        check_authed: flag("check_authed", false)?,
        rules: Vec::new(),
    };
    let rules = section.get("rules").and_then(Value::as_object);
    for (name, r) in rules.into_iter().flatten() {
        let at = format!("whitelist.rules.{name}");
        let Some(r) = r.as_object() else {
            return Err(bad(&at, "an object"));
        };
        out.rules.push((name.clone(), rule(&at, r)?));
    }
    Ok(Some(out))
}

fn rule(
    at: &str,
    r: &serde_json::Map<String, Value>,
) -> Result<WhitelistRuleConfig, RulesConfigError> {
    let flag = |key: &str| -> Result<bool, RulesConfigError> {
        r.get(key)
            .map_or(Ok(false), value::boolean)
            .map_err(|e| bad(&format!("{at}.{key}"), e))
    };
    let number = |key: &str| -> Result<Option<f64>, RulesConfigError> {
        r.get(key)
            .map(|v| {
                v.as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .ok_or_else(|| bad(&format!("{at}.{key}"), "a number"))
            })
            .transpose()
    };
    let text = |key: &str| -> Result<Option<String>, RulesConfigError> {
        r.get(key)
            .map(|v| value::string(v).map_err(|e| bad(&format!("{at}.{key}"), e)))
            .transpose()
    };
    let domains = match r.get("domains") {
        None => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(v @ Value::String(_)) => vec![v.clone()],
        Some(_) => return Err(bad(&format!("{at}.domains"), "a string or an array")),
    };
    Ok(WhitelistRuleConfig {
        valid_spf: flag("valid_spf")?,
        valid_dkim: flag("valid_dkim")?,
        valid_dmarc: flag("valid_dmarc")?,
        domains,
        score: number("score")?,
        inverse_symbol: text("inverse_symbol")?,
        inverse_multiplier: number("inverse_multiplier")?,
        blacklist: flag("blacklist")?,
        strict: flag("strict")?,
        group: text("group")?,
        description: text("description")?,
    })
}

fn bad(at: &str, expected: &str) -> RulesConfigError {
    RulesConfigError::Whitelist {
        at: at.to_string(),
        expected: expected.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_rspamd_keys() {
        let v = serde_json::json!({
            "check_authed": "yes",
            "rules": {
                "WL": {"valid_dkim": true, "domains": ["a.test", ["b.test", 2.0]],
                       "score": -1.0, "inverse_symbol": "BL", "strict": "true"},
                "MAPPED": {"valid_spf": true, "domains": "/etc/sluice/x.map"},
            }
        });
        let c = parse_section(Some(&v)).unwrap().unwrap();
        assert!(c.enabled && c.check_authed && !c.check_local);
        let wl = &c.rules.iter().find(|(n, _)| n == "WL").unwrap().1;
        assert!(wl.valid_dkim && wl.strict && !wl.valid_spf);
        assert_eq!(wl.domains.len(), 2);
        assert_eq!(
            (wl.score, wl.inverse_symbol.as_deref()),
            (Some(-1.0), Some("BL"))
        );
        let mapped = &c.rules.iter().find(|(n, _)| n == "MAPPED").unwrap().1;
        assert_eq!(mapped.domains, vec![Value::from("/etc/sluice/x.map")]);
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let v = serde_json::json!({"rules": {"WL": {"score": "lots"}}});
        let e = parse_section(Some(&v)).unwrap_err();
        assert!(e.to_string().contains("whitelist.rules.WL.score"), "{e}");
    }
}
