//! Rspamd's upstream list syntax: `[rotation:]host[:port[:weight]], …`.
//!
//! Kept byte-compatible with what admins already write in
//! `worker-proxy.inc`, so their `hosts = "round-robin:h1:11333:10,h2"` lines
//! carry over. Elements are separated by `,`, `;` or whitespace; IPv6
//! literals go in brackets; `https://` (or `ssl = yes` on the block) asks for
//! TLS. Unix sockets and DNS SRV discovery are refused with a clear error
//! rather than silently ignored.
use std::fmt;

/// How a pool picks the next upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// Weighted: the highest current weight wins and is decremented.
    RoundRobin,
    /// The alive upstream with the highest weight; ties go to the first listed.
    MasterSlave,
    /// Jump hash of a key (client IP or sender): same key, same upstream.
    Hash,
    /// Two random alive upstreams; the less loaded one wins.
    Random,
}

impl Rotation {
    fn from_prefix(p: &str) -> Option<Rotation> {
        Some(match p {
            "round-robin" | "round_robin" => Rotation::RoundRobin,
            "master-slave" | "master_slave" => Rotation::MasterSlave,
            "hash" => Rotation::Hash,
            "random" => Rotation::Random,
            _ => return None,
        })
    }
}

/// One upstream address of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// Host name or IP literal, without brackets.
    pub host: String,
    pub port: u16,
    /// Rspamd's priority; `1` when not given.
    pub weight: u32,
    /// `https://` prefix on this element.
    pub tls: bool,
}

impl fmt::Display for HostSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A parsed `hosts` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostList {
    pub rotation: Rotation,
    pub hosts: Vec<HostSpec>,
}

/// Why a `hosts` string was refused; each variant quotes the element at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostsError {
    #[error("empty upstream list")]
    Empty,
    #[error("`{0}`: bad port")]
    Port(String),
    #[error("`{0}`: bad weight (a whole number is expected)")]
    Weight(String),
    #[error("`{0}`: unterminated IPv6 bracket")]
    Bracket(String),
    #[error("`{0}`: unix sockets and SRV discovery are not supported for upstreams")]
    Unsupported(String),
    #[error("`{0}`: empty host name")]
    NoHost(String),
}

impl HostList {
    /// Parses a `hosts` value with `default_port` for elements without one.
    pub fn parse(text: &str, default_port: u16) -> Result<HostList, HostsError> {
        let (rotation, rest) = split_rotation(text.trim());
        let hosts = rest
            .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
            .filter(|e| !e.is_empty())
            .map(|e| parse_element(e, default_port))
            .collect::<Result<Vec<_>, _>>()?;
        if hosts.is_empty() {
            return Err(HostsError::Empty);
        }
        Ok(HostList { rotation, hosts })
    }
}

/// The rotation prefix, round-robin when absent (the proxy's default).
fn split_rotation(text: &str) -> (Rotation, &str) {
    if let Some((prefix, rest)) = text.split_once(':') {
        if let Some(r) = Rotation::from_prefix(&prefix.to_ascii_lowercase()) {
            return (r, rest);
        }
    }
    (Rotation::RoundRobin, text)
}

fn parse_element(raw: &str, default_port: u16) -> Result<HostSpec, HostsError> {
    let err = || raw.to_string();
    let (tls, e) = match raw.strip_prefix("https://") {
        Some(rest) => (true, rest),
        None => (false, raw.strip_prefix("http://").unwrap_or(raw)),
    };
    let e = e.trim_end_matches('/');
    if e.starts_with('/') || e.starts_with('.') || e.starts_with("service=") {
        return Err(HostsError::Unsupported(err()));
    }
    let (host, tail) = if let Some(inner) = e.strip_prefix('[') {
        let (h, t) = inner
            .split_once(']')
            .ok_or_else(|| HostsError::Bracket(err()))?;
        (h, t.strip_prefix(':').unwrap_or(t))
    } else {
        e.split_once(':').unwrap_or((e, ""))
    };
    if host.is_empty() {
        return Err(HostsError::NoHost(err()));
    }
    let mut parts = tail.split(':').filter(|p| !p.is_empty());
    let port = match parts.next() {
        Some(p) => p.parse().map_err(|_| HostsError::Port(err()))?,
        None if tls && default_port == 11333 => 443,
        None => default_port,
    };
    let weight = match parts.next() {
        Some(w) => w.parse().map_err(|_| HostsError::Weight(err()))?,
        None => 1,
    };
    if parts.next().is_some() {
        return Err(HostsError::Port(err()));
    }
    Ok(HostSpec {
        host: host.to_string(),
        port,
        weight,
        tls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(host: &str, port: u16, weight: u32) -> HostSpec {
        HostSpec {
            host: host.into(),
            port,
            weight,
            tls: false,
        }
    }

    #[test]
    fn rspamd_examples_parse() {
        let l = HostList::parse("round-robin:10.0.0.1:11333:10,10.0.0.2:11333:5", 11333).unwrap();
        assert_eq!(l.rotation, Rotation::RoundRobin);
        assert_eq!(
            l.hosts,
            vec![spec("10.0.0.1", 11333, 10), spec("10.0.0.2", 11333, 5)]
        );
        let l = HostList::parse("master-slave:a; b:12\n[::1]:7:3", 11333).unwrap();
        assert_eq!(l.rotation, Rotation::MasterSlave);
        assert_eq!(
            l.hosts,
            vec![spec("a", 11333, 1), spec("b", 12, 1), spec("::1", 7, 3)]
        );
        assert_eq!(l.hosts[2].to_string(), "[::1]:7");
    }

    #[test]
    fn no_prefix_means_round_robin_and_tls_is_per_element() {
        let l = HostList::parse("https://h:8443,localhost", 11333).unwrap();
        assert_eq!(l.rotation, Rotation::RoundRobin);
        assert!(l.hosts[0].tls && !l.hosts[1].tls);
        assert_eq!(l.hosts[1].port, 11333);
        assert_eq!(
            HostList::parse("hash:x", 1).unwrap().rotation,
            Rotation::Hash
        );
        assert_eq!(
            HostList::parse("random:x", 1).unwrap().rotation,
            Rotation::Random
        );
    }

    #[test]
    fn bad_lists_say_which_element() {
        assert_eq!(HostList::parse(" , ", 1), Err(HostsError::Empty));
        assert_eq!(
            HostList::parse("a:port", 1),
            Err(HostsError::Port("a:port".into()))
        );
        assert_eq!(
            HostList::parse("a:1:heavy", 1),
            Err(HostsError::Weight("a:1:heavy".into()))
        );
        assert_eq!(
            HostList::parse("/run/rspamd.sock", 1),
            Err(HostsError::Unsupported("/run/rspamd.sock".into()))
        );
        assert_eq!(
            HostList::parse("[::1:5", 1),
            Err(HostsError::Bracket("[::1:5".into()))
        );
    }
}
