//! The content modules' sections (`mime_types`, `phishing`, …, each from
//! Rspamd's per-module file in `local.d/`): whether each module runs, and
//! its own options as written, which the module reads when it is built.
use std::collections::BTreeMap;

use serde_json::Value;

use super::RulesConfigError;

/// The content modules sluice has, by section name.
pub const NAMES: [&str; 10] = [
    "mime_types",
    "phishing",
    "mid",
    "received",
    "forged_recipients",
    "chartable",
    "hfilter",
    "html",
    "subject",
    "from_checks",
];

/// One module's section.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleSection {
    /// A module runs when its section exists, unless `enabled = false`.
    pub enabled: bool,
    /// The whole section, for the module's own keys.
    pub options: Value,
}

/// Every content module's section that the config has.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModuleSections {
    sections: BTreeMap<&'static str, ModuleSection>,
    /// The top-level `options` section, which some modules fall back on
    /// (`local_addrs`, `check_local`, ...).
    global: Option<Value>,
}

impl ModuleSections {
    pub fn from_tree(tree: &Value) -> Result<ModuleSections, RulesConfigError> {
        let mut sections = BTreeMap::new();
        for name in NAMES {
            let Some(options) = tree.get(name).filter(|s| !s.is_null()) else {
                continue;
            };
            let enabled = enabled(options, name)?;
            sections.insert(
                name,
                ModuleSection {
                    enabled,
                    options: options.clone(),
                },
            );
        }
        Ok(ModuleSections {
            sections,
            global: tree.get("options").cloned(),
        })
    }

    /// Whether the module named `name` runs.
    pub fn enabled(&self, name: &str) -> bool {
        self.sections.get(name).is_some_and(|s| s.enabled)
    }

    /// The top-level `options` section, if the config has one.
    pub fn global(&self) -> Option<&Value> {
        self.global.as_ref()
    }

    /// The module's section as written, if the config has one.
    pub fn options(&self, name: &str) -> Option<&Value> {
        self.sections.get(name).map(|s| &s.options)
    }
}

fn enabled(section: &Value, name: &str) -> Result<bool, RulesConfigError> {
    match section.get("enabled") {
        None => Ok(true),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if matches!(s.as_str(), "yes" | "true" | "on") => Ok(true),
        Some(Value::String(s)) if matches!(s.as_str(), "no" | "false" | "off") => Ok(false),
        Some(other) => serde_json::from_value::<bool>(other.clone()).map_err(|source| {
            RulesConfigError::Shape {
                section: format!("{name}.enabled"),
                source,
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_section_switches_its_module_on_unless_disabled() {
        let m = ModuleSections::from_tree(&json!({
            "phishing": {"domains": ["a.example"]},
            "mime_types": {"enabled": "no"},
            "hfilter": null
        }))
        .unwrap();
        assert!(m.enabled("phishing"));
        assert!(!m.enabled("mime_types"));
        assert!(!m.enabled("hfilter") && !m.enabled("mid"));
        assert_eq!(m.options("phishing").unwrap()["domains"][0], "a.example");
        let e = ModuleSections::from_tree(&json!({"html": {"enabled": 3}})).unwrap_err();
        assert!(e.to_string().contains("html.enabled"), "{e}");
    }
}
