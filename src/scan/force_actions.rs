//! force_actions: Rspamd's module that sets the action (and SMTP message)
//! when an expression over symbols holds, whatever the score.
//!
//! ```ucl
//! force_actions {
//!   rules {
//!     PHISH_DISCARD {
//!       expression = "PHISHING & !WHITELISTED";
//!       action = "discard";            # built-in or custom action
//!       message = "Phishing rejected";
//!       require_action = ["add header"]; # only if the score led here
//!       honor_action = ["reject"];       # never override these
//!       least = false;                   # true: a floor, not a fixed action
//!     }
//!   }
//! }
//! ```
//! Rules run after composites, in config order; the first that applies wins.
use super::actions::{ActionDef, ActionSet};
use super::error::ScanConfigError;
use super::expr::symbolic::{parse_symbolic, SymAtom, Target};
use super::expr::Expr;
use super::score::ScoreBoard;
use super::symbols::Registry;
use crate::config::rules::ScanConfig;

#[derive(Debug)]
struct ForceRule {
    name: String,
    expr: Expr<Option<usize>>,
    action: ActionDef,
    message: Option<String>,
    require: Vec<String>,
    honor: Vec<String>,
    least: bool,
}

/// What a force_actions rule decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Forced {
    pub rule: String,
    pub action: ActionDef,
    pub message: Option<String>,
    /// Score to report (`least` raises the score to the action's threshold).
    pub score: Option<f64>,
}

#[derive(Debug, Default)]
pub struct ForceActions {
    rules: Vec<ForceRule>,
}

impl ForceActions {
    pub fn compile(
        cfg: &ScanConfig,
        reg: &mut Registry,
        actions: &ActionSet,
    ) -> Result<ForceActions, ScanConfigError> {
        let mut rules = Vec::new();
        for (name, r) in cfg.force_actions.iter().filter(|(_, r)| r.enabled) {
            let bad = |reason: String| ScanConfigError::ForceAction {
                name: name.clone(),
                reason,
            };
            let action = actions
                .find(&r.action)
                .cloned()
                .ok_or_else(|| bad(format!("unknown action `{}`", r.action)))?;
            let parsed = parse_symbolic(&r.expression).map_err(|e| bad(e.to_string()))?;
            let expr = parsed.try_map(&mut |a: SymAtom| match a.target {
                Target::Symbol(s) => Ok(Some(reg.intern(cfg, &s))),
                Target::Group { .. } => Err(bad("groups are not allowed here".into())),
            })?;
            let names = |v: &[String]| -> Result<Vec<String>, ScanConfigError> {
                v.iter()
                    .map(|a| {
                        actions
                            .find(a)
                            .map(|d| d.name.clone())
                            .ok_or_else(|| bad(format!("unknown action `{a}`")))
                    })
                    .collect()
            };
            rules.push(ForceRule {
                name: name.clone(),
                expr,
                action,
                message: r.message.clone(),
                require: names(&r.require_action)?,
                honor: names(&r.honor_action)?,
                least: r.least,
            });
        }
        Ok(ForceActions { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Symbols the rules look at.
    pub fn referenced(&self) -> Vec<usize> {
        let mut out = Vec::new();
        for r in &self.rules {
            collect(&r.expr, &mut out);
        }
        out
    }

    /// The first rule whose expression holds and whose action conditions
    /// allow it, given the action the score led to.
    pub fn decide(&self, board: &ScoreBoard<'_>, actions: &ActionSet) -> Option<Forced> {
        let current = actions
            .action_for(board.total())
            .map_or("no action", |d| d.name.as_str());
        for r in &self.rules {
            if r.expr.eval(&|s: &Option<usize>| {
                if s.is_some_and(|s| board.get(s).is_some()) {
                    1.0
                } else {
                    0.0
                }
            }) == 0.0
            {
                continue;
            }
            if r.honor.iter().any(|a| a == current) {
                continue;
            }
            if !r.require.is_empty() && !r.require.iter().any(|a| a == current) {
                continue;
            }
            if r.least {
                let t = r.action.threshold.unwrap_or(f64::NEG_INFINITY);
                if board.total() >= t {
                    continue;
                }
                return Some(Forced {
                    rule: r.name.clone(),
                    action: r.action.clone(),
                    message: r.message.clone(),
                    score: r.action.threshold,
                });
            }
            return Some(Forced {
                rule: r.name.clone(),
                action: r.action.clone(),
                message: r.message.clone(),
                score: None,
            });
        }
        None
    }
}

fn collect(e: &Expr<Option<usize>>, out: &mut Vec<usize>) {
    match e {
        Expr::Leaf(Some(s)) => out.push(*s),
        Expr::Leaf(None) => {}
        Expr::Not(x) | Expr::Cmp(x, _, _) => collect(x, out),
        Expr::And(v) | Expr::Or(v) | Expr::Sum(v) => v.iter().for_each(|x| collect(x, out)),
    }
}
