//! Composites: symbols defined by an expression over other symbols,
//! evaluated after every rule and module, with Rspamd's removal semantics.
//!
//! When a composite matches, each symbol that made one of its atoms true is
//! marked for removal per the composite's `policy` (`remove_all` default,
//! `remove_symbol`, `remove_weight`, `leave`), adjusted by the atom's
//! prefix: `~` keeps the symbol but removes its weight, `-` removes nothing,
//! `^` forces removal of both. Atoms under a `!` never remove anything. A
//! symbol loses its weight (or its place in the output) only if *every*
//! matching composite that references it wants that, unless one forces it.
//! Removals are applied once all composites are evaluated, so a composite
//! can still see symbols another composite removes. Composites may refer to
//! composites (in any order); cycles evaluate to false.
use std::collections::HashMap;

use super::error::ScanConfigError;
use super::expr::symbolic::{parse_symbolic, GroupSign, SymAtom, Target};
use super::expr::Expr;
use super::score::ScoreBoard;
use super::symbols::{Registry, RuleDefaults};
use crate::config::rules::ScanConfig;

/// Value of a true atom whose symbol scored 0 (Rspamd's "distinguish from 0").
const EPSILON: f64 = 0.001;

/// What a matching composite does to the symbols of its atoms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub remove_symbol: bool,
    pub remove_weight: bool,
}

impl Policy {
    pub fn parse(name: Option<&str>) -> Option<Policy> {
        let (s, w) = match name.unwrap_or("remove_all") {
            "remove_all" | "default" => (true, true),
            "remove_symbol" => (true, false),
            "remove_weight" => (false, true),
            "leave" => (false, false),
            _ => return None,
        };
        Some(Policy {
            remove_symbol: s,
            remove_weight: w,
        })
    }
}

/// A compiled composite atom.
#[derive(Debug, Clone, PartialEq)]
pub enum Leaf {
    /// A symbol index (`None`: a name no rule or config defines).
    Symbol(Option<usize>, SymAtom),
    /// Symbol indexes of a group, filtered by weight sign at load.
    Group(Vec<usize>, SymAtom),
}

impl Leaf {
    fn atom(&self) -> &SymAtom {
        match self {
            Leaf::Symbol(_, a) | Leaf::Group(_, a) => a,
        }
    }
}

#[derive(Debug)]
pub struct Composite {
    pub symbol: usize,
    pub expr: Expr<Leaf>,
    pub policy: Policy,
}

/// Every composite, ready to run on a board.
#[derive(Debug, Default)]
pub struct Composites {
    pub list: Vec<Composite>,
    /// Symbol index -> composite index.
    by_symbol: HashMap<usize, usize>,
}

impl Composites {
    /// Compiles the section; defines each composite's symbol in `reg`.
    pub fn compile(cfg: &ScanConfig, reg: &mut Registry) -> Result<Composites, ScanConfigError> {
        let enabled: Vec<_> = cfg.composites.iter().filter(|(_, c)| c.enabled).collect();
        // Define every composite first: they may refer to each other.
        let symbols: Vec<usize> = enabled
            .iter()
            .map(|(name, c)| {
                let d = RuleDefaults {
                    score: c.score,
                    description: c.description.as_deref(),
                    group: c.group.as_deref(),
                    one_shot: true,
                    nshots: None,
                };
                reg.define(cfg, name, d)
            })
            .collect();
        let mut out = Composites::default();
        for ((name, c), symbol) in enabled.into_iter().zip(symbols) {
            let bad = |reason: String| ScanConfigError::Composite {
                name: name.clone(),
                reason,
            };
            let policy = Policy::parse(c.policy.as_deref()).ok_or_else(|| {
                bad(format!(
                    "unknown policy `{}`",
                    c.policy.as_deref().unwrap_or("")
                ))
            })?;
            let parsed = parse_symbolic(&c.expression).map_err(|e| bad(e.to_string()))?;
            let expr = parsed.try_map(&mut |a| compile_leaf(cfg, reg, a))?;
            out.by_symbol.insert(symbol, out.list.len());
            out.list.push(Composite {
                symbol,
                expr,
                policy,
            });
        }
        Ok(out)
    }

    /// Symbols any composite refers to (they cannot be skipped early).
    pub fn referenced(&self) -> Vec<usize> {
        let mut out = Vec::new();
        for c in &self.list {
            visit(&c.expr, &mut |l| match l {
                Leaf::Symbol(Some(s), _) => out.push(*s),
                Leaf::Group(v, _) => out.extend(v.iter().copied()),
                Leaf::Symbol(None, _) => {}
            });
        }
        out
    }

    /// Evaluates every composite, inserts the matching ones, then applies
    /// the removals they ask for.
    pub fn run(&self, board: &mut ScoreBoard<'_>) {
        if self.list.is_empty() {
            return;
        }
        let mut st = State {
            state: vec![Eval::Unchecked; self.list.len()],
            removals: Vec::new(),
        };
        for i in 0..self.list.len() {
            self.check(i, board, &mut st);
        }
        apply_removals(board, &st);
    }

    fn check(&self, i: usize, board: &mut ScoreBoard<'_>, st: &mut State) -> bool {
        match st.state[i] {
            Eval::Matched => return true,
            Eval::NoMatch | Eval::InProgress => return false,
            Eval::Unchecked => {}
        }
        let c = &self.list[i];
        if board.get(c.symbol).is_some() {
            st.state[i] = Eval::Matched;
            return true;
        }
        st.state[i] = Eval::InProgress;
        let v = self.eval(i, &c.expr, false, board, st);
        let hit = v != 0.0;
        st.state[i] = if hit { Eval::Matched } else { Eval::NoMatch };
        if hit {
            board.insert_single(c.symbol, 1.0);
        }
        hit
    }

    /// Evaluates without short-cuts, so every true atom records its removal.
    fn eval(
        &self,
        comp: usize,
        e: &Expr<Leaf>,
        negated: bool,
        board: &mut ScoreBoard<'_>,
        st: &mut State,
    ) -> f64 {
        match e {
            Expr::Leaf(l) => self.leaf(comp, l, negated, board, st),
            Expr::Not(x) => truth(self.eval(comp, x, true, board, st) == 0.0),
            Expr::And(v) => {
                let vals: Vec<f64> = v
                    .iter()
                    .map(|x| self.eval(comp, x, negated, board, st))
                    .collect();
                truth(vals.iter().all(|x| *x != 0.0))
            }
            Expr::Or(v) => {
                let vals: Vec<f64> = v
                    .iter()
                    .map(|x| self.eval(comp, x, negated, board, st))
                    .collect();
                truth(vals.iter().any(|x| *x != 0.0))
            }
            Expr::Sum(v) => v
                .iter()
                .map(|x| truth(self.eval(comp, x, negated, board, st) != 0.0))
                .sum(),
            Expr::Cmp(x, op, n) => truth(op.apply(self.eval(comp, x, negated, board, st), *n)),
        }
    }

    fn leaf(
        &self,
        comp: usize,
        l: &Leaf,
        negated: bool,
        board: &mut ScoreBoard<'_>,
        st: &mut State,
    ) -> f64 {
        let candidates: &[usize] = match l {
            Leaf::Symbol(Some(s), _) => std::slice::from_ref(s),
            Leaf::Symbol(None, _) => &[],
            Leaf::Group(v, _) => v,
        };
        let mut best = 0.0_f64;
        for &s in candidates {
            if let Some(&nested) = self.by_symbol.get(&s) {
                self.check(nested, board, st);
            }
            let Some(f) = board.get(s) else { continue };
            if !l
                .atom()
                .options
                .iter()
                .all(|m| f.options.iter().any(|o| m.matches(o)))
            {
                continue;
            }
            let v = if f.score == 0.0 {
                EPSILON
            } else {
                f.score.abs()
            };
            best = best.max(v);
            if !negated {
                st.removals.push(Removal {
                    symbol: s,
                    composite: comp,
                    action: action(self.list[comp].policy, l.atom()),
                });
            }
        }
        best
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Eval {
    Unchecked,
    InProgress,
    Matched,
    NoMatch,
}

struct State {
    state: Vec<Eval>,
    removals: Vec<Removal>,
}

struct Removal {
    symbol: usize,
    composite: usize,
    action: RemoveAction,
}

#[derive(Clone, Copy)]
struct RemoveAction {
    symbol: bool,
    weight: bool,
    forced: bool,
}

fn action(p: Policy, a: &SymAtom) -> RemoveAction {
    let mut r = RemoveAction {
        symbol: p.remove_symbol,
        weight: p.remove_weight,
        forced: false,
    };
    if a.keep_symbol {
        r.symbol = false;
    }
    if a.leave {
        r.symbol = false;
        r.weight = false;
    }
    if a.force {
        r.forced = true;
    }
    r
}

/// Per symbol: remove weight / symbol only if all matching composites agree.
fn apply_removals(board: &mut ScoreBoard<'_>, st: &State) {
    let mut per_symbol: HashMap<usize, RemoveAction> = HashMap::new();
    for r in &st.removals {
        if st.state[r.composite] != Eval::Matched {
            continue;
        }
        let e = per_symbol.entry(r.symbol).or_insert(RemoveAction {
            symbol: true,
            weight: true,
            forced: false,
        });
        e.symbol &= r.action.symbol;
        e.weight &= r.action.weight;
        e.forced |= r.action.forced;
    }
    let mut order: Vec<_> = per_symbol.into_iter().collect();
    order.sort_by_key(|(s, _)| *s);
    for (s, a) in order {
        if a.weight || a.forced {
            board.remove_weight(s);
        }
        if a.symbol || a.forced {
            board.hide(s);
        }
    }
}

fn compile_leaf(cfg: &ScanConfig, reg: &mut Registry, a: SymAtom) -> Result<Leaf, ScanConfigError> {
    Ok(match &a.target {
        Target::Symbol(name) => Leaf::Symbol(Some(reg.intern(cfg, name)), a),
        Target::Group { name, sign } => {
            let members: Vec<usize> = match reg.group_index(name) {
                Some(g) => reg
                    .members(g)
                    .filter(|&s| {
                        let w = reg.symbols[s].weight;
                        match sign {
                            GroupSign::Any => true,
                            GroupSign::Positive => w > 0.0,
                            GroupSign::Negative => w < 0.0,
                        }
                    })
                    .collect(),
                None => Vec::new(),
            };
            Leaf::Group(members, a)
        }
    })
}

fn visit<L>(e: &Expr<L>, f: &mut impl FnMut(&L)) {
    match e {
        Expr::Leaf(l) => f(l),
        Expr::Not(x) | Expr::Cmp(x, _, _) => visit(x, f),
        Expr::And(v) | Expr::Or(v) | Expr::Sum(v) => v.iter().for_each(|x| visit(x, f)),
    }
}

fn truth(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}
