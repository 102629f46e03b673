//! What a transport hands a scanner and what it may ask of it: the scan
//! request, the [`Scanner`] trait, its error, and a read-only look at the
//! rules ([`RuleBook`]). The in-process pipeline (`scan/`) and the upstream
//! scanners (`forward/`) implement [`Scanner`]; `milter/` and `http/` only
//! call it.
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::settings::ScanSettings;
use super::{Action, Verdict};
use crate::message::Envelope;

/// Where an in-process scan runs, as the transport's caller decides: only
/// it knows whether the current thread may be held up by a scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Placement {
    /// On the process's scan threads; the caller's thread keeps serving.
    #[default]
    Pool,
    /// On the calling thread, for a thread that serves milter sessions on a
    /// runtime of its own (the scanner may still send a large message to
    /// the pool).
    Inline,
}

/// Per-request switches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanOptions {
    /// Evaluate every rule even when the action is settled.
    pub pass_all: bool,
    /// The request's settings (`Settings` / `Settings-ID`); with any, every
    /// rule is evaluated, since the early stop judges by the configured
    /// thresholds and counts symbols the settings may drop.
    pub settings: Option<Arc<ScanSettings>>,
    /// Rspamd's `ANN-Train` request header: the message's symbols go to the
    /// neural module's training set of this class, whatever its score.
    pub ann_train: Option<AnnTrain>,
    /// The scan of an explicit learn (controller `/learnspam`, `/learnham`):
    /// it only gathers the message's symbols for the neural training set,
    /// so it records nothing else: no greylisting or rate limit state, no
    /// Bayes autolearn (the learn itself writes Bayes), no signing.
    pub learn_only: bool,
}

/// The class an explicit neural training request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnTrain {
    Spam,
    Ham,
}

/// One message to scan: the envelope and the raw RFC 5322 bytes
/// (CRLF or LF line ends).
#[derive(Debug, Clone)]
pub struct ScanRequest {
    pub envelope: Envelope,
    pub message: bytes::Bytes,
    /// Per-request switches (`Pass: all`, `Settings`); the milter sends none.
    pub options: ScanOptions,
    pub placement: Placement,
}

/// Why a scan produced no verdict. The message is meant for the 451 reply
/// text and the log line, so it states the cause in a few words.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The blocking task running the pipeline panicked or was cancelled.
    #[error("scan task failed: {reason}")]
    TaskFailed { reason: String },
    /// Forward mode: no upstream scanner gave a usable verdict within the
    /// message's deadline (all failed, retries used up, or an error reply).
    #[error("upstream scan failed: {reason}")]
    Upstream { reason: String },
}

/// The future a scan returns; boxed so that a scanner can be a trait object.
pub type ScanFuture = Pin<Box<dyn Future<Output = Result<Verdict, ScanError>> + Send + 'static>>;

/// Anything that turns a request into a verdict: the in-process pipeline,
/// or upstream Rspamd scanners.
pub trait Scanner: Send + Sync + 'static {
    fn scan(&self, req: Arc<ScanRequest>) -> ScanFuture;

    /// The rules this scanner applies itself, for the controller's views
    /// and for answers given without a scan. Scanners that forward to other
    /// hosts have none.
    fn rules(&self) -> Option<Arc<dyn RuleBook>> {
        None
    }

    /// Whether scans are CPU work in this process (rather than waits on
    /// other hosts): the server then serves milter sessions on threads that
    /// scan in place.
    fn in_process(&self) -> bool {
        false
    }
}

/// Read-only facts about one symbol, for the controller's views.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolInfo {
    pub name: String,
    pub weight: f64,
    pub description: Option<String>,
    pub group: Option<String>,
    /// Times it fired since the pipeline was built (config load or reload).
    pub hits: u64,
}

/// What one regexp rule cost since the rules were loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleCost {
    pub symbol: String,
    pub evaluations: u64,
    /// Average over the timed evaluations; `None` if none was timed.
    pub avg_time: Option<Duration>,
}

/// A read-only look at the rules behind a scanner: what the controller
/// reports and the HTTP side needs to answer without scanning.
pub trait RuleBook: Send + Sync {
    /// Rspamd's `required_score`.
    fn required_score(&self) -> f64;
    /// Actions with a numeric threshold, mildest first.
    fn thresholds(&self) -> Vec<(Action, f64)>;
    /// Configured group names, in config order.
    fn group_names(&self) -> Vec<String>;
    /// Every known symbol with its weight, group and hit count.
    fn symbols(&self) -> Vec<SymbolInfo>;
    /// Every regexp rule's evaluations and time.
    fn rule_costs(&self) -> Vec<RuleCost>;
    /// The `Settings-ID` profile of that name, if configured.
    fn settings_profile(&self, id: &str) -> Option<Arc<ScanSettings>>;
    /// The map files the rules read (the controller's `/maps`).
    fn map_files(&self) -> Vec<MapFile> {
        Vec::new()
    }
    /// Whether these rules have a neural module that learns, so that an
    /// explicit learn should also scan the message for its training sets.
    fn learns_neural(&self) -> bool {
        false
    }
    /// Whether `expr` is a selector these rules can evaluate (the
    /// controller's `check_selector`); `Err` says why not.
    fn check_selector(&self, expr: &str) -> Result<(), String> {
        Err(format!("selector `{expr}`: no selectors here"))
    }
    /// The values selector `expr` takes on message `raw` (the controller's
    /// `check_message`); `Err` says why there are none.
    fn select(&self, expr: &str, raw: &[u8]) -> Result<Vec<String>, String> {
        let _ = raw;
        Err(format!("selector `{expr}`: no selectors here"))
    }
}

/// A map file a rule reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapFile {
    /// What the WebUI shows: the rule that reads it.
    pub description: String,
    pub path: std::path::PathBuf,
}
