//! The connection to the nameservers, wrapped to see each query that really leaves: the resolver
//! counts them, and a lookup during which none left was answered from the cache. Queries are
//! sent from inside the polling of the lookup's own future, so a task-local flag set around
//! that future tells which lookup sent them.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use hickory_resolver::config::{NameServerConfig, ResolverOpts};
use hickory_resolver::name_server::{ConnectionProvider, TokioConnectionProvider};
use hickory_resolver::proto::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::xfer::{DnsHandle, DnsRequest};
use hickory_resolver::proto::ProtoError;

use super::DnsMetrics;

tokio::task_local! {
    /// Set while one lookup runs: becomes true when that lookup sends a query.
    static SENT: Cell<bool>;
}

/// Runs `lookup`, telling whether it sent any query to a nameserver.
pub(crate) async fn tracking<F: Future>(lookup: F) -> (F::Output, bool) {
    SENT.scope(Cell::new(false), async move {
        let out = lookup.await;
        (out, SENT.with(Cell::get))
    })
    .await
}

/// Hickory's tokio connections, each counting the queries it sends.
#[derive(Clone)]
pub struct CountingProvider {
    inner: TokioConnectionProvider,
    metrics: Arc<DnsMetrics>,
}

impl CountingProvider {
    pub fn new(metrics: Arc<DnsMetrics>) -> Self {
        CountingProvider {
            inner: TokioConnectionProvider::default(),
            metrics,
        }
    }
}

type Inner = <TokioConnectionProvider as ConnectionProvider>::Conn;

/// One connection to a nameserver that counts what it sends.
#[derive(Clone)]
pub struct CountingConn {
    inner: Inner,
    metrics: Arc<DnsMetrics>,
}

impl DnsHandle for CountingConn {
    type Response = <Inner as DnsHandle>::Response;

    fn send<R: Into<DnsRequest> + Unpin + Send + 'static>(&self, request: R) -> Self::Response {
        self.metrics.query_sent();
        // Outside a tracked lookup (none today) there is nothing to mark.
        let _ = SENT.try_with(|sent| sent.set(true));
        self.inner.send(request)
    }
}

type ConnFuture = Pin<Box<dyn Future<Output = Result<CountingConn, ProtoError>> + Send>>;

impl ConnectionProvider for CountingProvider {
    type Conn = CountingConn;
    type FutureConn = ConnFuture;
    type RuntimeProvider = TokioRuntimeProvider;

    fn new_connection(
        &self,
        config: &NameServerConfig,
        options: &ResolverOpts,
    ) -> Result<Self::FutureConn, io::Error> {
        let connecting = self.inner.new_connection(config, options)?;
        let metrics = self.metrics.clone();
        Ok(Box::pin(async move {
            let inner = connecting.await?;
            Ok(CountingConn { inner, metrics })
        }))
    }
}
