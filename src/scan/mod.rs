//! The in-process scan pipeline: (envelope, raw message) -> [`Verdict`].
//!
//! # Flow
//! 1. [`message`]: parse once with `mail-parser`; build a view of decoded and
//!    raw headers, text parts (HTML as text), URLs and addresses ([`extract`]).
//! 2. [`gtube`]: Rspamd's GTUBE pre-result; a hit ends the scan.
//! 3. [`multimap`]: list lookups; a prefilter hit with an action ends it.
//! 4. [`modules`]: content checks in code (mime_types, phishing, mid,
//!    received, forged_recipients, chartable, hfilter, html, subject,
//!    from_checks); their symbols are scored before the regexp rules run,
//!    so the early stop accounts for them.
//! 5. [`schedule`] / [`rules`] / [`expr`]: regexp rules, cheap and
//!    negative first, each regex scope ([`regex_bank`]) matched in one pass
//!    when first needed; stops when the action can no longer change.
//!    Scopes of many patterns first pass an Aho-Corasick literal prefilter
//!    ([`prefilter`]) so only patterns whose literals occur are run.
//! 6. [`score`]: insertions, shots, group caps, grow factor.
//! 7. [`composites`], then [`force_actions`]; [`actions`] picks the action.
//! 8. [`headers`]: `X-Spam*` spoof removal, `X-Spamd-Result`, Subject.
//!
//! [`explain`] renders a traced scan for `sluice scan --explain`.
pub mod actions;
pub mod composites;
pub mod config;
pub mod context;
pub mod error;
pub mod explain;
pub mod expr;
pub mod extract;
pub mod force_actions;
pub mod gtube;
pub mod headers;
pub mod html_text;
pub mod inline;
pub mod lua;
pub mod message;
pub mod modules;
pub mod multimap;
pub mod pipeline;
pub mod prefilter;
pub mod regex_bank;
pub mod report;
pub mod rules;
pub mod schedule;
pub mod score;
pub mod settings;
pub mod stats;
pub mod symbols;
pub mod workers;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use error::{ScanConfigError, ScanError};
pub use pipeline::{Pipeline, ScanOptions, SymbolInfo};

use crate::message::Envelope;
use crate::verdict::Verdict;

/// One message to scan: the envelope and the raw RFC 5322 bytes
/// (CRLF or LF line ends).
#[derive(Debug, Clone)]
pub struct ScanRequest {
    pub envelope: Envelope,
    pub message: bytes::Bytes,
    /// Per-request switches (`Pass: all`, `Settings`); the milter sends none.
    pub options: ScanOptions,
}

/// Anything that turns a request into a verdict: the local pipeline now,
/// upstream Rspamd scanners later. Boxed future so it can be a trait object.
pub trait Scanner: Send + Sync + 'static {
    fn scan(
        &self,
        req: Arc<ScanRequest>,
    ) -> Pin<Box<dyn Future<Output = Result<Verdict, ScanError>> + Send + 'static>>;

    /// The in-process pipeline behind this scanner, if there is one: the
    /// controller reads symbol metadata, thresholds and hit counters from it.
    /// Scanners that forward to other hosts have none.
    fn pipeline(&self) -> Option<Arc<Pipeline>> {
        None
    }
}

/// Runs a [`Pipeline`] on the process's scan threads ([`workers`]), so
/// CPU-bound scans never stall the reactor that serves milter sessions;
/// on a milter session thread, small messages are scanned in place
/// ([`inline`]).
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
        if inline::applies(req.message.len()) {
            let verdict = inline::run(|| {
                self.pipeline
                    .scan_with(&req.envelope, &req.message, req.options.clone())
            });
            return Box::pin(std::future::ready(verdict.map_err(|e| {
                ScanError::TaskFailed {
                    reason: e.to_string(),
                }
            })));
        }
        let pipeline = Arc::clone(&self.pipeline);
        Box::pin(async move {
            workers::ScanPool::global()
                .run(move || pipeline.scan_with(&req.envelope, &req.message, req.options.clone()))
                .await
                .map_err(|e| ScanError::TaskFailed {
                    reason: e.to_string(),
                })
        })
    }

    fn pipeline(&self) -> Option<Arc<Pipeline>> {
        Some(Arc::clone(&self.pipeline))
    }
}
