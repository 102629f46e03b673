//! `options { dns { ... } }`: Rspamd's keys (`nameserver`, `timeout`, `retransmits`) with
//! Rspamd's defaults, plus sluice's own for the cache and the per-message budget (Rspamd leaves
//! caching to the local recursor and bounds DNS only by the task's timeout).
//!
//! Keys Rspamd has and sluice has no use for (`sockets`, `enable_dnssec`, ...) are ignored.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::Value;

use super::value;

/// Where unconfigured nameservers come from, as in Rspamd.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// A bad value in the `options.dns` section.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("options.dns.{key}: {message}")]
pub struct DnsSettingsError {
    pub key: String,
    pub message: String,
}

impl DnsSettingsError {
    pub fn new(key: &str, message: impl Into<String>) -> Self {
        DnsSettingsError {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSettings {
    /// `nameserver`: servers asked in this order; empty means those of `/etc/resolv.conf`.
    pub nameservers: Vec<SocketAddr>,
    /// `timeout`: how long one try waits for an answer.
    pub timeout: Duration,
    /// `retransmits`: tries after the first one times out.
    pub retransmits: usize,
    /// `cache_size`: entries (name and type) each cache holds at most: the checks' (split
    /// evenly among TXT, MX, A, AAAA and PTR) and that of sluice's own typed lookups.
    pub cache_size: usize,
    /// `cache_max_ttl`: the longest a positive answer is kept, whatever its TTL.
    pub cache_max_ttl: Duration,
    /// `cache_negative_max_ttl`: the longest NXDOMAIN and "no data" answers are kept, whatever
    /// their zone's SOA says.
    pub cache_negative_max_ttl: Duration,
    /// `message_budget`: how long all lookups of one message may take together; kept well
    /// under `options.task_timeout` so a dead nameserver still leaves time to scan.
    pub message_budget: Duration,
}

impl Default for DnsSettings {
    fn default() -> Self {
        DnsSettings {
            nameservers: Vec::new(),
            timeout: Duration::from_secs(1),
            retransmits: 5,
            cache_size: 8192,
            cache_max_ttl: Duration::from_secs(3600),
            cache_negative_max_ttl: Duration::from_secs(300),
            message_budget: Duration::from_secs(4),
        }
    }
}

impl DnsSettings {
    /// The `options.dns` section of the merged tree; defaults when there is none.
    pub fn from_tree(tree: &Value) -> Result<Self, DnsSettingsError> {
        match tree.get("options").and_then(|o| o.get("dns")) {
            None | Some(Value::Null) => Ok(DnsSettings::default()),
            Some(dns) => DnsSettings::from_ucl(dns),
        }
    }

    /// The settings of one `options.dns` object; absent keys keep their defaults.
    pub fn from_ucl(dns: &Value) -> Result<Self, DnsSettingsError> {
        let Value::Object(map) = dns else {
            return Err(DnsSettingsError::new("", "expected a section { ... }"));
        };
        let mut s = DnsSettings::default();
        for (key, v) in map {
            s.apply(key, v)?;
        }
        Ok(s)
    }

    fn apply(&mut self, key: &str, v: &Value) -> Result<(), DnsSettingsError> {
        let bad = |m: &str| DnsSettingsError::new(key, m);
        match key {
            "nameserver" => {
                let list = value::strings(v).map_err(bad)?;
                self.nameservers = list
                    .iter()
                    .map(|s| nameserver(s).map_err(|m| DnsSettingsError::new(key, m)))
                    .collect::<Result<_, _>>()?;
            }
            "timeout" => self.timeout = positive(value::duration(v).map_err(bad)?, key)?,
            "retransmits" => self.retransmits = value::size(v).map_err(bad)?,
            "cache_size" => self.cache_size = value::size(v).map_err(bad)?,
            "cache_max_ttl" => self.cache_max_ttl = value::duration(v).map_err(bad)?,
            "cache_negative_max_ttl" => {
                self.cache_negative_max_ttl = value::duration(v).map_err(bad)?
            }
            "message_budget" => {
                self.message_budget = positive(value::duration(v).map_err(bad)?, key)?
            }
            _ => {}
        }
        Ok(())
    }
}

fn positive(d: Duration, key: &str) -> Result<Duration, DnsSettingsError> {
    if d.is_zero() {
        return Err(DnsSettingsError::new(key, "must be more than zero"));
    }
    Ok(d)
}

/// One `nameserver` entry: `IP`, `IPv4:PORT` or `[IPv6]:PORT`; port 53 when none is given.
fn nameserver(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    s.parse::<SocketAddr>()
        .map_err(|_| format!("{s:?} is not a nameserver address (IP, IPv4:PORT or [IPv6]:PORT)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_empty_section_keeps_rspamd_defaults() {
        let s = DnsSettings::from_ucl(&json!({})).unwrap();
        assert_eq!(s, DnsSettings::default());
        assert_eq!(s.timeout, Duration::from_secs(1));
        assert_eq!(s.retransmits, 5);
        assert!(s.nameservers.is_empty());
    }

    #[test]
    fn rspamd_keys_are_read() {
        let s = DnsSettings::from_ucl(&json!({
            "nameserver": ["127.0.0.1", "127.0.0.2:5353", "[::1]:53", "::1"],
            "timeout": "300ms",
            "retransmits": 2,
            "sockets": 16,
        }))
        .unwrap();
        let want: Vec<SocketAddr> = ["127.0.0.1:53", "127.0.0.2:5353", "[::1]:53", "[::1]:53"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(s.nameservers, want);
        assert_eq!(s.timeout, Duration::from_millis(300));
        assert_eq!(s.retransmits, 2);
    }

    #[test]
    fn a_single_nameserver_string_is_a_list_of_one() {
        let s = DnsSettings::from_ucl(&json!({"nameserver": "127.0.0.1:53"})).unwrap();
        assert_eq!(s.nameservers, vec!["127.0.0.1:53".parse().unwrap()]);
    }

    #[test]
    fn sluice_keys_are_read() {
        let s = DnsSettings::from_ucl(&json!({
            "cache_size": 100, "cache_max_ttl": "10min",
            "cache_negative_max_ttl": 30, "message_budget": "2s",
        }))
        .unwrap();
        assert_eq!(s.cache_size, 100);
        assert_eq!(s.cache_max_ttl, Duration::from_secs(600));
        assert_eq!(s.cache_negative_max_ttl, Duration::from_secs(30));
        assert_eq!(s.message_budget, Duration::from_secs(2));
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = DnsSettings::from_ucl(&json!({"nameserver": ["dns.example"]})).unwrap_err();
        assert_eq!(e.key, "nameserver");
        assert!(e.to_string().contains("dns.example"), "{e}");
        let e = DnsSettings::from_ucl(&json!({"timeout": "soon"})).unwrap_err();
        assert_eq!(e.key, "timeout");
        let e = DnsSettings::from_ucl(&json!({"message_budget": 0})).unwrap_err();
        assert_eq!(e.key, "message_budget");
        assert!(DnsSettings::from_ucl(&json!([1])).is_err());
    }
}
