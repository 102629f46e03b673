//! The `fuzzy_check` section (Rspamd's `local.d/fuzzy_check.conf`) as typed
//! rules, with Rspamd 3.4's defaults.
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::hashes::{globs, HashPolicy};
use super::keys::RuleKeys;
use super::shingles::Algorithm;
use crate::config::value;
use crate::scan::multimap::map::{Map as ListMap, MapKind, MapSource};

/// Rspamd's defaults (`fuzzy_check.c`).
const DEFAULT_SYMBOL: &str = "R_FUZZY_HASH";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
const DEFAULT_RETRANSMITS: u32 = 3;
/// The storage's port when a server names none.
pub const DEFAULT_PORT: u16 = 11335;
/// The symbol a storage's refusal (status 403) of a check inserts, with
/// no weight (Rspamd's).
pub const BLOCKED_SYMBOL: &str = "FUZZY_BLOCKED";
/// How often the `skip_hashes` file's mtime is looked at.
const MAP_WATCH: Duration = Duration::from_secs(5);

/// A bad `fuzzy_check` setting.
#[derive(Debug, thiserror::Error)]
pub enum FuzzySettingsError {
    #[error("fuzzy_check: `{key}` must be {want}")]
    Value { key: String, want: &'static str },
    #[error("fuzzy_check rule `{rule}`: {reason}")]
    Rule { rule: String, reason: String },
}

/// What a flag stored in the storage means: its symbol and the stored
/// weight that gives the symbol's full score.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagMap {
    pub symbol: String,
    pub max_score: f64,
}

/// One rule: a set of storage servers and how to hash for them.
#[derive(Debug, Clone)]
pub struct FuzzyRule {
    pub name: String,
    pub servers: Vec<SocketAddr>,
    /// The symbol of a flag `fuzzy_map` does not name.
    pub symbol: String,
    pub max_score: f64,
    pub read_only: bool,
    pub skip_unknown: bool,
    /// The storage's public key (base32): queries are encrypted.
    pub encryption_key: Option<String>,
    pub flags: BTreeMap<u32, FlagMap>,
    pub timeout: Duration,
    pub retransmits: u32,
    pub policy: HashPolicy,
    /// A match whose weight (the symbol's multiplier) is below this adds
    /// nothing (`weight_threshold`).
    pub weight_threshold: Option<f64>,
    /// Digests (hex) whose matches are ignored (`skip_hashes`).
    pub skip_hashes: Option<Arc<ListMap>>,
    /// Do not tell the storage the sender's domain and address
    /// (`no_share`).
    pub no_share: bool,
}

impl FuzzyRule {
    /// The symbol and weight a reply's flag scores under.
    pub fn mapping(&self, flag: u32) -> (&str, f64, bool) {
        match self.flags.get(&flag) {
            Some(m) => (&m.symbol, m.max_score, true),
            None => (&self.symbol, self.max_score, false),
        }
    }

    /// Every symbol the rule can insert.
    pub fn symbols(&self) -> impl Iterator<Item = &str> {
        [self.symbol.as_str(), BLOCKED_SYMBOL]
            .into_iter()
            .chain(self.flags.values().map(|m| m.symbol.as_str()))
    }

    /// Whether `skip_hashes` lists the digest (hex).
    pub fn skips(&self, digest_hex: &str) -> bool {
        self.skip_hashes
            .as_ref()
            .is_some_and(|m| m.current().lookup(digest_hex).is_some())
    }

    /// The flag `name` names: a number, or a `fuzzy_map` symbol.
    pub fn flag_of(&self, name: &str) -> Option<u32> {
        name.parse().ok().or_else(|| {
            self.flags
                .iter()
                .find(|(_, m)| m.symbol.eq_ignore_ascii_case(name))
                .map(|(f, _)| *f)
        })
    }
}

/// The module: its rules (none: off), and what in them is not acted on.
#[derive(Debug, Clone, Default)]
pub struct FuzzySettings {
    pub rules: Vec<FuzzyRule>,
    pub warnings: Vec<String>,
}

impl FuzzySettings {
    /// Reads the section; `None` or `enabled = false` gives no rules.
    pub fn from_section(section: Option<&Value>) -> Result<FuzzySettings, FuzzySettingsError> {
        let Some(Value::Object(m)) = section else {
            return Ok(FuzzySettings::default());
        };
        if !get_bool(m, "enabled", "fuzzy_check", true)? {
            return Ok(FuzzySettings::default());
        }
        let module = ModuleDefaults {
            symbol: get_string(m, "symbol", "fuzzy_check")?
                .unwrap_or_else(|| DEFAULT_SYMBOL.to_string()),
            timeout: get_duration(m, "timeout", "fuzzy_check")?.unwrap_or(DEFAULT_TIMEOUT),
            retransmits: get_u32(m, "retransmits", "fuzzy_check")?.unwrap_or(DEFAULT_RETRANSMITS),
        };
        let mut rules = Vec::new();
        let mut warnings = Vec::new();
        for (name, r) in rule_entries(m.get("rule")) {
            let Value::Object(r) = r else {
                return Err(FuzzySettingsError::Rule {
                    rule: name,
                    reason: "not a section".into(),
                });
            };
            if !get_bool(r, "enabled", &name, true)? {
                continue;
            }
            if r.contains_key("learn_condition") {
                warnings.push(format!(
                    "fuzzy_check rule {name}: learn_condition is Lua code and is not run: \
                     every learn goes to this rule's storage"
                ));
            }
            rules.push(parse_rule(&name, r, &module, &mut warnings)?);
        }
        Ok(FuzzySettings { rules, warnings })
    }

    /// The rule named `name`, or the first one.
    pub fn rule(&self, name: Option<&str>) -> Option<&FuzzyRule> {
        match name {
            Some(n) => self.rules.iter().find(|r| r.name == n),
            None => self.rules.first(),
        }
    }
}

struct ModuleDefaults {
    symbol: String,
    timeout: Duration,
    retransmits: u32,
}

/// `rule "a" {...}` and `rule { a {...} }` (and their repetitions).
fn rule_entries(v: Option<&Value>) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    match v {
        Some(Value::Object(m)) => {
            for (k, r) in m {
                match r {
                    Value::Array(items) => {
                        out.extend(items.iter().map(|i| (k.clone(), i)));
                    }
                    other => out.push((k.clone(), other)),
                }
            }
        }
        Some(Value::Array(items)) => {
            for i in items {
                out.extend(rule_entries(Some(i)));
            }
        }
        _ => {}
    }
    out
}

fn parse_rule(
    name: &str,
    r: &Map<String, Value>,
    module: &ModuleDefaults,
    warnings: &mut Vec<String>,
) -> Result<FuzzyRule, FuzzySettingsError> {
    let rule_err = |reason: String| FuzzySettingsError::Rule {
        rule: name.to_string(),
        reason,
    };
    let servers = match r.get("servers") {
        Some(v) => parse_servers(v).map_err(rule_err)?,
        None => Vec::new(),
    };
    if servers.is_empty() {
        return Err(rule_err("no servers".into()));
    }
    let algorithm = match get_string(r, "algorithm", name)? {
        Some(a) => Algorithm::parse(&a).unwrap_or_else(|| {
            tracing::warn!(
                rule = name,
                algorithm = a,
                "unknown fuzzy algorithm, using siphash"
            );
            Algorithm::Siphash
        }),
        None => Algorithm::Siphash,
    };
    let max_score = get_f64(r, "max_score", name)?.unwrap_or(0.0);
    let mut flags = BTreeMap::new();
    if let Some(Value::Object(map)) = r.get("fuzzy_map") {
        for (sym, f) in map {
            let Value::Object(f) = f else { continue };
            let symbol = get_string(f, "symbol", name)?.unwrap_or_else(|| sym.clone());
            let Some(flag) = get_u32(f, "flag", name)? else {
                return Err(rule_err(format!("fuzzy_map {sym} has no flag")));
            };
            let weight = get_f64(f, "max_score", name)?.unwrap_or(max_score);
            flags.insert(
                flag,
                FlagMap {
                    symbol,
                    max_score: weight,
                },
            );
        }
    }
    let encryption_key = get_string(r, "encryption_key", name)?;
    if let Some(k) = &encryption_key {
        if k.len() != 52 || !k.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(rule_err(format!("bad encryption key value: {k}")));
        }
    }
    Ok(FuzzyRule {
        name: name.to_string(),
        servers,
        symbol: get_string(r, "symbol", name)?.unwrap_or_else(|| module.symbol.clone()),
        max_score,
        read_only: get_bool(r, "read_only", name, false)?,
        skip_unknown: get_bool(r, "skip_unknown", name, false)?,
        encryption_key,
        flags,
        timeout: get_duration(r, "timeout", name)?.unwrap_or(module.timeout),
        retransmits: get_u32(r, "retransmits", name)?.unwrap_or(module.retransmits),
        policy: parse_policy(name, r, algorithm)?,
        weight_threshold: get_f64(r, "weight_threshold", name)?,
        skip_hashes: skip_hashes(name, r.get("skip_hashes"), warnings)?,
        no_share: get_bool(r, "no_share", name, false)?,
    })
}

/// `skip_hashes`: a map (files, or digests written inline) of hex digests.
/// A file that cannot be read is a warning: the map is empty until it can.
fn skip_hashes(
    name: &str,
    v: Option<&Value>,
    warnings: &mut Vec<String>,
) -> Result<Option<Arc<ListMap>>, FuzzySettingsError> {
    let Some(v) = v else { return Ok(None) };
    let rule_err = |reason: String| FuzzySettingsError::Rule {
        rule: name.to_string(),
        reason: format!("skip_hashes: {reason}"),
    };
    let sources = value::strings(v)
        .map_err(|want| rule_err(format!("must be {want}")))?
        .iter()
        .map(|s| MapSource::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(rule_err)?;
    let (map, remarks) = ListMap::load(MapKind::Plain, sources, MAP_WATCH);
    warnings.extend(
        remarks
            .into_iter()
            .map(|r| format!("fuzzy_check rule {name}: skip_hashes: {r}")),
    );
    Ok(Some(Arc::new(map)))
}

fn parse_policy(
    name: &str,
    r: &Map<String, Value>,
    algorithm: Algorithm,
) -> Result<HashPolicy, FuzzySettingsError> {
    let d = HashPolicy::default();
    let mime_types = match r.get("mime_types") {
        Some(v) => {
            let list = value::strings(v).map_err(|want| bad(name, "mime_types", want))?;
            let refs: Vec<&str> = list.iter().map(String::as_str).collect();
            Some(globs(&refs).map_err(|e| FuzzySettingsError::Rule {
                rule: name.to_string(),
                reason: format!("mime_types: {e}"),
            })?)
        }
        None => d.mime_types,
    };
    Ok(HashPolicy {
        keys: RuleKeys::new(
            get_string(r, "fuzzy_key", name)?.as_deref(),
            get_string(r, "fuzzy_shingles_key", name)?.as_deref(),
        ),
        algorithm,
        min_bytes: get_size(r, "min_bytes", name)?.unwrap_or(d.min_bytes),
        min_height: get_u32(r, "min_height", name)?.unwrap_or(d.min_height),
        min_width: get_u32(r, "min_width", name)?.unwrap_or(d.min_width),
        min_length: get_size(r, "min_length", name)?.unwrap_or(d.min_length),
        text_multiplier: get_f64(r, "text_multiplier", name)?.unwrap_or(d.text_multiplier),
        mime_types,
        scan_archives: get_bool(r, "scan_archives", name, d.scan_archives)?,
        short_text_direct_hash: get_bool(
            r,
            "short_text_direct_hash",
            name,
            d.short_text_direct_hash,
        )?,
        text_shingles: get_bool(r, "text_shingles", name, d.text_shingles)?,
        skip_images: get_bool(r, "skip_images", name, d.skip_images)?,
        no_subject: get_bool(r, "no_subject", name, d.no_subject)?,
    })
}

/// `"round-robin:a:11335,b"`, `["a", "b:1"]`: the addresses, resolved now
/// (a name through the system's resolver, once at load).
fn parse_servers(v: &Value) -> Result<Vec<SocketAddr>, String> {
    let list = value::strings(v).map_err(|w| format!("servers must be {w}"))?;
    let mut out = Vec::new();
    for item in list {
        let item = item.trim();
        let item = [
            "round-robin:",
            "master-slave:",
            "random:",
            "hash:",
            "sequential:",
        ]
        .iter()
        .find_map(|p| item.strip_prefix(p))
        .unwrap_or(item);
        for s in item
            .split([',', ';', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            out.extend(resolve(s)?);
        }
    }
    Ok(out)
}

fn resolve(s: &str) -> Result<Vec<SocketAddr>, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(vec![a]);
    }
    if let Ok(ip) = s.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, DEFAULT_PORT)]);
    }
    let with_port = if s
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        s.to_string()
    } else {
        format!("{s}:{DEFAULT_PORT}")
    };
    with_port
        .to_socket_addrs()
        .map(Iterator::collect)
        .map_err(|e| format!("server {s}: {e}"))
}

fn bad(rule: &str, key: &str, want: &'static str) -> FuzzySettingsError {
    FuzzySettingsError::Value {
        key: format!("{rule}.{key}"),
        want,
    }
}

fn get_bool(
    m: &Map<String, Value>,
    key: &str,
    rule: &str,
    default: bool,
) -> Result<bool, FuzzySettingsError> {
    m.get(key).map_or(Ok(default), |v| {
        value::boolean(v).map_err(|w| bad(rule, key, w))
    })
}

fn get_string(
    m: &Map<String, Value>,
    key: &str,
    rule: &str,
) -> Result<Option<String>, FuzzySettingsError> {
    m.get(key)
        .map(|v| value::string(v).map_err(|w| bad(rule, key, w)))
        .transpose()
}

fn get_duration(
    m: &Map<String, Value>,
    key: &str,
    rule: &str,
) -> Result<Option<Duration>, FuzzySettingsError> {
    m.get(key)
        .map(|v| value::duration(v).map_err(|w| bad(rule, key, w)))
        .transpose()
}

fn get_size(
    m: &Map<String, Value>,
    key: &str,
    rule: &str,
) -> Result<Option<usize>, FuzzySettingsError> {
    m.get(key)
        .map(|v| value::size(v).map_err(|w| bad(rule, key, w)))
        .transpose()
}

fn get_u32(
    m: &Map<String, Value>,
    key: &str,
    rule: &str,
) -> Result<Option<u32>, FuzzySettingsError> {
    get_size(m, key, rule)?
        .map(|n| u32::try_from(n).map_err(|_| bad(rule, key, "a number below 2^32")))
        .transpose()
}

fn get_f64(
    m: &Map<String, Value>,
    key: &str,
    rule: &str,
) -> Result<Option<f64>, FuzzySettingsError> {
    m.get(key)
        .map(|v| {
            let v = match v {
                Value::String(s) => s.trim().parse::<f64>().ok(),
                other => other.as_f64(),
            };
            v.ok_or_else(|| bad(rule, key, "a number"))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_debian_style_rule_reads_with_rspamd_defaults() {
        let s = FuzzySettings::from_section(Some(&json!({
            "timeout": 2.0, "retransmits": 1,
            "rule": {"local": {
                "algorithm": "mumhash",
                "servers": "round-robin:127.0.0.1:11335,127.0.0.2",
                "symbol": "FUZZY_UNKNOWN", "mime_types": ["*"], "max_score": 20.0,
                "read_only": true, "skip_unknown": "yes", "min_length": 64,
                "fuzzy_map": {"FUZZY_DENIED": {"max_score": 20.0, "flag": 1},
                              "FUZZY_WHITE": {"flag": 3}}
            }}
        })))
        .unwrap();
        let r = &s.rules[0];
        assert_eq!(r.name, "local");
        assert_eq!(r.servers.len(), 2);
        assert_eq!(r.servers[1].port(), DEFAULT_PORT);
        assert_eq!(r.policy.algorithm, Algorithm::Mumhash);
        assert_eq!(r.timeout, Duration::from_secs(2));
        assert_eq!(r.retransmits, 1);
        assert!(r.read_only && r.skip_unknown);
        assert_eq!(r.mapping(1), ("FUZZY_DENIED", 20.0, true));
        // A map entry without max_score takes the rule's.
        assert_eq!(r.mapping(3), ("FUZZY_WHITE", 20.0, true));
        assert_eq!(r.mapping(9), ("FUZZY_UNKNOWN", 20.0, false));
        assert_eq!(r.flag_of("fuzzy_denied"), Some(1));
        assert_eq!(r.flag_of("2"), Some(2));
        assert!(r
            .policy
            .mime_types
            .as_ref()
            .unwrap()
            .is_match("audio/x-wav"));
    }

    #[test]
    fn no_section_no_servers_and_bad_values() {
        assert!(FuzzySettings::from_section(None).unwrap().rules.is_empty());
        let off = json!({"enabled": false, "rule": {"x": {"servers": "127.0.0.1"}}});
        assert!(FuzzySettings::from_section(Some(&off))
            .unwrap()
            .rules
            .is_empty());
        let e = FuzzySettings::from_section(Some(&json!({"rule": {"x": {}}}))).unwrap_err();
        assert!(e.to_string().contains("no servers"), "{e}");
        let e = FuzzySettings::from_section(Some(&json!({"rule": {"x": {
            "servers": "127.0.0.1", "encryption_key": "short"}}})))
        .unwrap_err();
        assert!(e.to_string().contains("encryption key"), "{e}");
        let e = FuzzySettings::from_section(Some(&json!({"rule": {"x": {
            "servers": "127.0.0.1", "max_score": "lots"}}})))
        .unwrap_err();
        assert!(e.to_string().contains("x.max_score"), "{e}");
        // The module's defaults.
        let s =
            FuzzySettings::from_section(Some(&json!({"rule": {"x": {"servers": "127.0.0.1:1"}}})))
                .unwrap();
        assert_eq!(s.rules[0].symbol, DEFAULT_SYMBOL);
        assert_eq!(s.rules[0].retransmits, DEFAULT_RETRANSMITS);
        assert_eq!(s.rules[0].timeout, DEFAULT_TIMEOUT);
        let r = &s.rules[0];
        assert!(r.weight_threshold.is_none() && r.skip_hashes.is_none() && !r.no_share);
        assert!(r.symbols().any(|s| s == BLOCKED_SYMBOL));
    }

    #[test]
    fn learn_condition_is_reported_as_not_run() {
        let s = FuzzySettings::from_section(Some(&json!({"rule": {"x": {
            "servers": "127.0.0.1:1", "no_share": true,
            "learn_condition": "return function(task) return true end"}}})))
        .unwrap();
        assert!(s.rules[0].no_share);
        assert_eq!(s.warnings.len(), 1);
        assert!(
            s.warnings[0].contains("learn_condition"),
            "{:?}",
            s.warnings
        );
    }
}
