//! The symbol registry: every symbol the config or a rule names, with its
//! weight, description, group and shot policy, resolved once at load.
//!
//! Weight of a symbol, first found wins: `symbols { SYM { weight } }`, then
//! `group { G { symbols { SYM { weight } } } }`, then the defining rule's own
//! `score`, then `actions.unknown_weight`. Descriptions and groups resolve the
//! same way, so Rspamd's `groups.conf` / `scores.d` shapes work unchanged.
use std::collections::HashMap;

use super::score::{GroupMeta, SymbolMeta, DEFAULT_MAX_SHOTS};
use crate::config::rules::{ScanConfig, SymbolConfig};

/// What a rule says about the symbol it defines.
#[derive(Debug, Clone, Default)]
pub struct RuleDefaults<'a> {
    pub score: Option<f64>,
    pub description: Option<&'a str>,
    pub group: Option<&'a str>,
    pub one_shot: bool,
    pub nshots: Option<u32>,
}

/// All symbols and groups, indexed.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    pub symbols: Vec<SymbolMeta>,
    pub groups: Vec<GroupMeta>,
    by_name: HashMap<String, usize>,
    unknown_weight: f64,
}

impl Registry {
    /// Groups, and every symbol the `symbols` and `group` sections name.
    pub fn new(cfg: &ScanConfig) -> Registry {
        let groups = cfg
            .groups
            .iter()
            .map(|(n, g)| GroupMeta {
                name: n.clone(),
                max_score: g.max_score,
                min_score: g.min_score,
                one_shot: g.one_shot,
            })
            .collect();
        let mut r = Registry {
            groups,
            unknown_weight: cfg.actions.unknown_weight,
            ..Registry::default()
        };
        let named: Vec<String> = cfg
            .symbols
            .keys()
            .chain(cfg.groups.values().flat_map(|g| g.symbols.keys()))
            .cloned()
            .collect();
        for name in named {
            r.define(cfg, &name, RuleDefaults::default());
        }
        r
    }

    pub fn find(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    pub fn group_index(&self, name: &str) -> Option<usize> {
        self.groups.iter().position(|g| g.name == name)
    }

    /// Symbols whose group is `group`.
    pub fn members(&self, group: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.symbols.len()).filter(move |&i| self.symbols[i].group == Some(group))
    }

    /// Defines (or redefines with the rule's defaults) a symbol; returns its index.
    pub fn define(&mut self, cfg: &ScanConfig, name: &str, rule: RuleDefaults<'_>) -> usize {
        let meta = self.resolve(cfg, name, &rule);
        match self.by_name.get(name) {
            Some(&i) => {
                self.symbols[i] = meta;
                i
            }
            None => {
                self.symbols.push(meta);
                self.by_name
                    .insert(name.to_string(), self.symbols.len() - 1);
                self.symbols.len() - 1
            }
        }
    }

    /// The index of `name`, defining it with no rule defaults if new.
    pub fn intern(&mut self, cfg: &ScanConfig, name: &str) -> usize {
        match self.find(name) {
            Some(i) => i,
            None => self.define(cfg, name, RuleDefaults::default()),
        }
    }

    fn resolve(&self, cfg: &ScanConfig, name: &str, rule: &RuleDefaults<'_>) -> SymbolMeta {
        let explicit = cfg.symbols.get(name);
        let (group_name, in_group) = group_entry(cfg, name, explicit, rule.group);
        let pick = |f: &dyn Fn(&SymbolConfig) -> Option<f64>| {
            explicit.and_then(f).or(in_group.and_then(f))
        };
        let weight = pick(&|s| s.weight)
            .or(rule.score)
            .unwrap_or(self.unknown_weight);
        let description = explicit
            .and_then(|s| s.description.clone())
            .or(in_group.and_then(|s| s.description.clone()))
            .or(rule.description.map(str::to_string));
        let flag = |f: &str| {
            [explicit, in_group]
                .into_iter()
                .flatten()
                .any(|s| s.flags.iter().any(|x| x == f))
        };
        let one_shot = explicit
            .and_then(|s| s.one_shot)
            .or(in_group.and_then(|s| s.one_shot))
            .unwrap_or(rule.one_shot || flag("one_shot"));
        let nshots = explicit
            .and_then(|s| s.nshots)
            .or(in_group.and_then(|s| s.nshots))
            .or(rule.nshots)
            .unwrap_or(DEFAULT_MAX_SHOTS);
        let one_param = explicit
            .and_then(|s| s.one_param)
            .or(in_group.and_then(|s| s.one_param))
            .unwrap_or(flag("one_param"));
        SymbolMeta {
            name: name.to_string(),
            weight,
            description,
            group: group_name.and_then(|g| self.group_index(&g)),
            max_shots: if one_shot { 1 } else { nshots },
            one_param,
        }
    }
}

/// The symbol's group (explicit setting, else the rule's, else the first
/// group listing it) and the group's entry for it.
fn group_entry<'c>(
    cfg: &'c ScanConfig,
    name: &str,
    explicit: Option<&SymbolConfig>,
    rule_group: Option<&str>,
) -> (Option<String>, Option<&'c SymbolConfig>) {
    let named = explicit
        .and_then(|s| s.group.clone())
        .or(rule_group.map(str::to_string));
    match named {
        Some(g) => {
            let entry = cfg.groups.get(&g).and_then(|c| c.symbols.get(name));
            (Some(g), entry)
        }
        None => cfg
            .groups
            .iter()
            .find_map(|(g, c)| c.symbols.get(name).map(|s| (Some(g.clone()), Some(s))))
            .unwrap_or((None, None)),
    }
}
