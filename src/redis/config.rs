//! Rspamd's `redis` section, and a module's own keys over it.
//!
//! A module with `servers`, `read_servers`, `write_servers` or `sentinels` of its own
//! (`greylist { servers = "..."; }`, or `redis { greylist { servers = "..."; } }`) uses its
//! section whole; otherwise it uses the `redis` section, unless that section lists it in
//! `disabled_modules`. No servers anywhere: the module has no Redis (and keeps its state
//! in the embedded store).
use std::time::Duration;

use regex::Regex;
use serde_json::Value;

use super::error::RedisConfigError;
use super::sentinel::SentinelAuth;
use crate::config::value;

/// Rspamd's default Redis port.
const DEFAULT_PORT: u16 = 6379;
/// Rspamd's default `timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Rspamd's default `sentinel_watch_time`.
const DEFAULT_WATCH: Duration = Duration::from_secs(60);

/// One server: a TCP host and port, or a unix socket path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Server {
    Tcp(String, u16),
    Unix(String),
}

impl std::fmt::Display for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Server::Tcp(h, p) if h.contains(':') => write!(f, "[{h}]:{p}"),
            Server::Tcp(h, p) => write!(f, "{h}:{p}"),
            Server::Unix(p) => f.write_str(p),
        }
    }
}

/// Where one module's Redis is and how to talk to it.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// Written to (and read from when `read` is empty).
    pub write: Vec<Server>,
    /// Read from; empty: the write servers.
    pub read: Vec<Server>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: i64,
    /// Each call's bound (the scan's own deadline can cut it shorter).
    pub timeout: Duration,
    /// Sentinels to ask for the master; when set, `write` and `read` come from them.
    pub sentinels: Vec<Server>,
    /// How often the master is asked for again while all goes well.
    pub sentinel_watch_time: Duration,
    /// Which masters the sentinels know count (all when unset).
    pub sentinel_masters_pattern: Option<Regex>,
    /// Login to the sentinels themselves (Rspamd's `sentinel_username`,
    /// `sentinel_password`); the servers use `username` and `password`.
    pub sentinel_auth: SentinelAuth,
    /// sluice's extension (`cluster = true;`, which Rspamd lacks): the servers are seed
    /// nodes of a Redis Cluster, each key goes to the master owning its slot, and keys
    /// that one script or transaction touches share a hash tag (see [`RedisConfig::tag`]).
    pub cluster: bool,
}

impl RedisConfig {
    /// One server (and maybe a server to read from), without Sentinel or Cluster: the
    /// Bayes store's `servers`, as its URLs name them.
    pub fn single(
        write: Server,
        read: Option<Server>,
        db: i64,
        login: (Option<String>, Option<String>),
        timeout: Duration,
    ) -> RedisConfig {
        RedisConfig {
            write: vec![write],
            read: read.into_iter().collect(),
            username: login.0,
            password: login.1,
            db,
            timeout,
            sentinels: Vec::new(),
            sentinel_watch_time: DEFAULT_WATCH,
            sentinel_masters_pattern: None,
            sentinel_auth: SentinelAuth::default(),
            cluster: false,
        }
    }

    /// What tells two configurations' servers apart: everything but the call bound.
    pub fn identity(&self) -> String {
        let mut same = self.clone();
        same.timeout = Duration::ZERO;
        format!("{same:?}")
    }

    /// The settings of `module` (its section, `redis.<module>`, or the `redis` section);
    /// `None` when no servers are configured for it.
    pub fn for_module(tree: &Value, module: &str) -> Result<Option<RedisConfig>, RedisConfigError> {
        let global = tree.get("redis");
        let own = tree.get(module).filter(|s| has_servers(s));
        let nested = global
            .and_then(|g| g.get(module))
            .filter(|s| has_servers(s));
        if let Some((section, key)) = own
            .map(|s| (s, module.to_string()))
            .or_else(|| nested.map(|s| (s, format!("redis.{module}"))))
        {
            return RedisConfig::from_section(section, &key).map(Some);
        }
        let Some(global) = global.filter(|g| has_servers(g)) else {
            return Ok(None);
        };
        if let Some(off) = global.get("disabled_modules") {
            let off = value::strings(off)
                .map_err(|expected| shape("redis.disabled_modules", expected))?;
            if off.iter().any(|m| m == module) {
                return Ok(None);
            }
        }
        RedisConfig::from_section(global, "redis").map(Some)
    }

    /// Reads one section; `key` names it in errors.
    pub fn from_section(s: &Value, key: &str) -> Result<RedisConfig, RedisConfigError> {
        let servers = |name: &str| -> Result<Vec<Server>, RedisConfigError> {
            match s.get(name) {
                Some(v) => parse_servers(v, &format!("{key}.{name}")),
                None => Ok(Vec::new()),
            }
        };
        let both = servers("servers")?;
        let mut write = servers("write_servers")?;
        let mut read = servers("read_servers")?;
        if write.is_empty() {
            write.clone_from(&both);
        }
        if read.is_empty() && write != both {
            read = both;
        }
        let text = |name: &str| -> Result<Option<String>, RedisConfigError> {
            s.get(name)
                .map(|v| value::string(v).map_err(|e| shape(&format!("{key}.{name}"), e)))
                .transpose()
        };
        let dur = |name: &str, default: Duration| -> Result<Duration, RedisConfigError> {
            match s.get(name) {
                Some(v) => value::duration(v).map_err(|e| shape(&format!("{key}.{name}"), e)),
                None => Ok(default),
            }
        };
        let db = match text("db")? {
            Some(d) => d
                .trim()
                .parse::<i64>()
                .map_err(|_| shape(&format!("{key}.db"), "a database number"))?,
            None => 0,
        };
        let sentinel_masters_pattern = text("sentinel_masters_pattern")?
            .map(|p| {
                Regex::new(&p).map_err(|e| RedisConfigError::Pattern {
                    key: format!("{key}.sentinel_masters_pattern"),
                    reason: e.to_string(),
                })
            })
            .transpose()?;
        let timeout = dur("timeout", DEFAULT_TIMEOUT)?.max(Duration::from_millis(1));
        let cluster = match s.get("cluster") {
            Some(v) => value::boolean(v).map_err(|e| shape(&format!("{key}.cluster"), e))?,
            None => false,
        };
        let sentinels = servers("sentinels")?;
        let conflict = |name: &str, reason| RedisConfigError::Conflict {
            key: format!("{key}.{name}"),
            reason,
        };
        if cluster && !sentinels.is_empty() {
            return Err(conflict(
                "cluster",
                "`cluster` and `sentinels` exclude each other",
            ));
        }
        if cluster && write.is_empty() {
            return Err(conflict(
                "cluster",
                "`cluster` needs `servers` (seed nodes)",
            ));
        }
        if cluster && db != 0 {
            return Err(conflict("db", "a cluster has database 0 only"));
        }
        Ok(RedisConfig {
            write,
            read,
            username: text("username")?,
            password: text("password")?,
            db,
            timeout,
            sentinels,
            sentinel_watch_time: dur("sentinel_watch_time", DEFAULT_WATCH)?,
            sentinel_masters_pattern,
            sentinel_auth: SentinelAuth {
                username: text("sentinel_username")?,
                password: text("sentinel_password")?,
            },
            cluster,
        })
    }

    /// `key` as it is stored: under `cluster`, `{tag}` in front of it, so that keys one
    /// script or transaction touches together land in one slot; otherwise `key` unchanged
    /// (byte for byte Rspamd's, so Rspamd and sluice share a Redis that is no cluster).
    pub fn tag(&self, tag: &str, key: &str) -> String {
        if self.cluster {
            format!("{{{tag}}}{key}")
        } else {
            key.to_string()
        }
    }

    /// For log lines: the servers, or the sentinels.
    pub fn describe(&self) -> String {
        let list = |l: &[Server]| {
            l.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        if self.cluster {
            format!("cluster {}", list(&self.write))
        } else if self.sentinels.is_empty() {
            list(&self.write)
        } else {
            format!("sentinels {}", list(&self.sentinels))
        }
    }
}

fn has_servers(s: &Value) -> bool {
    // `cluster` alone names no servers: it qualifies the section's `servers`.
    ["servers", "read_servers", "write_servers", "sentinels"]
        .iter()
        .any(|k| s.get(k).is_some())
}

fn shape(key: &str, expected: &'static str) -> RedisConfigError {
    RedisConfigError::Shape {
        key: key.to_string(),
        expected,
    }
}

/// A list of servers: an array, or one string separated by commas, semicolons or spaces,
/// with Rspamd's upstream rotation prefix (`master-slave:`, `round-robin:`...) accepted.
pub fn parse_servers(v: &Value, key: &str) -> Result<Vec<Server>, RedisConfigError> {
    let items = value::strings(v).map_err(|e| shape(key, e))?;
    let mut out = Vec::new();
    for item in &items {
        let item = strip_rotation(item.trim());
        for one in item.split([',', ';', ' ', '\t']).filter(|p| !p.is_empty()) {
            out.push(
                parse_server(one).map_err(|reason| RedisConfigError::Server {
                    key: key.to_string(),
                    server: one.to_string(),
                    reason,
                })?,
            );
        }
    }
    Ok(out)
}

fn strip_rotation(s: &str) -> &str {
    const ROTATIONS: [&str; 6] = [
        "master-slave:",
        "round-robin:",
        "random:",
        "hash:",
        "sequential:",
        "ketama:",
    ];
    ROTATIONS
        .iter()
        .find_map(|r| s.strip_prefix(r))
        .unwrap_or(s)
}

/// `host`, `host:port`, `[v6]:port`, a bare IPv6 address, or a `/path` to a socket;
/// a trailing `:weight` after the port (Rspamd's upstream syntax) is ignored.
pub fn parse_server(s: &str) -> Result<Server, String> {
    let s = s.trim().trim_start_matches("redis://");
    if s.starts_with('/') {
        return Ok(Server::Unix(s.to_string()));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("unclosed `[`")?;
        let port = match after.strip_prefix(':') {
            Some(p) => port(p.split(':').next().unwrap_or(p))?,
            None if after.is_empty() => DEFAULT_PORT,
            None => return Err("junk after `]`".into()),
        };
        return Ok(Server::Tcp(host.to_string(), port));
    }
    if s.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok(Server::Tcp(s.to_string(), DEFAULT_PORT));
    }
    let mut parts = s.split(':');
    let host = parts.next().filter(|h| !h.is_empty()).ok_or("no host")?;
    let port = match parts.next() {
        Some(p) => port(p)?,
        None => DEFAULT_PORT,
    };
    Ok(Server::Tcp(host.to_string(), port))
}

fn port(p: &str) -> Result<u16, String> {
    p.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("bad port `{p}`"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn server_spellings() {
        let tcp = |h: &str, p| Server::Tcp(h.to_string(), p);
        assert_eq!(parse_server("127.0.0.1").unwrap(), tcp("127.0.0.1", 6379));
        assert_eq!(
            parse_server("localhost:7000").unwrap(),
            tcp("localhost", 7000)
        );
        assert_eq!(
            parse_server("10.0.0.1:7000:10").unwrap(),
            tcp("10.0.0.1", 7000)
        );
        assert_eq!(parse_server("[::1]:7001").unwrap(), tcp("::1", 7001));
        assert_eq!(parse_server("::1").unwrap(), tcp("::1", 6379));
        assert_eq!(
            parse_server("/run/redis.sock").unwrap(),
            Server::Unix("/run/redis.sock".into())
        );
        assert!(parse_server("host:0").is_err());
        assert!(parse_server("host:x").is_err());
        let list = parse_servers(&json!("master-slave:127.0.0.1:1, 127.0.0.1:2"), "k").unwrap();
        assert_eq!(list, vec![tcp("127.0.0.1", 1), tcp("127.0.0.1", 2)]);
    }

    #[test]
    fn module_keys_win_over_the_redis_section() {
        let tree = json!({
            "redis": {"servers": "127.0.0.1:1", "timeout": "2s", "db": "3",
                      "replies": {"servers": "127.0.0.1:3"}},
            "greylist": {"servers": "127.0.0.1:2", "timeout": 0.5}
        });
        let g = RedisConfig::for_module(&tree, "greylist").unwrap().unwrap();
        assert_eq!(g.write, vec![Server::Tcp("127.0.0.1".into(), 2)]);
        assert_eq!(g.timeout, Duration::from_millis(500));
        assert_eq!(g.db, 0, "a module's own section is used whole");
        let r = RedisConfig::for_module(&tree, "replies").unwrap().unwrap();
        assert_eq!(r.write, vec![Server::Tcp("127.0.0.1".into(), 3)]);
        let rl = RedisConfig::for_module(&tree, "ratelimit")
            .unwrap()
            .unwrap();
        assert_eq!((rl.db, rl.timeout), (3, Duration::from_secs(2)));
        assert!(rl.read.is_empty());
    }

    #[test]
    fn no_servers_or_disabled_means_no_redis() {
        assert!(RedisConfig::for_module(&json!({}), "greylist")
            .unwrap()
            .is_none());
        let tree = json!({"redis": {"servers": "127.0.0.1", "disabled_modules": ["ratelimit"]}});
        assert!(RedisConfig::for_module(&tree, "ratelimit")
            .unwrap()
            .is_none());
        assert!(RedisConfig::for_module(&tree, "greylist")
            .unwrap()
            .is_some());
    }

    #[test]
    fn read_write_split_and_sentinels() {
        let tree = json!({"redis": {
            "write_servers": "127.0.0.1:1", "servers": "127.0.0.1:2",
            "sentinels": "127.0.0.1:26379, 127.0.0.1:26380",
            "sentinel_masters_pattern": "^mymaster$", "sentinel_watch_time": "10s",
            "sentinel_password": "s3cret"
        }});
        let c = RedisConfig::for_module(&tree, "greylist").unwrap().unwrap();
        assert_eq!(c.write, vec![Server::Tcp("127.0.0.1".into(), 1)]);
        assert_eq!(c.read, vec![Server::Tcp("127.0.0.1".into(), 2)]);
        assert_eq!(c.sentinels.len(), 2);
        assert_eq!(c.sentinel_watch_time, Duration::from_secs(10));
        assert!(c.sentinel_masters_pattern.unwrap().is_match("mymaster"));
        assert_eq!(c.sentinel_auth.password.as_deref(), Some("s3cret"));
        assert_eq!(c.sentinel_auth.username, None);
    }

    #[test]
    fn cluster_seeds_and_hash_tags() {
        let tree = json!({"redis": {"servers": "127.0.0.1:7000,127.0.0.1:7001", "cluster": true}});
        let c = RedisConfig::for_module(&tree, "ratelimit")
            .unwrap()
            .unwrap();
        assert!(c.cluster);
        assert_eq!(c.write.len(), 2);
        assert_eq!(c.tag("RL", "RLabc"), "{RL}RLabc");
        assert!(c.describe().starts_with("cluster "));
        let plain = RedisConfig::for_module(&json!({"redis": {"servers": "h"}}), "ratelimit")
            .unwrap()
            .unwrap();
        assert_eq!(plain.tag("RL", "RLabc"), "RLabc", "Rspamd's key, unchanged");
        for bad in [
            json!({"redis": {"cluster": true, "sentinels": "h:26379", "servers": "h"}}),
            json!({"redis": {"cluster": true, "servers": "h", "db": "2"}}),
            json!({"redis": {"cluster": "maybe", "servers": "h"}}),
        ] {
            assert!(RedisConfig::for_module(&bad, "greylist").is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = RedisConfig::for_module(&json!({"redis": {"servers": "h:99999"}}), "greylist")
            .unwrap_err();
        assert!(matches!(e, RedisConfigError::Server { ref key, .. } if key == "redis.servers"));
        let e = RedisConfig::for_module(
            &json!({"greylist": {"servers": "h", "db": "x"}}),
            "greylist",
        )
        .unwrap_err();
        assert!(matches!(e, RedisConfigError::Shape { ref key, .. } if key == "greylist.db"));
        let e = RedisConfig::for_module(
            &json!({"redis": {"sentinels": "h", "sentinel_masters_pattern": "("}}),
            "greylist",
        )
        .unwrap_err();
        assert!(matches!(e, RedisConfigError::Pattern { .. }));
    }
}
