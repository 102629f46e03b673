//! Mirrors: copies of the forwarded traffic sent to shadow scanners. They
//! never touch the verdict; each mirror's answer is compared with the
//! primary's and the difference is logged in one compact line, with a
//! counter of disagreements: shadow testing of new rules or versions.
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tracing::info;

use super::upstreams::Upstreams;
use crate::verdict::{Action, Verdict};

/// Score differences below this are rounding, not disagreement.
const SCORE_EPSILON: f64 = 0.005;

/// Per-mirror counters.
#[derive(Debug, Default)]
pub struct MirrorStats {
    /// Copies sent.
    pub sent: AtomicU64,
    /// Copies that produced no verdict.
    pub failed: AtomicU64,
    /// Verdicts that differed from the primary's.
    pub disagreements: AtomicU64,
}

/// One configured mirror group.
#[derive(Debug)]
pub struct Mirror {
    pub upstreams: Arc<Upstreams>,
    pub probability: f64,
    pub timeout: std::time::Duration,
    pub compression: bool,
    pub settings_id: Option<String>,
    pub stats: Arc<MirrorStats>,
}

/// What a mirror's verdict changes relative to the primary's.
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictDiff {
    pub action: (Action, Action),
    pub score: (f64, f64),
    /// Symbols only the mirror has.
    pub added: Vec<String>,
    /// Symbols only the primary has.
    pub removed: Vec<String>,
}

impl VerdictDiff {
    pub fn between(primary: &Verdict, mirror: &Verdict) -> VerdictDiff {
        let names = |v: &Verdict| v.symbols.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
        let (p, m) = (names(primary), names(mirror));
        let mut added: Vec<String> = m.iter().filter(|s| !p.contains(s)).cloned().collect();
        let mut removed: Vec<String> = p.iter().filter(|s| !m.contains(s)).cloned().collect();
        added.sort();
        removed.sort();
        VerdictDiff {
            action: (primary.action.clone(), mirror.action.clone()),
            score: (primary.score, mirror.score),
            added,
            removed,
        }
    }

    pub fn agrees(&self) -> bool {
        self.action.0 == self.action.1
            && (self.score.0 - self.score.1).abs() < SCORE_EPSILON
            && self.added.is_empty()
            && self.removed.is_empty()
    }
}

/// `same` or e.g. `action=no action->reject score=1.00->16.00 +BAD_WORD -OLD_RULE`.
impl fmt::Display for VerdictDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.agrees() {
            return f.write_str("same");
        }
        let mut parts = Vec::new();
        if self.action.0 != self.action.1 {
            parts.push(format!("action={}->{}", self.action.0, self.action.1));
        }
        if (self.score.0 - self.score.1).abs() >= SCORE_EPSILON {
            parts.push(format!("score={:.2}->{:.2}", self.score.0, self.score.1));
        }
        parts.extend(self.added.iter().map(|s| format!("+{s}")));
        parts.extend(self.removed.iter().map(|s| format!("-{s}")));
        f.write_str(&parts.join(" "))
    }
}

/// Logs and counts one mirror outcome against the primary's (which may have
/// failed). `tag` identifies the message (queue id).
pub fn report(mirror: &Mirror, tag: &str, primary: Option<&Verdict>, got: Result<Verdict, String>) {
    let name = &mirror.upstreams.name;
    match (primary, got) {
        (_, Err(e)) => {
            mirror.stats.failed.fetch_add(1, Ordering::Relaxed);
            info!(target: "sluice::mirror", "mirror {name} [{tag}]: failed: {e}");
        }
        (None, Ok(v)) => {
            mirror.stats.disagreements.fetch_add(1, Ordering::Relaxed);
            info!(target: "sluice::mirror",
                "mirror {name} [{tag}]: primary failed, mirror said {} {:.2}", v.action, v.score);
        }
        (Some(p), Ok(v)) => {
            let diff = VerdictDiff::between(p, &v);
            let total = if diff.agrees() {
                mirror.stats.disagreements.load(Ordering::Relaxed)
            } else {
                mirror.stats.disagreements.fetch_add(1, Ordering::Relaxed) + 1
            };
            info!(target: "sluice::mirror",
                "mirror {name} [{tag}]: {diff} (disagreements: {total})");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Symbol;

    fn verdict(action: Action, score: f64, syms: &[&str]) -> Verdict {
        let mut v = Verdict::empty(15.0);
        v.action = action;
        v.score = score;
        v.symbols = syms
            .iter()
            .map(|n| Symbol {
                name: n.to_string(),
                score: 1.0,
                metric_score: 1.0,
                description: None,
                options: vec![],
            })
            .collect();
        v
    }

    #[test]
    fn identical_verdicts_agree() {
        let a = verdict(Action::NoAction, 1.0, &["A", "B"]);
        let b = verdict(Action::NoAction, 1.001, &["B", "A"]);
        let d = VerdictDiff::between(&a, &b);
        assert!(d.agrees());
        assert_eq!(d.to_string(), "same");
    }

    #[test]
    fn differences_are_listed_compactly() {
        let a = verdict(Action::NoAction, 1.0, &["A", "OLD"]);
        let b = verdict(Action::Reject, 16.0, &["A", "NEW2", "NEW1"]);
        let d = VerdictDiff::between(&a, &b);
        assert!(!d.agrees());
        assert_eq!(
            d.to_string(),
            "action=no action->reject score=1.00->16.00 +NEW1 +NEW2 -OLD"
        );
    }
}
