use super::*;
use crate::scan::actions::{ActionDef, ActionSet};
use crate::verdict::Action;

fn meta(name: &str, weight: f64, group: Option<usize>, max_shots: u32) -> SymbolMeta {
    SymbolMeta {
        group,
        max_shots,
        ..SymbolMeta::new(name, weight)
    }
}

fn scorer(max: Option<f64>, min: Option<f64>, one_shot: bool, grow: f64) -> Scorer {
    Scorer {
        groups: vec![GroupMeta {
            name: "g".into(),
            max_score: max,
            min_score: min,
            one_shot,
        }],
        actions: ActionSet::new(vec![ActionDef {
            name: "reject".into(),
            effect: Action::Reject,
            threshold: Some(15.0),
        }]),
        grow_factor: grow,
    }
}

#[test]
fn dynamic_multiplier_and_shots() {
    let s = scorer(None, None, false, 1.0);
    let syms = vec![meta("MULTI", 2.0, None, 3), meta("ONE", 2.0, None, 1)];
    let mut b = ScoreBoard::new(&s, &syms);
    b.insert(0, 0.5, Some("a"));
    b.insert(0, 1.0, Some("b"));
    b.insert(0, 1.0, Some("a"));
    b.insert(0, 1.0, Some("c")); // fourth shot: no score, option kept
    assert_eq!(b.get(0).unwrap().score, 1.0 + 2.0 + 2.0);
    assert_eq!(b.get(0).unwrap().options, ["a", "b", "c"]);
    // One-shot keeps the strongest shot only.
    b.insert(1, 0.5, None);
    b.insert(1, 1.5, None);
    b.insert(1, 0.2, None);
    assert_eq!(b.get(1).unwrap().score, 3.0);
    assert_eq!(b.total(), 5.0 + 3.0);
}

#[test]
fn group_caps_positive_and_negative_totals() {
    let s = scorer(Some(2.0), Some(-1.5), false, 1.0);
    let syms = vec![
        meta("A", 2.0, Some(0), 100),
        meta("B", 2.0, Some(0), 100),
        meta("N1", -1.0, Some(0), 100),
        meta("N2", -1.0, Some(0), 100),
        meta("D", 5.0, None, 100),
    ];
    let mut b = ScoreBoard::new(&s, &syms);
    // The group total is signed: negatives first leave more room above.
    for i in [2, 3, 0, 1, 4] {
        b.insert(i, 1.0, None);
    }
    let (out, total) = b.into_symbols();
    let score = |n: &str| out.iter().find(|s| s.name == n).unwrap().score;
    assert_eq!(score("N2"), -0.5, "capped at min_score -1.5");
    assert_eq!(score("A"), 2.0);
    assert_eq!(score("B"), 1.5, "capped at max_score 2 over -1.5");
    assert_eq!(total, -1.0 - 0.5 + 2.0 + 1.5 + 5.0);
    assert_eq!(out[0].name, "D", "sorted by magnitude");
}

#[test]
fn one_shot_group_and_grow_factor() {
    let s = scorer(None, None, true, 1.0);
    let syms = vec![meta("G", 1.0, Some(0), 100)];
    let mut b = ScoreBoard::new(&s, &syms);
    b.insert(0, 1.0, None);
    b.insert(0, 1.0, None);
    assert_eq!(b.total(), 1.0, "one-shot group");

    let s = scorer(None, None, false, 1.5);
    let syms = vec![
        meta("P1", 2.0, None, 100),
        meta("NEG", -1.0, None, 100),
        meta("P2", 2.0, None, 100),
    ];
    let mut b = ScoreBoard::new(&s, &syms);
    b.insert(0, 1.0, None);
    b.insert(1, 1.0, None);
    b.insert(2, 1.0, None);
    assert_eq!(b.get(2).unwrap().score, 3.0, "second positive grows by 1.5");
    assert_eq!(b.get(1).unwrap().score, -1.0, "negatives do not grow");
}

#[test]
fn composite_removals_and_one_param() {
    let s = scorer(None, None, false, 1.0);
    let mut one = meta("ONE_PARAM", 1.0, None, 100);
    one.one_param = true;
    let syms = vec![one, meta("X", 4.0, None, 100)];
    let mut b = ScoreBoard::new(&s, &syms);
    b.insert(0, 1.0, Some("first"));
    b.insert(0, 1.0, Some("second"));
    assert_eq!(b.get(0).unwrap().options, ["first"]);
    b.insert(1, 1.0, None);
    b.remove_weight(1);
    assert_eq!(b.get(1).unwrap().score, 0.0);
    b.hide(0);
    assert!(b.get(0).is_none());
    let (out, total) = b.into_symbols();
    assert_eq!(out.len(), 1);
    assert_eq!(total, 2.0, "hidden symbol keeps its weight");
    // Unknown indexes are ignored, never a panic.
    let mut b = ScoreBoard::new(&s, &syms);
    b.insert(99, 1.0, None);
    b.insert(1, f64::NAN, None);
    assert_eq!(b.total(), 0.0);
}
