//! Which mail is signed, by which domain, with which selectors and keys:
//! Rspamd's `prepare_dkim_signing` rules as a pure function of the message's
//! facts, so each rule is tested without keys or a daemon.
use std::net::IpAddr;

use super::settings::{KeySpec, SignSettings, UseDomain};

/// What the rules look at, taken from the envelope and the `From:` header.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    /// SMTP AUTH user (`{auth_authen}`, HTTP `User`).
    pub user: Option<&'a str>,
    pub client_ip: Option<IpAddr>,
    /// `MAIL FROM`; `Some("")` is the null sender.
    pub env_from: Option<&'a str>,
    pub first_rcpt: Option<&'a str>,
    /// Every address of the `From:` header(s), in order.
    pub header_from: &'a [String],
}

/// The signing domain and its keys, paths already filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub domain: String,
    pub keys: Vec<KeyChoice>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChoice {
    pub selector: String,
    pub path: String,
}

/// Why a message is not signed; logged at debug level only, since most
/// inbound mail is not signed by design.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    #[error("not authenticated, local, in sign_networks or inbound-signed")]
    NotEligible,
    #[error("empty envelope sender not allowed")]
    EmptyEnvFrom,
    #[error("several From addresses not allowed")]
    MultipleFrom,
    #[error("no domain to sign with")]
    NoDomain,
    #[error("From: and envelope domains differ")]
    HdrFromMismatch,
    #[error("the user's domain is not the signing domain")]
    UserMismatch,
    #[error("no key configured for the domain and fallback is off")]
    Unconfigured,
}

/// How the message came in, as Rspamd classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Authenticated,
    SignNetworks,
    Local,
    Inbound,
}

/// Whether `ip` is the host's own or a site network (Rspamd's
/// `ip:is_local()`): loopback, or one of `local_addrs`.
pub fn is_local(s: &SignSettings, ip: Option<IpAddr>) -> bool {
    ip.is_some_and(|ip| ip.is_loopback() || s.local_addrs.iter().any(|n| n.contains(&ip)))
}

/// Whether the mail's origin alone makes it a candidate: checked before
/// the message is parsed, so inbound mail costs nothing when only
/// outbound mail is signed.
pub fn eligible(s: &SignSettings, user: Option<&str>, client_ip: Option<IpAddr>) -> bool {
    let f = Facts {
        user,
        client_ip,
        ..Facts::default()
    };
    origin(s, &f, is_local(s, client_ip)).is_some()
}

fn origin(s: &SignSettings, f: &Facts<'_>, local: bool) -> Option<Origin> {
    let in_networks = f
        .client_ip
        .is_some_and(|ip| s.sign_networks.iter().any(|n| n.contains(&ip)));
    if s.sign_authenticated && f.user.is_some() {
        Some(Origin::Authenticated)
    } else if in_networks {
        Some(Origin::SignNetworks)
    } else if s.sign_local && local {
        Some(Origin::Local)
    } else if s.sign_inbound && !local && f.user.is_none() {
        Some(Origin::Inbound)
    } else {
        None
    }
}

/// The registrable domain (organizational domain, from the Public Suffix
/// List); a name the list cannot split stays as it is.
pub fn esld(domain: &str) -> String {
    crate::message::domain::registrable(domain).to_string()
}

fn domain_of(addr: &str) -> Option<String> {
    let (_, d) = addr.rsplit_once('@')?;
    let d = d.trim_end_matches('>').trim().to_ascii_lowercase();
    (!d.is_empty()).then_some(d)
}

/// Decides whether and how to sign, in Rspamd's order of checks.
pub fn choose(s: &SignSettings, f: &Facts<'_>) -> Result<Choice, Skip> {
    let local = is_local(s, f.client_ip);
    let origin = origin(s, f, local).ok_or(Skip::NotEligible)?;
    let empty_envelope = f.env_from.is_none_or(|e| domain_of(e).is_none());
    if empty_envelope && !s.allow_envfrom_empty {
        return Err(Skip::EmptyEnvFrom);
    }
    if !s.allow_hdrfrom_multiple && f.header_from.len() > 1 {
        return Err(Skip::MultipleFrom);
    }
    let hdom = f.header_from.first().and_then(|a| domain_of(a));
    let edom = f.env_from.and_then(domain_of);
    let udom = f.user.and_then(domain_of);
    let tdom = f.first_rcpt.and_then(domain_of);
    let pick = |u: &UseDomain| match u {
        UseDomain::Header => hdom.clone(),
        UseDomain::Envelope => edom.clone(),
        UseDomain::Auth => udom.clone(),
        UseDomain::Recipient => tdom.clone(),
        UseDomain::Fixed(d) => Some(d.clone()),
    };
    let rule = match origin {
        Origin::SignNetworks => s.use_domain_sign_networks.as_ref(),
        Origin::Local => s.use_domain_sign_local.as_ref(),
        Origin::Inbound => s.use_domain_sign_inbound.as_ref(),
        Origin::Authenticated => None,
    };
    let mut domain = pick(rule.unwrap_or(&s.use_domain)).ok_or(Skip::NoDomain)?;
    let (mut hdom, mut edom) = (hdom, edom);
    if s.use_esld {
        domain = esld(&domain);
        hdom = hdom.map(|d| esld(&d));
        edom = edom.map(|d| esld(&d));
    }
    if let (Some(h), Some(e)) = (&hdom, &edom) {
        let allowed = s.allow_hdrfrom_mismatch
            || (s.allow_hdrfrom_mismatch_local && local)
            || (s.allow_hdrfrom_mismatch_sign_networks && origin == Origin::SignNetworks)
            || empty_envelope;
        if h != e && !allowed {
            return Err(Skip::HdrFromMismatch);
        }
    }
    if f.user.is_some() && !s.allow_username_mismatch {
        let udom = udom.ok_or(Skip::UserMismatch)?;
        let udom = if s.use_esld { esld(&udom) } else { udom };
        if udom != domain {
            return Err(Skip::UserMismatch);
        }
    }
    let keys = keys_for(s, &domain)?;
    Ok(Choice { domain, keys })
}

/// The domain's selectors and key paths: its `domain` entries, then the
/// maps fill what they leave unset, then the section's defaults.
fn keys_for(s: &SignSettings, domain: &str) -> Result<Vec<KeyChoice>, Skip> {
    let mut specs: Vec<KeySpec> = s.domains.get(domain).cloned().unwrap_or_default();
    for (map, is_selector) in [(&s.selector_map, true), (&s.path_map, false)] {
        let Some(value) = map.get(domain) else {
            continue;
        };
        if specs.is_empty() {
            specs.push(KeySpec::default());
        }
        for spec in &mut specs {
            let slot = if is_selector {
                &mut spec.selector
            } else {
                &mut spec.path
            };
            slot.get_or_insert_with(|| value.clone());
        }
    }
    if specs.is_empty() {
        if !s.try_fallback {
            return Err(Skip::Unconfigured);
        }
        specs.push(KeySpec::default());
    }
    Ok(specs
        .into_iter()
        .map(|k| {
            let selector = k.selector.unwrap_or_else(|| s.selector.clone());
            let path = expand(k.path.as_deref().unwrap_or(&s.path), domain, &selector);
            KeyChoice { selector, path }
        })
        .collect())
}

/// Fills Rspamd's `$domain` and `$selector` (also `${domain}`) in a path.
pub fn expand(template: &str, domain: &str, selector: &str) -> String {
    template
        .replace("${domain}", domain)
        .replace("${selector}", selector)
        .replace("$domain", domain)
        .replace("$selector", selector)
}
