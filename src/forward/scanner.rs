//! [`ForwardScanner`]: a [`Scanner`] that asks upstream scanners instead of
//! running the pipeline. One end-to-end deadline per message covers every
//! retry (Rspamd's proxy spends `max_retries × timeout`, far past the MTA's
//! patience); each failed attempt moves on to another upstream at once.
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::{timeout_at, Instant};
use tracing::{debug, warn};

use super::client::TlsConfigError;
use super::mirror::{self, Mirror, MirrorStats};
use super::pool::Outcome;
use super::request::{headers, HeaderPolicy};
use super::size;
use super::upstreams::Upstreams;
use crate::config::forward::{ForwardSettings, HashKey, UpstreamGroup};
use crate::verdict::checkv2 as reply;
use crate::verdict::{ScanError, ScanRequest, Scanner, Verdict};

/// Why forward mode could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ForwardBuildError {
    #[error("upstream `{group}`: {source}")]
    Tls {
        group: String,
        #[source]
        source: TlsConfigError,
    },
    #[error("upstream `{0}` has no hosts")]
    NoHosts(String),
}

/// Counters of the primary path.
#[derive(Debug, Default)]
pub struct ForwardStats {
    /// Messages handed to forward mode.
    pub messages: AtomicU64,
    /// Attempts that failed and were retried or given up.
    pub failed_attempts: AtomicU64,
    /// Messages that got no verdict.
    pub failed_messages: AtomicU64,
    /// Messages an upstream refused for size (or that would have been
    /// refused), scanned in-process or failed per the policy instead.
    pub size_refusals: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    group: Arc<Upstreams>,
    config: UpstreamGroup,
    max_retries: u32,
    mirrors: Vec<Arc<Mirror>>,
    stats: ForwardStats,
    /// The in-process pipeline, for messages the upstreams refuse for size.
    fallback: Option<Fallback>,
}

/// The scanner behind [`Inner::fallback`].
struct Fallback(Arc<dyn Scanner>);

impl std::fmt::Debug for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fallback")
    }
}

/// Forwards messages to the default upstream group, mirrors copies.
#[derive(Debug, Clone)]
pub struct ForwardScanner {
    inner: Arc<Inner>,
}

impl ForwardScanner {
    /// The scanner for `settings`' forwarding group, or `None` when the
    /// configuration asks for in-process scanning. `fallback` scans what
    /// the upstreams refuse for size; without one such messages fail.
    pub fn from_settings(
        s: &ForwardSettings,
        fallback: Option<Arc<dyn Scanner>>,
    ) -> Result<Option<ForwardScanner>, ForwardBuildError> {
        s.forward_group()
            .map(|g| ForwardScanner::new(s, g, fallback))
            .transpose()
    }

    pub fn new(
        s: &ForwardSettings,
        g: &UpstreamGroup,
        fallback: Option<Arc<dyn Scanner>>,
    ) -> Result<ForwardScanner, ForwardBuildError> {
        let hosts = g
            .hosts
            .as_ref()
            .ok_or_else(|| ForwardBuildError::NoHosts(g.name.clone()))?;
        let tls_err = |group: &str| {
            let group = group.to_string();
            move |source| ForwardBuildError::Tls { group, source }
        };
        let group = Upstreams::new(
            &g.name,
            hosts,
            g.ssl,
            g.ssl_ca.as_deref(),
            g.keepalive,
            s.health,
        )
        .map_err(tls_err(&g.name))?;
        let mut mirrors = Vec::new();
        for m in &s.mirrors {
            let ups = Upstreams::new(&m.name, &m.hosts, m.ssl, None, true, s.health)
                .map_err(tls_err(&m.name))?;
            mirrors.push(Arc::new(Mirror {
                upstreams: Arc::new(ups),
                probability: m.probability,
                timeout: m.timeout,
                compression: m.compression,
                settings_id: m.settings_id.clone(),
                stats: Arc::new(MirrorStats::default()),
            }));
        }
        Ok(ForwardScanner {
            inner: Arc::new(Inner {
                group: Arc::new(group),
                config: g.clone(),
                max_retries: s.max_retries.max(1),
                mirrors,
                stats: ForwardStats::default(),
                fallback: fallback.map(Fallback),
            }),
        })
    }

    pub fn stats(&self) -> &ForwardStats {
        &self.inner.stats
    }

    /// The primary group, for inspection (health, idle connections).
    pub fn upstreams(&self) -> &Upstreams {
        &self.inner.group
    }
}

impl Scanner for ForwardScanner {
    fn scan(
        &self,
        req: Arc<ScanRequest>,
    ) -> Pin<Box<dyn Future<Output = Result<Verdict, ScanError>> + Send + 'static>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { inner.scan(req).await })
    }
}

impl Inner {
    async fn scan(self: Arc<Self>, req: Arc<ScanRequest>) -> Result<Verdict, ScanError> {
        self.stats.messages.fetch_add(1, Ordering::Relaxed);
        let (primary_tx, primary_rx) = watch::channel(None);
        self.start_mirrors(&req, primary_rx);
        let result = self.forward(&req).await;
        if result.is_err() {
            self.stats.failed_messages.fetch_add(1, Ordering::Relaxed);
        }
        let _ = primary_tx.send(Some(result.as_ref().ok().cloned()));
        result
    }

    async fn forward(&self, req: &Arc<ScanRequest>) -> Result<Verdict, ScanError> {
        let deadline = Instant::now() + self.config.timeout;
        let body = body(&req.message, self.config.compression)?;
        let policy = HeaderPolicy {
            settings_id: self.config.settings_id.as_deref(),
            settings_id_by_mta: Some(&self.config.settings_id_by_mta),
            extra: Some(&self.config.extra_headers),
            compressed: self.config.compression,
        };
        let hdrs = headers(&req.envelope, &policy);
        let head = size::head_bytes(&hdrs);
        if let Some(why) = size::over_defaults(head, hdrs.len(), body.len()) {
            let to = format!("upstream `{}`", self.group.name);
            return self.refused(req, &to, why).await;
        }
        let key = hash_key(req, self.config.hash_key);
        let mut failed: Vec<usize> = Vec::new();
        let mut last = String::from("no upstream available");
        for _ in 0..self.max_retries {
            let Some(attempt) = self.group.begin(key.as_deref(), &failed) else {
                break;
            };
            let addr = attempt.endpoint().spec.to_string();
            match timeout_at(deadline, attempt.post(&hdrs, body.clone())).await {
                Err(_) => {
                    drop(attempt);
                    self.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
                    return Err(upstream_err(format!(
                        "deadline of {:?} passed waiting for {addr}",
                        self.config.timeout
                    )));
                }
                Ok(Err(e)) => {
                    if let Some(why) = size::closed_on_large(head, &e) {
                        // The upstream is fine; the request is not.
                        attempt.settle(Outcome::Ok);
                        return self.refused(req, &addr, why).await;
                    }
                    failed.push(attempt.idx);
                    attempt.settle(Outcome::Fail);
                    self.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
                    debug!("upstream {}: {e}; trying another", self.group.name);
                    last = e.to_string();
                }
                Ok(Ok(x)) => {
                    // The scanner answered: healthy, whatever it said.
                    attempt.settle(Outcome::Ok);
                    if let Some(why) = size::refusal(x.status, head) {
                        return self.refused(req, &addr, why).await;
                    }
                    let mut verdict = reply::parse(x.json()).map_err(|e| {
                        upstream_err(format!("{addr} answered {}: {e}", x.status.as_u16()))
                    })?;
                    verdict.upstream = Some(addr);
                    return Ok(verdict);
                }
            }
        }
        Err(upstream_err(format!(
            "all {} attempts failed, last: {last}",
            failed.len()
        )))
    }

    /// A message the upstreams will not take for its size: retrying would
    /// only get the same refusal (and the MTA would retry it until it
    /// bounces), so it is scanned in-process, or fails per the policy when
    /// there is no pipeline to fall back to. One WARN per message.
    async fn refused(
        &self,
        req: &Arc<ScanRequest>,
        to: &str,
        why: String,
    ) -> Result<Verdict, ScanError> {
        self.stats.size_refusals.fetch_add(1, Ordering::Relaxed);
        let qid = req.envelope.queue_id.as_deref().unwrap_or("-");
        let rcpts = req.envelope.rcpts.len();
        match &self.fallback {
            Some(Fallback(local)) => {
                warn!(
                    queue_id = qid,
                    rcpts, "{to} refuses this message for size ({why}): scanned in-process"
                );
                local.scan(Arc::clone(req)).await
            }
            None => {
                warn!(
                    queue_id = qid,
                    rcpts, "{to} refuses this message for size ({why}): no local pipeline"
                );
                Err(upstream_err(format!(
                    "{to} refuses the message for size: {why}"
                )))
            }
        }
    }

    /// Copies the message to each mirror whose probability the draw falls
    /// under (one draw per message, as Rspamd does); each copy reports once
    /// the primary verdict is known.
    fn start_mirrors(&self, req: &Arc<ScanRequest>, primary: PrimaryRx) {
        if self.mirrors.is_empty() {
            return;
        }
        let draw = fastrand::f64();
        for m in self.mirrors.iter().filter(|m| draw < m.probability) {
            m.stats.sent.fetch_add(1, Ordering::Relaxed);
            let (m, req, primary) = (Arc::clone(m), Arc::clone(req), primary.clone());
            tokio::spawn(async move {
                let got = run_mirror(&m, &req).await;
                let verdict = wait_primary(primary).await;
                let tag = req.envelope.queue_id.as_deref().unwrap_or("-");
                mirror::report(&m, tag, verdict.as_ref(), got);
            });
        }
    }
}

/// The primary's outcome as seen by mirror tasks: `None` until it is known,
/// then the verdict or `None` for a failure.
type PrimaryRx = watch::Receiver<Option<Option<Verdict>>>;

async fn wait_primary(mut rx: PrimaryRx) -> Option<Verdict> {
    loop {
        if let Some(v) = rx.borrow_and_update().clone() {
            return v;
        }
        if rx.changed().await.is_err() {
            return None;
        }
    }
}

/// One mirror copy: a single attempt, bounded by the mirror's timeout.
async fn run_mirror(m: &Mirror, req: &ScanRequest) -> Result<Verdict, String> {
    let body = body(&req.message, m.compression).map_err(|e| e.to_string())?;
    let policy = HeaderPolicy {
        settings_id: m.settings_id.as_deref(),
        compressed: m.compression,
        ..HeaderPolicy::default()
    };
    let hdrs = headers(&req.envelope, &policy);
    let attempt = m
        .upstreams
        .begin(None, &[])
        .ok_or_else(|| "no mirror host".to_string())?;
    match tokio::time::timeout(m.timeout, attempt.post(&hdrs, body)).await {
        Err(_) => Err(format!("timed out after {:?}", m.timeout)),
        Ok(Err(e)) => {
            attempt.settle(Outcome::Fail);
            Err(e.to_string())
        }
        Ok(Ok(x)) => {
            attempt.settle(Outcome::Ok);
            reply::parse(x.json()).map_err(|e| e.to_string())
        }
    }
}

fn body(message: &Bytes, compress: bool) -> Result<Bytes, ScanError> {
    if !compress {
        return Ok(message.clone());
    }
    super::client::compress(message).map_err(|e| {
        warn!("zstd compression failed: {e}");
        upstream_err(format!("zstd compression failed: {e}"))
    })
}

fn hash_key(req: &ScanRequest, key: HashKey) -> Option<Vec<u8>> {
    match key {
        HashKey::ClientIp => req.envelope.client_ip.map(|ip| ip.to_string().into_bytes()),
        HashKey::Sender => req.envelope.from.clone().map(String::into_bytes),
    }
}

fn upstream_err(reason: String) -> ScanError {
    ScanError::Upstream { reason }
}
