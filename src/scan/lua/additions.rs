//! What rule files add to the configuration besides their own symbols:
//! `config['regexp']['SYM'] = {...}` rules, `rspamd_config:add_composite`
//! and `rspamd_config:set_metric_symbol`. They are read from the load-time
//! run and merged into the [`ScanConfig`] before the regexp rules,
//! composites and symbol registry are built, so they behave exactly like
//! the same entries written in the config files.
//!
//! The config files win: a regexp rule or composite of the same name
//! written there is kept, and a `symbols {}` / `group {}` entry's weight,
//! description and group beat `set_metric_symbol`'s.
use mlua::Table;

use super::error::LuaLoadError;
use crate::config::rules::composites::CompositeConfig;
use crate::config::rules::{RegexpRuleConfig, ScanConfig, SymbolConfig};

/// The additions of every script of one load.
#[derive(Debug, Clone, Default)]
pub struct Additions {
    regexp: Vec<(String, RegexpRuleConfig)>,
    composites: Vec<(String, CompositeConfig)>,
    metric: Vec<(String, SymbolConfig)>,
}

fn bad(e: mlua::Error) -> LuaLoadError {
    LuaLoadError::Script {
        script: "?".into(),
        reason: e.to_string(),
    }
}

impl Additions {
    /// Reads the prelude's `additions` table.
    pub fn read(t: &Table) -> Result<Additions, LuaLoadError> {
        let list = |key: &str| -> Result<Vec<Table>, LuaLoadError> {
            let l: Table = t.get(key).map_err(bad)?;
            l.sequence_values::<Table>()
                .collect::<mlua::Result<_>>()
                .map_err(bad)
        };
        let s = |e: &Table, k: &str| e.get::<Option<String>>(k).ok().flatten();
        let n = |e: &Table, k: &str| e.get::<Option<f64>>(k).ok().flatten();
        let mut out = Additions::default();
        for e in list("regexp")? {
            let rule = RegexpRuleConfig {
                re: s(&e, "re").unwrap_or_default(),
                score: n(&e, "score"),
                description: s(&e, "description"),
                group: s(&e, "group"),
                enabled: true,
                one_shot: e.get("one_shot").unwrap_or(false),
                nshots: None,
            };
            out.regexp.push((s(&e, "name").unwrap_or_default(), rule));
        }
        for e in list("composites")? {
            let c = CompositeConfig {
                expression: s(&e, "expression").unwrap_or_default(),
                score: None,
                description: None,
                group: None,
                policy: None,
                enabled: true,
            };
            out.composites.push((s(&e, "name").unwrap_or_default(), c));
        }
        for e in list("metric")? {
            let m = SymbolConfig {
                weight: n(&e, "score"),
                description: s(&e, "description"),
                group: s(&e, "group"),
                ..SymbolConfig::default()
            };
            out.metric.push((s(&e, "name").unwrap_or_default(), m));
        }
        Ok(out)
    }

    /// Merges the additions into `cfg`; entries from the files win.
    pub fn apply(&self, cfg: &mut ScanConfig) {
        for (name, rule) in &self.regexp {
            cfg.regexp
                .entry(name.clone())
                .or_insert_with(|| rule.clone());
        }
        for (name, c) in &self.composites {
            if !cfg.composites.iter().any(|(n, _)| n == name) {
                cfg.composites.push((name.clone(), c.clone()));
            }
        }
        for (name, m) in &self.metric {
            let in_group = cfg
                .groups
                .values()
                .any(|g| g.symbols.get(name).is_some_and(|s| s.weight.is_some()));
            let entry = cfg.symbols.entry(name.clone()).or_default();
            if entry.weight.is_none() && !in_group {
                entry.weight = m.weight;
            }
            if entry.description.is_none() {
                entry.description.clone_from(&m.description);
            }
            if entry.group.is_none() {
                entry.group.clone_from(&m.group);
            }
        }
    }
}
