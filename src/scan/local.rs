//! The in-process pipeline as a [`Scanner`]: scans on the process's scan
//! threads ([`super::workers`]), so CPU-bound scans never stall the reactor
//! that serves milter sessions, or in place when the request's
//! [`Placement`] allows it ([`super::inline`]); and the pipeline as the
//! [`RuleBook`] the controller reads.
//!
//! With the auth checks configured, each scan first awaits their phase ([`super::auth`]):
//! DNS waits happen there, as awaits on the caller's runtime, never inside the CPU pipeline.
//! When the phase reads the parsed message (the DNS lists, fuzzy_check), the message is
//! parsed once before it and that parse goes on to the pipeline. With the state modules
//! on Redis, the Bayes lookup is made in this phase too, beside their calls: on a shared
//! connection one round trip carries them all.
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::auth::{AuthChecks, AuthOutcome};
use super::fuzzy::check::FuzzyChecks;
use super::{inline, workers, Pipeline};
use crate::message::Parsed;
use crate::scan::rbl::ListHit;
use crate::sign::Signer;
use crate::state::StateChecks;
use crate::stats::Stats;
use crate::verdict::{
    Action, RuleBook, RuleCost, ScanError, ScanFuture, ScanRequest, ScanSettings, Scanner,
    SymbolInfo, Verdict,
};

/// The local pipeline behind the [`Scanner`] trait.
///
/// It owns the Bayes store's write side: autolearn happens here, after the
/// pipeline has decided the verdict.
#[derive(Debug, Clone)]
pub struct LocalScanner {
    pipeline: Arc<Pipeline>,
    learner: Option<Arc<Stats>>,
    signer: Option<Arc<Signer>>,
    auth: Option<Arc<AuthChecks>>,
    state: Option<Arc<StateChecks>>,
    fuzzy: Option<(Arc<FuzzyChecks>, Duration)>,
}

impl LocalScanner {
    pub fn new(p: Arc<Pipeline>) -> Self {
        LocalScanner {
            pipeline: p,
            learner: None,
            signer: None,
            auth: None,
            state: None,
            fuzzy: None,
        }
    }

    /// fuzzy_check before each scan, its storages given `budget` at most
    /// (none: no fuzzy symbols).
    pub fn with_fuzzy(mut self, fuzzy: Option<Arc<FuzzyChecks>>, budget: Duration) -> Self {
        self.fuzzy = fuzzy.map(|f| (f, budget));
        self
    }

    /// Greylisting, rate limits and replies around each scan (none: the pipeline alone).
    pub fn with_state(mut self, state: Option<Arc<StateChecks>>) -> Self {
        self.state = state;
        self
    }

    /// Signs and seals outbound mail after the verdict (`dkim_signing`, `arc`).
    pub fn with_signer(mut self, signer: Option<Arc<Signer>>) -> Self {
        self.signer = signer;
        self
    }

    /// The auth checks run before each scan (none: the pipeline alone).
    pub fn with_auth(mut self, auth: Option<Arc<AuthChecks>>) -> Self {
        self.auth = auth;
        self
    }

    /// The pipeline on what the auth phase found (on the message the phase parsed, if it
    /// did): in place when the request allows it, else on the scan pool.
    fn pipeline_scan(
        &self,
        req: Arc<ScanRequest>,
        auth: AuthOutcome,
        parsed: Option<Parsed>,
    ) -> ScanFuture {
        let scan = {
            let pipeline = Arc::clone(&self.pipeline);
            // An explicit learn's scan writes nothing but its vectors.
            let learn_only = req.options.learn_only;
            let learner = self.learner.clone().filter(|_| !learn_only);
            let signer = self.signer.clone().filter(|_| !learn_only);
            let req = Arc::clone(&req);
            move || {
                let (env, opts) = (&req.envelope, req.options.clone());
                let scanned = match &parsed {
                    Some(p) => pipeline.scan_parsed(env, p, opts, &auth),
                    None => pipeline.scan_authenticated(env, &req.message, opts, &auth),
                };
                let v = scanned.learned_by(learner.as_deref());
                signed(signer.as_deref(), &req, v)
            }
        };
        if inline::applies(req.placement, req.message.len()) {
            let verdict = inline::run(scan);
            return Box::pin(std::future::ready(verdict.map_err(|e| {
                ScanError::TaskFailed {
                    reason: e.to_string(),
                }
            })));
        }
        Box::pin(async move {
            workers::ScanPool::global()
                .run(scan)
                .await
                .map_err(|e| ScanError::TaskFailed {
                    reason: e.to_string(),
                })
        })
    }

    /// The store that autolearn candidates are learned into (the one the
    /// pipeline classifies with).
    pub fn with_learner(mut self, store: Option<Arc<Stats>>) -> Self {
        self.learner = store;
        self
    }
}

impl Scanner for LocalScanner {
    fn scan(&self, req: Arc<ScanRequest>) -> ScanFuture {
        if self.auth.is_none() && self.state.is_none() && self.fuzzy.is_none() {
            return self.pipeline_scan(req, AuthOutcome::default(), None);
        }
        let this = self.clone();
        Box::pin(async move {
            // One parse for the lists' facts, the Bayes lookup and the pipeline.
            let stateful = this.state.is_some()
                && !req.options.learn_only
                && this.pipeline.bayes_looks_up_ahead();
            let reads = stateful
                || this.fuzzy.is_some()
                || this.auth.as_ref().is_some_and(|a| a.reads_message());
            let parsed = reads.then(|| this.pipeline.parse(req.message.clone()));
            let auth_parsed = parsed
                .as_ref()
                .filter(|_| this.auth.as_ref().is_some_and(|a| a.reads_message()));
            let auth = async {
                match (&this.auth, auth_parsed) {
                    (Some(a), Some(p)) => a.run_parsed(&req.envelope, p.view()).await,
                    (Some(a), None) => a.run(&req.envelope, &req.message).await,
                    (None, _) => AuthOutcome::default(),
                }
            };
            let state = async {
                let s = this.state.as_ref().filter(|_| !req.options.learn_only)?;
                let exprs = s.selectors();
                let selected = if exprs.is_empty() {
                    Default::default()
                } else {
                    this.pipeline
                        .select_each(&exprs, &req.envelope, &req.message)
                };
                Some(s.before_with(&req.envelope, &req.message, selected).await)
            };
            let fuzzy = async {
                match (&this.fuzzy, &parsed) {
                    (Some((f, budget)), Some(p)) => {
                        let prepared = f.prepare(p.view(), req.envelope.client_ip);
                        if prepared.is_empty() {
                            return Vec::new();
                        }
                        f.check(prepared, Instant::now() + *budget).await
                    }
                    _ => Vec::new(),
                }
            };
            // Tokenized here, so that the lookup is queued right after the state
            // modules' first calls (polled before it): on the shared connection they are
            // written together.
            let ahead = parsed
                .as_ref()
                .filter(|_| stateful)
                .and_then(|p| this.pipeline.bayes_ahead(&req.envelope, p));
            let bayes = async {
                match ahead {
                    Some(lookup) => Some(lookup.await),
                    None => None,
                }
            };
            let (mut found, before, fuzzy, bayes) = tokio::join!(auth, state, fuzzy, bayes);
            found.fuzzy = fuzzy;
            found.bayes = bayes;
            if let Some(b) = &before {
                found
                    .lists
                    .extend(b.symbols().into_iter().map(|symbol| ListHit {
                        symbol,
                        options: Vec::new(),
                    }));
            }
            let mut v = this.pipeline_scan(Arc::clone(&req), found, parsed).await?;
            if let (Some(s), Some(b)) = (&this.state, &before) {
                if s.after(&req.envelope, &req.message, b, &mut v).await {
                    super::headers::refresh_spamd_result(&mut v);
                }
            }
            Ok(v)
        })
    }

    fn rules(&self) -> Option<Arc<dyn RuleBook>> {
        Some(Arc::clone(&self.pipeline) as Arc<dyn RuleBook>)
    }

    fn in_process(&self) -> bool {
        true
    }
}

/// The verdict with the signer's signatures and seals added.
fn signed(signer: Option<&Signer>, req: &ScanRequest, mut v: Verdict) -> Verdict {
    if let Some(s) = signer {
        s.apply(&req.envelope, &req.message, &mut v);
        super::headers::refresh_spamd_result(&mut v);
    }
    v
}

impl RuleBook for Pipeline {
    fn required_score(&self) -> f64 {
        Pipeline::required_score(self)
    }

    fn thresholds(&self) -> Vec<(Action, f64)> {
        Pipeline::thresholds(self)
    }

    fn group_names(&self) -> Vec<String> {
        self.groups().iter().map(|g| g.name.clone()).collect()
    }

    fn symbols(&self) -> Vec<SymbolInfo> {
        Pipeline::symbols(self)
    }

    fn rule_costs(&self) -> Vec<RuleCost> {
        self.rule_stats()
            .into_iter()
            .map(|(name, st)| RuleCost {
                symbol: name.to_string(),
                evaluations: st.evaluations,
                avg_time: st.avg_time,
            })
            .collect()
    }

    fn settings_profile(&self, id: &str) -> Option<Arc<ScanSettings>> {
        Pipeline::settings_profile(self, id)
    }

    fn learns_neural(&self) -> bool {
        self.neural().is_some()
    }

    fn map_files(&self) -> Vec<crate::verdict::MapFile> {
        Pipeline::map_files(self)
    }

    fn check_selector(&self, expr: &str) -> Result<(), String> {
        super::multimap::selector::Selector::parse(expr).map(drop)
    }

    fn select(&self, expr: &str, raw: &[u8]) -> Result<Vec<String>, String> {
        Pipeline::select(self, expr, raw)
    }
}

#[cfg(test)]
mod tests {
    use std::task::{Context, Poll, Waker};

    use super::*;
    use crate::message::Envelope;
    use crate::verdict::Placement;

    fn request(placement: Placement, len: usize) -> Arc<ScanRequest> {
        let mut raw = b"Subject: t\r\n\r\n".to_vec();
        raw.resize(len.max(raw.len()), b'a');
        Arc::new(ScanRequest {
            envelope: Envelope::default(),
            message: raw.into(),
            options: Default::default(),
            placement,
        })
    }

    /// Whether the scan's future is done at its first poll, with no
    /// runtime to drive it: only a scan that ran during the call is.
    fn ready_at_once(s: &LocalScanner, req: Arc<ScanRequest>) -> bool {
        let mut fut = s.scan(req);
        let mut cx = Context::from_waker(Waker::noop());
        matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(_)))
    }

    #[test]
    fn an_inline_request_is_scanned_during_the_call() {
        let p = Pipeline::from_config(&serde_json::json!({})).unwrap();
        let s = LocalScanner::new(Arc::new(p));
        assert!(ready_at_once(&s, request(Placement::Inline, 100)));
        assert!(s.in_process() && s.rules().is_some());
        // Pooled, and inline but too large: the pool answers.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for req in [
            request(Placement::Pool, 100),
            request(Placement::Inline, inline::INLINE_MAX + 1),
        ] {
            assert!(rt.block_on(s.scan(req)).is_ok());
        }
    }
}
