//! Rule scheduling: which regexp rule runs when, and when to stop.
//!
//! Rules run negative-weight first (they can only lower the score, and
//! knowing them early narrows what the rest can do), then by cost: header
//! rules before body rules before whole-message rules; a rule's regex
//! scope runs the first time a rule needs it. Before each rule the
//! scheduler asks whether the remaining rules could still change the
//! action: with the score so far, the most the remaining positive and
//! negative weights (and every composite's weight, and the removals
//! composites could make) could move it. If the lowest and the highest
//! reachable score lead to the same action, the remaining rules are
//! skipped. Rules whose symbol a force_actions rule reads always run.
//! `options { pass_all = true; }` (Rspamd's switch) and `grow_factor`
//! disable the early stop.
use std::time::{Duration, Instant};

use super::composites::Composites;
use super::context::ScanCtx;
use super::force_actions::ForceActions;
use super::rules::RuleSet;
use super::score::{ScoreBoard, Scorer};
use super::stats::RuleStats;
use super::symbols::Registry;
use crate::config::rules::ScanConfig;

/// What happened to one rule in one scan (explain mode).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleTrace {
    pub rule: usize,
    pub symbol: usize,
    pub fired: bool,
    /// Expression time, including the regex scopes this rule ran first.
    pub time: Duration,
}

/// The scan as explain mode reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    /// Rules evaluated, in order.
    pub rules: Vec<RuleTrace>,
    /// Rules not evaluated because the action could not change.
    pub skipped: Vec<usize>,
    pub multimap: Duration,
    pub modules: Duration,
    pub composites: Duration,
    pub total: Duration,
}

/// Per-scan parameters of [`Schedule::run`].
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    pub stats: &'a RuleStats,
    /// Time every rule (explain mode, sampled scans).
    pub timed: bool,
    /// This request asks for every rule.
    pub pass_all: bool,
}

/// The precomputed order and bounds.
#[derive(Debug)]
pub struct Schedule {
    order: Vec<usize>,
    /// For position k of `order`: sum of positive / negative weights of
    /// the rules from k on.
    pos_rest: Vec<f64>,
    neg_rest: Vec<f64>,
    /// Last position whose rule must run (force_actions reads it).
    last_required: Option<usize>,
    composite_pos: f64,
    composite_neg: f64,
    /// Symbol index -> referenced by some composite.
    composite_ref: Vec<bool>,
    early_stop: bool,
}

impl Schedule {
    pub fn new(
        rules: &RuleSet,
        reg: &Registry,
        comps: &Composites,
        force: &ForceActions,
        scorer: &Scorer,
        cfg: &ScanConfig,
    ) -> Schedule {
        let weight = |r: usize| reg.symbols[rules.rules[r].symbol].weight;
        let mut order: Vec<usize> = (0..rules.rules.len()).collect();
        order.sort_by_key(|&r| (weight(r) >= 0.0, rules.cost(&rules.rules[r]), r));
        let n = order.len();
        let mut pos_rest = vec![0.0; n + 1];
        let mut neg_rest = vec![0.0; n + 1];
        for k in (0..n).rev() {
            let w = weight(order[k]);
            pos_rest[k] = pos_rest[k + 1] + w.max(0.0);
            neg_rest[k] = neg_rest[k + 1] + w.min(0.0);
        }
        let forced: Vec<usize> = force.referenced();
        let last_required = order
            .iter()
            .rposition(|&r| forced.contains(&rules.rules[r].symbol));
        let mut composite_ref = vec![false; reg.symbols.len()];
        for s in comps.referenced() {
            composite_ref[s] = true;
        }
        let (composite_pos, composite_neg) = comps.list.iter().fold((0.0, 0.0), |(p, m), c| {
            let w = reg.symbols[c.symbol].weight;
            (p + w.max(0.0), m + w.min(0.0))
        });
        Schedule {
            order,
            pos_rest,
            neg_rest,
            last_required,
            composite_pos,
            composite_neg,
            composite_ref,
            early_stop: !cfg.engine.pass_all && scorer.grow_factor <= 1.0,
        }
    }

    /// Rule indexes in the order they run.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// Evaluates the rules into `board`, stopping early when allowed.
    pub fn run(
        &self,
        rules: &RuleSet,
        ctx: &ScanCtx<'_>,
        board: &mut ScoreBoard<'_>,
        run: Run<'_>,
        trace: &mut Trace,
    ) {
        let Run {
            stats,
            timed,
            pass_all,
        } = run;
        let mut hits = rules.bank.start();
        let mut evaluated = self.order.len();
        let mut removable = Removable::default();
        for (k, &r) in self.order.iter().enumerate() {
            if !pass_all && self.can_stop(k, board, &mut removable) {
                trace.skipped.extend_from_slice(&self.order[k..]);
                evaluated = k;
                break;
            }
            let rule = &rules.rules[r];
            let t = timed.then(Instant::now);
            let fired = rules.eval(rule, &mut hits, ctx, timed);
            let time = t.map(|t| t.elapsed());
            if fired {
                board.insert(rule.symbol, 1.0, None);
            }
            if fired || time.is_some() {
                stats.record(r, fired, time);
            }
            if timed {
                trace.rules.push(RuleTrace {
                    rule: r,
                    symbol: rule.symbol,
                    fired,
                    time: time.unwrap_or_default(),
                });
            }
        }
        stats.record_scan(evaluated);
    }

    fn can_stop(&self, k: usize, board: &ScoreBoard<'_>, removable: &mut Removable) -> bool {
        let actions = board.actions();
        if !self.early_stop || self.last_required.is_some_and(|l| k <= l) {
            return false;
        }
        let total = board.total();
        removable.refresh(self, board);
        let high = total + self.pos_rest[k] + self.composite_pos - removable.neg;
        let low = total + self.neg_rest[k] + self.composite_neg - removable.pos;
        actions.same_rank(low, high)
    }
}

/// Scores that composites could take away (symbols they reference),
/// recomputed only when the board changed since the last rule: most rules
/// do not fire, so most checks reuse the sums.
#[derive(Debug, Default)]
struct Removable {
    pos: f64,
    neg: f64,
    /// Board state the sums were computed for: (symbols fired, total).
    seen: Option<(usize, f64)>,
}

impl Removable {
    fn refresh(&mut self, sched: &Schedule, board: &ScoreBoard<'_>) {
        let now = (board.fired().len(), board.total());
        if self.seen == Some(now) {
            return;
        }
        let (mut pos, mut neg) = (0.0, 0.0);
        for f in board.fired() {
            if sched.composite_ref.get(f.symbol).copied().unwrap_or(false) {
                pos += f.score.max(0.0);
                neg += f.score.min(0.0);
            }
        }
        *self = Removable {
            pos,
            neg,
            seen: Some(now),
        };
    }
}
