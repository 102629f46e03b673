//! The HTTP/1.1 client side of Rspamd's protocol: one [`Endpoint`] per
//! upstream address, each with its own pool of idle keep-alive connections
//! (sluice scanners keep them; real Rspamd closes every one, and then the
//! pool simply stays empty), optional rustls, zstd both ways.
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, HOST};
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

use crate::config::hosts::HostSpec;

/// Idle connections kept per upstream address.
const MAX_IDLE: usize = 64;
/// Replies larger than this are refused (a checkv2 reply is a few KiB).
const MAX_REPLY: usize = 16 << 20;
/// Where Debian keeps the system trust store, used when no `ssl_ca` is set.
const SYSTEM_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Why one exchange with one upstream failed: all of these count against
/// the upstream's health.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS with {addr}: {reason}")]
    Tls { addr: String, reason: String },
    #[error("HTTP with {addr}: {reason}")]
    Http { addr: String, reason: String },
    #[error("reply from {addr}: {reason}")]
    Body { addr: String, reason: String },
}

/// Why the TLS settings could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("CA file {path}: {reason}")]
    Ca { path: String, reason: String },
}

/// A finished exchange: status, headers, the decompressed body.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Exchange {
    /// The JSON part of the body: everything before a `Message-Offset` body block.
    pub fn json(&self) -> &[u8] {
        let offset = self
            .headers
            .get("message-offset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<usize>().ok());
        match offset {
            Some(n) if n <= self.body.len() => &self.body[..n],
            _ => &self.body,
        }
    }
}

/// A rustls client configuration trusting the PEM bundle at `ca` (the
/// system store when `None`).
pub fn tls_config(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TlsConfigError> {
    let path = ca.unwrap_or(Path::new(SYSTEM_CA));
    let err = |reason: String| TlsConfigError::Ca {
        path: path.display().to_string(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| err(e.to_string()))?;
    for cert in certs {
        let cert = cert.map_err(|e| err(e.to_string()))?;
        roots.add(cert).map_err(|e| err(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(err("no certificates found".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// One upstream address and its idle connections.
pub struct Endpoint {
    pub spec: HostSpec,
    tls: Option<Arc<rustls::ClientConfig>>,
    keepalive: bool,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("addr", &self.spec.to_string())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Endpoint {
    /// `tls` set means every connection is wrapped in TLS.
    pub fn new(spec: HostSpec, tls: Option<Arc<rustls::ClientConfig>>, keepalive: bool) -> Self {
        Endpoint {
            spec,
            tls,
            keepalive,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn addr(&self) -> String {
        self.spec.to_string()
    }

    /// POSTs `body` to `path` with `headers`. A reused connection that turns
    /// out closed is retried once on a fresh one: a stale pooled socket is
    /// not the upstream's fault.
    pub async fn post(
        &self,
        path: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Exchange, ClientError> {
        if let Some(sender) = self.take_idle() {
            match self.exchange(sender, path, headers, body.clone()).await {
                Ok(x) => return Ok(x),
                Err(ExchangeError::Unsent) => {}
                Err(ExchangeError::Failed(e)) => return Err(e),
            }
        }
        let sender = self.connect().await?;
        match self.exchange(sender, path, headers, body).await {
            Ok(x) => Ok(x),
            Err(ExchangeError::Unsent) => Err(ClientError::Http {
                addr: self.addr(),
                reason: "connection closed before the request was sent".into(),
            }),
            Err(ExchangeError::Failed(e)) => Err(e),
        }
    }

    fn take_idle(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(s) = idle.pop() {
            if !s.is_closed() {
                return Some(s);
            }
        }
        None
    }

    fn put_idle(&self, s: SendRequest<Full<Bytes>>) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(s);
            }
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let tcp = TcpStream::connect((self.spec.host.as_str(), self.spec.port))
            .await
            .map_err(|source| ClientError::Connect {
                addr: self.addr(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let tcp = NoShutdown(tcp);
        match &self.tls {
            None => self.handshake(tcp).await,
            Some(config) => {
                let name =
                    ServerName::try_from(self.spec.host.clone()).map_err(|e| ClientError::Tls {
                        addr: self.addr(),
                        reason: e.to_string(),
                    })?;
                let stream = tokio_rustls::TlsConnector::from(Arc::clone(config))
                    .connect(name, tcp)
                    .await
                    .map_err(|e| ClientError::Tls {
                        addr: self.addr(),
                        reason: e.to_string(),
                    })?;
                self.handshake(stream).await
            }
        }
    }

    async fn handshake<S>(&self, stream: S) -> Result<SendRequest<Full<Bytes>>, ClientError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) =
            http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| ClientError::Http {
                    addr: self.addr(),
                    reason: e.to_string(),
                })?;
        // The connection task ends when the server closes or the sender drops.
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    async fn exchange(
        &self,
        mut sender: SendRequest<Full<Bytes>>,
        path: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Exchange, ExchangeError> {
        if sender.ready().await.is_err() {
            return Err(ExchangeError::Unsent);
        }
        let req = self.request(path, headers, body);
        let resp = sender.send_request(req).await.map_err(|e| {
            if e.is_canceled() {
                ExchangeError::Unsent
            } else {
                ExchangeError::Failed(ClientError::Http {
                    addr: self.addr(),
                    reason: e.to_string(),
                })
            }
        })?;
        let (parts, incoming) = resp.into_parts();
        let raw = Limited::new(incoming, MAX_REPLY)
            .collect()
            .await
            .map_err(|e| {
                ExchangeError::Failed(ClientError::Body {
                    addr: self.addr(),
                    reason: e.to_string(),
                })
            })?
            .to_bytes();
        let reusable = self.keepalive && !closes(&parts.headers);
        if reusable {
            self.put_idle(sender);
        }
        let body = decompress(&parts.headers, raw).map_err(|reason| {
            ExchangeError::Failed(ClientError::Body {
                addr: self.addr(),
                reason,
            })
        })?;
        Ok(Exchange {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    fn request(
        &self,
        path: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(body.clone()));
        *req.method_mut() = hyper::Method::POST;
        *req.uri_mut() = path
            .parse()
            .unwrap_or_else(|_| hyper::Uri::from_static("/checkv2"));
        let h = req.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.addr()) {
            h.insert(HOST, v);
        }
        h.insert(
            CONNECTION,
            HeaderValue::from_static(if self.keepalive {
                "keep-alive"
            } else {
                "close"
            }),
        );
        h.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        for (name, value) in headers {
            h.append(name.clone(), value.clone());
        }
        req
    }
}

/// A TCP stream whose write-side shutdown is left to `close`.
///
/// hyper shuts the write side down before dropping a finished connection,
/// and Rspamd closes every connection after its reply, so that was one
/// `shutdown(2)` per forwarded message (a FIN sent and processed by the
/// loopback peer in our time; `docs/performance.md`) right
/// before the `close(2)` that sends the same FIN. TLS still sends its
/// close_notify: rustls writes it before calling this shutdown.
struct NoShutdown(TcpStream);

impl tokio::io::AsyncRead for NoShutdown {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for NoShutdown {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

enum ExchangeError {
    /// Nothing reached the server (a pooled connection had closed).
    Unsent,
    Failed(ClientError),
}

fn closes(h: &HeaderMap) -> bool {
    h.get_all(CONNECTION)
        .iter()
        .any(|v| v.to_str().is_ok_and(|s| s.eq_ignore_ascii_case("close")))
}

/// zstd request body at Rspamd's proxy level (1).
pub fn compress(body: &[u8]) -> Result<Bytes, std::io::Error> {
    zstd::bulk::compress(body, 1).map(Bytes::from)
}

/// Undoes `Compression: zstd` / `Content-Encoding: zstd` on a reply,
/// bounded so a hostile upstream cannot expand a tiny body without limit.
fn decompress(h: &HeaderMap, raw: Bytes) -> Result<Bytes, String> {
    let zstd = ["compression", "content-encoding"].iter().any(|n| {
        h.get(*n)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("zstd"))
    });
    if !zstd {
        return Ok(raw);
    }
    let decoder = zstd::stream::read::Decoder::new(&raw[..]).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    decoder
        .take(MAX_REPLY as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("zstd: {e}"))?;
    if out.len() > MAX_REPLY {
        return Err("decompressed reply too large".into());
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zstd_round_trips_and_plain_passes() {
        let mut h = HeaderMap::new();
        let plain = Bytes::from_static(b"{\"action\":\"no action\"}");
        assert_eq!(decompress(&h, plain.clone()).unwrap(), plain);
        h.insert("compression", HeaderValue::from_static("zstd"));
        let packed = compress(&plain).unwrap();
        assert_ne!(packed, plain);
        assert_eq!(decompress(&h, packed).unwrap(), plain);
        assert!(decompress(&h, plain).is_err(), "not a zstd frame");
    }

    #[test]
    fn message_offset_cuts_the_body_block() {
        let mut headers = HeaderMap::new();
        headers.insert("message-offset", HeaderValue::from_static("2"));
        let x = Exchange {
            status: StatusCode::OK,
            headers,
            body: Bytes::from_static(b"{}new body"),
        };
        assert_eq!(x.json(), b"{}");
    }

    #[tokio::test]
    async fn shutdown_is_left_to_close() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let mut c = NoShutdown(client);
        c.write_all(b"x").await.unwrap();
        c.shutdown().await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(server.read(&mut buf).await.unwrap(), 1);
        let wait = std::time::Duration::from_millis(100);
        let early = tokio::time::timeout(wait, server.read(&mut buf)).await;
        assert!(early.is_err(), "no FIN before the close: {early:?}");
        drop(c);
        assert_eq!(server.read(&mut buf).await.unwrap(), 0, "FIN at close");
    }

    #[test]
    fn missing_ca_file_is_a_clear_error() {
        let e = tls_config(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }
}
