//! `sluice status`: one `GET /stat` to the running daemon's controller,
//! printed for a human. The request goes through hyper, over rustls when the
//! controller is addressed as `https://` (its `ssl_cert`/`ssl_key` are set),
//! so a controller behind TLS is reachable like a plain one. The daemon's
//! tests read `/metrics` through the same client.
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1;
use hyper::header::{HeaderValue, CONNECTION, HOST};
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::net::TcpStream;

/// Longest the whole exchange (connect, TLS, request, reply) may take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Largest reply read; `/stat` and `/metrics` are far smaller.
const MAX_REPLY: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(
        "controller address {addr:?}: expected HOST:PORT, http://HOST:PORT or https://HOST:PORT"
    )]
    BadAddress { addr: String },
    #[error("controller {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("controller {addr}: TLS: {reason}")]
    Tls { addr: String, reason: String },
    #[error("controller {addr}: {reason}")]
    Http { addr: String, reason: String },
    #[error("controller {addr}: no reply within {TIMEOUT:?}")]
    Timeout { addr: String },
    #[error("controller {addr} answered {status}: {body}")]
    Status {
        addr: String,
        status: u16,
        body: String,
    },
    #[error("controller {addr}: /stat is not JSON: {source}")]
    Json {
        addr: String,
        source: serde_json::Error,
    },
    #[error("starting the client's runtime: {0}")]
    Runtime(std::io::Error),
}

/// The controller's `/stat` reply.
#[derive(Debug, Clone)]
pub struct StatusReport {
    pub raw: Value,
}

/// A running daemon's controller: where it listens, whether over TLS, and
/// the password its protected paths want.
#[derive(Debug, Clone)]
pub struct Controller {
    /// As given, for messages.
    addr: String,
    host: String,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
    password: Option<String>,
}

impl Controller {
    /// `addr` is `HOST:PORT` or `http://HOST:PORT` (plain HTTP) or
    /// `https://HOST:PORT` (TLS, trusting the PEM bundle `ca_file`, else the
    /// system's certificate store).
    pub fn new(
        addr: &str,
        password: Option<&str>,
        ca_file: Option<&Path>,
    ) -> Result<Controller, StatusError> {
        let bad = || StatusError::BadAddress { addr: addr.into() };
        let (https, rest) = match addr.split_once("://") {
            Some(("https", rest)) => (true, rest),
            Some(("http", rest)) => (false, rest),
            Some(_) => return Err(bad()),
            None => (false, addr),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad());
        }
        let tls = if https {
            let config =
                crate::forward::client::tls_config(ca_file).map_err(|e| StatusError::Tls {
                    addr: addr.into(),
                    reason: e.to_string(),
                })?;
            Some(config)
        } else {
            None
        };
        Ok(Controller {
            addr: addr.into(),
            host: host.into(),
            port,
            tls,
            password: password.map(str::to_string),
        })
    }

    /// `GET /stat`.
    pub fn stat(&self) -> Result<StatusReport, StatusError> {
        let body = self.get("/stat")?;
        let raw = serde_json::from_str(&body).map_err(|source| StatusError::Json {
            addr: self.addr.clone(),
            source,
        })?;
        Ok(StatusReport { raw })
    }

    /// One `GET`, blocking: the body of a 200 reply. Runs on a thread of its
    /// own, so it may be called from inside an async runtime as well.
    pub fn get(&self, path: &str) -> Result<String, StatusError> {
        let (status, body) = self.call("GET", path, None)?;
        self.ok_body(status, body)
    }

    /// One request, blocking (`body`: a `POST`'s): the status and body of
    /// its reply, whatever the status. Runs on a thread of its own, so it
    /// may be called from inside an async runtime as well.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(u16, String), StatusError> {
        std::thread::scope(|s| {
            s.spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(StatusError::Runtime)?
                    .block_on(self.call_async(method, path, body))
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// One `GET`: the body of a 200 reply, within [`TIMEOUT`].
    pub async fn get_async(&self, path: &str) -> Result<String, StatusError> {
        let (status, body) = self.call_async("GET", path, None).await?;
        self.ok_body(status, body)
    }

    /// One request within [`TIMEOUT`]: the status and body of its reply.
    pub async fn call_async(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(u16, String), StatusError> {
        tokio::time::timeout(TIMEOUT, self.exchange(method, path, body))
            .await
            .map_err(|_| StatusError::Timeout {
                addr: self.addr.clone(),
            })?
    }

    /// The body of a 200 reply, else the status as an error.
    fn ok_body(&self, status: u16, body: String) -> Result<String, StatusError> {
        if status != 200 {
            return Err(StatusError::Status {
                addr: self.addr.clone(),
                status,
                body: body.chars().take(200).collect(),
            });
        }
        Ok(body)
    }

    async fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(u16, String), StatusError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|source| StatusError::Connect {
                addr: self.addr.clone(),
                source,
            })?;
        match &self.tls {
            None => self.request(tcp, method, path, body).await,
            Some(config) => {
                let tls = |reason: String| StatusError::Tls {
                    addr: self.addr.clone(),
                    reason,
                };
                let name =
                    ServerName::try_from(self.host.clone()).map_err(|e| tls(e.to_string()))?;
                let stream = tokio_rustls::TlsConnector::from(Arc::clone(config))
                    .connect(name, tcp)
                    .await
                    .map_err(|e| tls(e.to_string()))?;
                self.request(stream, method, path, body).await
            }
        }
    }

    async fn request<S>(
        &self,
        stream: S,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(u16, String), StatusError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let http = |reason: String| StatusError::Http {
            addr: self.addr.clone(),
            reason,
        };
        let (mut sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| http(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let method =
            hyper::Method::from_bytes(method.as_bytes()).map_err(|e| http(e.to_string()))?;
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(CONNECTION, HeaderValue::from_static("close"))
            .header(HOST, format!("{}:{}", self.host, self.port));
        if let Some(p) = &self.password {
            req = req.header("Password", p.as_str());
        }
        let req = req
            .body(Full::new(Bytes::copy_from_slice(body.unwrap_or_default())))
            .map_err(|e| http(e.to_string()))?;
        let reply = sender
            .send_request(req)
            .await
            .map_err(|e| http(e.to_string()))?;
        let status = reply.status();
        let body = Limited::new(reply.into_body(), MAX_REPLY)
            .collect()
            .await
            .map_err(|e| http(e.to_string()))?
            .to_bytes();
        Ok((status.as_u16(), String::from_utf8_lossy(&body).into_owned()))
    }
}

/// Asks the plain-HTTP controller at `addr` for `/stat`.
pub fn fetch(addr: &str, password: Option<&str>) -> Result<StatusReport, StatusError> {
    Controller::new(addr, password, None)?.stat()
}

/// One `GET` to the plain-HTTP controller at `addr`; the body of a 200 reply.
pub fn get(addr: &str, path: &str, password: Option<&str>) -> Result<String, StatusError> {
    Controller::new(addr, password, None)?.get(path)
}

/// One request to the plain-HTTP controller at `addr` (`body`: a `POST`'s):
/// the status and body of its reply, whatever the status.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    password: Option<&str>,
    body: Option<&[u8]>,
) -> Result<(u16, String), StatusError> {
    Controller::new(addr, password, None)?.call(method, path, body)
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = &self.raw;
        let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        let version = v.get("version").and_then(Value::as_str).unwrap_or("?");
        writeln!(f, "sluice {version}, up {}", uptime(n("uptime")))?;
        writeln!(
            f,
            "scanned: {} (spam {}, ham {})",
            n("scanned"),
            n("spam_count"),
            n("ham_count")
        )?;
        if let Some(actions) = v.get("actions").and_then(Value::as_object) {
            for (action, count) in actions {
                writeln!(f, "  {action:<16} {}", count.as_u64().unwrap_or(0))?;
            }
        }
        writeln!(f, "milter sessions: {}", n("milter_sessions"))?;
        if let Some(store) = v.get("bayes_store").and_then(Value::as_str) {
            writeln!(f, "bayes store: {store}")?;
        }
        if let Some(lists) = v.get("dns_lists").and_then(Value::as_array) {
            let unhealthy: Vec<&str> = lists
                .iter()
                .filter(|l| l.get("healthy") == Some(&Value::Bool(false)))
                .filter_map(|l| l.get("name").and_then(Value::as_str))
                .collect();
            if unhealthy.is_empty() {
                writeln!(f, "dns lists: {}, all answering", lists.len())?;
            } else {
                let names = unhealthy.join(", ");
                writeln!(
                    f,
                    "dns lists: {}, refusing our queries: {names}",
                    lists.len()
                )?;
            }
        }
        writeln!(
            f,
            "http connections: {}, controller connections: {}",
            n("connections"),
            n("control_connections")
        )
    }
}

fn uptime(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h {m}m")
    } else {
        format!("{h}h {m}m {s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A one-shot server answering the first request with `reply`; its address.
    fn serve_once(reply: &'static [u8]) -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(reply);
        });
        addr
    }

    #[test]
    fn parses_and_renders_a_stat_reply() {
        let addr = serve_once(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n\
              {\"version\":\"0.1.0\",\"uptime\":3725,\"scanned\":5,\"spam_count\":2,\"ham_count\":3,\
              \"actions\":{\"reject\":2,\"no action\":3},\"milter_sessions\":4,\"connections\":1,\
              \"control_connections\":7,\"bayes_store\":\"down\"}",
        );
        let text = fetch(&addr, None).unwrap().to_string();
        assert!(text.contains("up 1h 2m 5s"), "{text}");
        assert!(text.contains("scanned: 5 (spam 2, ham 3)"), "{text}");
        assert!(text.contains("reject"), "{text}");
        assert!(text.contains("milter sessions: 4"), "{text}");
        assert!(text.contains("bayes store: down"), "{text}");
        assert!(!text.contains("dns lists"), "{text}");
    }

    #[test]
    fn unhealthy_dns_lists_are_named() {
        let raw = serde_json::json!({"dns_lists": [
            {"name": "spamhaus", "healthy": false}, {"name": "dnswl", "healthy": true}
        ]});
        let text = StatusReport { raw }.to_string();
        assert!(
            text.contains("dns lists: 2, refusing our queries: spamhaus"),
            "{text}"
        );
    }

    #[test]
    fn errors_carry_the_evidence() {
        let addr = serve_once(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\n\r\nno");
        let e = get(&addr, "/stat", Some("secret")).unwrap_err();
        assert!(
            matches!(e, StatusError::Status { status: 403, ref body, .. } if body == "no"),
            "{e}"
        );
        let addr = serve_once(b"SSH-2.0-OpenSSH\r\n\r\n");
        let e = get(&addr, "/stat", None).unwrap_err();
        assert!(matches!(e, StatusError::Http { .. }), "{e}");
    }

    #[test]
    fn addresses_take_a_scheme() {
        let c = Controller::new("http://[::1]:11334/", None, None).unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.tls.is_some()),
            ("::1", 11334, false)
        );
        let c = Controller::new("127.0.0.1:1", None, None).unwrap();
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 1));
        for bad in ["ftp://127.0.0.1:1", "127.0.0.1", ":1", "127.0.0.1:http"] {
            let e = Controller::new(bad, None, None).unwrap_err();
            assert!(matches!(e, StatusError::BadAddress { .. }), "{bad}: {e}");
        }
        let e = Controller::new(
            "https://127.0.0.1:1",
            None,
            Some(Path::new("/nonexistent.pem")),
        )
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent.pem"), "{e}");
    }

    #[test]
    fn refused_connection_is_a_typed_error() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let e = fetch(&addr, None).unwrap_err();
        assert!(matches!(e, StatusError::Connect { .. }), "{e}");
    }

    #[tokio::test]
    async fn the_blocking_get_works_inside_a_runtime() {
        let addr = serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\npong");
        assert_eq!(get(&addr, "/ping", None).unwrap(), "pong");
    }
}
