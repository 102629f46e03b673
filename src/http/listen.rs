//! Binding the HTTP listeners and serving connections with hyper.
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use super::conns::{Admission, ConnGuard};
use super::prefixed::Prefixed;
use super::shared::{Peer, Role, Shared};
use super::tls::{self, TlsError};
use super::{controller, route};
use crate::config::http::{HttpSettings, WorkerSettings};
use crate::config::ListenAddr;
use crate::metrics::{self, Listener};
use crate::server::{self, BindError, Bound, Stream};

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("{role} TLS: {source}")]
    Tls {
        role: &'static str,
        #[source]
        source: TlsError,
    },
}

/// A bound listener with its role and TLS acceptor.
pub struct HttpListener {
    bound: Bound,
    role: Role,
    tls: Option<TlsAcceptor>,
}

impl HttpListener {
    /// The address in Postfix syntax, with the real port.
    pub fn local(&self) -> String {
        self.bound.local()
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Removes the socket file of a unix listener that will not be served.
    pub fn cleanup(&self) {
        self.bound.cleanup();
    }
}

/// Unix sockets of the HTTP listeners: reachable by the group, as Rspamd's.
const SOCKET_MODE: u32 = 0o660;
/// Room in hyper's read buffer past the request head (the first body bytes
/// arrive with it).
const BUF_SLACK: usize = 16 << 10;
/// How long a refused connection gets to take its 503.
const REFUSAL_WRITE: Duration = Duration::from_secs(2);

/// A listener the configuration asks for, with the TLS acceptor it will use.
pub struct Planned {
    pub role: Role,
    pub addr: ListenAddr,
    pub tls: Option<TlsAcceptor>,
}

/// The listeners of both roles; non-empty `scan` / `controller` replace the
/// configured addresses (the `--http` / `--controller` flags) and override
/// `enabled = false`. TLS files are read here, so a bad one fails the
/// (re)load before anything is bound.
pub fn planned(
    settings: &HttpSettings,
    scan: &[ListenAddr],
    controller: &[ListenAddr],
) -> Result<Vec<Planned>, HttpError> {
    let mut out = Vec::new();
    for (role, worker, addrs) in [
        (Role::Scan, &settings.normal, scan),
        (Role::Controller, &settings.controller, controller),
    ] {
        if !worker.enabled && addrs.is_empty() {
            continue;
        }
        let tls = acceptor(role, worker)?;
        let addrs = if addrs.is_empty() {
            &worker.bind_socket[..]
        } else {
            addrs
        };
        out.extend(addrs.iter().map(|addr| Planned {
            role,
            addr: addr.clone(),
            tls: tls.clone(),
        }));
    }
    Ok(out)
}

/// Binds one planned listener.
pub async fn bind(p: &Planned) -> Result<HttpListener, HttpError> {
    let bound = server::bind(&p.addr, SOCKET_MODE).await?;
    let scheme = if p.tls.is_some() { " (TLS)" } else { "" };
    info!("{} listening on {}{scheme}", p.role.name(), bound.local());
    Ok(HttpListener {
        bound,
        role: p.role,
        tls: p.tls.clone(),
    })
}

fn acceptor(role: Role, w: &WorkerSettings) -> Result<Option<TlsAcceptor>, HttpError> {
    w.tls
        .as_ref()
        .map(tls::acceptor)
        .transpose()
        .map_err(|source| HttpError::Tls {
            role: role.name(),
            source,
        })
}

/// Serves `l` until `shutdown` flips (open connections then finish their
/// current request and close) or `retire` does (only the socket closes).
pub fn spawn(
    l: HttpListener,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    retire: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(accept_loop(l, shared, shutdown, retire))
}

async fn accept_loop(
    l: HttpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    mut retire: watch::Receiver<bool>,
) {
    let admitting = Admitting {
        role: l.role,
        tls: l.tls.clone(),
    };
    loop {
        let accepted = tokio::select! {
            a = l.bound.accept() => a,
            _ = server::stopped(&mut shutdown, &mut retire) => break,
        };
        match accepted {
            Ok((stream, peer_name)) => admit(&admitting, &shared, &shutdown, stream, peer_name),
            Err(e) => {
                warn!(error = %e, "{} accept failed", l.role.name());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    // Requests already in the listen backlog are answered, not reset by the close.
    let (bound, l) = (l.bound, admitting);
    let role = l.role;
    for (detached, peer_name) in bound.close_taking_backlog(BACKLOG_MAX).await {
        match Stream::attach(detached) {
            Ok(stream) => admit(&l, &shared, &shutdown, stream, peer_name),
            Err(e) => {
                warn!(error = %e, "{}: cannot serve a connection of the backlog", role.name())
            }
        }
    }
}

/// Most connections taken from the listen backlog when a listener closes.
const BACKLOG_MAX: usize = 65_536;

/// What serving a connection needs of its listener.
struct Admitting {
    role: Role,
    tls: Option<TlsAcceptor>,
}

/// Serves an accepted connection in a task of its own, or refuses it at
/// the cap.
fn admit(
    l: &Admitting,
    shared: &Arc<Shared>,
    shutdown: &watch::Receiver<bool>,
    stream: Stream,
    peer_name: String,
) {
    metrics::global().connection(match l.role {
        Role::Scan => Listener::Scan,
        Role::Controller => Listener::Controller,
    });
    let guard = match shared.role(l.role).conns.admit() {
        Admission::Admitted { guard, evicted } => {
            if evicted {
                debug!(
                    "{}: at max_connections, closed the oldest idle",
                    l.role.name()
                );
            }
            guard
        }
        Admission::Refused => {
            tokio::spawn(refuse(stream, l.tls.is_some()));
            return;
        }
    };
    let peer = Peer {
        ip: peer_name.parse::<SocketAddr>().ok().map(|a| a.ip()),
        unix: peer_name.starts_with("unix:"),
    };
    let (role, tls, shared, shutdown) = (l.role, l.tls.clone(), shared.clone(), shutdown.clone());
    tokio::spawn(async move {
        let header_timeout = shared.role(role).limits.header_timeout;
        let conn = Conn {
            role,
            peer,
            shared,
            shutdown,
            guard,
        };
        match tls {
            None => connection(stream, conn).await,
            Some(acceptor) => {
                let handshake = tokio::time::timeout(header_timeout, acceptor.accept(stream));
                match handshake.await {
                    Ok(Ok(s)) => connection(s, conn).await,
                    Ok(Err(e)) => debug!(peer = %peer_name, "TLS handshake failed: {e}"),
                    Err(_) => debug!(peer = %peer_name, "TLS handshake: no answer in time"),
                }
            }
        }
    });
}

/// A connection refused at the cap: a plain-HTTP client is told why (503,
/// as Rspamd answers when it cannot take a task); a TLS one is closed.
async fn refuse<S: AsyncWrite + Unpin>(mut stream: S, tls: bool) {
    if tls {
        return;
    }
    const BODY: &str = "{\"error\":\"Too many connections\"}";
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(REFUSAL_WRITE, stream.write_all(reply.as_bytes())).await;
}

/// What one served connection carries besides its stream.
struct Conn {
    role: Role,
    peer: Peer,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    /// Its slot under the role's connection cap, freed when it ends.
    guard: ConnGuard,
}

/// One connection. On the scan listener a first line naming `RSPAMC/1.x`
/// or `SPAMC/1.x` makes it a legacy session; everything else is HTTP.
async fn connection<S>(mut stream: S, c: Conn)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if c.role == Role::Controller {
        return http(stream, c).await;
    }
    let limits = c.shared.role(c.role).limits;
    let slot = Arc::clone(c.guard.slot());
    let head = tokio::select! {
        r = tokio::time::timeout(limits.header_timeout, first_line(&mut stream)) => r,
        _ = slot.evicted() => return debug!("{}: idle connection closed for a new one", c.role.name()),
    };
    let head = match head {
        Ok(Ok(head)) => head,
        Ok(Err(e)) => return debug!("{} connection ended: {e}", c.role.name()),
        Err(_) => return debug!("{} connection: no request line in time", c.role.name()),
    };
    let line_end = head
        .iter()
        .position(|b| *b == b'\n')
        .map_or(head.len(), |i| i + 1);
    match super::legacy::detect(&head[..line_end]) {
        Some(line) => {
            let rest = head.slice(line_end..);
            let _busy = slot.busy();
            super::legacy::serve(Prefixed::new(rest, stream), line, c.shared).await
        }
        None => http(Prefixed::new(head, stream), c).await,
    }
}

/// Longest first line looked at: legacy request lines are short, and an
/// HTTP request line this long is hyper's to refuse.
const FIRST_LINE_MAX: usize = 8192;

/// Reads until the first line is complete (or `FIRST_LINE_MAX`, or EOF);
/// whatever came with it is kept for the protocol handler.
async fn first_line<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<bytes::Bytes> {
    let mut buf = bytes::BytesMut::with_capacity(1024);
    while !buf.contains(&b'\n') && buf.len() < FIRST_LINE_MAX {
        if stream.read_buf(&mut buf).await? == 0 {
            break;
        }
    }
    Ok(buf.freeze())
}

/// HTTP/1.1 with keep-alive until the client closes, a request is
/// malformed, the connection is evicted for a new one, or the daemon shuts
/// down. The head may be as large as `max_header_size`, with as many lines
/// as fit in it.
async fn http<S>(stream: S, c: Conn)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Conn {
        role,
        peer,
        shared,
        mut shutdown,
        guard,
    } = c;
    let limits = shared.role(role).limits;
    let slot = Arc::clone(guard.slot());
    let svc = service_fn(move |req| {
        let shared = shared.clone();
        let busy = slot.busy();
        async move {
            let r = match role {
                Role::Scan => route::handle_scan(req, shared).await,
                Role::Controller => controller::handle(req, peer, shared).await,
            };
            drop(busy);
            Ok::<_, Infallible>(r)
        }
    });
    // A connection that begins after shutdown (from the listen backlog)
    // gets its one request answered, then closes.
    let keep_alive = !*shutdown.borrow_and_update();
    let conn = http1::Builder::new()
        .keep_alive(keep_alive)
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(limits.max_header_size)
        .max_headers(limits.max_header_lines())
        .max_buf_size(limits.max_header_size + BUF_SLACK)
        .serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    // Biased: the connection reads what has arrived before a shutdown is
    // looked at, so a request already sent is answered rather than closed
    // unread (which resets it).
    let result = tokio::select! {
        biased;
        r = conn.as_mut() => r,
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
        _ = guard.slot().evicted() => {
            debug!("{}: idle connection closed for a new one", role.name());
            if !guard.slot().is_busy() {
                // Between requests or still sending a head: nothing is
                // lost, and the descriptor is freed at once.
                return;
            }
            // A request began after it was picked: let that one finish.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        debug!("{} connection ended: {e}", role.name());
    }
}

/// One already-accepted connection from a loopback client, served exactly
/// as [`spawn`]'s accept loop serves it; for the fuzz targets.
#[doc(hidden)]
pub async fn serve_stream<S>(
    stream: S,
    role: Role,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = Peer {
        ip: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        unix: false,
    };
    let Admission::Admitted { guard, .. } = shared.role(role).conns.admit() else {
        return;
    };
    let conn = Conn {
        role,
        peer,
        shared,
        shutdown,
        guard,
    };
    connection(stream, conn).await
}
