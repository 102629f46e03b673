//! Content modules: checks written in code rather than as regexps, one file
//! per signal family (the behaviour of Rspamd's Lua modules of the same
//! names, reimplemented; no network).
//!
//! A module looks at the parsed [`MessageView`] and the [`Envelope`] and
//! pushes [`Hit`]s. The [`ModuleSet`] is built once from the config tree:
//! as in Rspamd, a module runs when its section is configured (the shipped
//! `conf/rules/modules.conf` has them all) and does not say
//! `enabled = false`; each symbol
//! it may insert is defined in the symbol [`Registry`], so weights, groups
//! and descriptions come from `groups.conf` / `symbols` like the regexp
//! rules' do. The pipeline inserts module hits on the score board before
//! the regexp rules run, so the rules' early stop accounts for them.
pub mod chartable;
pub mod forged_rcpt;
pub mod from;
pub mod hfilter;
pub mod html;
pub mod mid;
pub mod mime_types;
pub mod phishing;
pub mod received;
pub mod subject;
pub mod util;

use std::collections::HashMap;

use super::context::ScanCtx;
use super::error::ScanConfigError;
use super::score::ScoreBoard;
use super::symbols::{Registry, RuleDefaults};
use crate::config::rules::{ModuleSections, ScanConfig};
use crate::message::Envelope;
use crate::message::MessageView;

/// One symbol a module inserted.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub symbol: &'static str,
    /// Evidence shown with the symbol (file names, domains, ...).
    pub options: Vec<String>,
    /// Dynamic weight factor (Rspamd's `insert_result` multiplier); `None` = 1.
    pub multiplier: Option<f64>,
}

impl Hit {
    pub fn new(symbol: &'static str) -> Hit {
        Hit {
            symbol,
            options: Vec::new(),
            multiplier: None,
        }
    }

    pub fn opt(mut self, option: impl Into<String>) -> Hit {
        self.options.push(option.into());
        self
    }

    pub fn times(mut self, multiplier: f64) -> Hit {
        self.multiplier = Some(multiplier);
        self
    }
}

/// A symbol a module may insert, with the description used when the config
/// gives none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymbolDef {
    pub name: &'static str,
    pub description: &'static str,
}

/// Shorthand for the symbol tables of the modules.
pub const fn sym(name: &'static str, description: &'static str) -> SymbolDef {
    SymbolDef { name, description }
}

/// A content check.
pub trait Module: Send + Sync {
    /// The config section and log name (Rspamd's module name).
    fn name(&self) -> &str;
    /// Every symbol `check` may insert.
    fn symbols(&self) -> &'static [SymbolDef];
    fn check(&self, view: &MessageView, env: &Envelope, out: &mut Vec<Hit>);
}

/// A fired module symbol: index into the symbol registry, options, and the
/// weight factor.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub symbol: usize,
    pub options: Vec<String>,
    pub multiplier: f64,
}

/// The enabled modules and where their symbols live in the symbol table.
pub struct ModuleSet {
    modules: Vec<Box<dyn Module>>,
    index: HashMap<&'static str, usize>,
}

impl std::fmt::Debug for ModuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.modules.iter().map(|m| m.name()).collect();
        f.debug_struct("ModuleSet")
            .field("modules", &names)
            .finish()
    }
}

impl ModuleSet {
    /// Builds the enabled modules from their config sections and defines
    /// their symbols in `registry` (score 0 unless the config weighs them).
    pub fn from_config(
        cfg: &ScanConfig,
        registry: &mut Registry,
    ) -> Result<ModuleSet, ScanConfigError> {
        let mut modules = Vec::new();
        for m in all_modules(&cfg.modules)? {
            if cfg.modules.enabled(m.name()) {
                modules.push(m);
            }
        }
        let mut index = HashMap::new();
        for m in &modules {
            for s in m.symbols() {
                if !index.contains_key(s.name) {
                    index.insert(s.name, define(registry, cfg, s));
                }
            }
        }
        Ok(ModuleSet { modules, index })
    }

    /// Names of the enabled modules.
    pub fn names(&self) -> Vec<&str> {
        self.modules.iter().map(|m| m.name()).collect()
    }

    /// Runs every module on the scan and inserts the hits on `board`: one
    /// shot per symbol with its multiplier, then its options.
    pub fn insert(&self, ctx: &ScanCtx<'_>, board: &mut ScoreBoard<'_>) {
        for f in self.run(ctx.view, ctx.env) {
            let mut opts = f.options.iter().map(String::as_str);
            board.insert(f.symbol, f.multiplier, opts.next());
            for o in opts {
                board.push_option(f.symbol, o);
            }
        }
    }

    /// Runs every module; a symbol inserted twice keeps one entry with the
    /// options merged and the larger multiplier.
    pub fn run(&self, view: &MessageView, env: &Envelope) -> Vec<Fired> {
        let mut hits = Vec::new();
        for m in &self.modules {
            m.check(view, env, &mut hits);
        }
        let mut out: Vec<Fired> = Vec::with_capacity(hits.len());
        for h in hits {
            let Some(&symbol) = self.index.get(h.symbol) else {
                continue;
            };
            let mult = h.multiplier.unwrap_or(1.0);
            match out.iter_mut().find(|f| f.symbol == symbol) {
                Some(f) => {
                    for o in h.options {
                        if !f.options.contains(&o) {
                            f.options.push(o);
                        }
                    }
                    f.multiplier = f.multiplier.max(mult);
                }
                None => out.push(Fired {
                    symbol,
                    options: h.options,
                    multiplier: mult,
                }),
            }
        }
        out
    }
}

/// Defines a module symbol, unless a regexp rule of the same name already
/// did (the rule's own score default is kept then).
fn define(registry: &mut Registry, cfg: &ScanConfig, s: &SymbolDef) -> usize {
    if let Some(i) = registry.find(s.name) {
        if registry.symbols[i].description.is_some() {
            return i;
        }
    }
    registry.define(
        cfg,
        s.name,
        RuleDefaults {
            score: Some(0.0),
            description: Some(s.description),
            ..Default::default()
        },
    )
}

fn all_modules(sections: &ModuleSections) -> Result<Vec<Box<dyn Module>>, ScanConfigError> {
    Ok(vec![
        Box::new(mime_types::MimeTypes::from_config(
            sections.options("mime_types"),
        )?),
        Box::new(phishing::Phishing::from_config(
            sections.options("phishing"),
        )?),
        Box::new(mid::Mid),
        Box::new(received::Received),
        Box::new(forged_rcpt::ForgedRecipients),
        Box::new(chartable::Chartable),
        Box::new(hfilter::Hfilter::from_config(
            sections.options("hfilter"),
            sections.global(),
        )?),
        Box::new(html::Html),
        Box::new(subject::Subject),
        Box::new(from::From::from_config(sections.options("from_checks"))?),
    ])
}

impl ModuleSet {
    /// Every symbol the enabled modules may insert.
    pub fn symbol_names(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = self.index.keys().copied().collect();
        v.sort_unstable();
        v
    }
}
