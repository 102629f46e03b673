//! Symbols -> weights -> score, with Rspamd's insertion rules.
//!
//! A rule or module *inserts* a symbol with a multiplier (1 for regexp rules,
//! any factor for dynamic weights) and maybe an option. The symbol's score is
//! `weight x multiplier`. A symbol inserted again adds another shot (up to its
//! `nshots`; one-shot symbols and one-shot groups keep only the strongest
//! shot), a group's positive total is capped at `max_score` and its negative
//! total at `min_score`, and `grow_factor` makes each further positive symbol
//! weigh more. The board is what composites and force_actions then look at.
use super::actions::ActionSet;
use crate::verdict::Symbol;

/// Rspamd's default `nshots` for symbols that do not set it.
pub const DEFAULT_MAX_SHOTS: u32 = 100;

/// What the config says about one symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolMeta {
    pub name: String,
    pub weight: f64,
    pub description: Option<String>,
    /// Index into the group table.
    pub group: Option<usize>,
    /// How many insertions add score (1 = one-shot).
    pub max_shots: u32,
    /// Keeps only the first option (Rspamd's `one_param`).
    pub one_param: bool,
}

impl SymbolMeta {
    pub fn new(name: &str, weight: f64) -> SymbolMeta {
        SymbolMeta {
            name: name.to_string(),
            weight,
            description: None,
            group: None,
            max_shots: DEFAULT_MAX_SHOTS,
            one_param: false,
        }
    }
}

/// A group and its caps.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupMeta {
    pub name: String,
    pub max_score: Option<f64>,
    pub min_score: Option<f64>,
    /// Every symbol of the group is one-shot.
    pub one_shot: bool,
}

/// Scoring parameters shared by every scan.
#[derive(Debug, Clone)]
pub struct Scorer {
    pub groups: Vec<GroupMeta>,
    pub actions: ActionSet,
    /// Factor by which each further positive symbol grows (1 = off).
    pub grow_factor: f64,
}

/// One symbol on the board.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub symbol: usize,
    pub score: f64,
    pub options: Vec<String>,
    pub shots: u32,
    /// Removed from the output by a composite (the score may stay).
    pub hidden: bool,
}

/// Per-scan accumulator of inserted symbols.
#[derive(Debug)]
pub struct ScoreBoard<'s> {
    scorer: &'s Scorer,
    symbols: &'s [SymbolMeta],
    /// symbol index -> position in `fired` + 1 (0 = not fired).
    slot: Vec<u32>,
    fired: Vec<Fired>,
    group_totals: Vec<f64>,
    total: f64,
    grow: f64,
}

impl<'s> ScoreBoard<'s> {
    pub fn new(scorer: &'s Scorer, symbols: &'s [SymbolMeta]) -> ScoreBoard<'s> {
        ScoreBoard {
            scorer,
            symbols,
            slot: vec![0; symbols.len()],
            fired: Vec::new(),
            group_totals: vec![0.0; scorer.groups.len()],
            total: 0.0,
            grow: 1.0,
        }
    }

    pub fn symbols(&self) -> &'s [SymbolMeta] {
        self.symbols
    }

    pub fn actions(&self) -> &'s ActionSet {
        &self.scorer.actions
    }

    pub fn total(&self) -> f64 {
        self.total
    }

    pub fn fired(&self) -> &[Fired] {
        &self.fired
    }

    /// The symbol's entry if it fired and no composite hid it.
    pub fn get(&self, symbol: usize) -> Option<&Fired> {
        match self.slot.get(symbol) {
            Some(&s) if s > 0 => Some(&self.fired[s as usize - 1]).filter(|f| !f.hidden),
            _ => None,
        }
    }

    /// Inserts `symbol` with a dynamic `multiplier` and an optional option.
    pub fn insert(&mut self, symbol: usize, multiplier: f64, option: Option<&str>) {
        self.insert_with(symbol, multiplier, option, false);
    }

    /// Inserts `symbol` counting a single shot whatever its `nshots`
    /// (composites, force_actions).
    pub fn insert_single(&mut self, symbol: usize, multiplier: f64) {
        self.insert_with(symbol, multiplier, None, true);
    }

    /// Inserts `symbol` once: a repeat keeps the larger score (Rspamd's
    /// `insert_result_single`), its option added.
    pub fn insert_single_with(&mut self, symbol: usize, multiplier: f64, option: &str) {
        self.insert_with(symbol, multiplier, Some(option), true);
    }

    fn insert_with(&mut self, symbol: usize, multiplier: f64, option: Option<&str>, single: bool) {
        let Some(meta) = self.symbols.get(symbol) else {
            return;
        };
        let multiplier = if multiplier.is_finite() {
            multiplier
        } else {
            0.0
        };
        let want = meta.weight * multiplier;
        let pos = self.slot[symbol];
        if pos == 0 {
            let score = self.capped(meta, want);
            self.total += score;
            self.fired.push(Fired {
                symbol,
                score,
                options: Vec::new(),
                shots: 1,
                hidden: false,
            });
            self.slot[symbol] = self.fired.len() as u32;
        } else {
            let i = pos as usize - 1;
            let single = single || self.is_one_shot(meta, self.fired[i].shots);
            self.fired[i].shots += 1;
            let old = self.fired[i].score;
            let diff = if !single {
                want
            } else if old.abs() < want.abs() && old.is_sign_negative() == want.is_sign_negative() {
                want - old
            } else {
                0.0
            };
            if diff != 0.0 {
                let diff = self.capped(meta, diff);
                self.total += diff;
                self.fired[i].score += diff;
            }
        }
        if let Some(opt) = option {
            self.add_option(symbol, meta.one_param, opt);
        }
    }

    fn is_one_shot(&self, meta: &SymbolMeta, shots: u32) -> bool {
        let group_one_shot = meta.group.is_some_and(|g| self.scorer.groups[g].one_shot);
        let max = if group_one_shot { 1 } else { meta.max_shots };
        max > 0 && shots >= max
    }

    /// Applies grow factor and group caps to a score about to be added.
    fn capped(&mut self, meta: &SymbolMeta, mut w: f64) -> f64 {
        if w > 0.0 && self.scorer.grow_factor > 1.0 {
            w *= self.grow;
            self.grow *= self.scorer.grow_factor;
        }
        if let Some(g) = meta.group {
            let so_far = self.group_totals[g];
            let gm = &self.scorer.groups[g];
            w = match (gm.max_score, gm.min_score) {
                (Some(max), _) if max > 0.0 && w > 0.0 => w.min((max - so_far).max(0.0)),
                (_, Some(min)) if min < 0.0 && w < 0.0 => w.max((min - so_far).min(0.0)),
                _ => w,
            };
            self.group_totals[g] += w;
        }
        w
    }

    /// Adds one more option to a symbol already on the board (a Lua
    /// `insert_result` with several options); no effect if it is not.
    pub fn push_option(&mut self, symbol: usize, opt: &str) {
        if let (Some(meta), Some(&pos)) = (self.symbols.get(symbol), self.slot.get(symbol)) {
            if pos > 0 {
                self.add_option(symbol, meta.one_param, opt);
            }
        }
    }

    fn add_option(&mut self, symbol: usize, one_param: bool, opt: &str) {
        let i = self.slot[symbol] as usize - 1;
        let opts = &mut self.fired[i].options;
        if (one_param && !opts.is_empty()) || opts.iter().any(|o| o == opt) {
            return;
        }
        opts.push(opt.to_string());
    }

    /// Composites: drops the symbol's score from the total.
    pub fn remove_weight(&mut self, symbol: usize) {
        if let Some(&pos) = self.slot.get(symbol).filter(|p| **p > 0) {
            let f = &mut self.fired[pos as usize - 1];
            self.total -= f.score;
            f.score = 0.0;
        }
    }

    /// Composites: hides the symbol from the output.
    pub fn hide(&mut self, symbol: usize) {
        if let Some(&pos) = self.slot.get(symbol).filter(|p| **p > 0) {
            self.fired[pos as usize - 1].hidden = true;
        }
    }

    /// The visible symbols as the verdict lists them, sorted, and the total.
    pub fn into_symbols(self) -> (Vec<Symbol>, f64) {
        let mut out: Vec<Symbol> = self
            .fired
            .iter()
            .filter(|f| !f.hidden)
            .map(|f| {
                let meta = &self.symbols[f.symbol];
                Symbol {
                    name: meta.name.clone(),
                    score: f.score,
                    metric_score: meta.weight,
                    description: meta.description.clone(),
                    options: crate::verdict::bounded_options(&f.options),
                }
            })
            .collect();
        sort_symbols(&mut out);
        (out, self.total)
    }
}

/// Verdict order: |score| descending, then name.
pub fn sort_symbols(symbols: &mut [Symbol]) {
    symbols.sort_by(|a, b| {
        b.score
            .abs()
            .total_cmp(&a.score.abs())
            .then_with(|| a.name.cmp(&b.name))
    });
}

#[cfg(test)]
mod tests;
