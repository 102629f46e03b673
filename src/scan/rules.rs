//! Turns the `regexp` section into compiled rules: each expression's regexp
//! atoms become slots of the shared [`RegexBank`], functions stay leaves.
//! Symbols are defined in the [`Registry`] (weights resolve there).
use super::context::ScanCtx;
use super::error::ScanConfigError;
use super::expr::{self, functions, Atom, Expr, Function};
use super::regex_bank::{BankBuilder, Hits, RegexBank};
use super::symbols::{Registry, RuleDefaults};
use crate::config::rules::ScanConfig;

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
    /// Index into the registry.
    pub symbol: usize,
    pub expr: Expr<Leaf>,
}

/// The compiled rule set.
#[derive(Debug)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub bank: RegexBank,
}

impl RuleSet {
    pub fn compile(cfg: &ScanConfig, reg: &mut Registry) -> Result<RuleSet, ScanConfigError> {
        let mut bank = BankBuilder::default();
        let mut rules = Vec::new();
        for (name, rule) in cfg.regexp.iter().filter(|(_, r)| r.enabled) {
            let parsed = expr::parse(&rule.re).map_err(|source| ScanConfigError::Expression {
                symbol: name.clone(),
                source,
            })?;
            let expr = parsed.try_map(&mut |atom| compile_atom(name, atom, &mut bank))?;
            let symbol = reg.define(
                cfg,
                name,
                RuleDefaults {
                    score: rule.score,
                    description: rule.description.as_deref(),
                    group: rule.group.as_deref(),
                    one_shot: rule.one_shot,
                    nshots: rule.nshots,
                },
            );
            rules.push(Rule { symbol, expr });
        }
        let bank = bank.build().map_err(|e| ScanConfigError::Regex {
            symbol: "(rule set)".into(),
            pattern: e.pattern,
            reason: e.reason,
        })?;
        Ok(RuleSet { rules, bank })
    }

    /// Static cost of a rule: the dearest scope it needs, plus its size.
    pub fn cost(&self, rule: &Rule) -> u32 {
        let mut cost = 0;
        let mut leaves = 0;
        visit(&rule.expr, &mut |l| {
            leaves += 1;
            cost = cost.max(match l {
                Leaf::Regex(slot) => self.bank.scope_cost(self.bank.scope_of(*slot)),
                Leaf::Func(_) => 2,
            });
        });
        cost * 16 + leaves.min(15)
    }

    /// Evaluates one rule, running the regex scopes it needs on demand.
    pub fn eval(&self, rule: &Rule, hits: &mut Hits, ctx: &ScanCtx<'_>, timed: bool) -> bool {
        // Most rules are one regexp: answered without the expression walk.
        if let Expr::Leaf(Leaf::Regex(slot)) = &rule.expr {
            return self.bank.hit(*slot, hits, ctx, timed);
        }
        let hits = std::cell::RefCell::new(hits);
        rule.expr.eval(&|leaf| {
            let yes = match leaf {
                Leaf::Regex(slot) => self.bank.hit(*slot, &mut hits.borrow_mut(), ctx, timed),
                Leaf::Func(f) => functions::eval(f, ctx),
            };
            if yes {
                1.0
            } else {
                0.0
            }
        }) != 0.0
    }

    /// Regex slots of a rule (explain mode splits scope time by them).
    pub fn slots(&self, rule: &Rule) -> Vec<usize> {
        let mut out = Vec::new();
        visit(&rule.expr, &mut |l| {
            if let Leaf::Regex(s) = l {
                out.push(*s)
            }
        });
        out
    }
}

fn visit<L>(e: &Expr<L>, f: &mut impl FnMut(&L)) {
    match e {
        Expr::Leaf(l) => f(l),
        Expr::Not(x) | Expr::Cmp(x, _, _) => visit(x, f),
        Expr::And(v) | Expr::Or(v) | Expr::Sum(v) => v.iter().for_each(|x| visit(x, f)),
    }
}

fn compile_atom(symbol: &str, atom: Atom, bank: &mut BankBuilder) -> Result<Leaf, ScanConfigError> {
    match atom {
        Atom::Function(f) => Ok(Leaf::Func(f)),
        Atom::Regexp(r) => bank
            .add(r)
            .map(Leaf::Regex)
            .map_err(|e| ScanConfigError::Regex {
                symbol: symbol.to_string(),
                pattern: e.pattern,
                reason: e.reason,
            }),
    }
}
