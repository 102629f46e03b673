//! The `hfilter` section (Rspamd's `local.d/hfilter.conf`): which groups
//! of checks run, and whether local and authenticated mail is checked.
use ipnet::IpNet;
use serde_json::Value;

use crate::config::value;
use crate::scan::error::ScanConfigError;

/// The module's switches; defaults are those of Rspamd's shipped
/// `modules.d/hfilter.conf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `helo_enabled`: the HELO name checks (and the bounce check, which
    /// needs the HELO).
    pub helo: bool,
    /// `hostname_enabled`: the client's reverse name.
    pub hostname: bool,
    /// `from_enabled`: the envelope sender.
    pub from: bool,
    /// `rcpt_enabled`: bounces to several recipients.
    pub rcpt: bool,
    /// `mid_enabled`: the Message-ID's host (off in Rspamd's defaults).
    pub mid: bool,
    /// `url_enabled`: bodies that are little more than a link.
    pub url: bool,
    /// `check_local`: check mail from `local_addrs` too.
    pub check_local: bool,
    /// `check_authed`: check mail of authenticated senders too.
    pub check_authed: bool,
    /// `options.local_addrs`.
    pub local_addrs: Vec<IpNet>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings::from_config(None, None).expect("defaults are valid")
    }
}

impl Settings {
    /// Reads `section` (the module's keys), falling back to `options` for
    /// `check_local`, `check_authed` and `local_addrs`, as Rspamd does.
    pub fn from_config(
        section: Option<&Value>,
        options: Option<&Value>,
    ) -> Result<Settings, ScanConfigError> {
        let own = |key: &str, default: bool| flag(section, None, key, default);
        let either = |key: &str| flag(section, options, key, false);
        Ok(Settings {
            helo: own("helo_enabled", true)?,
            hostname: own("hostname_enabled", true)?,
            from: own("from_enabled", true)?,
            rcpt: own("rcpt_enabled", true)?,
            mid: own("mid_enabled", false)?,
            url: own("url_enabled", true)?,
            check_local: either("check_local")?,
            check_authed: either("check_authed")?,
            local_addrs: local_addrs(options)?,
        })
    }

    /// Whether `ip` is one of `local_addrs`.
    pub fn is_local(&self, ip: std::net::IpAddr) -> bool {
        self.local_addrs.iter().any(|net| net.contains(&ip))
    }
}

fn bad(section: &str, key: &str, want: &str) -> ScanConfigError {
    ScanConfigError::Module {
        key: format!("{section}.{key}"),
        want: want.to_string(),
    }
}

fn flag(
    section: Option<&Value>,
    fallback: Option<&Value>,
    key: &str,
    default: bool,
) -> Result<bool, ScanConfigError> {
    for (v, at) in [(section, "hfilter"), (fallback, "options")] {
        if let Some(x) = v.and_then(|s| s.get(key)) {
            return value::boolean(x).map_err(|w| bad(at, key, w));
        }
    }
    Ok(default)
}

fn local_addrs(options: Option<&Value>) -> Result<Vec<IpNet>, ScanConfigError> {
    crate::config::local_addrs::read(options).map_err(|w| bad("options", "local_addrs", w))
}
