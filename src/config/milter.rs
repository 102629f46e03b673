//! The `milter` section: how sluice talks to the MTA. Key names follow Rspamd's proxy worker
//! (`worker-proxy.inc`) where one exists, so an admin's `local.d/worker-proxy.inc` carries over;
//! keys sluice does not implement are accepted with a warning rather than refused.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use super::error::ConfigError;
use super::listen::ListenAddr;
use super::ucl::Location;
use super::value::{self, Expected};

/// What to do with a message larger than `max_message`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OversizeAction {
    /// Let it through unscanned (as spamc does for large mail).
    #[default]
    Accept,
    /// `452 4.3.4`: the sender may retry later (or elsewhere).
    Tempfail,
    /// `552 5.3.4`: permanently refused.
    Reject,
}

/// What a milter session obeys: the `milter` section minus the listeners.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSettings {
    /// Longest wait from connect to the end of option negotiation: an MTA
    /// negotiates as soon as it connects.
    pub negotiate_timeout: Duration,
    /// Longest wait for the next packet outside a message (before MAIL and
    /// between messages), when none has started to arrive (Rspamd's `timeout`).
    pub idle_timeout: Duration,
    /// Longest wait for the next packet inside a message. Longer than
    /// outside one: Postfix and Sendmail send the headers only once the
    /// SMTP client has sent the whole message, so a large message on a slow
    /// link is a long silence after DATA.
    pub message_timeout: Duration,
    /// Longest time a session may spend outside messages in one stretch
    /// (since connect, or since its last message ended), however it keeps
    /// sending: a session must make progress.
    pub idle_lifetime: Duration,
    /// Longest time one message may take from MAIL to its end.
    pub message_lifetime: Duration,
    /// Longest time one packet may take to arrive once it has started:
    /// bounds slow senders. Not a key: [`COMMAND_TIMEOUT`], at most `timeout`.
    pub command_timeout: Duration,
    /// Largest packet payload accepted; checked before allocation.
    pub max_packet: usize,
    /// Largest message scanned (`milter.max_message`, else `options.max_message`).
    pub max_message: usize,
    pub oversize_action: OversizeAction,
    /// Ask for a reply to every body chunk (no `SMFIP_NR_BODY`) so that an
    /// oversize message is answered at the chunk that crossed `max_message`.
    /// Off by default: that reply is a round trip per message (the MTA waits
    /// for it before end of message), paid by every message for the sake of
    /// the rare one larger than `max_message`, which is then answered at end
    /// of message instead.
    pub early_oversize: bool,
    /// Deadline for one scan (`milter.scan_timeout`, else
    /// `options.task_timeout`); past it the message is answered by policy.
    pub scan_timeout: Duration,
    /// Accept (with a header) instead of tempfail when a scan fails.
    pub fail_open: bool,
    /// Interval of `p` keepalives while a scan runs.
    pub progress_interval: Duration,
    /// On shutdown: how long a message in flight may take before it is
    /// answered with tempfail.
    pub shutdown_grace: Duration,
    pub discard_on_reject: bool,
    pub quarantine_on_reject: bool,
    pub spam_header: String,
    pub reject_message: String,
    pub tempfail_message: String,
    pub quarantine_message: String,
}

/// Longest time one packet may take to arrive once it has started, unless
/// `timeout` is shorter.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            negotiate_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            message_timeout: Duration::from_secs(600),
            idle_lifetime: Duration::from_secs(600),
            message_lifetime: Duration::from_secs(3600),
            command_timeout: COMMAND_TIMEOUT,
            max_packet: 1 << 20,
            max_message: 50 << 20,
            oversize_action: OversizeAction::Accept,
            early_oversize: false,
            scan_timeout: Duration::from_secs(8),
            fail_open: false,
            progress_interval: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
            discard_on_reject: false,
            quarantine_on_reject: false,
            spam_header: "X-Spam".into(),
            reject_message: "Spam message rejected".into(),
            tempfail_message: "Try again later".into(),
            quarantine_message: "Spam message quarantined".into(),
        }
    }
}

/// Validated milter settings: the listeners, and what each session obeys.
#[derive(Debug, Clone, PartialEq)]
pub struct MilterSettings {
    /// Where to listen; `bind_socket` may be a string or an array.
    pub bind_socket: Vec<ListenAddr>,
    /// Permissions of unix sockets.
    pub socket_mode: u32,
    /// Concurrent sessions; at the cap, the oldest session outside a
    /// message is closed for each new connection.
    pub max_sessions: usize,
    pub session: SessionSettings,
}

impl Default for MilterSettings {
    fn default() -> Self {
        MilterSettings {
            bind_socket: vec![ListenAddr::Tcp(([127, 0, 0, 1], 11332).into())],
            socket_mode: 0o660,
            max_sessions: 1024,
            session: SessionSettings::default(),
        }
    }
}

/// Rspamd proxy-worker keys that sluice accepts but does not act on.
const RSPAMD_IGNORED: &[&str] = &[
    "count",
    "script",
    "keypair",
    "encrypted_only",
    "ssl",
    "ssl_ca_path",
    "ssl_ciphers",
    "session_cache",
    "enabled",
    "max_files",
    "max_core",
    "rlimit_nofile",
    "rlimit_maxcore",
    "task_timeout",
    "spam_header_value",
    "reply_header",
];

/// Reads settings from the merged tree, pushing warnings for ignored and unknown keys.
pub struct SettingsReader<'a> {
    positions: &'a BTreeMap<String, Location>,
    warnings: &'a mut Vec<String>,
}

impl<'a> SettingsReader<'a> {
    pub fn new(positions: &'a BTreeMap<String, Location>, warnings: &'a mut Vec<String>) -> Self {
        SettingsReader {
            positions,
            warnings,
        }
    }

    fn location(&self, key: &str) -> String {
        self.positions
            .get(key)
            .map_or_else(|| "default".to_string(), Location::to_string)
    }

    fn invalid(&self, key: &str, message: String) -> ConfigError {
        ConfigError::Invalid {
            location: self.location(key),
            key: key.to_string(),
            message,
        }
    }

    /// Converts a value, naming the key and its location on failure.
    fn get<T>(
        &self,
        key: &str,
        v: &Value,
        f: fn(&Value) -> Result<T, Expected>,
    ) -> Result<T, ConfigError> {
        f(v).map_err(|want| self.invalid(key, format!("expected {want}, got {v}")))
    }

    fn warn(&mut self, key: &str, message: &str) {
        let line = format!("{}: {key}: {message}", self.location(key));
        self.warnings.push(line);
    }

    /// The settings for `tree` (the whole merged configuration).
    pub fn milter(&mut self, tree: &Value) -> Result<MilterSettings, ConfigError> {
        let mut s = MilterSettings::default();
        let options = section(tree, "options").map_err(|m| self.invalid("options", m))?;
        if let Some(v) = options.get("max_message") {
            s.session.max_message = self.get("options.max_message", v, value::size)?;
        }
        if let Some(v) = options.get("task_timeout") {
            s.session.scan_timeout = self.get("options.task_timeout", v, value::duration)?;
        }
        let milter = section(tree, "milter").map_err(|m| self.invalid("milter", m))?;
        // `bind_socket` last: its ` mode=…` suffix must win over `socket_mode`.
        let (bind, rest): (Vec<_>, Vec<_>) = milter.iter().partition(|(k, _)| *k == "bind_socket");
        for (key, v) in rest.into_iter().chain(bind) {
            self.apply(&mut s, key, v)?;
        }
        s.session.command_timeout = COMMAND_TIMEOUT.min(s.session.idle_timeout);
        Ok(s)
    }

    fn apply(&mut self, s: &mut MilterSettings, key: &str, v: &Value) -> Result<(), ConfigError> {
        let k = format!("milter.{key}");
        let k = k.as_str();
        match key {
            "bind_socket" => self.bind_socket(s, k, v)?,
            "socket_mode" => s.socket_mode = self.get(k, v, socket_mode)?,
            "timeout" => s.session.idle_timeout = self.get(k, v, value::duration)?,
            "negotiate_timeout" => s.session.negotiate_timeout = self.get(k, v, value::duration)?,
            "message_timeout" => s.session.message_timeout = self.get(k, v, value::duration)?,
            "idle_lifetime" => s.session.idle_lifetime = self.get(k, v, value::duration)?,
            "message_lifetime" => s.session.message_lifetime = self.get(k, v, value::duration)?,
            "max_sessions" => s.max_sessions = self.get(k, v, value::size)?,
            "max_packet" => s.session.max_packet = self.get(k, v, value::size)?,
            "max_message" => s.session.max_message = self.get(k, v, value::size)?,
            "oversize_action" => s.session.oversize_action = self.get(k, v, oversize_action)?,
            "early_oversize" => s.session.early_oversize = self.get(k, v, value::boolean)?,
            "scan_timeout" => s.session.scan_timeout = self.get(k, v, value::duration)?,
            "fail_open" => s.session.fail_open = self.get(k, v, value::boolean)?,
            "progress_interval" => s.session.progress_interval = self.get(k, v, value::duration)?,
            "shutdown_grace" => s.session.shutdown_grace = self.get(k, v, value::duration)?,
            "discard_on_reject" => s.session.discard_on_reject = self.get(k, v, value::boolean)?,
            "quarantine_on_reject" => {
                s.session.quarantine_on_reject = self.get(k, v, value::boolean)?
            }
            "spam_header" => s.session.spam_header = self.get(k, v, value::string)?,
            "reject_message" => s.session.reject_message = self.get(k, v, value::string)?,
            "tempfail_message" => s.session.tempfail_message = self.get(k, v, value::string)?,
            "quarantine_message" => s.session.quarantine_message = self.get(k, v, value::string)?,
            "milter" => {
                if !self.get(k, v, value::boolean)? {
                    self.warn(k, "sluice always speaks milter; `milter = no` is ignored");
                }
            }
            // Read by `forward::ForwardSettings` (forward mode), which validates them.
            "upstream" | "mirror" | "self_scan" | "max_retries" => {}
            _ if RSPAMD_IGNORED.contains(&key) => self.warn(k, "not implemented yet, ignored"),
            _ => self.warn(k, "unknown key, ignored"),
        }
        Ok(())
    }

    /// Addresses, each optionally followed by Rspamd's ` mode=0666` style options.
    fn bind_socket(
        &mut self,
        s: &mut MilterSettings,
        k: &str,
        v: &Value,
    ) -> Result<(), ConfigError> {
        s.bind_socket.clear();
        for entry in self.get(k, v, value::strings)? {
            let mut words = entry.split_whitespace();
            let addr = words.next().unwrap_or("");
            let parsed = addr
                .parse()
                .map_err(|e: super::listen::ListenAddrError| self.invalid(k, e.to_string()))?;
            s.bind_socket.push(parsed);
            for option in words {
                match option.strip_prefix("mode=") {
                    Some(mode) => {
                        s.socket_mode = self.get(k, &Value::String(mode.into()), socket_mode)?
                    }
                    None => self.warn(
                        k,
                        &format!("socket option `{option}` not implemented yet, ignored"),
                    ),
                }
            }
        }
        if s.bind_socket.is_empty() {
            return Err(self.invalid(k, "no listen address given".into()));
        }
        Ok(())
    }
}

/// The object at `tree[name]`; absent is empty, anything but an object is an error.
fn section<'v>(tree: &'v Value, name: &str) -> Result<&'v Map<String, Value>, String> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    match tree.get(name) {
        None => Ok(EMPTY.get_or_init(Map::new)),
        Some(Value::Object(map)) => Ok(map),
        Some(other) => Err(format!("expected a section `{name} {{ … }}`, got {other}")),
    }
}

/// `"0660"` or `0660` (which UCL reads as the decimal 660): the digits are octal either way.
fn socket_mode(v: &Value) -> Result<u32, Expected> {
    const WANT: Expected = "an octal file mode such as \"0660\"";
    let digits = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_u64() => n.to_string(),
        _ => return Err(WANT),
    };
    match u32::from_str_radix(digits.trim_start_matches("0o"), 8) {
        Ok(mode) if mode <= 0o7777 => Ok(mode),
        _ => Err(WANT),
    }
}

fn oversize_action(v: &Value) -> Result<OversizeAction, Expected> {
    match v.as_str().map(str::to_ascii_lowercase).as_deref() {
        Some("accept") => Ok(OversizeAction::Accept),
        Some("tempfail") => Ok(OversizeAction::Tempfail),
        Some("reject") => Ok(OversizeAction::Reject),
        _ => Err("one of accept, tempfail, reject"),
    }
}
