//! The weight fitter: a smooth, thresholded loss on the totals, an L2 pull
//! towards the shipped weights, and sign bounds, minimised by projected
//! gradient descent with a backtracking step.
//!
//! With `s(w)` a message's total under weights `w` (its other score fixed,
//! [`Sample::rescored`]), `t` the flagging threshold ("add header") and `r`
//! the reject threshold, the loss is the mean over spam of
//! `softplus((t - s) / tau)`, plus the mean over ham of
//! `softplus((s - t) / tau) + softplus((s - r) / tau)` (ham is kept under
//! the flag and, harder, under reject), plus `lambda x sum (w - w0)^2`.
//! Each class weighs the same whatever its size.
//!
//! Bounds: a rule shipped positive stays `>= 0`, one shipped negative stays
//! `<= 0`; a rule shipped at zero (informational), and one that fired in
//! fewer than `min_hits` training messages, keeps its shipped weight.
use super::samples::Sample;

/// What the fit is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct FitParams {
    /// Strength of the pull towards the shipped weights.
    pub lambda: f64,
    /// A rule needs this many training messages to be fitted.
    pub min_hits: usize,
    /// The flagging threshold (the "add header" action's).
    pub flag: f64,
    /// The reject threshold, when the config has one.
    pub reject: Option<f64>,
    /// Softness of the loss around a threshold, in score points.
    pub tau: f64,
    /// Rules of weight 0 that are fitted anyway, with the sign their group
    /// intends (the neural module's symbols, which Rspamd ships at 0).
    pub open: Vec<(usize, f64)>,
    /// When set, only these rules move.
    pub only: Option<Vec<usize>>,
    /// How much more a ham's loss weighs than a spam's (class sizes aside).
    pub ham_cost: f64,
}

/// Rspamd's shipped thresholds; the softness of one score point.
impl Default for FitParams {
    fn default() -> Self {
        FitParams {
            lambda: 0.01,
            min_hits: DEFAULT_MIN_HITS,
            flag: 6.0,
            reject: Some(15.0),
            tau: 1.0,
            open: Vec::new(),
            only: None,
            ham_cost: 1.0,
        }
    }
}

/// Rules seen in fewer training messages keep their weight.
pub const DEFAULT_MIN_HITS: usize = 10;

/// The lambdas inner cross-validation chooses from.
pub const LAMBDAS: [f64; 8] = [0.00003, 0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1];

/// The ham costs [`choose_cost`] chooses from.
pub const HAM_COSTS: [f64; 3] = [1.0, 3.0, 10.0];

const MAX_ITERATIONS: usize = 3000;
const TOLERANCE: f64 = 1e-7;
/// The step grows after each accepted one; past this it would only overflow.
const MAX_STEP: f64 = 1e6;

/// Which rules move, and the box each may move in.
#[derive(Debug, Clone, PartialEq)]
pub struct Bounds {
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
}

impl Bounds {
    /// Sign bounds from the shipped weights (or `p.open`); frozen rules get `[w0, w0]`.
    pub fn new(prior: &[f64], samples: &[&Sample], p: &FitParams) -> Bounds {
        let mut hits = vec![0usize; prior.len()];
        for s in samples {
            for &(i, v) in &s.values {
                hits[i] += usize::from(v != 0.0);
            }
        }
        let (lower, upper) = prior
            .iter()
            .zip(&hits)
            .enumerate()
            .map(|(i, (&w, &h))| {
                let sign = if w == 0.0 {
                    p.open.iter().find(|o| o.0 == i).map_or(0.0, |o| o.1)
                } else {
                    w
                };
                let allowed = p.only.as_ref().is_none_or(|o| o.contains(&i));
                if h < p.min_hits || sign == 0.0 || !allowed {
                    (w, w)
                } else if sign > 0.0 {
                    (0.0, f64::INFINITY)
                } else {
                    (f64::NEG_INFINITY, 0.0)
                }
            })
            .unzip();
        Bounds { lower, upper }
    }

    fn project(&self, w: &mut [f64]) {
        for ((x, lo), hi) in w.iter_mut().zip(&self.lower).zip(&self.upper) {
            *x = x.clamp(*lo, *hi);
        }
    }

    /// Rules free to move.
    pub fn free(&self) -> usize {
        self.lower
            .iter()
            .zip(&self.upper)
            .filter(|(l, u)| l != u)
            .count()
    }
}

/// Fits the weights on `samples`, starting from and pulled towards `prior`.
pub fn fit(prior: &[f64], samples: &[&Sample], p: &FitParams) -> Vec<f64> {
    let bounds = Bounds::new(prior, samples, p);
    let mut w = prior.to_vec();
    let mut step = 1.0;
    let (mut f, mut g) = objective(prior, &w, samples, p);
    for _ in 0..MAX_ITERATIONS {
        let mut moved = false;
        while step > 1e-12 {
            let mut next: Vec<f64> = w.iter().zip(&g).map(|(x, d)| x - step * d).collect();
            bounds.project(&mut next);
            let delta: Vec<f64> = next.iter().zip(&w).map(|(a, b)| a - b).collect();
            let lin: f64 = delta.iter().zip(&g).map(|(d, gr)| d * gr).sum();
            let sq: f64 = delta.iter().map(|d| d * d).sum();
            let (fn_, gn) = objective(prior, &next, samples, p);
            // Sufficient decrease for a projected step (a step that
            // overflowed to a non-number is halved like any other).
            if fn_.is_finite() && fn_ <= f + lin + sq / (2.0 * step) {
                moved = sq.sqrt() > TOLERANCE;
                w = next;
                f = fn_;
                g = gn;
                step = (step * 2.0).min(MAX_STEP);
                break;
            }
            step /= 2.0;
        }
        if !moved {
            break;
        }
    }
    w
}

/// The data part of the loss (no pull): what inner cross-validation compares.
pub fn data_loss(prior: &[f64], w: &[f64], samples: &[&Sample], p: &FitParams) -> f64 {
    let (f, _) = loss_and_grad(prior, w, samples, p, false);
    f
}

fn objective(prior: &[f64], w: &[f64], samples: &[&Sample], p: &FitParams) -> (f64, Vec<f64>) {
    let (mut f, mut g) = loss_and_grad(prior, w, samples, p, true);
    for ((gi, wi), w0) in g.iter_mut().zip(w).zip(prior) {
        f += p.lambda * (wi - w0) * (wi - w0);
        *gi += 2.0 * p.lambda * (wi - w0);
    }
    (f, g)
}

fn loss_and_grad(
    prior: &[f64],
    w: &[f64],
    samples: &[&Sample],
    p: &FitParams,
    want_grad: bool,
) -> (f64, Vec<f64>) {
    let spam = samples.iter().filter(|s| s.spam).count().max(1) as f64;
    let ham = samples.iter().filter(|s| !s.spam).count().max(1) as f64;
    let mut f = 0.0;
    let mut g = vec![0.0; if want_grad { w.len() } else { 0 }];
    for s in samples {
        let score = s.rescored(prior, w);
        // d loss / d score, per message.
        let (l, d) = if s.spam {
            let (l, d) = softplus((p.flag - score) / p.tau);
            (l / spam, -d / (p.tau * spam))
        } else {
            let (l1, d1) = softplus((score - p.flag) / p.tau);
            let (l2, d2) = p
                .reject
                .map_or((0.0, 0.0), |r| softplus((score - r) / p.tau));
            let c = p.ham_cost / ham;
            ((l1 + l2) * c, (d1 + d2) * c / p.tau)
        };
        f += l;
        if want_grad {
            for &(i, v) in &s.values {
                g[i] += d * v;
            }
        }
    }
    (f, g)
}

/// `ln(1 + e^x)` and its derivative, stable for large `|x|`.
fn softplus(x: f64) -> (f64, f64) {
    let sig = 1.0 / (1.0 + (-x).exp());
    let l = if x > 30.0 { x } else { x.exp().ln_1p() };
    (l, sig)
}

/// Picks lambda from [`LAMBDAS`] by cross-validation over the groups
/// `fold_of` assigns (the training folds), by the held-out data loss.
pub fn choose_lambda(prior: &[f64], samples: &[&Sample], fold_of: &[usize], p: &FitParams) -> f64 {
    let mut folds: Vec<usize> = fold_of.to_vec();
    folds.sort_unstable();
    folds.dedup();
    if folds.len() < 2 {
        return p.lambda;
    }
    let mut best = (f64::INFINITY, p.lambda);
    for &lambda in &LAMBDAS {
        let q = FitParams {
            lambda,
            ..p.clone()
        };
        let mut total = 0.0;
        for &f in &folds {
            let (train, test): (Vec<_>, Vec<_>) =
                samples.iter().zip(fold_of).partition(|&(_, &g)| g != f);
            let train: Vec<&Sample> = train.into_iter().map(|(s, _)| *s).collect();
            let test: Vec<&Sample> = test.into_iter().map(|(s, _)| *s).collect();
            let w = fit(prior, &train, &q);
            total += data_loss(prior, &w, &test, &q);
        }
        if total < best.0 {
            best = (total, lambda);
        }
    }
    best.1
}

/// Picks the ham cost from [`HAM_COSTS`] (and with it lambda) by
/// cross-validation over the groups `fold_of` assigns: each group is
/// scored by weights fitted on the others, and the cost whose pooled
/// held-out scores catch the most spam with at most `rate` of ham over the
/// flagging threshold wins (ties: the lower cost). Returns the parameters
/// with the chosen cost and lambda.
pub fn choose_cost(
    prior: &[f64],
    samples: &[&Sample],
    fold_of: &[usize],
    p: &FitParams,
    rate: f64,
) -> FitParams {
    let mut folds: Vec<usize> = fold_of.to_vec();
    folds.sort_unstable();
    folds.dedup();
    let mut best: Option<(usize, FitParams)> = None;
    for &ham_cost in &HAM_COSTS {
        let q = FitParams {
            ham_cost,
            ..p.clone()
        };
        let q = FitParams {
            lambda: choose_lambda(prior, samples, fold_of, &q),
            ..q
        };
        let mut labels = Vec::with_capacity(samples.len());
        let mut scores = Vec::with_capacity(samples.len());
        for &f in &folds {
            let train: Vec<&Sample> = samples
                .iter()
                .zip(fold_of)
                .filter(|(_, &g)| g != f)
                .map(|(s, _)| *s)
                .collect();
            let w = fit(prior, &train, &q);
            for (s, _) in samples.iter().zip(fold_of).filter(|(_, &g)| g == f) {
                labels.push(s.spam);
                scores.push(s.rescored(prior, &w));
            }
        }
        let caught = caught_at_rate(&labels, &scores, rate);
        if best.as_ref().is_none_or(|(c, _)| caught > *c) {
            best = Some((caught, q));
        }
    }
    best.map_or_else(|| p.clone(), |(_, q)| q)
}

/// Spam at or over the lowest threshold that flags at most `rate` of ham.
fn caught_at_rate(labels: &[bool], scores: &[f64], rate: f64) -> usize {
    let ham: Vec<f64> = labels
        .iter()
        .zip(scores)
        .filter(|(s, _)| !**s)
        .map(|(_, &x)| x)
        .collect();
    let t = super::propose::flag_threshold(&ham, rate);
    labels
        .iter()
        .zip(scores)
        .filter(|(s, &x)| **s && x >= t)
        .count()
}

#[cfg(test)]
mod tests;
