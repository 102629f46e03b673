//! The in-process scan pipeline: (envelope, raw message) ->
//! [`Verdict`](crate::verdict::Verdict); [`local`] puts it behind the
//! transports' [`Scanner`] trait.
//!
//! # Flow
//! 1. [`crate::message`]: parse once with `mail-parser` into a
//!    [`MessageView`](crate::message::MessageView), the message as data.
//! 2. [`gtube`]: Rspamd's GTUBE pre-result; a hit ends the scan.
//!    Before the pipeline, [`auth`] (SPF, DKIM, DMARC, ARC) runs as an asynchronous phase in
//!    [`local`]; its symbols enter the scan with the modules' (step 4).
//!    [`whitelist`] reads them right after they are scored.
//! 3. [`multimap`]: list lookups; a prefilter hit with an action ends it.
//! 4. [`modules`]: content checks in code (mime_types, phishing, mid,
//!    received, forged_recipients, chartable, hfilter, html, subject,
//!    from_checks); their symbols are scored before the regexp rules run,
//!    so the early stop accounts for them.
//!    Bayes ([`bayes`]) then adds BAYES_SPAM / BAYES_HAM through a
//!    classifier trait; it never writes to the store during the scan.
//! 5. [`schedule`] / [`rules`] / [`expr`]: regexp rules, cheap and
//!    negative first, each regex scope ([`regex_bank`]) matched in one pass
//!    when first needed; stops when the action can no longer change.
//!    Scopes of many patterns first pass an Aho-Corasick literal prefilter
//!    ([`prefilter`]) so only patterns whose literals occur are run.
//! 6. [`score`]: insertions, shots, group caps, grow factor.
//! 7. [`composites`], then [`force_actions`]; [`actions`] picks the action.
//! 8. [`headers`]: `X-Spam*` spoof removal, `X-Spamd-Result`, Subject.
//!
//! [`explain`] renders a traced scan for `sluice scan --explain`. The
//! sections the engines are built from are read once, in
//! [`crate::config::rules`].
pub mod actions;
pub mod auth;
pub mod bayes;
pub mod composites;
pub mod context;
pub mod error;
pub mod explain;
pub mod expr;
pub mod force_actions;
pub mod fuzzy;
pub mod gtube;
pub mod headers;
pub mod inline;
pub mod local;
pub mod lua;
pub mod modules;
pub mod multimap;
pub mod neural;
pub mod pipeline;
pub mod prefilter;
pub mod rbl;
pub mod regex_bank;
pub mod report;
pub mod rules;
pub mod schedule;
pub mod score;
pub mod settings;
pub mod stats;
pub mod symbols;
pub mod whitelist;
pub mod workers;

pub use error::ScanConfigError;
pub use local::LocalScanner;
pub use pipeline::{Pipeline, Scanned};
// The scan request and trait live with the verdict, where the transports
// find them; re-exported for callers of the pipeline.
pub use crate::verdict::{ScanError, ScanOptions, ScanRequest, Scanner, SymbolInfo};
