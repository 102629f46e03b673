//! Symbols -> weights -> score -> action, with Rspamd's rules: a symbol's
//! score is its weight (x its dynamic factor, 1 for regexp rules), a group's
//! positive total is capped at its `max_score`, and the action is the one
//! with the highest threshold not above the score.
use crate::verdict::{Action, Symbol};

/// What the config says about one symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolMeta {
    pub name: String,
    pub weight: f64,
    pub description: Option<String>,
    /// Index into [`Scorer::groups`].
    pub group: Option<usize>,
}

/// A group and its cap.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupMeta {
    pub name: String,
    pub max_score: Option<f64>,
}

/// Thresholds and groups, ready to score.
#[derive(Debug, Clone)]
pub struct Scorer {
    pub groups: Vec<GroupMeta>,
    /// Ascending by threshold.
    pub thresholds: Vec<(Action, f64)>,
}

impl Scorer {
    pub fn new(groups: Vec<GroupMeta>, mut thresholds: Vec<(Action, f64)>) -> Scorer {
        thresholds.retain(|(_, t)| t.is_finite());
        thresholds.sort_by(|a, b| a.1.total_cmp(&b.1));
        Scorer { groups, thresholds }
    }

    /// Rspamd's `required_score`: the highest threshold (reject, normally).
    pub fn required_score(&self) -> f64 {
        self.thresholds.last().map_or(0.0, |t| t.1)
    }

    pub fn threshold(&self, action: &Action) -> Option<f64> {
        self.thresholds
            .iter()
            .find(|(a, _)| a == action)
            .map(|t| t.1)
    }

    /// Highest threshold <= score wins; below all thresholds: no action.
    pub fn action_for(&self, score: f64) -> Action {
        self.thresholds
            .iter()
            .rev()
            .find(|(_, t)| score >= *t)
            .map_or(Action::NoAction, |(a, _)| a.clone())
    }

    /// Scores fired symbols in the given (deterministic) order, applying
    /// group caps, and returns them with the total.
    pub fn score(&self, fired: &[(&SymbolMeta, Vec<String>)]) -> (Vec<Symbol>, f64) {
        let mut group_totals = vec![0.0_f64; self.groups.len()];
        let mut total = 0.0;
        let mut out = Vec::with_capacity(fired.len());
        for (meta, options) in fired {
            let mut s = meta.weight;
            if let Some(g) = meta.group {
                s = self.cap(g, s, group_totals[g]);
                group_totals[g] += s;
            }
            total += s;
            out.push(Symbol {
                name: meta.name.clone(),
                score: s,
                metric_score: meta.weight,
                description: meta.description.clone(),
                options: options.clone(),
            });
        }
        (out, total)
    }

    fn cap(&self, group: usize, s: f64, so_far: f64) -> f64 {
        match self.groups[group].max_score {
            Some(max) if max > 0.0 && s > 0.0 => s.min((max - so_far).max(0.0)),
            _ => s,
        }
    }
}

/// Verdict order: |score| descending, then name.
pub fn sort_symbols(symbols: &mut [Symbol]) {
    symbols.sort_by(|a, b| {
        b.score
            .abs()
            .total_cmp(&a.score.abs())
            .then_with(|| a.name.cmp(&b.name))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, weight: f64, group: Option<usize>) -> SymbolMeta {
        SymbolMeta {
            name: name.into(),
            weight,
            description: None,
            group,
        }
    }

    fn defaults() -> Scorer {
        Scorer::new(
            vec![GroupMeta {
                name: "g".into(),
                max_score: Some(3.0),
            }],
            vec![
                (Action::Reject, 15.0),
                (Action::Greylist, 4.0),
                (Action::AddHeader, 6.0),
            ],
        )
    }

    #[test]
    fn action_is_highest_threshold_not_above_score() {
        let s = defaults();
        assert_eq!(s.action_for(3.99), Action::NoAction);
        assert_eq!(s.action_for(4.0), Action::Greylist);
        assert_eq!(s.action_for(6.5), Action::AddHeader);
        assert_eq!(s.action_for(15.0), Action::Reject);
        assert_eq!(s.action_for(-3.0), Action::NoAction);
        assert_eq!(s.required_score(), 15.0);
    }

    #[test]
    fn group_cap_limits_positive_total_only() {
        let s = defaults();
        let (a, b, c, d) = (
            meta("A", 2.0, Some(0)),
            meta("B", 2.0, Some(0)),
            meta("C", -1.0, Some(0)),
            meta("D", 5.0, None),
        );
        let fired = vec![
            (&a, vec![]),
            (&b, vec![]),
            (&c, vec![]),
            (&d, vec!["x".to_string()]),
        ];
        let (syms, total) = s.score(&fired);
        assert_eq!(syms[0].score, 2.0);
        assert_eq!(syms[1].score, 1.0, "capped at max_score 3");
        assert_eq!(syms[1].metric_score, 2.0);
        assert_eq!(syms[2].score, -1.0);
        assert_eq!(total, 2.0 + 1.0 - 1.0 + 5.0);
        assert_eq!(syms[3].options, vec!["x"]);
    }

    #[test]
    fn sort_is_by_magnitude_then_name() {
        let mk = |n: &str, s: f64| Symbol {
            name: n.into(),
            score: s,
            metric_score: s,
            description: None,
            options: vec![],
        };
        let mut v = vec![mk("B", 1.0), mk("A", 1.0), mk("N", -3.0), mk("Z", 0.0)];
        sort_symbols(&mut v);
        let names: Vec<_> = v.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["N", "A", "B", "Z"]);
    }
}
