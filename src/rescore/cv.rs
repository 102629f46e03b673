//! The cross-validation behind `sluice rescore`.
//!
//! Messages go to fold `i % K`, as in `sluice eval-bayes`. For test fold
//! `f`, Bayes is trained on the other folds and the fold is scanned: its
//! *held-out* samples and the baseline. The weights for fold `f` are fitted
//! on samples of the training folds only; a training message of fold `g`
//! is scanned with Bayes trained on neither `f` nor `g` (one store per pair
//! of folds, shared by `(f, g)` and `(g, f)`), so that its Bayes symbol is
//! as uncertain as on unseen mail and nothing of fold `f` reaches the fit.
//! The test fold is then scanned again with the fitted weights, through the
//! real pipeline (group caps, composites), and the held-out samples of
//! every fold give the weights that are written.
//!
//! With `--neural` ([`super::neural`]), each fold also trains networks: one
//! per inner fold of the training folds, whose outputs on the messages it
//! did not learn are what the `NEURAL_*` weights are fitted on, and one on
//! all the training folds, applied to the test fold. "neural" fits only
//! those two weights; "both" fits them with every other weight.
use std::sync::Arc;

use super::fit::{self, FitParams};
use super::neural;
use super::propose::{self, Proposal};
use super::report::{Counts, Variant};
use super::samples::{Sample, SymbolTable};
use super::{weights, RescoreError};
use crate::config::Config;
use crate::eval_bayes::{bayes_config, train_store, EvalError};
use crate::message::Envelope;
use crate::scan::Pipeline;
use crate::stats::learn::Item;
use crate::stats::{Class, Stats};
use crate::verdict::Action;

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub folds: usize,
    pub max_fp: Option<f64>,
    pub min_hits: usize,
    pub progress: bool,
    /// Also the neural variants.
    pub neural: bool,
}

/// What the run found.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Spam or not, per message.
    pub labels: Vec<bool>,
    /// The thresholds, mildest first.
    pub actions: Vec<(Action, f64)>,
    /// Baseline, rescored (and with --neural: neural, both): every
    /// message's cross-validated total.
    pub variants: Vec<Variant>,
    pub table: SymbolTable,
    /// Fitted on every message's held-out sample: what is written.
    pub weights: Vec<f64>,
    pub lambda: f64,
    /// The lambda inner cross-validation chose in each fold.
    pub fold_lambdas: Vec<f64>,
    /// The ham cost it chose in each fold (all 1 without `--max-fp`).
    pub fold_costs: Vec<f64>,
    /// The final fit's ham cost.
    pub ham_cost: f64,
    /// Every message's held-out scan (Bayes and weights from the other
    /// folds), in store order, and where it came from.
    pub held_out: Vec<Sample>,
    pub origins: Vec<String>,
    /// Rules free to move in the final fit.
    pub free: usize,
    pub proposal: Option<Proposal>,
}

/// Runs the cross-validation and the final fit.
pub fn run(config: &Config, items: &[Item], opts: &Options) -> Result<Outcome, RescoreError> {
    let k = opts.folds;
    let spam = items.iter().filter(|i| i.class == Class::Spam).count();
    let ham = items.len() - spam;
    if k < 2 || spam < k || ham < k {
        return Err(EvalError::TooFew {
            folds: k,
            spam,
            ham,
        }
        .into());
    }
    if let Some(r) = opts.max_fp {
        if !(0.0..1.0).contains(&r) {
            return Err(RescoreError::BadRate(r));
        }
    }
    let plain = Pipeline::new(&config.rules)?;
    let actions = plain.thresholds();
    let mut table = SymbolTable::from_pipeline(&plain);
    drop(plain);
    let neural_ids = opts.neural.then(|| neural::symbols(&mut table));
    let mut params = fit_params(&actions, opts.min_hits);
    if let Some([spam_id, ham_id]) = neural_ids {
        params.open = vec![(spam_id, 1.0), (ham_id, -1.0)];
    }
    let labels: Vec<bool> = items.iter().map(|i| i.class == Class::Spam).collect();
    let n = items.len();
    // Pairs: (K-2)/K of the store learned and 2/K scanned, K(K-1)/2 times;
    // then per fold (K-1)/K learned and 1/K scanned twice.
    let steps =
        n * (k - 1) * (k - 2) / 2 + n * (k - 1) + n * (k - 1) + (2 + usize::from(opts.neural)) * n;
    let bar = crate::progress::bar(steps as u64, opts.progress);
    let cfg = bayes_config(config)?;
    let env = Envelope::default();
    let scan = |p: &Pipeline, i: usize, table: &mut SymbolTable| {
        bar.inc(1);
        table.sample(&p.scan(&env, &items[i].raw), labels[i])
    };

    let mut inner: Vec<Vec<Option<Sample>>> = vec![vec![None; n]; k];
    for f in 0..k {
        for g in f + 1..k {
            let stats = train_store(&cfg, items, |i| i % k != f && i % k != g, &bar)?;
            let p = Pipeline::new(&config.rules)?.with_stats(Some(stats));
            for i in (0..n).filter(|i| i % k == f || i % k == g) {
                let other = if i % k == f { g } else { f };
                inner[other][i] = Some(scan(&p, i, &mut table));
            }
        }
    }

    let mut held_out: Vec<Option<Sample>> = vec![None; n];
    let mut rescored = vec![0.0; n];
    let mut neural_only = vec![0.0; n];
    let mut both = vec![0.0; n];
    // Held-out samples with the network's output, for the final fit.
    let mut with_net: Vec<Option<Sample>> = vec![None; n];
    let mut fold_lambdas = Vec::new();
    let mut fold_costs = Vec::new();
    let mut checked: Option<(Counts, usize)> = opts.max_fp.map(|_| (Counts::default(), 0));
    for (f, inner_f) in inner.iter().enumerate() {
        let stats: Arc<Stats> = train_store(&cfg, items, |i| i % k != f, &bar)?;
        let test: Vec<usize> = (0..n).filter(|i| i % k == f).collect();
        let p = Pipeline::new(&config.rules)?.with_stats(Some(Arc::clone(&stats)));
        for &i in &test {
            held_out[i] = Some(scan(&p, i, &mut table));
        }
        drop(p);
        let train: Vec<(usize, &Sample)> = inner_f
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i % k, s.as_ref()?)))
            .collect();
        let (fold_of, train): (Vec<usize>, Vec<&Sample>) = train.into_iter().unzip();
        let prior = table.weights.clone();
        let tuned = tune(&prior, &train, &fold_of, &params, opts.max_fp);
        fold_lambdas.push(tuned.lambda);
        fold_costs.push(tuned.ham_cost);
        let w = fit::fit(&prior, &train, &tuned);
        let rules = weights::apply(&config.rules, &table, &w);
        let p = Pipeline::new(&rules)?.with_stats(Some(Arc::clone(&stats)));
        for &i in &test {
            bar.inc(1);
            rescored[i] = p.scan(&env, &items[i].raw).score;
        }
        drop(p);
        if let Some(ids) = neural_ids {
            let nets = NeuralFold::new(&table, &train, &fold_of, &prior, ids)?;
            let test_samples: Vec<Sample> = test
                .iter()
                .map(|&i| nets.output(&table, held_out[i].as_ref().expect("scanned above"), &prior))
                .collect();
            let refs: Vec<&Sample> = nets.train.iter().collect();
            let only = FitParams {
                only: Some(ids.to_vec()),
                ..params.clone()
            };
            let w = fit_chosen(&prior, &refs, &nets.fold_of, &only, opts.max_fp);
            for (s, &i) in test_samples.iter().zip(&test) {
                neural_only[i] = s.rescored(&prior, &w);
            }
            let w = fit_chosen(&prior, &refs, &nets.fold_of, &params, opts.max_fp);
            let rules = weights::apply(&config.rules, &table, &w);
            let p = Pipeline::new(&rules)?.with_stats(Some(Arc::clone(&stats)));
            for (s, &i) in test_samples.iter().zip(&test) {
                bar.inc(1);
                let net: f64 = s
                    .values
                    .iter()
                    .filter(|(j, _)| ids.contains(j))
                    .map(|&(j, v)| w[j] * v)
                    .sum();
                both[i] = p.scan(&env, &items[i].raw).score + net;
            }
            for (s, &i) in test_samples.into_iter().zip(&test) {
                with_net[i] = Some(s);
            }
        }
        if let (Some(rate), Some((c, at_reject))) = (opts.max_fp, checked.as_mut()) {
            let ham: Vec<f64> = train
                .iter()
                .filter(|s| !s.spam)
                .map(|s| s.rescored(&prior, &w))
                .collect();
            let t = propose::flag_threshold(&ham, rate);
            let r = params.reject.map(|r| propose::reject_threshold(&ham, r));
            let fold_labels: Vec<bool> = test.iter().map(|&i| labels[i]).collect();
            let fold_scores: Vec<f64> = test.iter().map(|&i| rescored[i]).collect();
            c.add(&Counts::at(&fold_labels, &fold_scores, t));
            if let Some(r) = r {
                *at_reject += Counts::at(&fold_labels, &fold_scores, r).ham;
            }
        }
    }
    bar.finish_and_clear();

    let held_out: Vec<Sample> = held_out.into_iter().flatten().collect();
    let with_net: Vec<Sample> = with_net.into_iter().flatten().collect();
    let all: Vec<&Sample> = if opts.neural { &with_net } else { &held_out }
        .iter()
        .collect();
    let fold_of: Vec<usize> = (0..n).map(|i| i % k).collect();
    let prior = table.weights.clone();
    let final_params = tune(&prior, &all, &fold_of, &params, opts.max_fp);
    let free = fit::Bounds::new(&prior, &all, &params).free();
    let weights = fit::fit(&prior, &all, &final_params);
    let proposal = opts
        .max_fp
        .zip(checked)
        .map(|(rate, (checked, reject_ham))| {
            let ham: Vec<f64> = labels
                .iter()
                .zip(&rescored)
                .filter(|(s, _)| !**s)
                .map(|(_, &x)| x)
                .collect();
            Proposal {
                rate,
                flag: propose::flag_threshold(&ham, rate),
                reject: params.reject.map(|r| propose::reject_threshold(&ham, r)),
                checked,
                checked_reject_ham: reject_ham,
            }
        });
    let mut variants = vec![
        Variant {
            name: "baseline".into(),
            scores: held_out.iter().map(|s| s.score).collect(),
        },
        Variant {
            name: "rescored".into(),
            scores: rescored,
        },
    ];
    if opts.neural {
        variants.push(Variant {
            name: "neural".into(),
            scores: neural_only,
        });
        variants.push(Variant {
            name: "both".into(),
            scores: both,
        });
    }
    Ok(Outcome {
        labels,
        actions,
        variants,
        table,
        weights,
        lambda: final_params.lambda,
        fold_lambdas,
        fold_costs,
        ham_cost: final_params.ham_cost,
        held_out,
        origins: items.iter().map(|i| i.origin.clone()).collect(),
        free,
        proposal,
    })
}

/// The flag is "add header" (else "rewrite subject", else the reject
/// threshold); ham is also kept off "reject".
fn fit_params(actions: &[(Action, f64)], min_hits: usize) -> FitParams {
    let find = |a: Action| actions.iter().find(|(b, _)| *b == a).map(|x| x.1);
    let reject = find(Action::Reject);
    let flag = find(Action::AddHeader)
        .or(find(Action::RewriteSubject))
        .or(reject)
        .unwrap_or(FitParams::default().flag);
    FitParams {
        flag,
        reject,
        min_hits,
        ..FitParams::default()
    }
}

/// `p` with the lambda (and with `--max-fp`, the ham cost) that inner
/// cross-validation over `fold_of` picks.
fn tune(
    prior: &[f64],
    samples: &[&Sample],
    fold_of: &[usize],
    p: &FitParams,
    max_fp: Option<f64>,
) -> FitParams {
    match max_fp {
        Some(rate) => fit::choose_cost(prior, samples, fold_of, p, rate),
        None => FitParams {
            lambda: fit::choose_lambda(prior, samples, fold_of, p),
            ..p.clone()
        },
    }
}

/// Fits with the parameters [`tune`] picks.
fn fit_chosen(
    prior: &[f64],
    samples: &[&Sample],
    fold_of: &[usize],
    p: &FitParams,
    max_fp: Option<f64>,
) -> Vec<f64> {
    fit::fit(prior, samples, &tune(prior, samples, fold_of, p, max_fp))
}

/// One test fold's networks: the training samples with the output of a
/// network that did not learn them (one network per inner fold), and the
/// network trained on all of them, for the test fold.
struct NeuralFold {
    profile: crate::scan::neural::Profile,
    net: crate::scan::neural::Net,
    ids: [usize; 2],
    train: Vec<Sample>,
    fold_of: Vec<usize>,
}

impl NeuralFold {
    fn new(
        table: &SymbolTable,
        train: &[&Sample],
        fold_of: &[usize],
        prior: &[f64],
        ids: [usize; 2],
    ) -> Result<NeuralFold, RescoreError> {
        let profile = neural::profile(table);
        let mut folds = fold_of.to_vec();
        folds.sort_unstable();
        folds.dedup();
        let mut out = Vec::with_capacity(train.len());
        let mut out_folds = Vec::with_capacity(train.len());
        for g in folds {
            let part: Vec<&Sample> = train
                .iter()
                .zip(fold_of)
                .filter(|(_, &h)| h != g)
                .map(|(s, _)| *s)
                .collect();
            let net = neural::train(&profile, table, &part, prior)?;
            for (s, _) in train.iter().zip(fold_of).filter(|(_, &h)| h == g) {
                out.push(neural::with_output(&net, &profile, table, s, prior, ids));
                out_folds.push(g);
            }
        }
        let net = neural::train(&profile, table, train, prior)?;
        Ok(NeuralFold {
            profile,
            net,
            ids,
            train: out,
            fold_of: out_folds,
        })
    }

    fn output(&self, table: &SymbolTable, s: &Sample, prior: &[f64]) -> Sample {
        neural::with_output(&self.net, &self.profile, table, s, prior, self.ids)
    }
}
