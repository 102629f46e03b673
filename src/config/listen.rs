//! Listen addresses in every spelling an admin may paste from Postfix, Sendmail or Rspamd.
//! Host names other than `localhost` are refused: resolving them would need DNS at startup.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

/// Where the milter listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// Why a listen address was refused; each carries the text given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenAddrError {
    #[error("empty listen address")]
    Empty,
    #[error("`{0}`: empty socket path")]
    EmptyPath(String),
    #[error("`{0}`: missing port (expected HOST:PORT)")]
    MissingPort(String),
    #[error("`{input}`: bad port `{port}` (expected 0-65535)")]
    BadPort { input: String, port: String },
    #[error("`{input}`: bad host `{host}` (expected an IP address, `*` or `localhost`)")]
    BadHost { input: String, host: String },
}

impl FromStr for ListenAddr {
    type Err = ListenAddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ListenAddrError::Empty);
        }
        let lower = s.to_ascii_lowercase();
        for prefix in ["unix:", "local:"] {
            if lower.starts_with(prefix) {
                return unix(s, &s[prefix.len()..]);
            }
        }
        if s.starts_with('/') {
            return unix(s, s);
        }
        for prefix in ["inet6:", "inet:"] {
            if lower.starts_with(prefix) {
                let rest = &s[prefix.len()..];
                return match rest.split_once('@') {
                    Some((port, host)) => tcp(s, host, port),
                    None => host_port(s, rest),
                };
            }
        }
        host_port(s, s)
    }
}

fn unix(input: &str, path: &str) -> Result<ListenAddr, ListenAddrError> {
    if path.is_empty() {
        return Err(ListenAddrError::EmptyPath(input.to_string()));
    }
    Ok(ListenAddr::Unix(PathBuf::from(path)))
}

/// `HOST:PORT`, with IPv6 hosts in brackets (a bare IPv6 host works when the port is last).
fn host_port(input: &str, rest: &str) -> Result<ListenAddr, ListenAddrError> {
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| ListenAddrError::MissingPort(input.to_string()))?;
    tcp(input, host, port)
}

fn tcp(input: &str, host: &str, port: &str) -> Result<ListenAddr, ListenAddrError> {
    let port_num: u16 = port.parse().map_err(|_| ListenAddrError::BadPort {
        input: input.to_string(),
        port: port.to_string(),
    })?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let ip = match bare.to_ascii_lowercase().as_str() {
        "*" | "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        _ => bare.parse().map_err(|_| ListenAddrError::BadHost {
            input: input.to_string(),
            host: host.to_string(),
        })?,
    };
    Ok(ListenAddr::Tcp(SocketAddr::new(ip, port_num)))
}

impl fmt::Display for ListenAddr {
    /// Postfix syntax, so the value can be pasted into `smtpd_milters`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(SocketAddr::V4(a)) => write!(f, "inet:{}:{}", a.ip(), a.port()),
            ListenAddr::Tcp(SocketAddr::V6(a)) => write!(f, "inet:[{}]:{}", a.ip(), a.port()),
            ListenAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}
