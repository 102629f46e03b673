use super::*;

fn sample(spam: bool, values: &[(usize, f64)], prior: &[f64]) -> Sample {
    Sample {
        spam,
        score: values.iter().map(|&(i, v)| prior[i] * v).sum(),
        values: values.to_vec(),
    }
}

fn params() -> FitParams {
    FitParams {
        lambda: 0.001,
        min_hits: 3,
        ..FitParams::default()
    }
}

/// Spam has A (and sometimes C), ham has B (and sometimes C); under the
/// shipped weights nothing reaches the flag.
fn separable(prior: &[f64]) -> Vec<Sample> {
    let mut out = Vec::new();
    for i in 0..40 {
        let c = if i % 2 == 0 { 1.0 } else { 0.0 };
        out.push(sample(true, &[(0, 1.0), (2, c)], prior));
        out.push(sample(false, &[(1, 1.0), (2, c)], prior));
    }
    out
}

#[test]
fn a_separable_set_is_fitted_to_flag_spam_and_spare_ham() {
    let prior = [1.0, -0.5, 0.5];
    let set = separable(&prior);
    let refs: Vec<&Sample> = set.iter().collect();
    let before = refs
        .iter()
        .filter(|s| s.spam && s.rescored(&prior, &prior) >= 6.0)
        .count();
    assert_eq!(before, 0);
    let w = fit(&prior, &refs, &params());
    for s in &refs {
        let score = s.rescored(&prior, &w);
        if s.spam {
            assert!(score >= 6.0, "spam at {score} under {w:?}");
        } else {
            assert!(score < 6.0, "ham at {score} under {w:?}");
        }
    }
    assert!(w[0] > 6.0, "{w:?}");
}

#[test]
fn signs_hold_against_the_data() {
    // A is shipped negative but only spam has it; B shipped positive but only ham has it.
    let prior = [-1.0, 2.0, 4.0];
    let mut set = Vec::new();
    for _ in 0..30 {
        set.push(sample(true, &[(0, 1.0), (2, 1.0)], &prior));
        set.push(sample(false, &[(1, 1.0)], &prior));
    }
    let refs: Vec<&Sample> = set.iter().collect();
    let w = fit(&prior, &refs, &params());
    assert!(w[0] <= 0.0, "A flipped positive: {w:?}");
    assert!(w[1] >= 0.0, "B flipped negative: {w:?}");
    // A is pressed against its bound, B moved down, and the free rule did the work.
    assert!(w[0].abs() < 1e-9, "{w:?}");
    assert!(w[1] < 2.0, "{w:?}");
    assert!(w[2] > 6.0, "{w:?}");
}

#[test]
fn rare_and_zero_weight_rules_keep_their_weight() {
    // C (weight 0) fires on half the messages; D on two ham only, fewer than min_hits.
    let prior = [1.0, -0.5, 0.0, 3.0];
    let mut set = separable(&prior);
    set.push(sample(false, &[(3, 1.0)], &prior));
    set.push(sample(false, &[(3, 1.0)], &prior));
    let refs: Vec<&Sample> = set.iter().collect();
    let w = fit(&prior, &refs, &params());
    assert_eq!(w[3], 3.0);
    assert_eq!(w[2], 0.0);
    assert!(w[0] > 1.0, "{w:?}");
}

#[test]
fn the_prior_pulls_harder_on_a_rule_with_little_evidence() {
    // A fires on 40 spam, D on 4 spam (both enough to be fitted); the
    // same strong pull leaves D closer to its shipped weight.
    let prior = [1.0, 0.0, 0.0, 1.0];
    let mut set = Vec::new();
    for i in 0..40 {
        let v: &[(usize, f64)] = if i < 4 {
            &[(0, 1.0), (3, 1.0)]
        } else {
            &[(0, 1.0)]
        };
        set.push(sample(true, v, &prior));
        set.push(sample(false, &[], &prior));
    }
    let refs: Vec<&Sample> = set.iter().collect();
    let p = FitParams {
        lambda: 0.05,
        ..params()
    };
    let w = fit(&prior, &refs, &p);
    assert!(w[0] - 1.0 > 2.0 * (w[3] - 1.0), "{w:?}");
    // With no pull at all D moves further.
    let loose = fit(&prior, &refs, &FitParams { lambda: 0.0, ..p });
    assert!(loose[3] > w[3], "{loose:?} vs {w:?}");
}

#[test]
fn inner_cross_validation_picks_a_listed_lambda() {
    let prior = [1.0, -0.5, 0.5];
    let set = separable(&prior);
    let refs: Vec<&Sample> = set.iter().collect();
    let folds: Vec<usize> = (0..refs.len()).map(|i| i % 3).collect();
    let l = choose_lambda(&prior, &refs, &folds, &params());
    assert!(LAMBDAS.contains(&l));
    // On separable data the weakest pull fits best.
    assert_eq!(l, LAMBDAS[0]);
}

/// Spam has A (half of it also C); a few ham have A alone: no weights
/// separate those from the spam without C.
fn overlapping(prior: &[f64]) -> Vec<Sample> {
    let mut out = Vec::new();
    for i in 0..40 {
        let c = if i % 2 == 0 { 1.0 } else { 0.0 };
        out.push(sample(true, &[(0, 1.0), (2, c)], prior));
        // One ham in five looks exactly like the spam without C.
        let ham: &[(usize, f64)] = if i % 5 == 0 { &[(0, 1.0)] } else { &[(1, 1.0)] };
        out.push(sample(false, ham, prior));
    }
    out
}

#[test]
fn a_dearer_ham_flags_fewer_ham() {
    let prior = [2.0, -0.5, 1.0];
    let set = overlapping(&prior);
    let refs: Vec<&Sample> = set.iter().collect();
    let flagged = |w: &[f64]| {
        refs.iter()
            .filter(|s| !s.spam && s.rescored(&prior, w) >= 6.0)
            .count()
    };
    let cheap = fit(&prior, &refs, &params());
    let dear = fit(
        &prior,
        &refs,
        &FitParams {
            ham_cost: 10.0,
            ..params()
        },
    );
    assert!(dear[0] < cheap[0], "{dear:?} vs {cheap:?}");
    assert!(flagged(&dear) <= flagged(&cheap));
    assert!(flagged(&cheap) > 0, "{cheap:?}");
    assert_eq!(flagged(&dear), 0, "{dear:?}");
}

#[test]
fn inner_cross_validation_picks_a_listed_cost_and_lambda() {
    let prior = [2.0, -0.5, 1.0];
    let set = overlapping(&prior);
    let refs: Vec<&Sample> = set.iter().collect();
    let folds: Vec<usize> = (0..refs.len()).map(|i| i % 4).collect();
    let q = choose_cost(&prior, &refs, &folds, &params(), 0.0);
    assert!(HAM_COSTS.contains(&q.ham_cost), "{q:?}");
    assert!(LAMBDAS.contains(&q.lambda), "{q:?}");
    assert_eq!(q.min_hits, params().min_hits);
}
