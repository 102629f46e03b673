//! `--max-fp RATE`: thresholds that keep ham flagged ("add header" or
//! worse) under RATE, and no ham at "reject".
use super::report::Counts;

/// The proposed thresholds and how they did cross-validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub rate: f64,
    /// For "add header", from every message's cross-validated score.
    pub flag: f64,
    /// For "reject": the configured one, or above the highest ham.
    pub reject: Option<f64>,
    /// Each fold's threshold chosen on its training folds alone and
    /// applied to its test fold, summed over the folds.
    pub checked: Counts,
    pub checked_reject_ham: usize,
}

/// The lowest threshold (on a 0.01 grid) with at most `rate` of `ham` at or above it.
pub fn flag_threshold(ham: &[f64], rate: f64) -> f64 {
    let mut sorted = ham.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let allowed = (rate * sorted.len() as f64).floor() as usize;
    match sorted.get(allowed) {
        Some(&h) => above(h),
        None => sorted.last().map_or(0.0, |&h| (h * 100.0).floor() / 100.0),
    }
}

/// `configured`, or the first 0.01 step above every ham when one reaches it.
pub fn reject_threshold(ham: &[f64], configured: f64) -> f64 {
    let top = ham.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if top >= configured {
        above(top)
    } else {
        configured
    }
}

/// The next 0.01 step strictly above `x`.
fn above(x: f64) -> f64 {
    let t = (x * 100.0).floor() / 100.0 + 0.01;
    if t > x {
        t
    } else {
        t + 0.01
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_keep_ham_under_the_rate() {
        let ham: Vec<f64> = (0..100).map(f64::from).map(|x| x / 10.0).collect();
        // 1% of 100 = 1 ham allowed: above the second highest (9.8).
        let t = flag_threshold(&ham, 0.01);
        assert!((t - 9.81).abs() < 1e-9, "{t}");
        assert_eq!(ham.iter().filter(|&&h| h >= t).count(), 1);
        let t = flag_threshold(&ham, 0.0);
        assert!(ham.iter().all(|&h| h < t), "{t}");
        assert!((reject_threshold(&ham, 15.0) - 15.0).abs() < 1e-12);
        let r = reject_threshold(&ham, 5.0);
        assert!(r > 9.9 && r <= 9.91 + 1e-9, "{r}");
    }
}
