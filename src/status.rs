//! `sluice status`: one `GET /stat` to the running daemon's controller,
//! printed for a human. Plain HTTP/1.1 on a blocking socket: the
//! controller listens on loopback and the reply is one small JSON object,
//! so an async client would add nothing.
use std::fmt;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("controller {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("controller {addr}: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("controller {addr}: not an HTTP reply: {head:?}")]
    NotHttp { addr: String, head: String },
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
}

/// The controller's `/stat` reply.
#[derive(Debug, Clone)]
pub struct StatusReport {
    pub raw: Value,
}

/// Asks the controller at `addr` (HOST:PORT) for `/stat`.
pub fn fetch(addr: &str, password: Option<&str>) -> Result<StatusReport, StatusError> {
    let body = get(addr, "/stat", password)?;
    let raw = serde_json::from_str(&body).map_err(|source| StatusError::Json {
        addr: addr.into(),
        source,
    })?;
    Ok(StatusReport { raw })
}

/// One `GET` to the controller; the body of a 200 reply.
pub fn get(addr: &str, path: &str, password: Option<&str>) -> Result<String, StatusError> {
    let (status, body) = request(addr, "GET", path, password, None)?;
    ok_body(addr, status, body)
}

/// One request to the controller (`body`: a `POST`'s): the status and
/// body of its reply, whatever the status.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    password: Option<&str>,
    body: Option<&[u8]>,
) -> Result<(u16, String), StatusError> {
    let io = |source| StatusError::Io {
        addr: addr.into(),
        source,
    };
    let mut stream = connect(addr)?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(p) = password {
        req.push_str(&format!("Password: {p}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    let mut out = req.into_bytes();
    out.extend_from_slice(body.unwrap_or_default());
    stream.write_all(&out).map_err(io)?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).map_err(io)?;
    parse_reply(addr, &reply)
}

fn connect(addr: &str) -> Result<TcpStream, StatusError> {
    let err = |source| StatusError::Connect {
        addr: addr.into(),
        source,
    };
    let sa = addr
        .to_socket_addrs()
        .map_err(err)?
        .next()
        .ok_or_else(|| err(std::io::ErrorKind::NotFound.into()))?;
    TcpStream::connect_timeout(&sa, TIMEOUT).map_err(err)
}

/// Splits status line, headers and body; the body runs to the end of the
/// stream (`Connection: close`) or to `Content-Length`.
fn parse_reply(addr: &str, reply: &[u8]) -> Result<(u16, String), StatusError> {
    let text = String::from_utf8_lossy(reply);
    let not_http = || StatusError::NotHttp {
        addr: addr.into(),
        head: text.chars().take(80).collect(),
    };
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(not_http)?;
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .filter(|l| l.starts_with("HTTP/1."))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(not_http)?;
    let length = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok());
    let body = match length {
        Some(n) if n <= body.len() => &body[..n],
        _ => body,
    };
    Ok((status, body.to_string()))
}

/// The body of a 200 reply, else the status as an error.
fn ok_body(addr: &str, status: u16, body: String) -> Result<String, StatusError> {
    if status != 200 {
        return Err(StatusError::Status {
            addr: addr.into(),
            status,
            body: body.chars().take(200).collect(),
        });
    }
    Ok(body)
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

    #[test]
    fn parses_and_renders_a_stat_reply() {
        let body = r#"{"version":"0.1.0","uptime":3725,"scanned":5,"spam_count":2,"ham_count":3,"actions":{"reject":2,"no action":3},"milter_sessions":4,"connections":1,"control_connections":7,"bayes_store":"down"}"#;
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let (status, body) = parse_reply("x", reply.as_bytes()).unwrap();
        let raw = serde_json::from_str(&ok_body("x", status, body).unwrap()).unwrap();
        let text = StatusReport { raw }.to_string();
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
        let (status, body) = parse_reply("x", b"HTTP/1.1 403 Forbidden\r\n\r\nno").unwrap();
        let e = ok_body("x", status, body).unwrap_err();
        assert!(matches!(e, StatusError::Status { status: 403, .. }), "{e}");
        let e = parse_reply("x", b"SSH-2.0-OpenSSH\r\n\r\n").unwrap_err();
        assert!(matches!(e, StatusError::NotHttp { .. }), "{e}");
    }

    #[test]
    fn refused_connection_is_a_typed_error() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let e = fetch(&addr, None).unwrap_err();
        assert!(matches!(e, StatusError::Connect { .. }), "{e}");
    }
}
