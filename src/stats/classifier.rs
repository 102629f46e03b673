//! Rspamd's Bayes approach, in our own code: per-token probabilities from
//! the learned counts, pulled towards 0.5 when a token was seen rarely,
//! combined by Fisher's method (chi-square) into one spam probability.
use super::tokenizer::Token;

/// Counts of one token: how many learned spam and ham messages held it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub spam: u64,
    pub ham: u64,
}

/// Learned messages per class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Learns {
    pub spam: u64,
    pub ham: u64,
}

pub use crate::config::bayes::Tuning;

/// The classifier's answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// Probability that the message is spam, 0..=1.
    pub spam_prob: f64,
    /// Tokens that contributed.
    pub tokens: usize,
}

impl Outcome {
    /// Which side and how sure: `(is_spam, confidence 0..=1)`; `None` when
    /// the probability is too close to 0.5 to call (Rspamd's 0.05 band).
    pub fn decision(&self) -> Option<(bool, f64)> {
        let d = self.spam_prob - 0.5;
        if d.abs() <= 0.05 {
            return None;
        }
        Some((d > 0.0, (d.abs() * 2.0).min(1.0)))
    }
}

/// Why no verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// A class has fewer than `min_learns` messages.
    NotEnoughLearns { spam: u64, ham: u64 },
    /// Too short a message, or too few tokens with evidence (the count).
    NotEnoughTokens(usize),
}

/// OSB weights by distance: adjacent pairs count most (Rspamd's table).
const FEATURE_WEIGHT: [f64; 5] = [0.0, 3125.0, 256.0, 27.0, 1.0];

/// Both classes need `min_learns` messages before Bayes says anything.
pub fn check_learns(tuning: &Tuning, learns: Learns) -> Result<(), Skip> {
    if learns.spam < tuning.min_learns || learns.ham < tuning.min_learns {
        return Err(Skip::NotEnoughLearns {
            spam: learns.spam,
            ham: learns.ham,
        });
    }
    Ok(())
}

/// Classifies from the looked-up counts (`counts[i]` belongs to `tokens[i]`).
pub fn classify(
    tuning: &Tuning,
    learns: Learns,
    tokens: &[Token],
    counts: &[Counts],
) -> Result<Outcome, Skip> {
    check_learns(tuning, learns)?;
    let mut log_spam = 0.0;
    let mut log_ham = 0.0;
    let mut n = 0usize;
    for (tok, c) in tokens.iter().zip(counts) {
        if let Some((ps, ph)) = token_probs(tuning, learns, tok, *c) {
            log_spam += ps.ln();
            log_ham += ph.ln();
            n += 1;
        }
    }
    if tokens.len() < tuning.min_tokens || n < (tuning.min_tokens / 10).max(1) {
        return Err(Skip::NotEnoughTokens(n));
    }
    // Fisher: -2 sum ln p ~ chi-square with 2n degrees of freedom.
    let h = 1.0 - chi2_upper(-2.0 * log_spam, 2 * n);
    let s = 1.0 - chi2_upper(-2.0 * log_ham, 2 * n);
    Ok(Outcome {
        spam_prob: ((s + 1.0 - h) / 2.0).clamp(0.0, 1.0),
        tokens: n,
    })
}

/// The token's spam and ham probabilities, each shrunk towards 0.5 by how
/// rarely it was seen; `None` if it carries no evidence.
fn token_probs(tuning: &Tuning, learns: Learns, tok: &Token, c: Counts) -> Option<(f64, f64)> {
    let total = c.spam + c.ham;
    if total < tuning.min_token_hits.max(1) {
        return None;
    }
    let spam_freq = c.spam as f64 / (learns.spam.max(1) as f64);
    let ham_freq = c.ham as f64 / (learns.ham.max(1) as f64);
    let spam_prob = spam_freq / (spam_freq + ham_freq);
    let fw = FEATURE_WEIGHT[usize::from(tok.distance) % FEATURE_WEIGHT.len()];
    let t = total as f64;
    let w = (fw * t) / (1.0 + fw * t);
    let combine = |p: f64| (w * 0.5 + t * p) / (w + t);
    let ps = combine(spam_prob);
    if (ps - 0.5).abs() < tuning.min_prob_strength {
        return None;
    }
    let ph = combine(1.0 - spam_prob);
    // Clamp away from 0 and 1 so one token can never make ln() infinite.
    let clamp = |p: f64| p.clamp(1e-6, 1.0 - 1e-6);
    Some((clamp(ps), clamp(ph)))
}

/// P(X >= x) for X ~ chi-square with `dof` (even) degrees of freedom:
/// `exp(-m) * sum_{i<dof/2} m^i / i!` with `m = x/2`, summed in log space
/// so that a long message (thousands of tokens) neither underflows to 0
/// nor overflows.
pub fn chi2_upper(x: f64, dof: usize) -> f64 {
    let m = x / 2.0;
    if m <= 0.0 {
        return 1.0;
    }
    let k = dof / 2;
    let ln_m = m.ln();
    let mut terms = Vec::with_capacity(k);
    let mut ln_fact = 0.0;
    for i in 0..k {
        if i > 0 {
            ln_fact += (i as f64).ln();
        }
        terms.push(-m + i as f64 * ln_m - ln_fact);
    }
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = terms.iter().map(|t| (t - max).exp()).sum();
    (max + sum.ln()).exp().min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(h: u64) -> Token {
        Token {
            hash: h,
            distance: 1,
        }
    }

    fn learns() -> Learns {
        Learns {
            spam: 300,
            ham: 300,
        }
    }

    #[test]
    fn chi2_matches_known_values() {
        // dof 2: P = exp(-x/2)
        assert!((chi2_upper(2.0, 2) - (-1.0f64).exp()).abs() < 1e-12);
        // dof 4, x = 4: exp(-2) * (1 + 2)
        assert!((chi2_upper(4.0, 4) - 3.0 * (-2.0f64).exp()).abs() < 1e-12);
        assert_eq!(chi2_upper(0.0, 10), 1.0);
        // Huge x with many dof stays finite and tiny.
        let p = chi2_upper(1e5, 4000);
        assert!(p.is_finite() && p < 1e-10);
    }

    #[test]
    fn spammy_tokens_give_high_probability() {
        let tokens: Vec<Token> = (0..30).map(tok).collect();
        let counts = vec![Counts { spam: 150, ham: 2 }; 30];
        let o = classify(&Tuning::default(), learns(), &tokens, &counts).unwrap();
        assert!(o.spam_prob > 0.99, "{o:?}");
        let (spam, conf) = o.decision().unwrap();
        assert!(spam && conf > 0.95);
    }

    #[test]
    fn hammy_tokens_give_low_probability() {
        let tokens: Vec<Token> = (0..30).map(tok).collect();
        let counts = vec![Counts { spam: 1, ham: 120 }; 30];
        let o = classify(&Tuning::default(), learns(), &tokens, &counts).unwrap();
        assert!(o.spam_prob < 0.01, "{o:?}");
        assert!(!o.decision().unwrap().0);
    }

    #[test]
    fn balanced_evidence_is_undecided() {
        let tokens: Vec<Token> = (0..40).map(tok).collect();
        let mut counts = vec![Counts { spam: 100, ham: 3 }; 20];
        counts.extend(vec![Counts { spam: 3, ham: 100 }; 20]);
        let o = classify(&Tuning::default(), learns(), &tokens, &counts).unwrap();
        assert!(o.decision().is_none(), "{o:?}");
    }

    #[test]
    fn min_learns_gates_scoring() {
        let tokens: Vec<Token> = (0..30).map(tok).collect();
        let counts = vec![Counts { spam: 50, ham: 0 }; 30];
        let few = Learns {
            spam: 199,
            ham: 500,
        };
        assert_eq!(
            classify(&Tuning::default(), few, &tokens, &counts),
            Err(Skip::NotEnoughLearns {
                spam: 199,
                ham: 500
            })
        );
    }

    #[test]
    fn short_message_gets_no_verdict_however_spammy() {
        let tokens: Vec<Token> = (0..10).map(tok).collect();
        let counts = vec![Counts { spam: 150, ham: 0 }; 10];
        assert_eq!(
            classify(&Tuning::default(), learns(), &tokens, &counts),
            Err(Skip::NotEnoughTokens(10))
        );
    }

    #[test]
    fn few_known_tokens_in_a_long_message_still_decide() {
        // 40 tokens, only 3 ever learned: Rspamd needs min_tokens / 10 of
        // them, not min_tokens, so a message of mostly new words is judged
        // by the words it shares with the corpus.
        let tokens: Vec<Token> = (0..40).map(tok).collect();
        let mut counts = vec![Counts::default(); 40];
        for c in counts.iter_mut().take(3) {
            *c = Counts { spam: 120, ham: 1 };
        }
        let o = classify(&Tuning::default(), learns(), &tokens, &counts).unwrap();
        assert_eq!(o.tokens, 3);
        assert!(o.decision().is_some_and(|(spam, _)| spam), "{o:?}");
    }

    #[test]
    fn unseen_and_rare_tokens_are_ignored() {
        let tokens: Vec<Token> = (0..30).map(tok).collect();
        let unseen = vec![Counts::default(); 30];
        assert_eq!(
            classify(&Tuning::default(), learns(), &tokens, &unseen),
            Err(Skip::NotEnoughTokens(0))
        );
        let once = vec![Counts { spam: 1, ham: 0 }; 30];
        let strict = Tuning {
            min_token_hits: 2,
            ..Tuning::default()
        };
        assert_eq!(
            classify(&strict, learns(), &tokens, &once),
            Err(Skip::NotEnoughTokens(0))
        );
        // By default a token learned once is evidence, shrunk towards 0.5.
        let o = classify(&Tuning::default(), learns(), &tokens, &once).unwrap();
        assert_eq!(o.tokens, 30);
        assert!(o.decision().is_some_and(|(spam, _)| spam), "{o:?}");
    }
}
