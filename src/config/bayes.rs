//! The `classifier "bayes"` section, Rspamd's names where they exist: read
//! once into [`StatsConfig`], which `stats/` opens its store from.
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

/// A bad key of the section; `key` is relative to `classifier.bayes`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("classifier.bayes.{key}: {reason}")]
pub struct BayesConfigError {
    pub key: String,
    pub reason: String,
}

impl super::SettingError for BayesConfigError {
    fn key(&self) -> Option<String> {
        Some(format!("classifier.bayes.{}", self.key))
    }
}

/// Frequent tokens the embedded store keeps in memory unless `cache_tokens`
/// says otherwise (about 40 bytes each with the map's overhead).
pub const DEFAULT_CACHE_TOKENS: usize = 4_000_000;

/// Tuning knobs of the classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuning {
    /// Both classes need this many learned messages before Bayes scores.
    pub min_learns: u64,
    /// Tokens seen fewer times than this (both classes together) are ignored.
    /// 1 by default: on the shared corpus's cross-validation, tokens
    /// learned once (pulled halfway to 0.5 by the rare-token shrinkage)
    /// still tell a newsletter from spam; ignoring them (2) let more ham
    /// reach "add header" at a lower spam recall (`docs/performance.md`).
    pub min_token_hits: u64,
    /// Tokens whose probability is within this of 0.5 carry no evidence.
    pub min_prob_strength: f64,
    /// A message with fewer tokens than this gets no verdict (too little
    /// text), and one needs at least a tenth of this many tokens with
    /// evidence (at least 1): Rspamd's reading of `min_tokens`.
    pub min_tokens: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            min_learns: 200,
            min_token_hits: 1,
            min_prob_strength: 0.05,
            min_tokens: 11,
        }
    }
}

/// Redis connection settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisSettings {
    /// `host:port` or a `redis://` URL; loopback in tests.
    pub server: String,
    pub prefix: String,
    /// For a whole request: connect, write and read.
    pub timeout: Duration,
    /// TTL of rarely seen tokens; `None`: tokens never expire.
    pub expire: Option<Duration>,
    /// Learned this many times in one class, a token no longer expires.
    pub common_hits: i64,
    /// The master found through Redis Sentinel instead of `server`.
    pub sentinel: Option<SentinelSettings>,
    /// Where classification reads (the first of `read_servers`, when it is not the
    /// write server); under Sentinel the reads go to a replica in sync without it.
    pub read_server: Option<String>,
    /// `cluster = true;` (sluice's extension): the seed nodes of a Redis Cluster, asked
    /// for the master of the statistics' slot instead of `server`.
    pub cluster: Option<Vec<crate::redis::Server>>,
}

/// `sentinels` and `sentinel_masters_pattern`, of the classifier's section or the `redis`
/// section.
#[derive(Debug, Clone, PartialEq)]
pub struct SentinelSettings {
    pub sentinels: Vec<crate::redis::Server>,
    /// A regular expression (checked at load) over the masters' names.
    pub masters_pattern: Option<String>,
    /// `sentinel_username`, `sentinel_password`.
    pub auth: crate::redis::sentinel::SentinelAuth,
}

/// Which store holds the statistics.
#[derive(Debug, Clone, PartialEq)]
pub enum Backend {
    Embedded {
        path: PathBuf,
    },
    /// Boxed: the Redis settings are much the larger.
    Redis(Box<RedisSettings>),
}

/// Autolearn by score (Rspamd's `autolearn { spam_threshold; ham_threshold }`).
#[derive(Debug, Clone, PartialEq)]
pub struct Autolearn {
    pub spam_threshold: f64,
    pub ham_threshold: f64,
}

/// The validated section.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsConfig {
    pub enabled: bool,
    pub backend: Backend,
    pub tuning: Tuning,
    pub per_user: bool,
    /// `None`: off (the default).
    pub autolearn: Option<Autolearn>,
    /// Frequent tokens the embedded store keeps in memory (`cache_tokens`;
    /// 0: none, every lookup reads the file).
    pub cache_tokens: usize,
    /// Embedded store: past this many tokens the oldest are expired,
    /// SpamAssassin's `bayes_expiry_max_db_size` (`max_tokens`; 0: no bound).
    pub max_tokens: u64,
}

impl StatsConfig {
    /// Reads `classifier.bayes`; absent means Bayes is off.
    pub fn from_tree(tree: &Value) -> Result<Option<StatsConfig>, BayesConfigError> {
        let Some(sec) = tree.pointer("/classifier/bayes") else {
            return Ok(None);
        };
        let r = Reader(sec);
        let enabled = r.bool("enabled")?.unwrap_or(true);
        let backend = match r.str("backend")?.unwrap_or("embedded") {
            "embedded" | "redb" => Backend::Embedded {
                path: PathBuf::from(r.str("path")?.unwrap_or("/var/lib/sluice/bayes.redb")),
            },
            "redis" => Backend::Redis(Box::new(RedisSettings {
                sentinel: sentinel(sec, tree.get("redis"))?,
                cluster: cluster(sec, tree.get("redis"))?,
                server: redis_server(&r, tree.get("redis"))?,
                read_server: read_server(&r, tree.get("redis"))?,
                prefix: r.str("prefix")?.unwrap_or("BAYES").to_string(),
                timeout: Duration::from_secs_f64(r.num("timeout")?.unwrap_or(0.2).max(0.001)),
                expire: r
                    .num("expire")?
                    .filter(|s| *s > 0.0)
                    .map(Duration::from_secs_f64),
                common_hits: r.num("common_hits")?.unwrap_or(10.0) as i64,
            })),
            other => return Err(r.bad("backend", other)),
        };
        let d = Tuning::default();
        let tuning = Tuning {
            min_learns: r
                .num("min_learns")?
                .map_or(d.min_learns, |v| v.max(0.0) as u64),
            min_token_hits: r
                .num("min_token_hits")?
                .map_or(d.min_token_hits, |v| v.max(0.0) as u64),
            min_prob_strength: r.num("min_prob_strength")?.unwrap_or(d.min_prob_strength),
            min_tokens: r
                .num("min_tokens")?
                .map_or(d.min_tokens, |v| v.max(0.0) as usize),
        };
        Ok(Some(StatsConfig {
            enabled,
            backend,
            tuning,
            per_user: r.bool("per_user")?.unwrap_or(false),
            autolearn: autolearn(sec.get("autolearn"))?,
            cache_tokens: r
                .num("cache_tokens")?
                .map_or(DEFAULT_CACHE_TOKENS, |v| v.max(0.0) as usize),
            max_tokens: r.num("max_tokens")?.map_or(0, |v| v.max(0.0) as u64),
        }))
    }
}

/// `autolearn = false` / `true` (Rspamd's default thresholds) / a section.
fn autolearn(v: Option<&Value>) -> Result<Option<Autolearn>, BayesConfigError> {
    let defaults = Autolearn {
        spam_threshold: 6.0,
        ham_threshold: -0.5,
    };
    match v {
        None | Some(Value::Bool(false)) | Some(Value::Null) => Ok(None),
        Some(Value::Bool(true)) => Ok(Some(defaults)),
        Some(obj @ Value::Object(_)) => {
            let r = Reader(obj);
            if r.bool("enabled")? == Some(false) {
                return Ok(None);
            }
            Ok(Some(Autolearn {
                spam_threshold: r.num("spam_threshold")?.unwrap_or(defaults.spam_threshold),
                ham_threshold: r.num("ham_threshold")?.unwrap_or(defaults.ham_threshold),
            }))
        }
        Some(other) => Err(BayesConfigError {
            key: "autolearn".into(),
            reason: format!("expected a boolean or a section, got {other}"),
        }),
    }
}

/// The Redis server learning writes to: the classifier's own `write_servers` (or
/// `servers`, then `read_servers`), else those of the top-level `redis` section, as
/// Rspamd looks them up. Only the first of a list is used. None anywhere is an error:
/// guessing a local default would hide a missing setting until the first scan.
fn redis_server(r: &Reader<'_>, global: Option<&Value>) -> Result<String, BayesConfigError> {
    const KEYS: [&str; 3] = ["write_servers", "servers", "read_servers"];
    let mut found = None;
    for key in KEYS {
        found = found.or(r.str(key)?.map(str::to_string));
    }
    if let Some(g) = global.filter(|_| found.is_none()) {
        let g = Reader(g);
        for key in KEYS {
            found = found.or(g.str(key)?.map(str::to_string));
        }
    }
    let first = found
        .as_deref()
        .and_then(|s| s.split(',').next())
        .map(str::trim);
    let sentinels = [
        r.0.get("sentinels"),
        global.and_then(|g| g.get("sentinels")),
    ];
    match first {
        Some(s) if !s.is_empty() => Ok(s.to_string()),
        // Found through the sentinels; the name is for log lines until then.
        _ if sentinels.iter().any(Option::is_some) => Ok("sentinel-master".to_string()),
        _ => Err(BayesConfigError {
            key: "backend".into(),
            reason: "\"redis\" needs a server: set `servers` here or in the `redis` section".into(),
        }),
    }
}

/// The first of `read_servers` (else of `servers` beside `write_servers`) of the section
/// that names servers, the classifier's else the `redis` section's; `None` when that is
/// the write server.
fn read_server(r: &Reader<'_>, global: Option<&Value>) -> Result<Option<String>, BayesConfigError> {
    const KEYS: [&str; 3] = ["servers", "write_servers", "read_servers"];
    let Some(sec) = [Some(r.0), global]
        .into_iter()
        .flatten()
        .find(|s| KEYS.iter().any(|k| s.get(k).is_some()))
    else {
        return Ok(None);
    };
    let sec = Reader(sec);
    let first = |key: &str| -> Result<Option<String>, BayesConfigError> {
        Ok(sec
            .str(key)?
            .and_then(|l| l.split(',').next())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()))
    };
    let write = match first("write_servers")? {
        Some(w) => Some(w),
        None => first("servers")?,
    };
    let read = match first("read_servers")? {
        Some(rd) => Some(rd),
        None if sec.0.get("write_servers").is_some() => first("servers")?,
        None => None,
    };
    Ok(read.filter(|rd| Some(rd) != write.as_ref()))
}

/// With `cluster` set in the section that names the servers (the classifier's, else the
/// `redis` section), every server listed there as a seed node.
fn cluster(
    own: &Value,
    global: Option<&Value>,
) -> Result<Option<Vec<crate::redis::Server>>, BayesConfigError> {
    const KEYS: [&str; 3] = ["servers", "write_servers", "read_servers"];
    let Some(sec) = [Some(own), global]
        .into_iter()
        .flatten()
        .find(|s| KEYS.iter().any(|k| s.get(k).is_some()))
    else {
        return Ok(None);
    };
    if Reader(sec).bool("cluster")? != Some(true) {
        return Ok(None);
    }
    let mut seeds = Vec::new();
    for key in KEYS {
        if let Some(v) = sec.get(key) {
            seeds.extend(crate::redis::config::parse_servers(v, key).map_err(|e| {
                BayesConfigError {
                    key: key.to_string(),
                    reason: e.to_string(),
                }
            })?);
        }
    }
    Ok(Some(seeds))
}

/// Sentinels of the classifier's section, else of the `redis` section.
fn sentinel(
    own: &Value,
    global: Option<&Value>,
) -> Result<Option<SentinelSettings>, BayesConfigError> {
    let Some(sec) = [Some(own), global]
        .into_iter()
        .flatten()
        .find(|s| s.get("sentinels").is_some())
    else {
        return Ok(None);
    };
    let bad = |key: &str, reason: String| BayesConfigError {
        key: key.to_string(),
        reason,
    };
    let sentinels = sec
        .get("sentinels")
        .map(|v| crate::redis::config::parse_servers(v, "sentinels"))
        .transpose()
        .map_err(|e| bad("sentinels", e.to_string()))?
        .unwrap_or_default();
    let masters_pattern = Reader(sec)
        .str("sentinel_masters_pattern")?
        .map(str::to_string);
    if let Some(p) = &masters_pattern {
        regex::Regex::new(p).map_err(|e| bad("sentinel_masters_pattern", e.to_string()))?;
    }
    let auth = crate::redis::sentinel::SentinelAuth {
        username: Reader(sec).str("sentinel_username")?.map(str::to_string),
        password: Reader(sec).str("sentinel_password")?.map(str::to_string),
    };
    Ok(Some(SentinelSettings {
        sentinels,
        masters_pattern,
        auth,
    }))
}

struct Reader<'a>(&'a Value);

impl Reader<'_> {
    fn bad(&self, key: &str, v: impl std::fmt::Display) -> BayesConfigError {
        BayesConfigError {
            key: key.to_string(),
            reason: format!("unexpected value {v}"),
        }
    }

    fn str(&self, key: &str) -> Result<Option<&str>, BayesConfigError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.bad(key, v)),
        }
    }

    fn num(&self, key: &str) -> Result<Option<f64>, BayesConfigError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| self.bad(key, s)),
            Some(v) => Err(self.bad(key, v)),
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, BayesConfigError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
                "yes" | "true" | "on" => Ok(Some(true)),
                "no" | "false" | "off" => Ok(Some(false)),
                _ => Err(self.bad(key, s)),
            },
            Some(v) => Err(self.bad(key, v)),
        }
    }
}

/// Here rather than beside the error: the Redis layer reads its sections
/// with the config's value helpers and never imports the config's traits
/// back.
impl super::SettingError for crate::redis::RedisConfigError {
    fn key(&self) -> Option<String> {
        use crate::redis::RedisConfigError as E;
        match self {
            E::Shape { key, .. }
            | E::Server { key, .. }
            | E::Pattern { key, .. }
            | E::Conflict { key, .. } => Some(key.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_section_disables_bayes() {
        assert_eq!(StatsConfig::from_tree(&json!({})).unwrap(), None);
    }

    #[test]
    fn defaults_are_rspamds() {
        let c = StatsConfig::from_tree(&json!({"classifier": {"bayes": {}}}))
            .unwrap()
            .unwrap();
        assert_eq!(c.tuning.min_learns, 200);
        assert_eq!(c.autolearn, None);
        assert!(!c.per_user);
    }

    #[test]
    fn redis_backend_and_autolearn_section() {
        let c = StatsConfig::from_tree(&json!({"classifier": {"bayes": {
            "backend": "redis", "servers": "127.0.0.1:7000, 127.0.0.1:7001",
            "timeout": 0.5, "expire": 100, "autolearn": {"spam_threshold": 9}
        }}}))
        .unwrap()
        .unwrap();
        let Backend::Redis(r) = c.backend else {
            panic!("not redis")
        };
        assert_eq!(r.server, "127.0.0.1:7000");
        assert_eq!(r.timeout, Duration::from_millis(500));
        assert_eq!(r.expire, Some(Duration::from_secs(100)));
        assert_eq!(c.autolearn.unwrap().spam_threshold, 9.0);
    }

    #[test]
    fn bayes_reads_from_read_servers_and_learns_to_write_servers() {
        let tree = json!({"classifier": {"bayes": {"backend": "redis"}},
            "redis": {"write_servers": "127.0.0.1:1", "read_servers": "127.0.0.1:2, 127.0.0.1:3"}});
        let Backend::Redis(r) = StatsConfig::from_tree(&tree).unwrap().unwrap().backend else {
            panic!("not redis");
        };
        assert_eq!(r.server, "127.0.0.1:1");
        assert_eq!(r.read_server.as_deref(), Some("127.0.0.1:2"));
        let tree = json!({"classifier": {"bayes": {"backend": "redis",
            "servers": "127.0.0.1:5", "write_servers": "127.0.0.1:6"}}});
        let Backend::Redis(r) = StatsConfig::from_tree(&tree).unwrap().unwrap().backend else {
            panic!("not redis");
        };
        assert_eq!(r.server, "127.0.0.1:6");
        assert_eq!(r.read_server.as_deref(), Some("127.0.0.1:5"));
        let tree = json!({"classifier": {"bayes": {"backend": "redis", "servers": "127.0.0.1:5"}}});
        let Backend::Redis(r) = StatsConfig::from_tree(&tree).unwrap().unwrap().backend else {
            panic!("not redis");
        };
        assert_eq!(r.read_server, None, "one server does both");
    }

    #[test]
    fn redis_server_from_the_redis_section_or_an_error() {
        let tree = json!({"classifier": {"bayes": {"backend": "redis"}},
                          "redis": {"servers": "127.0.0.1:7002"}});
        let c = StatsConfig::from_tree(&tree).unwrap().unwrap();
        assert!(matches!(c.backend, Backend::Redis(r) if r.server == "127.0.0.1:7002"));
        let e = StatsConfig::from_tree(&json!({"classifier": {"bayes": {"backend": "redis"}}}))
            .unwrap_err();
        assert!(e.to_string().contains("needs a server"), "{e}");
    }

    #[test]
    fn unknown_backend_is_a_typed_error() {
        let e = StatsConfig::from_tree(&json!({"classifier": {"bayes": {"backend": "mysql"}}}))
            .unwrap_err();
        assert!(e.to_string().contains("mysql"), "{e}");
    }
}
