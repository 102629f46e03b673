//! The `logging` section, validated: Rspamd's keys (`type`, `filename`,
//! `level`, `facility`, `debug_ip`) plus `format` for JSON lines. Read once
//! into [`Config`](super::Config); `log/` builds the outputs from it.
use std::net::IpAddr;
use std::path::PathBuf;

use serde_json::Value;

/// The local syslog socket, as glibc's `syslog(3)` uses it.
const DEV_LOG: &str = "/dev/log";

/// The syslog facilities an admin may pick (RFC 5424, table 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogFacility {
    Mail,
    Daemon,
    User,
    Local(u8),
}

impl SyslogFacility {
    pub fn parse(s: &str) -> Option<SyslogFacility> {
        let s = s.to_ascii_lowercase();
        let s = s.strip_prefix("log_").unwrap_or(&s);
        Some(match s {
            "mail" => SyslogFacility::Mail,
            "daemon" => SyslogFacility::Daemon,
            "user" => SyslogFacility::User,
            _ => {
                let n: u8 = s.strip_prefix("local")?.parse().ok()?;
                (n <= 7).then_some(SyslogFacility::Local(n))?
            }
        })
    }

    /// The facility's number in a syslog priority.
    pub fn code(self) -> u8 {
        match self {
            SyslogFacility::User => 1,
            SyslogFacility::Mail => 2,
            SyslogFacility::Daemon => 3,
            SyslogFacility::Local(n) => 16 + n,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogKind {
    Console,
    File(PathBuf),
    Syslog {
        socket: PathBuf,
        facility: SyslogFacility,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Rspamd's level names; `notice` has no `tracing` twin and maps to info.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Silent,
    Error,
    Warning,
    Notice,
    Info,
    Debug,
}

impl LogLevel {
    fn parse(s: &str) -> Option<LogLevel> {
        Some(match s.to_ascii_lowercase().as_str() {
            "silent" => LogLevel::Silent,
            "error" => LogLevel::Error,
            "warning" | "warn" => LogLevel::Warning,
            "notice" => LogLevel::Notice,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            _ => return None,
        })
    }

    /// The `EnvFilter` directive for this level.
    pub fn directive(self) -> &'static str {
        match self {
            LogLevel::Silent => "off",
            LogLevel::Error => "error",
            LogLevel::Warning => "warn",
            LogLevel::Notice | LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub kind: LogKind,
    pub format: LogFormat,
    pub level: LogLevel,
    /// SMTP clients whose milter exchange is logged at debug level.
    pub debug_ips: Vec<IpAddr>,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            kind: LogKind::Console,
            format: LogFormat::Text,
            level: LogLevel::Info,
            debug_ips: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LogConfigError {
    #[error("logging.type = {0:?}: expected \"console\", \"file\" or \"syslog\"")]
    Type(String),
    #[error("logging.type = \"file\" needs logging.filename")]
    NoFilename,
    #[error("logging.level = {0:?}: expected silent, error, warning, notice, info or debug")]
    Level(String),
    #[error("logging.format = {0:?}: expected \"text\" or \"json\"")]
    Format(String),
    #[error("logging.facility = {0:?}: not a syslog facility")]
    Facility(String),
    #[error("logging.debug_ip: {0:?} is not an IP address")]
    DebugIp(String),
    #[error("logging.{key}: expected {expected}")]
    Shape {
        key: &'static str,
        expected: &'static str,
    },
}

impl super::SettingError for LogConfigError {
    fn key(&self) -> Option<String> {
        let key = match self {
            LogConfigError::Type(_) | LogConfigError::NoFilename => "type",
            LogConfigError::Level(_) => "level",
            LogConfigError::Format(_) => "format",
            LogConfigError::Facility(_) => "facility",
            LogConfigError::DebugIp(_) => "debug_ip",
            LogConfigError::Shape { key, .. } => key,
        };
        Some(format!("logging.{key}"))
    }
}

impl LogSettings {
    /// Reads the `logging` section of the merged tree; absent keys keep
    /// the defaults (stderr, text, info).
    pub fn from_tree(tree: &Value) -> Result<LogSettings, LogConfigError> {
        let Some(sec) = tree.get("logging") else {
            return Ok(LogSettings::default());
        };
        let level = match str_key(sec, "level")? {
            None => LogLevel::Info,
            Some(l) => LogLevel::parse(l).ok_or_else(|| LogConfigError::Level(l.into()))?,
        };
        let format = match str_key(sec, "format")? {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(f) => return Err(LogConfigError::Format(f.into())),
        };
        Ok(LogSettings {
            kind: kind(sec)?,
            format,
            level,
            debug_ips: debug_ips(sec.get("debug_ip"))?,
        })
    }
}

fn kind(sec: &Value) -> Result<LogKind, LogConfigError> {
    Ok(match str_key(sec, "type")? {
        None | Some("console") => LogKind::Console,
        Some("file") => {
            let f = str_key(sec, "filename")?.ok_or(LogConfigError::NoFilename)?;
            LogKind::File(PathBuf::from(f))
        }
        Some("syslog") => {
            let facility = match str_key(sec, "facility")? {
                None => SyslogFacility::Mail,
                Some(f) => {
                    SyslogFacility::parse(f).ok_or_else(|| LogConfigError::Facility(f.into()))?
                }
            };
            let socket = str_key(sec, "syslog_socket")?.unwrap_or(DEV_LOG);
            LogKind::Syslog {
                socket: PathBuf::from(socket),
                facility,
            }
        }
        Some(t) => return Err(LogConfigError::Type(t.into())),
    })
}

/// A string key. A key repeated in one file forms an implicit array; the
/// first value counts, as Rspamd's single-value lookups do.
fn str_key<'a>(sec: &'a Value, key: &'static str) -> Result<Option<&'a str>, LogConfigError> {
    let v = match sec.get(key) {
        Some(Value::Array(a)) if !a.is_empty() => a.first(),
        other => other,
    };
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(LogConfigError::Shape {
            key,
            expected: "a string",
        }),
    }
}

/// A single string or a list, as UCL writes either.
fn debug_ips(v: Option<&Value>) -> Result<Vec<IpAddr>, LogConfigError> {
    let items: Vec<&Value> = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(one) => vec![one],
    };
    items
        .into_iter()
        .map(|i| {
            let s = i.as_str().ok_or(LogConfigError::Shape {
                key: "debug_ip",
                expected: "a list of IP addresses",
            })?;
            s.trim()
                .parse()
                .map_err(|_| LogConfigError::DebugIp(s.into()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_without_section() {
        assert_eq!(
            LogSettings::from_tree(&json!({})).unwrap(),
            LogSettings::default()
        );
    }

    #[test]
    fn file_json_debug_ips() {
        let s = LogSettings::from_tree(&json!({"logging": {
            "type": "file", "filename": "/var/log/sluice.log", "format": "json",
            "level": "notice", "debug_ip": ["127.0.0.1", "::1"]}}))
        .unwrap();
        assert_eq!(s.kind, LogKind::File("/var/log/sluice.log".into()));
        assert_eq!(s.format, LogFormat::Json);
        assert_eq!(s.level.directive(), "info");
        assert_eq!(s.debug_ips.len(), 2);
    }

    #[test]
    fn repeated_key_takes_the_first_value() {
        let s = LogSettings::from_tree(&json!({"logging": {"type": ["console", "file"]}}));
        assert_eq!(s.unwrap().kind, LogKind::Console);
    }

    #[test]
    fn syslog_defaults_to_mail_facility_on_dev_log() {
        let s = LogSettings::from_tree(&json!({"logging": {"type": "syslog"}})).unwrap();
        assert_eq!(
            s.kind,
            LogKind::Syslog {
                socket: DEV_LOG.into(),
                facility: SyslogFacility::Mail
            }
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = |v| LogSettings::from_tree(&json!({ "logging": v })).unwrap_err();
        assert_eq!(e(json!({"type": "file"})), LogConfigError::NoFilename);
        assert_eq!(
            e(json!({"type": "pipe"})),
            LogConfigError::Type("pipe".into())
        );
        assert_eq!(
            e(json!({"level": "loud"})),
            LogConfigError::Level("loud".into())
        );
        assert_eq!(
            e(json!({"format": "xml"})),
            LogConfigError::Format("xml".into())
        );
        assert_eq!(
            e(json!({"debug_ip": "nope"})),
            LogConfigError::DebugIp("nope".into())
        );
        assert_eq!(
            e(json!({"type": "syslog", "facility": "kern9"})),
            LogConfigError::Facility("kern9".into())
        );
    }
}
