//! The in-process scan pipeline: (envelope, raw message) -> [`Verdict`].
//!
//! # Flow
//! 1. [`message`]: parse once with `mail-parser`; build a view of decoded and
//!    raw headers, text parts (HTML as text), URLs and addresses ([`extract`]).
//! 2. [`gtube`]: Rspamd's GTUBE pre-result; a hit ends the scan.
//! 3. [`regex_bank`]: every regexp of every rule, one `RegexSet` per match
//!    scope, one pass per haystack.
//!    Scopes of many patterns first pass an Aho-Corasick literal prefilter
//!    ([`prefilter`]) so only patterns whose literals occur are run.
//! 4. [`rules`] / [`expr`]: each rule's expression over those results.
//!    Then [`modules`]: content checks in code (mime_types, phishing, mid,
//!    received, forged_recipients, chartable, hfilter, html, subject,
//!    from_checks); their symbols join the regexp rules' before scoring.
//! 5. [`score`]: weights, group caps, action by threshold.
//! 6. [`headers`]: `X-Spam*` spoof removal, `X-Spamd-Result`, Subject.
//!
//! Not applied yet: `actions.grow_factor` (parsed, ignored), symbol options
//! for regexp rules (Rspamd attaches none by default either).
pub mod config;
pub mod error;
pub mod expr;
pub mod extract;
pub mod gtube;
pub mod headers;
pub mod message;
pub mod modules;
pub mod pipeline;
pub mod prefilter;
pub mod regex_bank;
pub mod report;
pub mod rules;
pub mod score;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use error::{ScanConfigError, ScanError};
pub use pipeline::Pipeline;

use crate::message::Envelope;
use crate::verdict::Verdict;

/// One message to scan: the envelope and the raw RFC 5322 bytes
/// (CRLF or LF line ends).
#[derive(Debug, Clone)]
pub struct ScanRequest {
    pub envelope: Envelope,
    pub message: bytes::Bytes,
}

/// Anything that turns a request into a verdict: the local pipeline now,
/// upstream Rspamd scanners later. Boxed future so it can be a trait object.
pub trait Scanner: Send + Sync + 'static {
    fn scan(
        &self,
        req: Arc<ScanRequest>,
    ) -> Pin<Box<dyn Future<Output = Result<Verdict, ScanError>> + Send + 'static>>;
}

/// Runs a [`Pipeline`] on tokio's blocking pool, so CPU-bound scans never
/// stall the reactor that serves milter sessions.
#[derive(Debug, Clone)]
pub struct LocalScanner {
    pipeline: Arc<Pipeline>,
}

impl LocalScanner {
    pub fn new(p: Arc<Pipeline>) -> Self {
        LocalScanner { pipeline: p }
    }
}

impl Scanner for LocalScanner {
    fn scan(
        &self,
        req: Arc<ScanRequest>,
    ) -> Pin<Box<dyn Future<Output = Result<Verdict, ScanError>> + Send + 'static>> {
        let pipeline = Arc::clone(&self.pipeline);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || pipeline.scan(&req.envelope, &req.message))
                .await
                .map_err(|e| ScanError::TaskFailed {
                    reason: e.to_string(),
                })
        })
    }
}
