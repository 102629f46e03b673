//! Per-request settings, the `apply` part of Rspamd's settings module: from
//! the `Settings` request header (inline JSON) or a profile named by
//! `Settings-ID` (the `settings` section, Rspamd's `local.d/settings.conf`).
//!
//! Honoured: `actions` (threshold overrides, `null` removes one),
//! `symbols_enabled`, `symbols_disabled`, `groups_enabled`,
//! `groups_disabled`. Symbols are filtered after scoring: a disabled symbol
//! still runs, then is dropped with its score, so a composite or
//! force_actions rule that used it has already fired. Profiles are chosen by
//! ID only; the settings module's matching rules (`from`, `rcpt`, `ip`, ...)
//! are not evaluated. Other `apply` keys (`subject`, `flags`, ...) are
//! ignored.
use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::actions::{ActionDef, ActionSet};
pub use crate::verdict::settings::{ScanSettings, SettingsError};

/// `base` with the request's thresholds; unknown action names are
/// ignored, as Rspamd does.
pub fn actions_over(s: &ScanSettings, base: &ActionSet) -> ActionSet {
    let mut defs: Vec<ActionDef> = base.defs().to_vec();
    for (name, threshold) in &s.actions {
        let Some(found) = base.find(name) else {
            continue;
        };
        if let Some(d) = defs.iter_mut().find(|d| d.name == found.name) {
            d.threshold = *threshold;
        }
    }
    ActionSet::new(defs)
}

/// The `settings` section's profiles by ID: every rule with an `apply`
/// object; the ID is the rule's `id` key, else its name.
pub fn profiles(
    section: Option<&Value>,
) -> Result<BTreeMap<String, Arc<ScanSettings>>, SettingsError> {
    let mut out = BTreeMap::new();
    let Some(rules) = section.and_then(Value::as_object) else {
        return Ok(out);
    };
    for (name, rule) in rules {
        let Some(apply) = rule.get("apply") else {
            continue;
        };
        let id = rule.get("id").and_then(Value::as_str).unwrap_or(name);
        let s = ScanSettings::from_apply(apply, &format!("settings.{name}"))?;
        out.insert(id.to_string(), Arc::new(s));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Action;
    use serde_json::json;

    #[test]
    fn thresholds_override_by_any_spelling() {
        let base = ActionSet::new(vec![
            ActionDef {
                name: "reject".into(),
                effect: Action::Reject,
                threshold: Some(15.0),
            },
            ActionDef {
                name: "add header".into(),
                effect: Action::AddHeader,
                threshold: Some(6.0),
            },
        ]);
        let s = ScanSettings::from_apply(
            &json!({"actions": {"add_header": 2, "reject": null, "nope": 1}}),
            "t",
        )
        .unwrap();
        let over = actions_over(&s, &base);
        assert_eq!(over.thresholds(), vec![(Action::AddHeader, 2.0)]);
        assert_eq!(over.effect_for(20.0), Action::AddHeader);
    }

    #[test]
    fn profiles_are_named_by_id_or_rule_name() {
        let section = json!({
            "outbound": {"id": "out", "apply": {"actions": {"reject": 30}}},
            "strict": {"apply": {"actions": {"reject": 5}}},
            "matcher_only": {"from": "@example.org"}
        });
        let p = profiles(Some(&section)).unwrap();
        assert_eq!(p.keys().collect::<Vec<_>>(), vec!["out", "strict"]);
        assert!(profiles(Some(&json!({"x": {"apply": 3}}))).is_err());
    }
}
