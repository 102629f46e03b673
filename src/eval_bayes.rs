//! k-fold cross-validation of the whole scan, with and without Bayes:
//! `sluice eval-bayes`. Each fold trains a fresh in-memory store on the
//! other folds and scans its own messages through the real pipeline. It
//! sits above both `scan/` and `stats/`, which know nothing of each other's
//! evaluation.
use std::sync::Arc;

use crate::config::Config;
use crate::message::Envelope;
use crate::scan::{Pipeline, ScanConfigError};
use crate::stats::learn::Item;
use crate::stats::store::{CacheLimits, EmbeddedStore};
use crate::stats::{Class, Stats, StatsConfig, StatsError, HAM_SYMBOL, SPAM_SYMBOL};
use crate::verdict::Action;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Stats(#[from] StatsError),
    #[error("rules: {0}")]
    Scan(#[from] ScanConfigError),
    #[error("need at least 2 folds and messages of both classes (got {folds} folds, {spam} spam, {ham} ham)")]
    TooFew {
        folds: usize,
        spam: usize,
        ham: usize,
    },
}

/// Scores of every message, in the order of the input items.
#[derive(Debug, Clone, Default)]
pub struct Scores {
    pub without_bayes: Vec<f64>,
    pub with_bayes: Vec<f64>,
    /// The Bayes symbol each message got in its fold, if any: whether
    /// the classifier alone is right, apart from the rules.
    pub bayes: Vec<Option<BayesSide>>,
}

/// Which Bayes symbol a message got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BayesSide {
    Spam,
    Ham,
}

/// One row of the report: at `action`'s threshold, how much spam and ham
/// scored at or above it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub bayes: bool,
    pub action: Action,
    pub threshold: f64,
    pub spam_hits: usize,
    pub spam_total: usize,
    pub ham_hits: usize,
    pub ham_total: usize,
}

impl Row {
    pub fn spam_recall(&self) -> f64 {
        self.spam_hits as f64 / self.spam_total.max(1) as f64
    }
    pub fn ham_rate(&self) -> f64 {
        self.ham_hits as f64 / self.ham_total.max(1) as f64
    }
}

/// Runs the evaluation with `config`'s rules and its `classifier "bayes"`
/// tuning (its backend is replaced by memory).
pub fn evaluate(
    config: &Config,
    items: &[Item],
    folds: usize,
    progress: bool,
) -> Result<(Scores, Vec<Row>), EvalError> {
    let spam = items.iter().filter(|i| i.class == Class::Spam).count();
    let ham = items.len() - spam;
    if folds < 2 || spam < folds || ham < folds {
        return Err(EvalError::TooFew { folds, spam, ham });
    }
    let plain = Pipeline::new(&config.rules)?;
    let env = Envelope::default();
    // Every message is scanned once without Bayes, then once per fold either learned or scanned.
    let bar = crate::progress::bar((items.len() * (folds + 1)) as u64, progress);
    let verdicts: Vec<_> = items
        .iter()
        .map(|i| {
            bar.inc(1);
            plain.scan(&env, &i.raw)
        })
        .collect();
    let thresholds = verdicts
        .first()
        .map(|v| v.thresholds.clone())
        .unwrap_or_default();
    let mut scores = Scores {
        without_bayes: verdicts.iter().map(|v| v.score).collect(),
        with_bayes: vec![0.0; items.len()],
        bayes: vec![None; items.len()],
    };
    let cfg = bayes_config(config)?;
    for fold in 0..folds {
        let stats = train_store(&cfg, items, |i| i % folds != fold, &bar)?;
        let pipeline = Pipeline::new(&config.rules)?.with_stats(Some(Arc::clone(&stats)));
        for (i, item) in items.iter().enumerate().filter(|(i, _)| i % folds == fold) {
            let v = pipeline
                .scan_outcome(&env, &item.raw, Default::default())
                .learned_by(Some(&stats));
            scores.with_bayes[i] = v.score;
            scores.bayes[i] = v.symbols.iter().find_map(|s| match s.name.as_str() {
                SPAM_SYMBOL => Some(BayesSide::Spam),
                HAM_SYMBOL => Some(BayesSide::Ham),
                _ => None,
            });
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let mut rows = Vec::new();
    for (bayes, s) in [(false, &scores.without_bayes), (true, &scores.with_bayes)] {
        for (action, t) in &thresholds {
            rows.push(row(items, s, bayes, action.clone(), *t));
        }
    }
    Ok((scores, rows))
}

/// `config`'s `classifier "bayes"` tuning, or Rspamd's defaults when it has none.
pub fn bayes_config(config: &Config) -> Result<StatsConfig, EvalError> {
    Ok(match &config.bayes {
        Some(c) => c.clone(),
        None => StatsConfig::from_tree(&serde_json::json!({"classifier": {"bayes": {}}}))
            .map_err(StatsError::from)?
            .ok_or(StatsError::Disabled)?,
    })
}

/// A fresh in-memory store trained on the items whose index `keep` accepts
/// (a fold's training folds), ticking `bar` once per message learned.
pub fn train_store(
    cfg: &StatsConfig,
    items: &[Item],
    keep: impl Fn(usize) -> bool,
    bar: &indicatif::ProgressBar,
) -> Result<Arc<Stats>, EvalError> {
    let stats = Arc::new(Stats::with_store(
        cfg.clone(),
        Box::new(EmbeddedStore::in_memory_with(CacheLimits::of(cfg)).map_err(StatsError::from)?),
    ));
    let env = Envelope::default();
    for (_, item) in items.iter().enumerate().filter(|(i, _)| keep(*i)) {
        stats.learn(item.class, &env, &item.raw)?;
        bar.inc(1);
    }
    Ok(stats)
}

fn row(items: &[Item], scores: &[f64], bayes: bool, action: Action, t: f64) -> Row {
    let mut r = Row {
        bayes,
        action,
        threshold: t,
        spam_hits: 0,
        spam_total: 0,
        ham_hits: 0,
        ham_total: 0,
    };
    for (item, s) in items.iter().zip(scores) {
        let hit = usize::from(*s >= t);
        match item.class {
            Class::Spam => {
                r.spam_total += 1;
                r.spam_hits += hit;
            }
            Class::Ham => {
                r.ham_total += 1;
                r.ham_hits += hit;
            }
        }
    }
    r
}

/// How the classifier alone called each class: (BAYES_SPAM, BAYES_HAM,
/// neither) counts for spam, then for ham.
pub fn bayes_alone(items: &[Item], scores: &Scores) -> [[usize; 3]; 2] {
    let mut out = [[0; 3]; 2];
    for (item, side) in items.iter().zip(&scores.bayes) {
        let row = usize::from(item.class == Class::Ham);
        let col = match side {
            Some(BayesSide::Spam) => 0,
            Some(BayesSide::Ham) => 1,
            None => 2,
        };
        out[row][col] += 1;
    }
    out
}

/// [`bayes_alone`] as text.
pub fn render_bayes_alone(counts: &[[usize; 3]; 2]) -> String {
    let mut out = format!(
        "bayes alone  {:<8} {:>12} {:>12} {:>12}\n",
        "class", "BAYES_SPAM", "BAYES_HAM", "no verdict"
    );
    for (name, c) in ["spam", "ham"].iter().zip(counts) {
        let n = c.iter().sum::<usize>().max(1) as f64;
        out.push_str(&format!(
            "             {:<8} {:>11.2}% {:>11.2}% {:>11.2}%\n",
            name,
            c[0] as f64 * 100.0 / n,
            c[1] as f64 * 100.0 / n,
            c[2] as f64 * 100.0 / n
        ));
    }
    out
}

/// The report as text, one line per (mode, action).
pub fn render(rows: &[Row], folds: usize) -> String {
    let mut out = format!(
        "{folds}-fold cross-validation; a message counts at an action when its score reaches that action's threshold\n{:<12} {:<16} {:>9} {:>22} {:>22}\n",
        "mode", "action (>=)", "threshold", "spam recall", "ham at or above"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<12} {:<16} {:>9.2} {:>12.2}% ({:>4}/{:<4}) {:>12.2}% ({:>4}/{:<4})\n",
            if r.bayes { "rules+bayes" } else { "rules" },
            r.action.as_str(),
            r.threshold,
            r.spam_recall() * 100.0,
            r.spam_hits,
            r.spam_total,
            r.ham_rate() * 100.0,
            r.ham_hits,
            r.ham_total
        ));
    }
    out
}
