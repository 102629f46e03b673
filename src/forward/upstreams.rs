//! A group's endpoints together with its pool: one attempt at a time, with
//! the pool's bookkeeping guaranteed even when the caller's future is dropped.
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};

use super::client::{tls_config, ClientError, Endpoint, Exchange, TlsConfigError};
use super::pool::{Outcome, Pool};
use crate::config::forward::HealthSettings;
use crate::config::hosts::HostList;
use crate::metrics::UpstreamCounters;

/// Endpoints of one `upstream` or `mirror` block and their pool.
#[derive(Debug)]
pub struct Upstreams {
    pub name: String,
    pub pool: Pool,
    pub endpoints: Vec<Endpoint>,
    /// `/metrics` counters, aligned with `endpoints`.
    counters: Vec<Arc<UpstreamCounters>>,
}

impl Upstreams {
    /// Builds the endpoints; TLS for `https://` hosts or when `ssl` is set.
    pub fn new(
        name: &str,
        hosts: &HostList,
        ssl: bool,
        ca: Option<&std::path::Path>,
        keepalive: bool,
        health: HealthSettings,
    ) -> Result<Upstreams, TlsConfigError> {
        let needs_tls = ssl || hosts.hosts.iter().any(|h| h.tls);
        let tls = if needs_tls {
            Some(tls_config(ca)?)
        } else {
            None
        };
        let endpoints = hosts
            .hosts
            .iter()
            .map(|h| {
                let t = (ssl || h.tls).then(|| Arc::clone(tls.as_ref().expect("built above")));
                Endpoint::new(h.clone(), t, keepalive)
            })
            .collect();
        let weights = hosts.hosts.iter().map(|h| h.weight).collect();
        let registry = &crate::metrics::global().upstreams;
        let counters = hosts
            .hosts
            .iter()
            .map(|h| registry.register(name, &h.to_string()))
            .collect();
        Ok(Upstreams {
            name: name.to_string(),
            pool: Pool::new(hosts.rotation, weights, health, fastrand::u64(..)),
            endpoints,
            counters,
        })
    }

    /// Reserves a member for one attempt.
    pub fn begin(self: &Arc<Self>, key: Option<&[u8]>, exclude: &[usize]) -> Option<Attempt> {
        let idx = self.pool.select(key, exclude, Instant::now())?;
        Some(Attempt {
            group: Arc::clone(self),
            idx,
            settled: false,
            started: Instant::now(),
        })
    }
}

/// One reserved member. Dropped unsettled (the caller gave up: deadline or
/// cancellation) it counts as a failure, so in-flight counts never leak.
#[derive(Debug)]
pub struct Attempt {
    group: Arc<Upstreams>,
    pub idx: usize,
    settled: bool,
    started: Instant,
}

impl Attempt {
    pub fn endpoint(&self) -> &Endpoint {
        &self.group.endpoints[self.idx]
    }

    /// Sends the request; does not settle (the caller decides on the outcome).
    pub async fn post(
        &self,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Exchange, ClientError> {
        self.endpoint().post("/checkv2", headers, body).await
    }

    pub fn settle(mut self, outcome: Outcome) {
        self.settled = true;
        self.release(outcome);
    }

    /// Returns the member to the pool and counts the attempt.
    fn release(&self, outcome: Outcome) {
        let now = Instant::now();
        let ok = !matches!(outcome, Outcome::Fail);
        self.group.pool.release(self.idx, outcome, now);
        if let Some(c) = self.group.counters.get(self.idx) {
            let alive = self.group.pool.is_alive(self.idx, now);
            c.attempt(ok, now.duration_since(self.started), alive);
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.settled {
            self.release(Outcome::Fail);
        }
    }
}
