//! A request's settings, the `apply` part of Rspamd's settings module, as
//! transports read them from the `Settings` request header (inline JSON)
//! and as the scan reads its `Settings-ID` profiles (the `settings`
//! section): data every scanner may honour. What each key does to a scan
//! is the scan's business (`scan::settings`).
use std::collections::HashSet;

use serde_json::Value;

/// One request's settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanSettings {
    /// Action name -> new threshold (`None`: no threshold).
    pub actions: Vec<(String, Option<f64>)>,
    /// When set, only these symbols count.
    pub symbols_enabled: Option<HashSet<String>>,
    pub symbols_disabled: HashSet<String>,
    /// When set, only symbols of these groups count.
    pub groups_enabled: Option<HashSet<String>>,
    pub groups_disabled: HashSet<String>,
}

/// Why settings could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("Settings is not a JSON object: {0}")]
    Json(String),
    #[error("settings: {key}: {reason}")]
    Bad { key: String, reason: String },
}

impl ScanSettings {
    /// The `Settings` header: a JSON object, the `apply` part itself or a
    /// rule holding one.
    pub fn from_header(text: &str) -> Result<ScanSettings, SettingsError> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| SettingsError::Json(e.to_string()))?;
        ScanSettings::from_apply(v.get("apply").unwrap_or(&v), "Settings")
    }

    /// Reads an `apply` object; `at` names it in errors.
    pub fn from_apply(v: &Value, at: &str) -> Result<ScanSettings, SettingsError> {
        let bad = |key: &str, reason: &str| SettingsError::Bad {
            key: format!("{at}.{key}"),
            reason: reason.to_string(),
        };
        let obj = v.as_object().ok_or_else(|| bad("apply", "not an object"))?;
        let mut out = ScanSettings::default();
        if let Some(actions) = obj.get("actions") {
            let map = actions
                .as_object()
                .ok_or_else(|| bad("actions", "not an object"))?;
            for (name, t) in map {
                let threshold = match t {
                    Value::Null => None,
                    Value::Number(n) => n.as_f64(),
                    _ => return Err(bad(&format!("actions.{name}"), "not a number or null")),
                };
                out.actions.push((name.clone(), threshold));
            }
        }
        let list = |key: &str| -> Result<Option<HashSet<String>>, SettingsError> {
            match obj.get(key) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(HashSet::from([s.clone()]))),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| x.as_str().map(str::to_string))
                    .collect::<Option<HashSet<_>>>()
                    .map(Some)
                    .ok_or_else(|| bad(key, "not a list of names")),
                Some(_) => Err(bad(key, "not a list of names")),
            }
        };
        out.symbols_enabled = list("symbols_enabled")?;
        out.symbols_disabled = list("symbols_disabled")?.unwrap_or_default();
        out.groups_enabled = list("groups_enabled")?;
        out.groups_disabled = list("groups_disabled")?.unwrap_or_default();
        Ok(out)
    }

    /// Whether a symbol of `group` survives these settings.
    pub fn keeps(&self, symbol: &str, group: Option<&str>) -> bool {
        let in_groups = |set: &HashSet<String>| group.is_some_and(|g| set.contains(g));
        if self.symbols_disabled.contains(symbol) || in_groups(&self.groups_disabled) {
            return false;
        }
        let enabled_by_symbol = self.symbols_enabled.as_ref().map(|s| s.contains(symbol));
        let enabled_by_group = self.groups_enabled.as_ref().map(in_groups);
        match (enabled_by_symbol, enabled_by_group) {
            (None, None) => true,
            (a, b) => a.unwrap_or(false) || b.unwrap_or(false),
        }
    }

    /// Whether symbols are filtered at all (the scan then evaluates every
    /// rule: an early stop would have counted a dropped symbol).
    pub fn filters_symbols(&self) -> bool {
        self.symbols_enabled.is_some()
            || self.groups_enabled.is_some()
            || !self.symbols_disabled.is_empty()
            || !self.groups_disabled.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn header_reads_rspamds_apply_keys() {
        let s = ScanSettings::from_header(
            r#"{"actions":{"reject":100,"greylist":null},"symbols_disabled":["A"],"groups_disabled":"g"}"#,
        )
        .unwrap();
        let mut actions = s.actions.clone();
        actions.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            actions,
            vec![("greylist".into(), None), ("reject".into(), Some(100.0))]
        );
        assert!(!s.keeps("A", None));
        assert!(!s.keeps("B", Some("g")));
        assert!(s.keeps("B", Some("h")) && s.keeps("B", None));
        assert!(s.filters_symbols());
        let wrapped = ScanSettings::from_header(r#"{"apply":{"symbols_enabled":["X"]}}"#).unwrap();
        assert!(wrapped.keeps("X", None) && !wrapped.keeps("Y", None));
        assert!(ScanSettings::from_header("not json").is_err());
        let e = ScanSettings::from_header(r#"{"actions":{"reject":"high"}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "settings: Settings.actions.reject: not a number or null"
        );
    }

    #[test]
    fn enabled_lists_combine_by_symbol_or_group() {
        let s = ScanSettings::from_apply(
            &json!({"symbols_enabled": ["A"], "groups_enabled": ["g"]}),
            "t",
        )
        .unwrap();
        assert!(s.keeps("A", None));
        assert!(s.keeps("B", Some("g")));
        assert!(!s.keeps("C", Some("h")));
    }
}
