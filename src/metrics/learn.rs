//! Bayes learning counters for `/metrics`: learn requests by class and
//! outcome, from the controller and autolearn (`sluice learn` runs in a
//! process of its own and counts there).
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::stats::{Class, LearnOutcome};

const CLASSES: [&str; 2] = ["spam", "ham"];
const OUTCOMES: [&str; 4] = ["learned", "moved", "already_learned", "error"];

/// Counts by class and outcome.
#[derive(Debug, Default)]
pub struct LearnCounters {
    counts: [[AtomicU64; OUTCOMES.len()]; CLASSES.len()],
}

impl LearnCounters {
    /// One learn request ended; `None`: it failed.
    pub fn record(&self, class: Class, outcome: Option<&LearnOutcome>) {
        let c = match class {
            Class::Spam => 0,
            Class::Ham => 1,
        };
        let o = match outcome {
            Some(LearnOutcome::Learned) => 0,
            Some(LearnOutcome::Moved { .. }) => 1,
            Some(LearnOutcome::AlreadyLearned) => 2,
            None => 3,
        };
        self.counts[c][o].fetch_add(1, Ordering::Relaxed);
    }

    /// (class, outcome, count) for every pair.
    pub fn snapshot(&self) -> Vec<(&'static str, &'static str, u64)> {
        let mut out = Vec::with_capacity(CLASSES.len() * OUTCOMES.len());
        for (c, class) in CLASSES.iter().enumerate() {
            for (o, outcome) in OUTCOMES.iter().enumerate() {
                out.push((*class, *outcome, self.counts[c][o].load(Ordering::Relaxed)));
            }
        }
        out
    }
}

pub fn render(out: &mut String, learns: &[(&str, &str, u64)]) {
    let _ = writeln!(
        out,
        "# HELP sluice_bayes_learns Bayes learn requests, by class and outcome.\n# TYPE sluice_bayes_learns counter"
    );
    for (class, outcome, n) in learns {
        let _ = writeln!(
            out,
            "sluice_bayes_learns_total{{class=\"{class}\",outcome=\"{outcome}\"}} {n}"
        );
    }
}
