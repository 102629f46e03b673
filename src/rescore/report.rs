//! The cross-validated tables: per variant, spam recall and ham flagged at
//! every action threshold, and the ROC-style low-false-positive end (spam
//! recall when at most 0, 1, 3 or 9 ham are flagged).
use std::fmt::Write as _;

use crate::verdict::Action;

/// The ham counts the ROC-style table reads at.
pub const ROC_HAM: [usize; 4] = [0, 1, 3, 9];

/// One way of scoring the store: a name and every message's total.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub name: String,
    pub scores: Vec<f64>,
}

/// At one threshold: spam and ham at or above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub spam: usize,
    pub spam_total: usize,
    pub ham: usize,
    pub ham_total: usize,
}

impl Counts {
    pub fn at(labels: &[bool], scores: &[f64], threshold: f64) -> Counts {
        let mut c = Counts {
            spam: 0,
            spam_total: 0,
            ham: 0,
            ham_total: 0,
        };
        for (&spam, &s) in labels.iter().zip(scores) {
            let hit = usize::from(s >= threshold);
            if spam {
                c.spam_total += 1;
                c.spam += hit;
            } else {
                c.ham_total += 1;
                c.ham += hit;
            }
        }
        c
    }

    /// Sums another fold's counts into these.
    pub fn add(&mut self, o: &Counts) {
        self.spam += o.spam;
        self.spam_total += o.spam_total;
        self.ham += o.ham;
        self.ham_total += o.ham_total;
    }

    pub fn recall(&self) -> f64 {
        pct(self.spam, self.spam_total)
    }

    pub fn ham_rate(&self) -> f64 {
        pct(self.ham, self.ham_total)
    }
}

fn pct(n: usize, d: usize) -> f64 {
    n as f64 * 100.0 / d.max(1) as f64
}

/// Spam recall (count) with at most `k` ham flagged: the threshold just
/// above the `k+1`-th highest ham score (ties count against the threshold).
pub fn recall_at_ham(labels: &[bool], scores: &[f64], k: usize) -> usize {
    let mut ham: Vec<f64> = labels
        .iter()
        .zip(scores)
        .filter(|(s, _)| !**s)
        .map(|(_, &x)| x)
        .collect();
    ham.sort_by(|a, b| b.total_cmp(a));
    match ham.get(k) {
        Some(&h) => labels
            .iter()
            .zip(scores)
            .filter(|&(&s, &x)| s && x > h)
            .count(),
        None => labels.iter().filter(|s| **s).count(),
    }
}

/// The per-threshold table of every variant.
pub fn thresholds_table(
    labels: &[bool],
    variants: &[Variant],
    actions: &[(Action, f64)],
) -> String {
    let mut out = format!(
        "{:<18} {:<16} {:>9} {:>22} {:>22}\n",
        "variant", "action (>=)", "threshold", "spam recall", "ham flagged"
    );
    for v in variants {
        for (action, t) in actions {
            let c = Counts::at(labels, &v.scores, *t);
            let _ = writeln!(
                out,
                "{:<18} {:<16} {:>9.2} {:>12.2}% ({:>4}/{:<4}) {:>12.2}% ({:>4}/{:<4})",
                v.name,
                action.as_str(),
                t,
                c.recall(),
                c.spam,
                c.spam_total,
                c.ham_rate(),
                c.ham,
                c.ham_total
            );
        }
    }
    out
}

/// The ROC-style table: one row per variant.
pub fn roc_table(labels: &[bool], variants: &[Variant]) -> String {
    let spam = labels.iter().filter(|s| **s).count();
    let mut out = format!("{:<18}", "spam recall with");
    for k in ROC_HAM {
        let _ = write!(out, " {:>17}", format!("<= {k} ham"));
    }
    out.push('\n');
    for v in variants {
        let _ = write!(out, "{:<18}", v.name);
        for k in ROC_HAM {
            let n = recall_at_ham(labels, &v.scores, k);
            let _ = write!(out, " {:>7.2}% ({:>5})", pct(n, spam), n);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_roc_read_the_scores() {
        let labels = [true, true, true, false, false, false];
        let scores = [20.0, 7.0, 5.0, 7.0, 2.0, 1.0];
        let c = Counts::at(&labels, &scores, 6.0);
        assert_eq!((c.spam, c.spam_total, c.ham, c.ham_total), (2, 3, 1, 3));
        // No ham flagged: above 7 only the 20 (the 7 ties with a ham).
        assert_eq!(recall_at_ham(&labels, &scores, 0), 1);
        assert_eq!(recall_at_ham(&labels, &scores, 1), 3);
        assert_eq!(recall_at_ham(&labels, &scores, 9), 3);
        let v = [Variant {
            name: "baseline".into(),
            scores: scores.to_vec(),
        }];
        let t = thresholds_table(&labels, &v, &[(Action::AddHeader, 6.0)]);
        assert!(t.contains("add header"), "{t}");
        assert!(t.contains("66.67% (   2/3   )"), "{t}");
        let r = roc_table(&labels, &v);
        assert!(r.contains("33.33% (    1)"), "{r}");
    }
}
