//! Actions: Rspamd's built-in ones with thresholds, plus custom actions
//! (`my_action { score = 9; milter = "quarantine"; }`,
//! `phishing { flags = ["no_threshold"]; milter = "discard"; }`).
//!
//! A custom action has a name (what force_actions rules and the config
//! refer to) and an *effect*: the built-in [`Action`] the milter bridge
//! enforces. Built-in actions are their own effect. Actions flagged
//! `no_threshold` are only reachable through force_actions.
use crate::verdict::Action;

pub use crate::config::rules::ActionDef;

/// Every action of the config, ready to pick one by score.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionSet {
    defs: Vec<ActionDef>,
    /// Indexes of `defs` with a finite threshold, ascending by threshold.
    by_threshold: Vec<usize>,
    /// The thresholds of `by_threshold`, in its order: [`Self::same_rank`]
    /// runs before every rule, so it reads them without the indirection.
    sorted: Vec<f64>,
}

impl ActionSet {
    pub fn new(defs: Vec<ActionDef>) -> ActionSet {
        let mut by_threshold: Vec<usize> = (0..defs.len())
            .filter(|&i| defs[i].threshold.is_some_and(f64::is_finite))
            .collect();
        by_threshold.sort_by(|&a, &b| {
            let (ta, tb) = (
                defs[a].threshold.unwrap_or(0.0),
                defs[b].threshold.unwrap_or(0.0),
            );
            ta.total_cmp(&tb)
        });
        let sorted = by_threshold
            .iter()
            .filter_map(|&i| defs[i].threshold)
            .collect();
        ActionSet {
            defs,
            by_threshold,
            sorted,
        }
    }

    pub fn defs(&self) -> &[ActionDef] {
        &self.defs
    }

    /// By config name, case-insensitive, `_`/`-`/space alike; built-in
    /// spellings (`add_header`, `accept`) find the built-in action.
    pub fn find(&self, name: &str) -> Option<&ActionDef> {
        let norm = normalise(name);
        self.defs
            .iter()
            .find(|d| normalise(&d.name) == norm)
            .or_else(|| {
                let builtin = Action::parse(name)?;
                self.defs.iter().find(|d| d.name == builtin.as_str())
            })
    }

    /// Rspamd's `required_score`: the reject threshold, else the highest.
    pub fn required_score(&self) -> f64 {
        self.threshold(&Action::Reject)
            .or_else(|| {
                self.by_threshold
                    .last()
                    .and_then(|&i| self.defs[i].threshold)
            })
            .unwrap_or(0.0)
    }

    /// Threshold of the built-in action with this effect, if any.
    pub fn threshold(&self, effect: &Action) -> Option<f64> {
        self.by_threshold
            .iter()
            .map(|&i| &self.defs[i])
            .find(|d| d.effect == *effect && d.name == effect.as_str())
            .or_else(|| {
                self.by_threshold
                    .iter()
                    .map(|&i| &self.defs[i])
                    .find(|d| d.effect == *effect)
            })
            .and_then(|d| d.threshold)
    }

    /// Highest threshold <= score wins; below all thresholds: no action.
    pub fn action_for(&self, score: f64) -> Option<&ActionDef> {
        self.by_threshold
            .iter()
            .rev()
            .map(|&i| &self.defs[i])
            .find(|d| d.threshold.is_some_and(|t| score >= t))
    }

    /// The effect for a score (`NoAction` below every threshold).
    pub fn effect_for(&self, score: f64) -> Action {
        self.action_for(score)
            .map_or(Action::NoAction, |d| d.effect.clone())
    }

    /// Thresholds as the verdict reports them, mildest first.
    pub fn thresholds(&self) -> Vec<(Action, f64)> {
        self.by_threshold
            .iter()
            .map(|&i| &self.defs[i])
            .filter_map(|d| Some((d.effect.clone(), d.threshold?)))
            .collect()
    }

    /// Whether scores `a` and `b` lead to the same action, for early stop:
    /// the same thresholds lie at or below each. (Those at or below a
    /// score are a prefix of the sorted ones, so equal sets mean the same
    /// highest threshold reached, or none.)
    pub fn same_rank(&self, a: f64, b: f64) -> bool {
        self.sorted.iter().all(|&t| (a >= t) == (b >= t))
    }
}

fn normalise(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| match c {
            '_' | '-' => ' ',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(name: &str, effect: Action, t: Option<f64>) -> ActionDef {
        ActionDef {
            name: name.into(),
            effect,
            threshold: t,
        }
    }

    fn set() -> ActionSet {
        ActionSet::new(vec![
            def("reject", Action::Reject, Some(15.0)),
            def("add header", Action::AddHeader, Some(6.0)),
            def("greylist", Action::Greylist, Some(4.0)),
            def("my_quarantine", Action::Quarantine, Some(9.0)),
            def("phishing", Action::Discard, None),
        ])
    }

    #[test]
    fn highest_threshold_not_above_score_wins() {
        let s = set();
        assert_eq!(s.effect_for(3.9), Action::NoAction);
        assert_eq!(s.effect_for(4.0), Action::Greylist);
        assert_eq!(s.effect_for(8.0), Action::AddHeader);
        assert_eq!(s.action_for(9.5).unwrap().name, "my_quarantine");
        assert_eq!(s.effect_for(9.5), Action::Quarantine);
        assert_eq!(s.effect_for(15.0), Action::Reject);
        assert_eq!(s.effect_for(-3.0), Action::NoAction);
        assert_eq!(s.required_score(), 15.0);
        assert!(s.same_rank(5.0, 5.9));
        assert!(!s.same_rank(5.0, 6.0));
    }

    #[test]
    fn no_threshold_actions_are_found_by_name_only() {
        let s = set();
        assert_eq!(s.find("PHISHING").unwrap().effect, Action::Discard);
        assert_eq!(s.find("add_header").unwrap().name, "add header");
        assert!(s.find("nothing").is_none());
        assert!(!s.thresholds().iter().any(|(a, _)| *a == Action::Discard));
    }

    #[test]
    fn same_rank_is_same_action() {
        let a = set();
        let mut scores: Vec<f64> = (-40..=80).map(|i| f64::from(i) * 0.25).collect();
        scores.extend([f64::NAN, f64::INFINITY, f64::NEG_INFINITY]);
        for &x in &scores {
            for &y in &scores {
                // The test set's thresholds all have distinct effects.
                assert_eq!(
                    a.same_rank(x, y),
                    a.effect_for(x) == a.effect_for(y),
                    "{x} {y}"
                );
            }
        }
    }
}
