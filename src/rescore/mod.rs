//! `sluice rescore`: fits the rule weights to a labelled mail store, the
//! way SpamAssassin's mass-check and rescorer do for its scores.
//!
//! Data flow: [`cv`] scans the store per fold (through `eval_bayes`'s
//! per-fold Bayes training) into [`samples`], fits with [`fit`], scores the
//! test folds again with the fitted weights; [`report`] prints the tables,
//! [`propose`] the thresholds under `--max-fp`, [`top_ham`] the ham that
//! score highest and why, and [`weights`] writes the
//! `local.d/groups.conf`. It sits above `scan/`, `stats/` and `eval_bayes`.
pub mod cv;
pub mod fit;
pub mod neural;
pub mod propose;
pub mod report;
pub mod samples;
pub mod top_ham;
pub mod weights;

use std::fmt::Write as _;

use crate::eval_bayes::EvalError;
use crate::scan::ScanConfigError;

#[derive(Debug, thiserror::Error)]
pub enum RescoreError {
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error("rules: {0}")]
    Scan(#[from] ScanConfigError),
    #[error("--max-fp must be a fraction in [0, 1), got {0}")]
    BadRate(f64),
    #[error("neural network: {0}")]
    Neural(#[from] crate::scan::neural::NeuralError),
}

/// Ham listed in the report, highest first.
const TOP_HAM: usize = 15;

/// The printed report: how the run was made, the per-threshold table and
/// the ROC-style table of each variant, the final fit, and the proposal.
pub fn render(out: &cv::Outcome, opts: &cv::Options) -> String {
    let spam = out.labels.iter().filter(|s| **s).count();
    let mut s = format!(
        "{}-fold cross-validation over {spam} spam and {} ham; every weight and Bayes store\n\
         of a fold comes from its training folds only; a message counts at an action when its\n\
         score reaches that action's threshold\n\n",
        opts.folds,
        out.labels.len() - spam
    );
    s.push_str(&report::thresholds_table(
        &out.labels,
        &out.variants,
        &out.actions,
    ));
    s.push('\n');
    s.push_str(&report::roc_table(&out.labels, &out.variants));
    let _ = writeln!(
        s,
        "\nlambda per fold (inner cross-validation): {}",
        out.fold_lambdas
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if opts.max_fp.is_some() {
        let _ = writeln!(
            s,
            "ham cost per fold (inner cross-validation, recall at --max-fp): {}",
            out.fold_costs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    let changed = weights::changes(&out.table, &out.weights).len();
    let _ = writeln!(
        s,
        "final fit on every message's held-out scan: lambda {}, ham cost {}, {} rules free to move, {changed} changed",
        out.lambda, out.ham_cost, out.free
    );
    s.push('\n');
    s.push_str(&top_ham::render(
        &out.labels,
        &out.variants,
        &out.held_out,
        &out.table,
        &out.origins,
        TOP_HAM,
    ));
    if let Some(p) = &out.proposal {
        let _ = writeln!(
            s,
            "\nthresholds for ham flagged under {:.2}% (--max-fp {}): add_header = {:.2};{}",
            p.rate * 100.0,
            p.rate,
            p.flag,
            p.reject
                .map(|r| format!(" reject = {r:.2};"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            s,
            "  checked per fold (threshold from the training folds): spam recall {:.2}% ({}/{}), ham flagged {:.2}% ({}/{}), ham at reject {}",
            p.checked.recall(),
            p.checked.spam,
            p.checked.spam_total,
            p.checked.ham_rate(),
            p.checked.ham,
            p.checked.ham_total,
            p.checked_reject_ham
        );
    }
    s
}

/// The comment at the top of the written file.
pub fn file_header(out: &cv::Outcome, opts: &cv::Options, sources: &str) -> String {
    let spam = out.labels.iter().filter(|s| **s).count();
    format!(
        "Rule weights fitted by `sluice rescore` to {spam} spam and {} ham\n\
         ({sources}).\n\
         Loss: the totals' distance to the \"add header\" threshold (ham also to \"reject\"),\n\
         with an L2 pull towards the shipped weights (lambda {} by cross-validation); no rule\n\
         changes sign, rules seen in fewer than {} messages and rules of weight 0 keep theirs.\n\
         {}{}-fold cross-validated results are in the report printed with this file.\n\
         Review, then copy to $LOCAL_CONFDIR/local.d/groups.conf (merged over the shipped\n\
         groups; Rspamd reads the same file) and reload: `sluice reload`.\n",
        out.labels.len() - spam,
        out.lambda,
        opts.min_hits,
        if opts.neural {
            "With --neural, NEURAL_SPAM (>= 0) and NEURAL_HAM (<= 0), shipped at 0, are fitted\n\
             on the outputs of networks that had not learned the message.\n"
        } else {
            ""
        },
        opts.folds
    )
}
