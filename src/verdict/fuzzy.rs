//! What the controller's `/fuzzyadd` and `/fuzzydel` ask of fuzzy_check,
//! without depending on the scan: the running configuration publishes its
//! learner here, the transports find it here.
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};

/// A learn that failed: the status and message the controller answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuzzyLearnError {
    pub status: u16,
    pub message: String,
}

/// The digests a learn sent (hex), or why it failed.
pub type FuzzyLearnFuture =
    Pin<Box<dyn Future<Output = Result<Vec<String>, FuzzyLearnError>> + Send + 'static>>;

/// Writes or deletes a message's fuzzy hashes in the configured storages.
pub trait FuzzyLearner: Send + Sync + std::fmt::Debug {
    /// The flag a `fuzzy_map` symbol names.
    fn flag_of_symbol(&self, symbol: &str) -> Option<u32>;
    /// Adds (`add`) or deletes the hashes of `raw` with `flag` and `weight`.
    fn learn(&self, raw: bytes::Bytes, add: bool, flag: u32, weight: i32) -> FuzzyLearnFuture;
}

fn running() -> &'static Mutex<Option<Arc<dyn FuzzyLearner>>> {
    static RUNNING: OnceLock<Mutex<Option<Arc<dyn FuzzyLearner>>>> = OnceLock::new();
    RUNNING.get_or_init(Mutex::default)
}

/// Makes `learner` the running configuration's (replaced on reload).
pub fn publish(learner: Option<Arc<dyn FuzzyLearner>>) {
    *running().lock().unwrap_or_else(|e| e.into_inner()) = learner;
}

/// The running configuration's learner, if it has fuzzy rules.
pub fn current() -> Option<Arc<dyn FuzzyLearner>> {
    running().lock().unwrap_or_else(|e| e.into_inner()).clone()
}
