//! Where the load tool connects: the three address spellings an admin will
//! paste (Postfix `inet:HOST:PORT`, bare `HOST:PORT`, `unix:/path`).
//!
//! The tool only ever talks to loopback: it is a lab instrument, and pointing
//! it at someone else's milter by mistake must be refused, not attempted.
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use super::BenchError;

/// A parsed milter address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MilterAddr {
    /// A TCP listener on a loopback address.
    Tcp(SocketAddr),
    /// A Unix-domain socket path.
    Unix(PathBuf),
}

impl MilterAddr {
    /// Parses `inet:HOST:PORT`, `HOST:PORT`, `unix:/path` or `local:/path`.
    /// HOST is an IP literal (IPv6 may be bracketed) or `localhost`.
    pub fn parse(text: &str) -> Result<Self, BenchError> {
        let bad = |reason: &str| BenchError::BadAddr {
            addr: text.to_string(),
            reason: reason.to_string(),
        };
        if let Some(path) = text
            .strip_prefix("unix:")
            .or_else(|| text.strip_prefix("local:"))
        {
            if path.is_empty() {
                return Err(bad("empty socket path"));
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        let hostport = text.strip_prefix("inet:").unwrap_or(text);
        let (host, port) = hostport
            .rsplit_once(':')
            .ok_or_else(|| bad("expected HOST:PORT"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| bad("port is not a number 0-65535"))?;
        let ip = parse_host(host).ok_or_else(|| bad("host is not an IP address or localhost"))?;
        if !ip.is_loopback() {
            return Err(BenchError::NotLoopback {
                addr: text.to_string(),
            });
        }
        Ok(Self::Tcp(SocketAddr::new(ip, port)))
    }
}

fn parse_host(host: &str) -> Option<IpAddr> {
    if host.eq_ignore_ascii_case("localhost") {
        return Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

impl std::fmt::Display for MilterAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp(sa) => write!(f, "inet:{}:{}", sa.ip(), sa.port()),
            Self::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_three_spellings() {
        let want = MilterAddr::Tcp("127.0.0.1:11332".parse().unwrap());
        assert_eq!(MilterAddr::parse("inet:127.0.0.1:11332").unwrap(), want);
        assert_eq!(MilterAddr::parse("127.0.0.1:11332").unwrap(), want);
        assert_eq!(MilterAddr::parse("localhost:11332").unwrap(), want);
        assert_eq!(
            MilterAddr::parse("inet:[::1]:25").unwrap(),
            MilterAddr::Tcp("[::1]:25".parse().unwrap())
        );
        assert_eq!(
            MilterAddr::parse("unix:/run/sluice.sock").unwrap(),
            MilterAddr::Unix("/run/sluice.sock".into())
        );
    }

    #[test]
    fn refuses_non_loopback_and_garbage() {
        assert!(matches!(
            MilterAddr::parse("inet:192.0.2.1:11332"),
            Err(BenchError::NotLoopback { .. })
        ));
        for bad in [
            "inet:127.0.0.1",
            "127.0.0.1:port",
            "mx.example:25",
            "unix:",
            "127.0.0.1:70000",
        ] {
            assert!(
                matches!(MilterAddr::parse(bad), Err(BenchError::BadAddr { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn displays_in_postfix_syntax() {
        let a = MilterAddr::parse("127.0.0.1:9").unwrap();
        assert_eq!(a.to_string(), "inet:127.0.0.1:9");
    }
}
