//! The typed forward-mode model read from the `milter` section (an admin's
//! `local.d/worker-proxy.inc`): `upstream "NAME" { … }`, `mirror "NAME" { … }`,
//! `self_scan`, `max_retries`, plus the health knobs of Rspamd's
//! `options { upstream { max_errors; error_time; revive_time; } }`. Keys keep Rspamd's names so an
//! existing proxy configuration switches sluice to forwarding unchanged.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use super::hosts::{HostList, HostsError};
use super::ucl::type_atom;

/// Rspamd's normal worker port, the default for upstream elements.
pub const DEFAULT_PORT: u16 = 11333;

/// What the `hash` rotation hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashKey {
    /// The SMTP client's address (Rspamd proxy's key).
    #[default]
    ClientIp,
    /// The envelope sender.
    Sender,
}

/// One `upstream "NAME" { … }` block.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamGroup {
    pub name: String,
    pub default: bool,
    pub self_scan: bool,
    /// `None` only for a `self_scan` group.
    pub hosts: Option<HostList>,
    /// One end-to-end deadline per message, across every retry.
    pub timeout: Duration,
    /// zstd request bodies.
    pub compression: bool,
    /// TLS to every host of the group (`https://` does it per host).
    pub ssl: bool,
    /// PEM bundle of CAs trusted for upstream TLS (`ssl_ca`).
    pub ssl_ca: Option<PathBuf>,
    /// Keep connections open between requests (`keepalive`, default yes).
    pub keepalive: bool,
    /// Forced `Settings-ID` on every forwarded request.
    pub settings_id: Option<String>,
    /// `Settings-ID` chosen by the MTA's name (`{daemon_name}` / `j`).
    pub settings_id_by_mta: BTreeMap<String, String>,
    pub hash_key: HashKey,
    /// Added or replaced on every forwarded request.
    pub extra_headers: BTreeMap<String, String>,
}

/// One `mirror "NAME" { … }` block: copies that never affect the verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct MirrorGroup {
    pub name: String,
    pub hosts: HostList,
    /// Share of messages copied, 0..=1.
    pub probability: f64,
    pub timeout: Duration,
    pub compression: bool,
    pub ssl: bool,
    pub settings_id: Option<String>,
}

/// Error window and dead time of every pool (`options.upstream`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthSettings {
    /// Errors within `error_time` that make an upstream dead.
    pub max_errors: u32,
    pub error_time: Duration,
    /// How long a dead upstream stays out, ±40 % jitter.
    pub revive_time: Duration,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings {
            max_errors: 4,
            error_time: Duration::from_secs(10),
            revive_time: Duration::from_secs(60),
        }
    }
}

/// Everything forward mode needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardSettings {
    pub upstreams: Vec<UpstreamGroup>,
    pub mirrors: Vec<MirrorGroup>,
    /// Milter-level `self_scan = yes`: scan in-process whatever the upstreams say.
    pub self_scan: bool,
    /// Attempts per message (first try included).
    pub max_retries: u32,
    pub health: HealthSettings,
}

/// A key of the forward model with a bad value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForwardConfigError {
    #[error("{key}: expected {expected}, got {got}")]
    Type {
        key: String,
        expected: &'static str,
        got: String,
    },
    #[error("{key}: {source}")]
    Hosts {
        key: String,
        #[source]
        source: HostsError,
    },
    #[error("{key}: `hosts` is required unless `self_scan = yes`")]
    NoHosts { key: String },
    #[error("more than one default upstream: `{first}` and `{second}`")]
    TwoDefaults { first: String, second: String },
    #[error("{key}: probability {value} is outside 0..1")]
    Probability { key: String, value: f64 },
}

type Result<T> = std::result::Result<T, ForwardConfigError>;

impl super::SettingError for ForwardConfigError {
    fn key(&self) -> Option<String> {
        match self {
            ForwardConfigError::Type { key, .. }
            | ForwardConfigError::Hosts { key, .. }
            | ForwardConfigError::NoHosts { key }
            | ForwardConfigError::Probability { key, .. } => Some(key.clone()),
            ForwardConfigError::TwoDefaults { second, .. } => {
                Some(format!("milter.upstream.{second}.default"))
            }
        }
    }
}

impl ForwardSettings {
    /// Reads the model from the merged tree; `scan_timeout` is the timeout of
    /// groups that set none.
    pub fn from_tree(tree: &Value, scan_timeout: Duration) -> Result<ForwardSettings> {
        let milter = tree.get("milter").and_then(Value::as_object);
        let empty = Map::new();
        let milter = milter.unwrap_or(&empty);
        let r = Reader;
        let upstreams = r.named_blocks(milter, "upstream", |k, name, b| {
            r.upstream(k, name, b, scan_timeout)
        })?;
        check_single_default(&upstreams)?;
        let mirrors = r.named_blocks(milter, "mirror", |k, name, b| {
            r.mirror(k, name, b, scan_timeout)
        })?;
        let self_scan = r.opt(milter, "milter.self_scan", "self_scan", boolean)?;
        let max_retries = r.opt(milter, "milter.max_retries", "max_retries", uint)?;
        Ok(ForwardSettings {
            upstreams,
            mirrors,
            self_scan: self_scan.unwrap_or(false),
            max_retries: max_retries.unwrap_or(5).max(1),
            health: r.health(tree.get("options").and_then(|o| o.get("upstream")))?,
        })
    }

    /// The group the milter path forwards to, or `None` to scan in-process.
    pub fn forward_group(&self) -> Option<&UpstreamGroup> {
        if self.self_scan {
            return None;
        }
        let default = self.upstreams.iter().find(|g| g.default)?;
        (!default.self_scan).then_some(default)
    }
}

fn check_single_default(groups: &[UpstreamGroup]) -> Result<()> {
    let mut defaults = groups.iter().filter(|g| g.default);
    if let (Some(a), Some(b)) = (defaults.next(), defaults.next()) {
        return Err(ForwardConfigError::TwoDefaults {
            first: a.name.clone(),
            second: b.name.clone(),
        });
    }
    Ok(())
}

/// Typed reads with the dotted key path in every error.
struct Reader;

impl Reader {
    /// `kind "NAME" { … }` blocks, which the UCL layer nests as `kind { NAME { … } }`.
    fn named_blocks<T>(
        &self,
        section: &Map<String, Value>,
        kind: &str,
        mut f: impl FnMut(&str, &str, &Map<String, Value>) -> Result<Option<T>>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let Some(v) = section.get(kind) else {
            return Ok(out);
        };
        let blocks = v
            .as_object()
            .ok_or_else(|| type_err(kind, "named blocks", v))?;
        for (name, block) in blocks {
            let key = format!("milter.{kind}.{name}");
            match block {
                Value::Null => continue,
                Value::Object(b) => out.extend(f(&key, name, b)?),
                other => return Err(type_err(&key, "a block", other)),
            }
        }
        Ok(out)
    }

    fn opt<T>(
        &self,
        block: &Map<String, Value>,
        path: &str,
        name: &str,
        f: Conv<T>,
    ) -> Result<Option<T>> {
        match block.get(name) {
            None => Ok(None),
            Some(v) => f(v).map(Some).map_err(|want| type_err(path, want, v)),
        }
    }

    fn field<T>(
        &self,
        block: &Map<String, Value>,
        key: &str,
        names: &[&str],
        f: Conv<T>,
    ) -> Result<Option<T>> {
        for name in names {
            if let Some(v) = self.opt(block, &format!("{key}.{name}"), name, f)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    fn hosts(&self, block: &Map<String, Value>, key: &str) -> Result<Option<HostList>> {
        let Some(v) = block.get("hosts") else {
            return Ok(None);
        };
        let text = match v {
            Value::Array(items) => items
                .iter()
                .map(|i| string(i).map_err(|w| type_err(key, w, i)))
                .collect::<Result<Vec<_>>>()?
                .join(","),
            other => string(other).map_err(|w| type_err(key, w, other))?,
        };
        HostList::parse(&text, DEFAULT_PORT)
            .map(Some)
            .map_err(|source| ForwardConfigError::Hosts {
                key: format!("{key}.hosts"),
                source,
            })
    }

    fn upstream(
        &self,
        key: &str,
        name: &str,
        b: &Map<String, Value>,
        scan_timeout: Duration,
    ) -> Result<Option<UpstreamGroup>> {
        let enabled = self.field(b, key, &["enabled"], boolean)?.unwrap_or(true);
        let disabled = self.field(b, key, &["disabled"], boolean)?.unwrap_or(false);
        if !enabled || disabled {
            return Ok(None);
        }
        let self_scan = self
            .field(b, key, &["self_scan"], boolean)?
            .unwrap_or(false);
        let hosts = self.hosts(b, key)?;
        if hosts.is_none() && !self_scan {
            return Err(ForwardConfigError::NoHosts { key: key.into() });
        }
        let hash_key = match self.field(b, key, &["hash_key"], string)?.as_deref() {
            None | Some("ip") | Some("client_ip") => HashKey::ClientIp,
            Some("from") | Some("sender") => HashKey::Sender,
            Some(other) => {
                return Err(type_err(
                    &format!("{key}.hash_key"),
                    "ip or sender",
                    &Value::String(other.into()),
                ))
            }
        };
        Ok(Some(UpstreamGroup {
            name: self
                .field(b, key, &["name"], string)?
                .unwrap_or(name.into()),
            default: self
                .field(b, key, &["default"], boolean)?
                .unwrap_or(self_scan),
            self_scan,
            hosts,
            timeout: self
                .field(b, key, &["timeout"], duration)?
                .unwrap_or(scan_timeout),
            compression: self
                .field(b, key, &["compression", "compress"], boolean)?
                .unwrap_or(false),
            ssl: self.field(b, key, &["ssl"], boolean)?.unwrap_or(false),
            ssl_ca: self.field(b, key, &["ssl_ca"], string)?.map(PathBuf::from),
            keepalive: self
                .field(b, key, &["keepalive", "keep_alive"], boolean)?
                .unwrap_or(true),
            settings_id: self.field(b, key, &["settings_id", "settings"], string)?,
            settings_id_by_mta: self.string_map(b, key, "settings_id_by_mta")?,
            hash_key,
            extra_headers: self.string_map(b, key, "extra_headers")?,
        }))
    }

    fn mirror(
        &self,
        key: &str,
        name: &str,
        b: &Map<String, Value>,
        scan_timeout: Duration,
    ) -> Result<Option<MirrorGroup>> {
        let hosts = self
            .hosts(b, key)?
            .ok_or_else(|| ForwardConfigError::NoHosts { key: key.into() })?;
        let probability = self
            .field(b, key, &["probability", "prob"], float)?
            .unwrap_or(1.0);
        if !(0.0..=1.0).contains(&probability) {
            return Err(ForwardConfigError::Probability {
                key: format!("{key}.probability"),
                value: probability,
            });
        }
        Ok(Some(MirrorGroup {
            name: name.into(),
            hosts,
            probability,
            timeout: self
                .field(b, key, &["timeout"], duration)?
                .unwrap_or(scan_timeout),
            compression: self
                .field(b, key, &["compression", "compress"], boolean)?
                .unwrap_or(false),
            ssl: self.field(b, key, &["ssl"], boolean)?.unwrap_or(false),
            settings_id: self.field(b, key, &["settings_id", "settings"], string)?,
        }))
    }

    fn string_map(
        &self,
        b: &Map<String, Value>,
        key: &str,
        name: &str,
    ) -> Result<BTreeMap<String, String>> {
        let Some(v) = b.get(name) else {
            return Ok(BTreeMap::new());
        };
        let k = format!("{key}.{name}");
        let obj = v.as_object().ok_or_else(|| type_err(&k, "a block", v))?;
        obj.iter()
            .map(|(n, v)| {
                let s = string(v).map_err(|w| type_err(&format!("{k}.{n}"), w, v))?;
                Ok((n.clone(), s))
            })
            .collect()
    }

    fn health(&self, v: Option<&Value>) -> Result<HealthSettings> {
        let mut h = HealthSettings::default();
        let Some(Value::Object(b)) = v else {
            return Ok(h);
        };
        if let Some(n) = self.field(b, "upstream", &["max_errors"], uint)? {
            h.max_errors = n.max(1);
        }
        if let Some(d) = self.field(b, "upstream", &["error_time"], duration)? {
            h.error_time = d;
        }
        if let Some(d) = self.field(b, "upstream", &["revive_time"], duration)? {
            h.revive_time = d;
        }
        Ok(h)
    }
}

fn type_err(key: &str, expected: &'static str, got: &Value) -> ForwardConfigError {
    ForwardConfigError::Type {
        key: key.into(),
        expected,
        got: got.to_string(),
    }
}

/// Re-types a quoted atom the way UCL types a bare one (`"5s"` → 5.0).
fn retype(v: &Value) -> Value {
    match v {
        Value::String(s) => type_atom(s),
        other => other.clone(),
    }
}

/// A converter: the typed value, or what was expected instead.
type Conv<T> = fn(&Value) -> std::result::Result<T, &'static str>;

fn boolean(v: &Value) -> std::result::Result<bool, &'static str> {
    retype(v).as_bool().ok_or("a boolean")
}

fn duration(v: &Value) -> std::result::Result<Duration, &'static str> {
    retype(v)
        .as_f64()
        .filter(|s| (0.0..1e9).contains(s))
        .map(Duration::from_secs_f64)
        .ok_or("a duration")
}

fn uint(v: &Value) -> std::result::Result<u32, &'static str> {
    retype(v)
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or("a whole number")
}

fn float(v: &Value) -> std::result::Result<f64, &'static str> {
    retype(v).as_f64().ok_or("a number")
}

fn string(v: &Value) -> std::result::Result<String, &'static str> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err("a string"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::hosts::Rotation;
    use serde_json::json;

    const T: Duration = Duration::from_secs(8);

    #[test]
    fn proxy_config_becomes_the_model() {
        let tree = json!({
            "options": {"upstream": {"max_errors": 2, "error_time": "5s", "revive_time": 1}},
            "milter": {
                "upstream": {
                    "scan": {"default": true, "hosts": "master-slave:a:1:5,b", "timeout": 3.0,
                             "compression": "yes", "settings_id_by_mta": {"postfix/out": "outbound"}},
                    "local": {"self_scan": true, "default": false}
                },
                "mirror": {"shadow": {"hosts": "m", "probability": 0.25}},
                "max_retries": 2
            }
        });
        let s = ForwardSettings::from_tree(&tree, T).unwrap();
        let g = s.forward_group().unwrap();
        assert_eq!(g.name, "scan");
        let hosts = g.hosts.as_ref().unwrap();
        assert_eq!(hosts.rotation, Rotation::MasterSlave);
        assert_eq!(hosts.hosts[0].weight, 5);
        assert_eq!(g.timeout, Duration::from_secs(3));
        assert!(g.compression && g.keepalive);
        assert_eq!(g.settings_id_by_mta["postfix/out"], "outbound");
        assert_eq!(s.mirrors[0].probability, 0.25);
        assert_eq!(s.mirrors[0].timeout, T, "scan timeout by default");
        assert_eq!(s.max_retries, 2);
        assert_eq!(s.health.max_errors, 2);
        assert_eq!(s.health.error_time, Duration::from_secs(5));
        assert_eq!(s.health.revive_time, Duration::from_secs(1));
    }

    #[test]
    fn self_scan_or_no_default_means_in_process() {
        let none = ForwardSettings::from_tree(&json!({}), T).unwrap();
        assert!(none.forward_group().is_none());
        assert_eq!(none.max_retries, 5);
        let only_local = json!({"milter": {"upstream": {"local": {"self_scan": true}}}});
        assert!(ForwardSettings::from_tree(&only_local, T)
            .unwrap()
            .forward_group()
            .is_none());
        let forced = json!({"milter": {"self_scan": true,
            "upstream": {"scan": {"default": true, "hosts": "a"}}}});
        assert!(ForwardSettings::from_tree(&forced, T)
            .unwrap()
            .forward_group()
            .is_none());
        let disabled = json!({"milter": {"upstream": {"scan": {"default": true, "hosts": "a",
            "enabled": false}}}});
        assert!(ForwardSettings::from_tree(&disabled, T)
            .unwrap()
            .forward_group()
            .is_none());
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            (
                json!({"milter": {"upstream": {"s": {"hosts": "a:x"}}}}),
                "milter.upstream.s.hosts: `a:x`: bad port",
            ),
            (
                json!({"milter": {"upstream": {"s": {"default": true}}}}),
                "milter.upstream.s: `hosts` is required unless `self_scan = yes`",
            ),
            (
                json!({"milter": {"upstream": {"a": {"default": true, "hosts": "x"},
                                               "b": {"default": true, "hosts": "y"}}}}),
                "more than one default upstream: `a` and `b`",
            ),
            (
                json!({"milter": {"mirror": {"m": {"hosts": "x", "probability": 2}}}}),
                "milter.mirror.m.probability: probability 2 is outside 0..1",
            ),
            (
                json!({"milter": {"upstream": {"s": {"hosts": "x", "timeout": "soon"}}}}),
                "milter.upstream.s.timeout: expected a duration, got \"soon\"",
            ),
        ];
        for (tree, want) in cases {
            let e = ForwardSettings::from_tree(&tree, T).unwrap_err();
            assert_eq!(e.to_string(), want);
        }
    }
}
