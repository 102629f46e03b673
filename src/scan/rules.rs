//! Turns the config sections into compiled rules and symbol metadata.
//!
//! Weight of a symbol, first found wins: `symbols { SYM { weight } }`, then
//! `group { G { symbols { SYM { weight } } } }`, then the rule's own `score`,
//! then `actions.unknown_weight`. Descriptions and groups resolve the same way.
use std::collections::BTreeMap;

use super::config::{ScanConfig, SymbolConfig};
use super::error::ScanConfigError;
use super::expr::{self, Atom, Expr, Function, MatchKind};
use super::regex_bank::{BankBuilder, RegexBank};
use super::score::{GroupMeta, SymbolMeta};

/// A leaf of a compiled rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Leaf {
    /// Slot in the [`RegexBank`].
    Regex(usize),
    Func(Function),
}

/// One regexp rule ready to evaluate.
#[derive(Debug)]
pub struct Rule {
    /// Index into the symbol table.
    pub symbol: usize,
    pub expr: Expr<Leaf>,
}

/// The compiled rule set.
#[derive(Debug)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub bank: RegexBank,
    pub symbols: Vec<SymbolMeta>,
    pub groups: Vec<GroupMeta>,
}

impl RuleSet {
    pub fn compile(cfg: &ScanConfig) -> Result<RuleSet, ScanConfigError> {
        let groups: Vec<GroupMeta> = cfg
            .groups
            .iter()
            .map(|(n, g)| GroupMeta {
                name: n.clone(),
                max_score: g.max_score,
            })
            .collect();
        let mut table = SymbolTable {
            cfg,
            groups: &groups,
            symbols: Vec::new(),
        };
        let mut bank = BankBuilder::default();
        let mut rules = Vec::new();
        for (name, rule) in cfg.regexp.iter().filter(|(_, r)| r.enabled) {
            let parsed = expr::parse(&rule.re).map_err(|source| ScanConfigError::Expression {
                symbol: name.clone(),
                source,
            })?;
            let expr = parsed.try_map(&mut |atom| compile_atom(name, atom, &mut bank))?;
            let symbol = table.add(
                name,
                rule.score,
                rule.description.as_deref(),
                rule.group.as_deref(),
            );
            rules.push(Rule { symbol, expr });
        }
        let bank = bank.build().map_err(|e| ScanConfigError::Regex {
            symbol: "(rule set)".into(),
            pattern: e.pattern,
            reason: e.reason,
        })?;
        let symbols = table.symbols;
        Ok(RuleSet {
            rules,
            bank,
            symbols,
            groups,
        })
    }

    /// Index of a symbol added outside regexp rules (GTUBE).
    pub fn add_symbol(&mut self, cfg: &ScanConfig, name: &str, description: &str) -> usize {
        let mut table = SymbolTable {
            cfg,
            groups: &self.groups,
            symbols: std::mem::take(&mut self.symbols),
        };
        let i = table.add(name, Some(0.0), Some(description), None);
        self.symbols = table.symbols;
        i
    }
}

fn compile_atom(symbol: &str, atom: Atom, bank: &mut BankBuilder) -> Result<Leaf, ScanConfigError> {
    match atom {
        Atom::Function(f) => Ok(Leaf::Func(f)),
        Atom::Regexp(r) => {
            if matches!(
                r.kind,
                MatchKind::SaBody | MatchKind::SaRawBody | MatchKind::Words | MatchKind::Selector
            ) {
                return Err(ScanConfigError::UnsupportedType {
                    symbol: symbol.to_string(),
                    kind: r.kind.as_str(),
                });
            }
            bank.add(r)
                .map(Leaf::Regex)
                .map_err(|e| ScanConfigError::Regex {
                    symbol: symbol.to_string(),
                    pattern: e.pattern,
                    reason: e.reason,
                })
        }
    }
}

struct SymbolTable<'c> {
    cfg: &'c ScanConfig,
    groups: &'c [GroupMeta],
    symbols: Vec<SymbolMeta>,
}

impl SymbolTable<'_> {
    fn add(
        &mut self,
        name: &str,
        score: Option<f64>,
        desc: Option<&str>,
        group: Option<&str>,
    ) -> usize {
        let explicit = self.cfg.symbols.get(name);
        let (group_name, in_group) = self.group_entry(name, explicit, group);
        let weight = explicit
            .and_then(|s| s.weight)
            .or(in_group.and_then(|s| s.weight))
            .or(score)
            .unwrap_or(self.cfg.actions.unknown_weight);
        let description = explicit
            .and_then(|s| s.description.clone())
            .or(in_group.and_then(|s| s.description.clone()))
            .or(desc.map(str::to_string));
        let group = group_name.and_then(|g| self.groups.iter().position(|m| m.name == g));
        self.symbols.push(SymbolMeta {
            name: name.to_string(),
            weight,
            description,
            group,
        });
        self.symbols.len() - 1
    }

    /// The symbol's group (explicit setting, else the group listing it).
    fn group_entry(
        &self,
        name: &str,
        explicit: Option<&SymbolConfig>,
        rule_group: Option<&str>,
    ) -> (Option<String>, Option<&SymbolConfig>) {
        let listing: BTreeMap<&String, &SymbolConfig> = self
            .cfg
            .groups
            .iter()
            .filter_map(|(g, cfg)| cfg.symbols.get(name).map(|s| (g, s)))
            .collect();
        let named = explicit
            .and_then(|s| s.group.clone())
            .or(rule_group.map(str::to_string));
        match named {
            Some(g) => {
                let entry = self.cfg.groups.get(&g).and_then(|c| c.symbols.get(name));
                (Some(g), entry)
            }
            None => listing
                .into_iter()
                .next()
                .map_or((None, None), |(g, s)| (Some(g.clone()), Some(s))),
        }
    }
}
