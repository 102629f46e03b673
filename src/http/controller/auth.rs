//! The controller's password check, with Rspamd's semantics:
//!
//! - unix-socket peers and `secure_ip` networks pass without a password
//!   (unless `X-Forwarded-For`/`X-Real-IP` names a client outside them);
//! - the password comes from the `Password` header or the `password`
//!   query parameter; Rspamd's shipped placeholders `q1`/`q2` never match;
//! - read endpoints accept `password` or `enable_password`; privileged ones
//!   need `enable_password`, or `password` when no enable password is set;
//! - without any password given, access is granted only when no
//!   `secure_ip` is configured and no password guards that level;
//! - a configured password is plain text or a hash from `rspamadm pw`
//!   ([`super::password`]), never compared as text when it is a hash.
use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::http::AccessSettings;
use crate::http::shared::Peer;

/// What an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Read,
    Enable,
}

/// The outcome: refused, or granted with or without privileges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Denied,
    /// `read_only` is reported by `/stat` and `/auth`.
    Granted {
        read_only: bool,
    },
}

/// The request's credentials, as the controller found them.
#[derive(Debug, Clone, Default)]
pub struct Credentials<'a> {
    pub password: Option<&'a str>,
    /// The client named by `X-Forwarded-For` / `X-Real-IP`, if any.
    pub forwarded_for: Option<IpAddr>,
}

/// Decides one request.
pub fn check(s: &AccessSettings, peer: &Peer, c: &Credentials<'_>, level: Level) -> Access {
    if peer.unix || is_secure(s, peer, c) {
        return Access::Granted { read_only: false };
    }
    let Some(given) = c.password else {
        let open = s.secure_ip.is_none()
            && match level {
                Level::Read => s.password.is_none(),
                Level::Enable => s.password.is_none() && s.enable_password.is_none(),
            };
        return if open {
            Access::Granted {
                read_only: s.enable_password.is_some(),
            }
        } else {
            Access::Denied
        };
    };
    if given == "q1" || given == "q2" {
        return Access::Denied;
    }
    let matches = |want: &Option<String>| {
        want.as_deref()
            .is_some_and(|w| super::password::verify(w, given))
    };
    match level {
        Level::Enable => {
            let ok = match &s.enable_password {
                Some(_) => matches(&s.enable_password),
                None => matches(&s.password),
            };
            if ok {
                Access::Granted { read_only: false }
            } else {
                Access::Denied
            }
        }
        Level::Read => {
            if matches(&s.enable_password) || (s.enable_password.is_none() && matches(&s.password))
            {
                Access::Granted { read_only: false }
            } else if matches(&s.password) {
                Access::Granted { read_only: true }
            } else {
                Access::Denied
            }
        }
    }
}

fn is_secure(s: &AccessSettings, peer: &Peer, c: &Credentials<'_>) -> bool {
    let Some(nets) = &s.secure_ip else {
        return false;
    };
    let inside = |ip: &IpAddr| nets.iter().any(|n: &IpNet| n.contains(&canonical(*ip)));
    let Some(ip) = peer.ip else {
        return false;
    };
    inside(&ip) && c.forwarded_for.as_ref().map_or(true, inside)
}

/// `::ffff:127.0.0.1` (a v4 client on a dual-stack socket) counts as v4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(ip: &str) -> Peer {
        Peer {
            ip: Some(ip.parse().unwrap()),
            unix: false,
        }
    }

    fn settings(pw: Option<&str>, en: Option<&str>, secure: Option<&[&str]>) -> AccessSettings {
        AccessSettings {
            password: pw.map(str::to_string),
            enable_password: en.map(str::to_string),
            secure_ip: secure.map(|l| l.iter().map(|s| s.parse().unwrap()).collect()),
        }
    }

    fn with(pw: &str) -> Credentials<'_> {
        Credentials {
            password: Some(pw),
            forwarded_for: None,
        }
    }

    const RO: Access = Access::Granted { read_only: true };
    const RW: Access = Access::Granted { read_only: false };

    #[test]
    fn read_and_enable_passwords() {
        let s = settings(Some("r"), Some("e"), None);
        let p = tcp("192.0.2.1");
        assert_eq!(check(&s, &p, &with("r"), Level::Read), RO);
        assert_eq!(check(&s, &p, &with("e"), Level::Read), RW);
        assert_eq!(check(&s, &p, &with("r"), Level::Enable), Access::Denied);
        assert_eq!(check(&s, &p, &with("e"), Level::Enable), RW);
        assert_eq!(check(&s, &p, &with("x"), Level::Read), Access::Denied);
        assert_eq!(
            check(&s, &p, &Credentials::default(), Level::Read),
            Access::Denied
        );
    }

    #[test]
    fn hashed_passwords_from_rspamadm() {
        // `rspamadm pw -p readpw`, `rspamadm pw -t pbkdf2 -p enablepw`.
        let read = "$2$ardytcpp1igfoy7ztsgychgrmo4ox3q3$t64rczetmgm1t6ee8ott5degppj9no9bxenhampeytta9jab6akb";
        let enable = "$1$ytz3haksu61qrrbbsc8ph4c783of5ncf$q7xh9c3nccmf4rw47u7h63w5y7u7bbo9kdeqyk6iapx95uc7yfsb";
        let s = settings(Some(read), Some(enable), None);
        let p = tcp("192.0.2.1");
        assert_eq!(check(&s, &p, &with("readpw"), Level::Read), RO);
        assert_eq!(check(&s, &p, &with("enablepw"), Level::Read), RW);
        assert_eq!(check(&s, &p, &with("enablepw"), Level::Enable), RW);
        assert_eq!(
            check(&s, &p, &with("readpw"), Level::Enable),
            Access::Denied
        );
        // The hash string itself is no password.
        assert_eq!(check(&s, &p, &with(read), Level::Read), Access::Denied);
        assert_eq!(check(&s, &p, &with(enable), Level::Enable), Access::Denied);
    }

    #[test]
    fn password_alone_is_privileged_legacy_mode() {
        let s = settings(Some("r"), None, None);
        let p = tcp("192.0.2.1");
        assert_eq!(check(&s, &p, &with("r"), Level::Enable), RW);
        assert_eq!(check(&s, &p, &with("r"), Level::Read), RW);
    }

    #[test]
    fn placeholders_are_refused_even_when_configured() {
        let s = settings(Some("q1"), Some("q2"), None);
        let p = tcp("192.0.2.1");
        assert_eq!(check(&s, &p, &with("q1"), Level::Read), Access::Denied);
        assert_eq!(check(&s, &p, &with("q2"), Level::Enable), Access::Denied);
    }

    #[test]
    fn secure_ip_and_unix_skip_the_check() {
        let s = settings(Some("r"), Some("e"), Some(&["127.0.0.1/32", "10.0.0.0/8"]));
        assert_eq!(
            check(&s, &tcp("10.1.2.3"), &Credentials::default(), Level::Enable),
            RW
        );
        assert_eq!(
            check(
                &s,
                &tcp("::ffff:127.0.0.1"),
                &Credentials::default(),
                Level::Enable
            ),
            RW
        );
        let unix = Peer {
            ip: None,
            unix: true,
        };
        assert_eq!(check(&s, &unix, &Credentials::default(), Level::Enable), RW);
        let forwarded = Credentials {
            password: None,
            forwarded_for: Some("203.0.113.9".parse().unwrap()),
        };
        assert_eq!(
            check(&s, &tcp("10.1.2.3"), &forwarded, Level::Read),
            Access::Denied
        );
    }

    #[test]
    fn no_password_configured() {
        let open = settings(None, None, None);
        let p = tcp("192.0.2.1");
        assert_eq!(check(&open, &p, &Credentials::default(), Level::Enable), RW);
        // With secure_ip configured, outsiders need a password that does not exist.
        let guarded = settings(None, None, Some(&["127.0.0.1/32"]));
        assert_eq!(
            check(&guarded, &p, &Credentials::default(), Level::Read),
            Access::Denied
        );
        // Only an enable password: reads are open, privileged calls are not.
        let en = settings(None, Some("e"), None);
        assert_eq!(check(&en, &p, &Credentials::default(), Level::Read), RO);
        assert_eq!(
            check(&en, &p, &Credentials::default(), Level::Enable),
            Access::Denied
        );
    }
}
