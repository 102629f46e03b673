//! The `worker "fuzzy"` section, in Rspamd's shape (`worker-fuzzy.inc`), so
//! an admin's `local.d/worker-fuzzy.inc` carries over.
//!
//! As in Rspamd, the storage runs only when the section is there and its
//! `count` is not negative: the shipped section says `count = -1`, like
//! Debian's `rspamd.conf`, and `count = 1` in `local.d/worker-fuzzy.inc`
//! turns it on.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde_json::{Map, Value};
use sluice_proto::fuzzy::{CryptoError, Keypair};

use crate::config::value;
use crate::config::ListenAddr;
use crate::redis::{RedisConfig, RedisConfigError};

/// Rspamd's default `expire` (two days; Debian's worker-fuzzy.inc says 90d).
pub const DEFAULT_EXPIRE: Duration = Duration::from_secs(172_800);
/// Rspamd's default `sync`: how often expired hashes are swept.
pub const DEFAULT_SYNC: Duration = Duration::from_secs(60);
/// Rspamd's default listen address for the storage.
pub const DEFAULT_BIND: &str = "localhost:11335";

/// Keys read here; any other key of the section is reported as ignored.
const KNOWN: &[&str] = &[
    "bind_socket",
    "count",
    "enabled",
    "keypair",
    "encrypted_only",
    "allow_update",
    "read_only",
    "expire",
    "sync",
    "backend",
    "hash_file",
    "hashfile",
    "servers",
    "read_servers",
    "write_servers",
    "prefix",
    "password",
    "db",
    "timeout",
    "type",
    "keypair_cache_size",
];

/// Where hashes are kept.
#[derive(Debug, Clone)]
pub enum BackendSettings {
    /// One redb file for the box (the default).
    Embedded { path: PathBuf },
    /// Rspamd's Redis layout, shareable with Rspamd's own storages.
    Redis {
        config: Box<RedisConfig>,
        prefix: String,
    },
}

/// Everything the storage reads from the configuration.
#[derive(Debug, Clone)]
pub struct StorageSettings {
    pub bind: Vec<SocketAddr>,
    /// The storage's keypairs; the last is the default for unknown key ids.
    pub keypairs: Vec<Keypair>,
    pub encrypted_only: bool,
    /// Who may add and delete (`allow_update`); empty: nobody, as in Rspamd.
    pub allow_update: Vec<IpNet>,
    pub read_only: bool,
    pub expire: Duration,
    pub sync: Duration,
    /// How many clients' shared keys are kept (`keypair_cache_size`).
    pub keypair_cache_size: usize,
    pub backend: BackendSettings,
}

/// Why the section was refused; each names the key.
#[derive(Debug, thiserror::Error)]
pub enum StorageConfigError {
    #[error("worker.fuzzy.{key}: expected {want}, got {found}")]
    Type {
        key: &'static str,
        want: &'static str,
        found: String,
    },
    #[error("worker.fuzzy.bind_socket: {0}")]
    Listen(String),
    #[error("worker.fuzzy.keypair: {0}")]
    Keypair(#[from] CryptoError),
    #[error("worker.fuzzy.backend: `{0}` is not a backend (embedded, redis; sqlite is read as embedded)")]
    Backend(String),
    #[error("worker.fuzzy: backend = \"redis\" but no Redis servers are configured")]
    NoRedis,
    #[error(transparent)]
    Redis(#[from] RedisConfigError),
}

impl StorageSettings {
    /// Reads `worker.fuzzy`; `None` when the storage is not to run.
    /// `db_dir` is where the embedded file goes by default.
    pub fn from_tree(
        tree: &Value,
        db_dir: &std::path::Path,
        warnings: &mut Vec<String>,
    ) -> Result<Option<Self>, StorageConfigError> {
        let Some(m) = tree
            .get("worker")
            .and_then(|w| w.get("fuzzy"))
            .and_then(Value::as_object)
        else {
            return Ok(None);
        };
        if !enabled(m)? {
            return Ok(None);
        }
        for k in m.keys().filter(|k| !KNOWN.contains(&k.as_str())) {
            warnings.push(format!("worker.fuzzy.{k}: not implemented, ignored"));
        }
        let flag = |key: &'static str| -> Result<bool, StorageConfigError> {
            m.get(key).map_or(Ok(false), |v| {
                value::boolean(v).map_err(|want| type_error(key, want, v))
            })
        };
        let time = |key: &'static str, default| -> Result<Duration, StorageConfigError> {
            m.get(key).map_or(Ok(default), |v| {
                value::duration(v).map_err(|want| type_error(key, want, v))
            })
        };
        Ok(Some(Self {
            bind: binds(m)?,
            keypairs: keypairs(m.get("keypair"))?,
            encrypted_only: flag("encrypted_only")?,
            allow_update: allow_update(m.get("allow_update"))?,
            read_only: flag("read_only")?,
            expire: time("expire", DEFAULT_EXPIRE)?,
            sync: time("sync", DEFAULT_SYNC)?.max(Duration::from_secs(1)),
            keypair_cache_size: match m.get("keypair_cache_size") {
                Some(v) => {
                    value::size(v).map_err(|want| type_error("keypair_cache_size", want, v))?
                }
                None => super::key_cache::DEFAULT_CAPACITY,
            },
            backend: backend(tree, m, db_dir)?,
        }))
    }
}

fn type_error(key: &'static str, want: &'static str, v: &Value) -> StorageConfigError {
    StorageConfigError::Type {
        key,
        want,
        found: v.to_string(),
    }
}

/// `count = -1` (Rspamd's "disabled") or `enabled = false` turn it off.
fn enabled(m: &Map<String, Value>) -> Result<bool, StorageConfigError> {
    if let Some(v) = m.get("enabled") {
        if !value::boolean(v).map_err(|want| type_error("enabled", want, v))? {
            return Ok(false);
        }
    }
    match m.get("count") {
        None => Ok(true),
        Some(v) => {
            let n = match v {
                Value::String(s) => s.trim().parse::<i64>().ok(),
                other => other.as_i64(),
            };
            n.map(|n| n >= 0)
                .ok_or_else(|| type_error("count", "a number", v))
        }
    }
}

fn binds(m: &Map<String, Value>) -> Result<Vec<SocketAddr>, StorageConfigError> {
    let listed = match m.get("bind_socket") {
        Some(v) => value::strings(v).map_err(|want| type_error("bind_socket", want, v))?,
        None => vec![DEFAULT_BIND.to_string()],
    };
    listed
        .iter()
        .map(|b| {
            let text = b.split_whitespace().next().unwrap_or("");
            match text.parse::<ListenAddr>() {
                Ok(ListenAddr::Tcp(addr)) => Ok(addr),
                Ok(ListenAddr::Unix(p)) => Err(StorageConfigError::Listen(format!(
                    "{}: the fuzzy storage listens on UDP only",
                    p.display()
                ))),
                Err(e) => Err(StorageConfigError::Listen(e.to_string())),
            }
        })
        .collect()
}

/// `keypair { privkey = "..."; pubkey = "..."; }`, or several of them.
fn keypairs(v: Option<&Value>) -> Result<Vec<Keypair>, StorageConfigError> {
    let items: Vec<&Value> = match v {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
    };
    items.into_iter().map(keypair).collect()
}

fn keypair(v: &Value) -> Result<Keypair, StorageConfigError> {
    let field = |name: &'static str| v.get(name).and_then(Value::as_str);
    let Some(privkey) = field("privkey") else {
        return Err(type_error(
            "keypair",
            "an object with privkey (and pubkey), as `rspamadm keypair` prints",
            v,
        ));
    };
    if field("encoding").is_some_and(|e| !e.eq_ignore_ascii_case("base32")) {
        return Err(type_error("keypair.encoding", "base32", v));
    }
    if field("algorithm").is_some_and(|a| !a.eq_ignore_ascii_case("curve25519")) {
        return Err(type_error("keypair.algorithm", "curve25519", v));
    }
    Ok(Keypair::from_base32(privkey, field("pubkey"))?)
}

/// `allow_update`: networks and addresses; `localhost` is 127.0.0.1 and ::1
/// (what the name resolves to, as in Rspamd), not all of 127/8.
fn allow_update(v: Option<&Value>) -> Result<Vec<IpNet>, StorageConfigError> {
    let Some(v) = v else {
        return Ok(Vec::new());
    };
    let want = "a list of networks or addresses (or localhost)";
    let listed = value::strings(v).map_err(|_| type_error("allow_update", want, v))?;
    let mut nets = Vec::new();
    for item in listed
        .iter()
        .flat_map(|s| s.split([',', ' ']).filter(|p| !p.is_empty()))
    {
        if item.eq_ignore_ascii_case("localhost") {
            nets.extend(
                ["127.0.0.1/32", "::1/128"]
                    .map(|n| n.parse::<IpNet>().ok())
                    .into_iter()
                    .flatten(),
            );
            continue;
        }
        nets.push(value::network(item).ok_or_else(|| type_error("allow_update", want, v))?);
    }
    Ok(nets)
}

fn backend(
    tree: &Value,
    m: &Map<String, Value>,
    db_dir: &std::path::Path,
) -> Result<BackendSettings, StorageConfigError> {
    let name = match m.get("backend") {
        Some(v) => value::string(v).map_err(|want| type_error("backend", want, v))?,
        None => "embedded".to_string(),
    };
    match name.to_ascii_lowercase().as_str() {
        // Rspamd's sqlite file is not ours to read; the embedded store
        // takes its place (a file under the same DB dir).
        "embedded" | "sqlite" => Ok(BackendSettings::Embedded {
            path: db_dir.join("fuzzy.redb"),
        }),
        "redis" => {
            let config = if ["servers", "read_servers", "write_servers"]
                .iter()
                .any(|k| m.contains_key(*k))
            {
                RedisConfig::from_section(&Value::Object(m.clone()), "worker.fuzzy")?
            } else {
                RedisConfig::for_module(tree, "fuzzy")?.ok_or(StorageConfigError::NoRedis)?
            };
            let prefix = match m.get("prefix") {
                Some(v) => value::string(v).map_err(|want| type_error("prefix", want, v))?,
                None => "fuzzy".to_string(),
            };
            Ok(BackendSettings::Redis {
                config: Box::new(config),
                prefix,
            })
        }
        other => Err(StorageConfigError::Backend(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(section: Value) -> Result<Option<StorageSettings>, StorageConfigError> {
        let tree = json!({ "worker": { "fuzzy": section } });
        StorageSettings::from_tree(&tree, std::path::Path::new("/db"), &mut Vec::new())
    }

    #[test]
    fn absent_or_count_minus_one_is_off() {
        let tree = json!({});
        assert!(
            StorageSettings::from_tree(&tree, std::path::Path::new("/"), &mut Vec::new())
                .unwrap()
                .is_none()
        );
        assert!(read(json!({ "count": -1 })).unwrap().is_none());
        assert!(read(json!({ "count": 1, "enabled": false }))
            .unwrap()
            .is_none());
    }

    #[test]
    fn defaults_are_rspamds() {
        let s = read(json!({ "count": 1 })).unwrap().unwrap();
        assert_eq!(s.bind, vec!["127.0.0.1:11335".parse().unwrap()]);
        assert_eq!(s.expire, DEFAULT_EXPIRE);
        assert!(s.allow_update.is_empty());
        assert!(!s.encrypted_only);
        assert!(s.keypairs.is_empty());
        assert!(
            matches!(s.backend, BackendSettings::Embedded { ref path } if path.ends_with("fuzzy.redb"))
        );
    }

    #[test]
    fn reads_debians_worker_fuzzy_inc_and_a_keypair() {
        let s = read(json!({
            "bind_socket": "127.0.0.1:0",
            "expire": 7_776_000,
            "allow_update": ["localhost", "10.0.0.0/8"],
            "keypair": {
                "type": "kex",
                "privkey": "aadjrin691ibgxhpcpg7iyb854wkrtmw178jsgdoqec9d16hszwy",
                "pubkey": "tdya6yyj6k89ww8bnoeeth99chx181r9bmqo9qwjuffdsfcp1mny",
                "encoding": "base32",
                "algorithm": "curve25519"
            },
            "encrypted_only": true
        }))
        .unwrap()
        .unwrap();
        assert_eq!(s.expire, Duration::from_secs(90 * 86_400));
        assert_eq!(s.allow_update.len(), 3);
        let other_loopback: std::net::IpAddr = "127.0.0.2".parse().unwrap();
        assert!(!s.allow_update.iter().any(|n| n.contains(&other_loopback)));
        assert_eq!(s.keypairs.len(), 1);
        assert!(s.encrypted_only);
    }

    #[test]
    fn bad_keys_and_backends_are_named() {
        let err = read(json!({ "keypair": { "privkey": "not base32!" } })).unwrap_err();
        assert!(err.to_string().starts_with("worker.fuzzy.keypair"), "{err}");
        let err = read(json!({ "backend": "mysql" })).unwrap_err();
        assert!(err.to_string().contains("mysql"), "{err}");
        let err = read(json!({ "backend": "redis" })).unwrap_err();
        assert!(matches!(err, StorageConfigError::NoRedis), "{err}");
        let err = read(json!({ "allow_update": ["nowhere"] })).unwrap_err();
        assert!(err.to_string().contains("allow_update"), "{err}");
    }
}
