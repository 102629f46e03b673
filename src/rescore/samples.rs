//! A scanned message as the fitter sees it: its class, its total, and the
//! *value* of each symbol it got. The pipeline scores a symbol as
//! `weight x value` (`scan/score.rs`: the value is the multiplier a rule
//! inserts it with, summed over its shots and after its group's cap), so the
//! value is the verdict's score of the symbol over its configured weight.
use std::collections::HashMap;

use crate::scan::Pipeline;
use crate::verdict::Verdict;

/// One message: label, total, and `(symbol index, value)` per symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub spam: bool,
    /// The verdict's total under the weights the scan ran with.
    pub score: f64,
    /// Visible symbols, by index into the [`SymbolTable`]. A symbol whose
    /// weight is zero counts as present (value 1): its multiplier is lost
    /// in a zero score, and the fitter keeps such symbols at zero anyway.
    pub values: Vec<(usize, f64)>,
}

impl Sample {
    /// The total under `weights` instead of `prior` (both by symbol index):
    /// what the score becomes when only the weights change. Whatever the
    /// total holds beyond the visible symbols (hidden composite parts) stays.
    pub fn rescored(&self, prior: &[f64], weights: &[f64]) -> f64 {
        self.score
            + self
                .values
                .iter()
                .map(|&(s, v)| (weights[s] - prior[s]) * v)
                .sum::<f64>()
    }
}

/// Every symbol the configuration knows, with its shipped weight and group;
/// symbols first seen in a verdict are added as they come.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SymbolTable {
    pub names: Vec<String>,
    pub weights: Vec<f64>,
    pub groups: Vec<Option<String>>,
    by_name: HashMap<String, usize>,
}

impl SymbolTable {
    pub fn from_pipeline(p: &Pipeline) -> SymbolTable {
        let mut t = SymbolTable::default();
        for s in p.symbols() {
            t.add(&s.name, s.weight, s.group);
        }
        t
    }

    /// Adds a symbol (or returns the index it has).
    pub fn add(&mut self, name: &str, weight: f64, group: Option<String>) -> usize {
        if let Some(&i) = self.by_name.get(name) {
            return i;
        }
        self.names.push(name.to_string());
        self.weights.push(weight);
        self.groups.push(group);
        self.by_name.insert(name.to_string(), self.names.len() - 1);
        self.names.len() - 1
    }

    pub fn find(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The verdict as a sample.
    pub fn sample(&mut self, v: &Verdict, spam: bool) -> Sample {
        let values = v
            .symbols
            .iter()
            .map(|s| {
                let i = self.add(&s.name, s.metric_score, None);
                let w = self.weights[i];
                let value = if w == 0.0 { 1.0 } else { s.score / w };
                (i, value)
            })
            .collect();
        Sample {
            spam,
            score: v.score,
            values,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Symbol;

    fn sym(name: &str, score: f64, weight: f64) -> Symbol {
        Symbol {
            name: name.into(),
            score,
            metric_score: weight,
            description: None,
            options: Vec::new(),
        }
    }

    #[test]
    fn a_value_is_the_score_over_the_weight_and_rescoring_moves_only_the_difference() {
        let mut t = SymbolTable::default();
        t.add("A", 2.0, Some("g".into()));
        t.add("B", -1.0, None);
        let mut v = Verdict::empty(15.0);
        // A fired with multiplier 0.5, B with 1; 0.25 of the total is hidden composite score.
        v.symbols = vec![sym("A", 1.0, 2.0), sym("B", -1.0, -1.0), sym("Z", 0.0, 0.0)];
        v.score = 0.25;
        let s = t.sample(&v, true);
        assert_eq!(s.values, vec![(0, 0.5), (1, 1.0), (2, 1.0)]);
        assert_eq!(t.find("Z"), Some(2));
        let prior = t.weights.clone();
        assert!((s.rescored(&prior, &prior) - 0.25).abs() < 1e-12);
        let w = vec![4.0, -2.0, 0.0];
        // 0.25 + (4-2)*0.5 + (-2+1)*1
        assert!((s.rescored(&prior, &w) - 0.25).abs() < 1e-12);
        let w = vec![6.0, -1.0, 0.0];
        assert!((s.rescored(&prior, &w) - 2.25).abs() < 1e-12);
    }
}
