//! The auth modules' sections (`spf`, `dkim`, `dmarc`, `arc`, read from Rspamd's
//! `local.d/<module>.conf`) and `options.local_addrs`, as typed settings.
//!
//! Of each module's keys, sluice reads `enabled`, `check_local` and `check_authed` (also read
//! from `options`, as Rspamd falls back there; the phase ignores the last two for `arc`, which
//! Rspamd runs on every message); `dmarc` adds `actions`. Rspamd's other keys
//! (caches, whitelists, reporting) are accepted and have no effect.

use ipnet::IpNet;
use serde_json::Value;

use super::super::ScanConfigError;
use crate::config::rules::parse_effect;
use crate::config::value;
use crate::verdict::Action;

/// Whether a module runs, and for whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModuleSwitch {
    pub enabled: bool,
    /// Check mail from `local_addrs` too (Rspamd's `check_local`, off by default).
    pub check_local: bool,
    /// Check mail of authenticated users too (Rspamd's `check_authed`, off by default).
    pub check_authed: bool,
}

/// DMARC's forced actions per failed policy (`actions { reject = "..."; quarantine = "..."; }`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DmarcActions {
    pub reject: Option<Action>,
    pub quarantine: Option<Action>,
}

/// Everything the auth phase reads from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    pub spf: ModuleSwitch,
    pub dkim: ModuleSwitch,
    pub dmarc: ModuleSwitch,
    pub arc: ModuleSwitch,
    pub dmarc_actions: DmarcActions,
    pub local_addrs: Vec<IpNet>,
}

impl AuthSettings {
    pub fn from_tree(tree: &Value) -> Result<AuthSettings, ScanConfigError> {
        let options = tree.get("options");
        let module = |name: &str| switch(tree.get(name), options, name);
        Ok(AuthSettings {
            spf: module("spf")?,
            dkim: module("dkim")?,
            dmarc: module("dmarc")?,
            arc: module("arc")?,
            dmarc_actions: dmarc_actions(tree.get("dmarc"))?,
            local_addrs: local_addrs(options)?,
        })
    }

    /// Whether `ip` is one of `local_addrs`.
    pub fn is_local(&self, ip: std::net::IpAddr) -> bool {
        self.local_addrs.iter().any(|net| net.contains(&ip))
    }

    pub fn any_enabled(&self) -> bool {
        [self.spf, self.dkim, self.dmarc, self.arc]
            .iter()
            .any(|m| m.enabled)
    }
}

fn bad(section: &str, key: &str, want: &str) -> ScanConfigError {
    ScanConfigError::Auth {
        section: section.to_string(),
        reason: format!("`{key}` must be {want}"),
    }
}

fn flag(
    section: Option<&Value>,
    fallback: Option<&Value>,
    key: &str,
    name: &str,
    default: bool,
) -> Result<bool, ScanConfigError> {
    for (v, at) in [(section, name), (fallback, "options")] {
        if let Some(x) = v.and_then(|s| s.get(key)) {
            return value::boolean(x).map_err(|w| bad(at, key, w));
        }
    }
    Ok(default)
}

fn switch(
    section: Option<&Value>,
    options: Option<&Value>,
    name: &str,
) -> Result<ModuleSwitch, ScanConfigError> {
    Ok(ModuleSwitch {
        enabled: flag(section, None, "enabled", name, true)?,
        check_local: flag(section, options, "check_local", name, false)?,
        check_authed: flag(section, options, "check_authed", name, false)?,
    })
}

fn dmarc_actions(dmarc: Option<&Value>) -> Result<DmarcActions, ScanConfigError> {
    let Some(actions) = dmarc.and_then(|d| d.get("actions")) else {
        return Ok(DmarcActions::default());
    };
    let get = |key: &str| -> Result<Option<Action>, ScanConfigError> {
        let Some(v) = actions.get(key) else {
            return Ok(None);
        };
        let name = value::string(v).map_err(|w| bad("dmarc.actions", key, w))?;
        parse_effect(&name).map(Some).ok_or_else(|| {
            bad(
                "dmarc.actions",
                key,
                "an action name (reject, add header, ...)",
            )
        })
    };
    Ok(DmarcActions {
        reject: get("reject")?,
        quarantine: get("quarantine")?,
    })
}

fn local_addrs(options: Option<&Value>) -> Result<Vec<IpNet>, ScanConfigError> {
    crate::config::local_addrs::read(options).map_err(|w| bad("options", "local_addrs", w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn modules_are_on_and_skip_local_and_authenticated_mail_by_default() {
        let s = AuthSettings::from_tree(&json!({})).unwrap();
        assert!(s.spf.enabled && !s.spf.check_local && !s.spf.check_authed);
        assert!(s.is_local("10.1.2.3".parse().unwrap()));
        assert!(s.is_local("127.0.0.1".parse().unwrap()));
        assert!(!s.is_local("192.0.2.1".parse().unwrap()));
        assert_eq!(s.dmarc_actions, DmarcActions::default());
    }

    #[test]
    fn module_keys_win_over_options() {
        let s = AuthSettings::from_tree(&json!({
            "options": {"check_local": true, "local_addrs": ["192.0.2.0/24", "2001:db8::1"]},
            "spf": {"check_local": false},
            "dkim": {"enabled": false},
            "dmarc": {"actions": {"reject": "reject", "quarantine": "add header"}},
        }))
        .unwrap();
        assert!(!s.spf.check_local);
        assert!(s.dmarc.check_local);
        assert!(!s.dkim.enabled);
        assert_eq!(s.dmarc_actions.reject, Some(Action::Reject));
        assert_eq!(s.dmarc_actions.quarantine, Some(Action::AddHeader));
        assert!(s.is_local("192.0.2.9".parse().unwrap()));
        assert!(!s.is_local("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn bad_values_name_their_section() {
        let e = AuthSettings::from_tree(&json!({"arc": {"enabled": "maybe"}})).unwrap_err();
        assert!(e.to_string().contains("arc"), "{e}");
        let e = AuthSettings::from_tree(&json!({"options": {"local_addrs": ["nonsense"]}}))
            .unwrap_err();
        assert!(e.to_string().contains("local_addrs"), "{e}");
    }
}
