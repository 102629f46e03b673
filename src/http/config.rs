//! The `worker "normal"` and `worker "controller"` sections, in Rspamd's
//! shape, so an admin's `local.d/worker-normal.inc` and
//! `local.d/worker-controller.inc` carry over. Keys sluice does not act on
//! (`count`, `keypair`, `static_dir`, ...) are accepted with a warning.
use std::path::PathBuf;

use ipnet::IpNet;
use serde_json::{Map, Value};

use crate::config::{ListenAddr, ListenAddrError};

/// Largest request body when `options.max_message` is not set (Rspamd's default).
pub const DEFAULT_MAX_MESSAGE: usize = 50 << 20;

/// Why the HTTP sections were refused; each names the key.
#[derive(Debug, thiserror::Error)]
pub enum HttpConfigError {
    #[error("{key}: expected {want}, got {found}")]
    Type {
        key: String,
        want: &'static str,
        found: String,
    },
    #[error("{key}: {source}")]
    Listen {
        key: String,
        #[source]
        source: ListenAddrError,
    },
    #[error("{key}: `{value}` is not an IP address or network")]
    Network { key: String, value: String },
    #[error("{key}: ssl_cert and ssl_key must be set together")]
    HalfTls { key: String },
}

/// Certificate and key files (PEM) of a TLS listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// One listener role's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerSettings {
    /// `enabled = false` turns the listener off (Rspamd's worker switch).
    pub enabled: bool,
    pub bind_socket: Vec<ListenAddr>,
    pub tls: Option<TlsFiles>,
}

/// The controller's access rules (Rspamd's semantics, see `controller::auth`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccessSettings {
    pub password: Option<String>,
    pub enable_password: Option<String>,
    /// `None`: no `secure_ip` configured (which changes what "no password" means).
    pub secure_ip: Option<Vec<IpNet>>,
}

/// Everything the HTTP side reads from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSettings {
    pub normal: WorkerSettings,
    pub controller: WorkerSettings,
    pub access: AccessSettings,
    /// Largest request body accepted, after decompression.
    pub max_message: usize,
}

impl HttpSettings {
    /// Reads `worker.normal`, `worker.controller` and `options.max_message`
    /// from the merged tree; warnings go to `warnings`.
    pub fn from_tree(tree: &Value, warnings: &mut Vec<String>) -> Result<Self, HttpConfigError> {
        let empty = Map::new();
        let worker = |name| {
            tree.get("worker")
                .and_then(|w| w.get(name))
                .and_then(Value::as_object)
                .unwrap_or(&empty)
        };
        let normal = worker("normal");
        let controller = worker("controller");
        warn_unknown("worker.normal", normal, NORMAL_KEYS, warnings);
        warn_unknown("worker.controller", controller, CONTROLLER_KEYS, warnings);
        let max_message = match tree.get("options").and_then(|o| o.get("max_message")) {
            Some(v) => crate::config::value::size(v).map_err(|want| HttpConfigError::Type {
                key: "options.max_message".into(),
                want,
                found: v.to_string(),
            })?,
            None => DEFAULT_MAX_MESSAGE,
        };
        Ok(HttpSettings {
            normal: worker_settings("worker.normal", normal, "localhost:11333")?,
            controller: worker_settings("worker.controller", controller, "localhost:11334")?,
            access: access("worker.controller", controller)?,
            max_message,
        })
    }
}

const NORMAL_KEYS: &[&str] = &["enabled", "bind_socket", "ssl_cert", "ssl_key"];
const CONTROLLER_KEYS: &[&str] = &[
    "enabled",
    "bind_socket",
    "ssl_cert",
    "ssl_key",
    "password",
    "enable_password",
    "secure_ip",
];

fn warn_unknown(section: &str, m: &Map<String, Value>, known: &[&str], out: &mut Vec<String>) {
    for k in m.keys().filter(|k| !known.contains(&k.as_str())) {
        out.push(format!("{section}.{k}: not implemented, ignored"));
    }
}

fn worker_settings(
    section: &str,
    m: &Map<String, Value>,
    default_bind: &str,
) -> Result<WorkerSettings, HttpConfigError> {
    let key = format!("{section}.bind_socket");
    let binds = match m.get("bind_socket") {
        Some(v) => strings(&key, v)?,
        None => vec![default_bind.to_string()],
    };
    let bind_socket = binds
        .iter()
        // Rspamd allows ` mode=0666` style options after the address.
        .map(|b| b.split_whitespace().next().unwrap_or("").parse())
        .collect::<Result<Vec<ListenAddr>, _>>()
        .map_err(|source| HttpConfigError::Listen { key, source })?;
    let file = |k: &str| -> Result<Option<PathBuf>, HttpConfigError> {
        m.get(k)
            .map(|v| string(&format!("{section}.{k}"), v).map(PathBuf::from))
            .transpose()
    };
    let tls = match (file("ssl_cert")?, file("ssl_key")?) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        _ => {
            return Err(HttpConfigError::HalfTls {
                key: section.to_string(),
            })
        }
    };
    let enabled = match m.get("enabled") {
        None => true,
        Some(v) => crate::config::value::boolean(v).map_err(|want| HttpConfigError::Type {
            key: format!("{section}.enabled"),
            want,
            found: v.to_string(),
        })?,
    };
    Ok(WorkerSettings {
        enabled,
        bind_socket,
        tls,
    })
}

fn access(section: &str, m: &Map<String, Value>) -> Result<AccessSettings, HttpConfigError> {
    let pw = |k: &str| -> Result<Option<String>, HttpConfigError> {
        m.get(k)
            .map(|v| string(&format!("{section}.{k}"), v))
            .transpose()
            .map(|p| p.filter(|p| !p.is_empty()))
    };
    let key = format!("{section}.secure_ip");
    let secure_ip = match m.get("secure_ip") {
        None => None,
        Some(v) => Some(
            strings(&key, v)?
                .iter()
                .flat_map(|s| s.split(',').map(str::trim).filter(|s| !s.is_empty()))
                .map(|s| network(&key, s))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    Ok(AccessSettings {
        password: pw("password")?,
        enable_password: pw("enable_password")?,
        secure_ip,
    })
}

/// `192.0.2.1`, `192.0.2.0/24`, `::1` or `[::1]`.
fn network(key: &str, s: &str) -> Result<IpNet, HttpConfigError> {
    let bare = s.trim_start_matches('[').replace(']', "");
    bare.parse::<IpNet>()
        .or_else(|_| bare.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| HttpConfigError::Network {
            key: key.to_string(),
            value: s.to_string(),
        })
}

fn string(key: &str, v: &Value) -> Result<String, HttpConfigError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(HttpConfigError::Type {
            key: key.to_string(),
            want: "a string",
            found: other.to_string(),
        }),
    }
}

/// A string or a list of strings.
fn strings(key: &str, v: &Value) -> Result<Vec<String>, HttpConfigError> {
    match v {
        Value::Array(items) => items.iter().map(|i| string(key, i)).collect(),
        other => Ok(vec![string(key, other)?]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_are_rspamd_ports_on_loopback() {
        let s = HttpSettings::from_tree(&json!({}), &mut vec![]).unwrap();
        assert_eq!(
            s.normal.bind_socket,
            vec!["127.0.0.1:11333".parse().unwrap()]
        );
        assert_eq!(
            s.controller.bind_socket,
            vec!["127.0.0.1:11334".parse().unwrap()]
        );
        assert_eq!(s.access, AccessSettings::default());
        assert!(s.normal.enabled && s.controller.enabled);
        let off = json!({"worker": {"normal": {"enabled": false}}});
        assert!(
            !HttpSettings::from_tree(&off, &mut vec![])
                .unwrap()
                .normal
                .enabled
        );
        assert_eq!(s.max_message, DEFAULT_MAX_MESSAGE);
    }

    #[test]
    fn rspamd_shaped_sections_are_read() {
        let tree = json!({
            "options": {"max_message": "2mb"},
            "worker": {
                "normal": {"bind_socket": ["*:11333", "/run/s.sock mode=0666"], "count": 4},
                "controller": {"bind_socket": "[::1]:11334", "password": "r", "enable_password": "e",
                               "secure_ip": ["127.0.0.1", "10.0.0.0/8, [::1]"],
                               "ssl_cert": "/c.pem", "ssl_key": "/k.pem"}
            }
        });
        let mut warnings = vec![];
        let s = HttpSettings::from_tree(&tree, &mut warnings).unwrap();
        assert_eq!(s.normal.bind_socket.len(), 2);
        assert_eq!(
            s.normal.bind_socket[1],
            ListenAddr::Unix("/run/s.sock".into())
        );
        assert_eq!(s.access.password.as_deref(), Some("r"));
        assert_eq!(s.access.enable_password.as_deref(), Some("e"));
        let nets = s.access.secure_ip.unwrap();
        assert_eq!(nets.len(), 3);
        assert!(nets[1].contains(&"10.1.2.3".parse::<std::net::IpAddr>().unwrap()));
        assert_eq!(s.controller.tls.unwrap().key, PathBuf::from("/k.pem"));
        assert_eq!(s.max_message, 2 << 20);
        assert_eq!(
            warnings,
            vec!["worker.normal.count: not implemented, ignored"]
        );
    }

    #[test]
    fn bad_values_are_typed_errors() {
        let bad =
            |w: Value| HttpSettings::from_tree(&json!({ "worker": w }), &mut vec![]).unwrap_err();
        let e = bad(json!({"normal": {"bind_socket": "nohost"}}));
        assert!(matches!(e, HttpConfigError::Listen { .. }), "{e}");
        let e = bad(json!({"controller": {"secure_ip": "10.0.0.300"}}));
        assert!(e.to_string().contains("10.0.0.300"), "{e}");
        let e = bad(json!({"normal": {"ssl_cert": "/c.pem"}}));
        assert!(matches!(e, HttpConfigError::HalfTls { .. }));
        let e = bad(json!({"normal": {"enabled": "perhaps"}}));
        assert!(e.to_string().contains("worker.normal.enabled"), "{e}");
        let e = bad(json!({"controller": {"password": ["a"]}}));
        assert!(matches!(e, HttpConfigError::Type { .. }));
    }
}
