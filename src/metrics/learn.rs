//! Bayes learning counters for `/metrics`: learn requests by class and
//! outcome, from the controller and autolearn (`sluice learn` runs in a
//! process of its own and counts there).
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

const CLASSES: [&str; 2] = ["spam", "ham"];
const OUTCOMES: [&str; 4] = ["learned", "moved", "already_learned", "error"];

/// How a learn request ended, as the metrics label it. Its own type, so
/// the metrics do not depend on the statistics that report to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LearnResult {
    Learned = 0,
    Moved = 1,
    AlreadyLearned = 2,
    Error = 3,
}

/// Counts by class and outcome.
#[derive(Debug, Default)]
pub struct LearnCounters {
    counts: [[AtomicU64; OUTCOMES.len()]; CLASSES.len()],
}

impl LearnCounters {
    /// One learn request ended.
    pub fn record(&self, spam: bool, result: LearnResult) {
        let c = usize::from(!spam);
        self.counts[c][result as usize].fetch_add(1, Ordering::Relaxed);
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
