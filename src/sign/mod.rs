//! Outbound: DKIM signing (Rspamd's `dkim_signing`) and ARC sealing
//! (`arc`), decided after the verdict and added to it as data; the
//! transports only render it (the milter inserts the headers at the top,
//! `/checkv2` returns `dkim-signature`).
//!
//! - [`settings`]: the two sections, typed, with Rspamd 3.4's defaults.
//! - [`select`]: which mail is signed, by which domain, with which keys.
//! - [`key`]: key files (PEM RSA / Ed25519, Rspamd's Ed25519) and their cache.
//! - [`dkim`] and [`arc`]: one signature, one seal.
//! - [`outgoing`]: the message as it leaves (a rewritten Subject in place).
//! - [`keygen`]: `sluice dkim-keygen`.
//!
//! Nothing here needs DNS: an incoming ARC chain is continued with the `cv=`
//! the auth phase's ARC check found (its symbol in the verdict).
pub mod arc;
pub mod dkim;
pub mod error;
pub mod key;
pub mod keygen;
pub mod outgoing;
pub mod select;
pub mod settings;

use std::path::Path;

use serde_json::Value;
use tracing::{debug, info, warn};

pub use error::{KeyError, SignConfigError, SignError};
use key::KeyCache;
use select::{Choice, Facts};
use settings::{Module, SignSettings};

use crate::message::Envelope;
use crate::verdict::{Action, Symbol, Verdict};

/// Symbol Rspamd adds for each DKIM signature made (`domain:s=selector`).
pub const DKIM_SIGNED: &str = "DKIM_SIGNED";
/// Symbol Rspamd adds for each ARC seal made (`domain:s=selector:i=N`).
pub const ARC_SIGNED: &str = "ARC_SIGNED";

/// The configured signing and sealing, with the keys loaded so far.
#[derive(Debug)]
pub struct Signer {
    dkim: Option<SignSettings>,
    arc: Option<SignSettings>,
    /// The `authserv-id` of the `ARC-Authentication-Results` this host writes.
    authserv_id: String,
    keys: KeyCache,
}

impl Signer {
    /// The signer the tree configures; `None` when both modules are off.
    pub fn from_tree(tree: &Value) -> Result<Option<Signer>, SignConfigError> {
        let dkim = SignSettings::from_tree(tree, Module::DkimSigning)?;
        let arc = SignSettings::from_tree(tree, Module::Arc)?;
        if dkim.is_none() && arc.is_none() {
            return Ok(None);
        }
        Ok(Some(Signer {
            dkim,
            arc,
            authserv_id: host_name(),
            keys: KeyCache::default(),
        }))
    }

    /// Adds the signatures and seals the rules ask for to `verdict`. Mail
    /// that is not delivered (reject, soft reject, discard) is not signed.
    pub fn apply(&self, env: &Envelope, message: &[u8], verdict: &mut Verdict) {
        if matches!(
            verdict.action,
            Action::Reject | Action::SoftReject | Action::Discard
        ) {
            return;
        }
        let candidate = |s: &Option<SignSettings>| {
            s.as_ref()
                .is_some_and(|s| select::eligible(s, env.user.as_deref(), env.client_ip))
        };
        if !candidate(&self.dkim) && !candidate(&self.arc) {
            return;
        }
        // Sign what leaves: the MTA applies a Subject rewrite after this.
        let message = &*outgoing::leaving(message, verdict);
        let Some(parsed) = mail_auth::AuthenticatedMessage::parse(message) else {
            return;
        };
        let facts = Facts {
            user: env.user.as_deref(),
            client_ip: env.client_ip,
            env_from: env.from.as_deref(),
            first_rcpt: env.rcpts.first().map(String::as_str),
            header_from: &parsed.from,
        };
        let names: Vec<&[u8]> = parsed.headers.iter().map(|(n, _)| *n).collect();
        if let Some(s) = &self.dkim {
            if let Some(choice) = chosen(s, &facts, Module::DkimSigning) {
                self.sign_dkim(s, &choice, &names, message, verdict);
            }
        }
        if let Some(s) = &self.arc {
            if let Some(choice) = chosen(s, &facts, Module::Arc) {
                let msg = arc::Sealing {
                    parsed: &parsed,
                    names: &names,
                    authserv_id: &self.authserv_id,
                    chain: arc::Chain::of(&verdict.symbols),
                };
                self.seal(s, &choice, &msg, verdict);
            }
        }
    }

    fn sign_dkim(
        &self,
        s: &SignSettings,
        choice: &Choice,
        names: &[&[u8]],
        message: &[u8],
        verdict: &mut Verdict,
    ) {
        let headers = dkim::header_list(&s.sign_headers, names);
        for k in &choice.keys {
            let signed = self
                .keys
                .get(Path::new(&k.path))
                .map_err(SignError::from)
                .and_then(|key| {
                    dkim::sign(key, &choice.domain, &k.selector, headers.clone(), message)
                });
            match signed {
                Ok(value) => {
                    verdict.dkim_signatures.push(value);
                    add_symbol(
                        verdict,
                        DKIM_SIGNED,
                        format!("{}:s={}", choice.domain, k.selector),
                    );
                }
                Err(e) => self.key_failure("dkim_signing", &choice.domain, &e),
            }
        }
    }

    fn seal(
        &self,
        s: &SignSettings,
        choice: &Choice,
        msg: &arc::Sealing<'_>,
        verdict: &mut Verdict,
    ) {
        // One seal per message: the first key that works.
        for k in &choice.keys {
            let sealed = self
                .keys
                .get(Path::new(&k.path))
                .map_err(SignError::from)
                .and_then(|key| arc::seal(key, &choice.domain, &k.selector, &s.sign_headers, msg));
            match sealed {
                Ok(Some(set)) => {
                    let option = format!("{}:s={}:i={}", choice.domain, k.selector, set.instance);
                    verdict.milter.add_headers.extend(set.headers);
                    add_symbol(verdict, ARC_SIGNED, option);
                    return;
                }
                Ok(None) => {
                    debug!(chain = ?msg.chain, "arc: the message's ARC chain is not sealed");
                    return;
                }
                Err(e) => self.key_failure("arc", &choice.domain, &e),
            }
        }
    }
}

fn chosen(s: &SignSettings, facts: &Facts<'_>, module: Module) -> Option<Choice> {
    select::choose(s, facts)
        .map_err(|why| debug!("{}: not signing: {why}", module.section()))
        .ok()
}

impl Signer {
    /// A missing key file is the usual state of a domain not set up for
    /// signing (the default path applies to every domain): said once per
    /// file at info level, then at debug. Anything else is a broken key:
    /// warn.
    fn key_failure(&self, module: &str, domain: &str, e: &SignError) {
        match e {
            SignError::Key(KeyError::Read { source, path })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                if self.keys.first_miss(path) {
                    info!("{module}: no key for {domain}: {e}");
                } else {
                    debug!("{module}: no key for {domain}: {e}");
                }
            }
            _ => warn!("{module}: cannot sign for {domain}: {e}"),
        }
    }
}

/// Adds a zero-weight symbol (or one more option to it), keeping the
/// verdict's order: by |score| descending, then name.
fn add_symbol(verdict: &mut Verdict, name: &str, option: String) {
    if let Some(s) = verdict.symbols.iter_mut().find(|s| s.name == name) {
        s.options.push(option);
        return;
    }
    let at = verdict
        .symbols
        .iter()
        .position(|s| s.score.abs() < f64::EPSILON && s.name.as_str() > name)
        .unwrap_or(verdict.symbols.len());
    verdict.symbols.insert(
        at,
        Symbol {
            name: name.into(),
            score: 0.0,
            metric_score: 0.0,
            description: None,
            options: vec![option],
        },
    );
}

/// This host's name, for `authserv-id`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests;
