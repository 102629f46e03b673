//! The `worker "normal"` and `worker "controller"` sections, in Rspamd's
//! shape, so an admin's `local.d/worker-normal.inc` and
//! `local.d/worker-controller.inc` carry over. Keys sluice does not act on
//! (`count`, `keypair`, ...) are accepted with a warning.
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde_json::{Map, Value};
use sluice_proto::rspamd::request::MAX_HEAD_LINES;

use super::{ListenAddr, ListenAddrError};

/// Largest request body when `options.max_message` is not set (Rspamd's default).
pub use sluice_proto::rspamd::request::DEFAULT_MAX_MESSAGE;
/// Memory for request bodies in flight on all HTTP listeners together, when
/// `options.http_body_budget` is not set.
pub const DEFAULT_BODY_BUDGET: usize = 128 << 20;

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
    #[error("{key}: {value} is below the least usable value, {min}")]
    TooSmall { key: String, value: u64, min: u64 },
}

impl super::SettingError for HttpConfigError {
    fn key(&self) -> Option<String> {
        match self {
            HttpConfigError::Type { key, .. }
            | HttpConfigError::Listen { key, .. }
            | HttpConfigError::Network { key, .. }
            | HttpConfigError::HalfTls { key }
            | HttpConfigError::TooSmall { key, .. } => Some(key.clone()),
        }
    }
}

// The body budget must hold a zstd decoder; `http::body` sizes its decoders by these.
/// Largest zstd window accepted (8 MiB, what every standard compression
/// level uses at most): a decoder allocates its window up front, so many
/// bombs at once would otherwise each hold up to 128 MiB before writing a
/// byte. Each decoder's window is taken from the budget while it runs.
pub const WINDOW_LOG_MAX: u32 = 23;
/// What a decoder holds besides its window (its tables and input buffer).
const DECODER_OVERHEAD: usize = 256 << 10;
/// What one zstd decoder takes from the budget while it runs.
pub const DECODER_BYTES: usize = (1 << WINDOW_LOG_MAX) + DECODER_OVERHEAD;

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
    pub limits: Limits,
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
    /// Bytes of request bodies (decompressed ones included, and as much
    /// again for the scan of each) held at once by all HTTP listeners
    /// together; never below twice `max_message` plus a zstd decoder.
    pub body_budget: usize,
    /// The controller's `static_dir`: a web UI served from disk (Rspamd's
    /// WebUI in Debian's `/usr/share/rspamd/www`); `None` serves the
    /// dashboard compiled into the binary.
    pub static_dir: Option<PathBuf>,
    /// `options.neighbours`, as the controller's `/neighbours` lists them.
    pub neighbours: Map<String, Value>,
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
            Some(v) => super::value::size(v).map_err(|want| HttpConfigError::Type {
                key: "options.max_message".into(),
                want,
                found: v.to_string(),
            })?,
            None => DEFAULT_MAX_MESSAGE,
        };
        let budget = match tree.get("options").and_then(|o| o.get("http_body_budget")) {
            Some(v) => super::value::size(v).map_err(|want| HttpConfigError::Type {
                key: "options.http_body_budget".into(),
                want,
                found: v.to_string(),
            })?,
            None => DEFAULT_BODY_BUDGET,
        };
        // A request holds its body and as much again for the scan's work,
        // and a zstd one its decoder while it inflates.
        let least = max_message.saturating_mul(2).saturating_add(DECODER_BYTES);
        if budget < least {
            warnings.push(format!(
                "options.http_body_budget ({budget}) is below twice max_message ({max_message}) \
                 plus a zstd decoder: raised to {least} so that one largest message can still \
                 be scanned"
            ));
        }
        Ok(HttpSettings {
            normal: worker_settings("worker.normal", normal, "localhost:11333", Limits::SCAN)?,
            controller: worker_settings(
                "worker.controller",
                controller,
                "localhost:11334",
                Limits::CONTROLLER,
            )?,
            access: access("worker.controller", controller)?,
            static_dir: static_dir("worker.controller", controller, warnings)?,
            max_message,
            body_budget: budget.max(least),
            neighbours: super::neighbours::from_tree(tree, warnings),
        })
    }
}

const NORMAL_KEYS: &[&str] = &[
    "enabled",
    "bind_socket",
    "ssl_cert",
    "ssl_key",
    "max_header_size",
    "header_timeout",
    "body_timeout",
    "max_connections",
];
const CONTROLLER_KEYS: &[&str] = &[
    "enabled",
    "bind_socket",
    "ssl_cert",
    "ssl_key",
    "max_header_size",
    "header_timeout",
    "body_timeout",
    "max_connections",
    "password",
    "enable_password",
    "secure_ip",
    "static_dir",
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
    defaults: Limits,
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
        Some(v) => super::value::boolean(v).map_err(|want| HttpConfigError::Type {
            key: format!("{section}.enabled"),
            want,
            found: v.to_string(),
        })?,
    };
    Ok(WorkerSettings {
        enabled,
        bind_socket,
        tls,
        limits: Limits::read(section, m, defaults)?,
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

/// `static_dir`: an empty value means none. A path that is not a
/// directory is kept (it may appear later) with a warning: until then the
/// controller answers 404 for pages.
fn static_dir(
    section: &str,
    m: &Map<String, Value>,
    warnings: &mut Vec<String>,
) -> Result<Option<PathBuf>, HttpConfigError> {
    let key = format!("{section}.static_dir");
    let Some(v) = m.get("static_dir") else {
        return Ok(None);
    };
    let dir = string(&key, v)?;
    if dir.is_empty() {
        return Ok(None);
    }
    let dir = PathBuf::from(dir);
    if !dir.is_dir() {
        warnings.push(format!(
            "{key}: {} is not a directory: web pages answer 404 until it is",
            dir.display()
        ));
    }
    Ok(Some(dir))
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

/// How much one connection of a listener may hold, and for how long: the
/// bounds that keep a hostile or broken client from tying up memory and
/// file descriptors the milter needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of a request's head (request line and header lines). Each
    /// recipient of a scan request is one `Rcpt` line, so this is what lets
    /// mail to many recipients through; the number of lines is bounded
    /// apart ([`Limits::max_header_lines`]).
    pub max_header_size: usize,
    /// Time to send a request head; also how long a kept-alive connection
    /// may sit idle before its next request.
    pub header_timeout: Duration,
    /// Longest pause while a request body arrives before the request is
    /// cut off.
    pub body_timeout: Duration,
    /// Open connections on the role's listeners together. At the cap the
    /// oldest idle connection is closed for a new one; with none idle the
    /// new one is refused.
    pub max_connections: usize,
}

/// The smallest header line counted when sizing the parser's line table
/// (`Rcpt: <a@b.c>` and its line end) from a small byte budget.
pub const HEADER_LINE_BYTES: usize = 16;

/// The least usable head budget: hyper's read buffer cannot be smaller.
const MIN_HEADER_SIZE: usize = 8192;

impl Limits {
    /// The scan listener's defaults.
    pub const SCAN: Limits = Limits {
        max_header_size: sluice_proto::rspamd::request::DEFAULT_MAX_HEAD,
        header_timeout: Duration::from_secs(60),
        body_timeout: Duration::from_secs(30),
        max_connections: 1024,
    };
    /// The controller's: the WebUI and scrapers, a few clients.
    pub const CONTROLLER: Limits = Limits {
        max_connections: 128,
        ..Limits::SCAN
    };

    /// Header lines the parser makes room for: as many as the byte budget
    /// holds, up to [`MAX_HEAD_LINES`]. A head with more lines gets 431, as
    /// one over the byte budget.
    pub fn max_header_lines(&self) -> usize {
        (self.max_header_size / HEADER_LINE_BYTES).clamp(100, MAX_HEAD_LINES)
    }

    fn read(section: &str, m: &Map<String, Value>, d: Limits) -> Result<Limits, HttpConfigError> {
        use super::value::{duration, size};
        let get = |k: &str, f: fn(&Value) -> Result<u64, &'static str>, default: u64| {
            let Some(v) = m.get(k) else {
                return Ok(default);
            };
            f(v).map_err(|want| HttpConfigError::Type {
                key: format!("{section}.{k}"),
                want,
                found: v.to_string(),
            })
        };
        let bytes = |v: &Value| size(v).map(|n| n as u64);
        let millis = |v: &Value| duration(v).map(|d| d.as_millis() as u64);
        let l = Limits {
            max_header_size: get("max_header_size", bytes, d.max_header_size as u64)? as usize,
            header_timeout: Duration::from_millis(get(
                "header_timeout",
                millis,
                d.header_timeout.as_millis() as u64,
            )?),
            body_timeout: Duration::from_millis(get(
                "body_timeout",
                millis,
                d.body_timeout.as_millis() as u64,
            )?),
            max_connections: get("max_connections", bytes, d.max_connections as u64)? as usize,
        };
        let too_small = |k: &str, value: u64, min: u64| HttpConfigError::TooSmall {
            key: format!("{section}.{k}"),
            value,
            min,
        };
        if l.max_header_size < MIN_HEADER_SIZE {
            return Err(too_small(
                "max_header_size",
                l.max_header_size as u64,
                MIN_HEADER_SIZE as u64,
            ));
        }
        if l.max_connections == 0 {
            return Err(too_small("max_connections", 0, 1));
        }
        Ok(l)
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
        assert_eq!(s.static_dir, None);
    }

    #[test]
    fn static_dir_is_read_and_a_missing_one_warned_about() {
        let dir = std::env::temp_dir();
        let tree = json!({"worker": {"controller": {"static_dir": dir.to_str().unwrap()}}});
        let mut warnings = vec![];
        let s = HttpSettings::from_tree(&tree, &mut warnings).unwrap();
        assert_eq!(s.static_dir.as_deref(), Some(dir.as_path()));
        assert!(warnings.is_empty(), "{warnings:?}");
        let tree = json!({"worker": {"controller": {"static_dir": "/nonexistent/www"}}});
        let s = HttpSettings::from_tree(&tree, &mut warnings).unwrap();
        assert_eq!(s.static_dir, Some(PathBuf::from("/nonexistent/www")));
        assert!(warnings[0].contains("not a directory"), "{warnings:?}");
        let empty = json!({"worker": {"controller": {"static_dir": ""}}});
        let s = HttpSettings::from_tree(&empty, &mut vec![]).unwrap();
        assert_eq!(s.static_dir, None);
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
