//! Bayes as the pipeline sees it: a classifier it asks once per scan,
//! before the rules, and once more when the score is known, for what
//! autolearn should learn. Neither call writes: the store's owner learns
//! the returned [`Learnable`] after the verdict ([`Scanned::learned_by`]).
//!
//! [`Scanned::learned_by`]: super::pipeline::Scanned::learned_by
use futures_util::future::BoxFuture;

use crate::message::{Envelope, MessageView};
use crate::stats::{Ahead, BayesHit, Learnable, Stats};

/// What the pipeline needs of a Bayes classifier.
pub trait Classifier: Send + Sync + std::fmt::Debug {
    /// BAYES_SPAM or BAYES_HAM with its confidence; `None` when undecided
    /// or the store cannot answer (a scan never fails for Bayes).
    fn classify(&self, env: &Envelope, view: &MessageView<'_>) -> Option<BayesHit>;

    /// What autolearn should learn for a message of `score`, if anything.
    fn autolearn(&self, env: &Envelope, view: &MessageView<'_>, score: f64) -> Option<Learnable>;

    /// Whether [`Classifier::ahead`] may give a lookup.
    fn looks_up_ahead(&self) -> bool {
        false
    }

    /// The message's lookup started ahead of the scan, for a store that can
    /// ([`Stats::ahead`]); `None`: [`Classifier::classify`] does it in the scan.
    fn ahead(&self, _env: &Envelope, _view: &MessageView<'_>) -> Option<BoxFuture<'static, Ahead>> {
        None
    }

    /// [`Classifier::classify`] on a lookup made ahead.
    fn classify_ahead(&self, _ahead: &Ahead) -> Option<BayesHit> {
        None
    }
}

impl Classifier for Stats {
    fn classify(&self, env: &Envelope, view: &MessageView<'_>) -> Option<BayesHit> {
        Stats::classify(self, env, view)
    }

    fn ahead(&self, env: &Envelope, view: &MessageView<'_>) -> Option<BoxFuture<'static, Ahead>> {
        Stats::ahead(self, env, view).map(|f| Box::pin(f) as BoxFuture<'static, Ahead>)
    }

    fn classify_ahead(&self, ahead: &Ahead) -> Option<BayesHit> {
        Stats::classify_ahead(self, ahead)
    }

    fn looks_up_ahead(&self) -> bool {
        Stats::looks_up_ahead(self)
    }

    fn autolearn(&self, env: &Envelope, view: &MessageView<'_>, score: f64) -> Option<Learnable> {
        self.autolearn_candidate(env, view, score)
    }
}
