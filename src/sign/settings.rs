//! The `dkim_signing` and `arc` sections as typed settings, with the keys
//! and defaults of Rspamd 3.4's modules: one shape for both, since Rspamd's
//! arc module reads its signing keys the way dkim_signing does.
use std::collections::HashMap;

use ipnet::IpNet;
use serde_json::Value;

use super::error::SignConfigError;
use crate::config::value;

/// Which domain signs: Rspamd's `use_domain` (and its `_sign_local`,
/// `_sign_inbound` variants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UseDomain {
    /// The `From:` header's domain.
    Header,
    /// The envelope sender's (`MAIL FROM`).
    Envelope,
    /// The domain part of the SMTP AUTH user.
    Auth,
    /// The first recipient's (arc's default).
    Recipient,
    /// This domain, always.
    Fixed(String),
}

/// One selector and key of a domain: `domain { D { selector; path; } }` or
/// an entry of its `selectors` list. Unset parts come from the maps, then
/// from the section's `selector` and `path`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySpec {
    pub selector: Option<String>,
    pub path: Option<String>,
}

/// One of the two modules' settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SignSettings {
    pub enabled: bool,
    /// Default selector.
    pub selector: String,
    /// Key file template: `$domain` and `$selector` are replaced.
    pub path: String,
    pub domains: HashMap<String, Vec<KeySpec>>,
    pub selector_map: HashMap<String, String>,
    pub path_map: HashMap<String, String>,
    pub sign_authenticated: bool,
    pub sign_local: bool,
    pub sign_inbound: bool,
    pub sign_networks: Vec<IpNet>,
    pub use_domain: UseDomain,
    pub use_domain_sign_local: Option<UseDomain>,
    pub use_domain_sign_inbound: Option<UseDomain>,
    pub use_domain_sign_networks: Option<UseDomain>,
    pub use_esld: bool,
    pub allow_envfrom_empty: bool,
    pub allow_hdrfrom_mismatch: bool,
    pub allow_hdrfrom_mismatch_local: bool,
    pub allow_hdrfrom_mismatch_sign_networks: bool,
    pub allow_hdrfrom_multiple: bool,
    pub allow_username_mismatch: bool,
    /// Sign with the default selector and path when no domain entry or map
    /// names the domain.
    pub try_fallback: bool,
    /// Rspamd's header list syntax: `(o)` oversign, `(x)` oversign when present.
    pub sign_headers: String,
    /// Addresses that count as local (`options.local_addrs`), loopback aside.
    pub local_addrs: Vec<IpNet>,
}

/// Rspamd's default list for DKIM signatures.
pub const DKIM_SIGN_HEADERS: &str = "(o)from:(x)sender:(o)reply-to:(o)subject:(x)date:\
(x)message-id:(o)to:(o)cc:(x)mime-version:(x)content-type:(x)content-transfer-encoding:\
resent-to:resent-cc:resent-from:resent-sender:resent-message-id:(x)in-reply-to:(x)references:\
list-id:list-help:list-owner:list-unsubscribe:list-unsubscribe-post:list-subscribe:list-post:\
(x)openpgp:(x)autocrypt";

/// Rspamd's default list for ARC message signatures (the DKIM list plus
/// `dkim-signature`).
pub const ARC_SIGN_HEADERS: &str = "(o)from:(x)sender:(o)reply-to:(o)subject:(x)date:\
(x)message-id:(o)to:(o)cc:(x)mime-version:(x)content-type:(x)content-transfer-encoding:\
resent-to:resent-cc:resent-from:resent-sender:resent-message-id:(x)in-reply-to:(x)references:\
list-id:list-help:list-owner:list-unsubscribe:list-unsubscribe-post:list-subscribe:list-post:\
dkim-signature:(x)openpgp:(x)autocrypt";

/// Rspamd's `options.local_addrs` default.
const LOCAL_ADDRS: &[&str] = &[
    "192.168.0.0/16",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "fd00::/8",
    "169.254.0.0/16",
    "fe80::/10",
];

/// Which module a section is: its name and the defaults that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Module {
    DkimSigning,
    Arc,
}

impl Module {
    pub fn section(self) -> &'static str {
        match self {
            Module::DkimSigning => "dkim_signing",
            Module::Arc => "arc",
        }
    }

    /// The lua module's own defaults, used where the section says nothing.
    fn defaults(self, dbdir: &str) -> SignSettings {
        let (dir, selector, sign_headers) = match self {
            Module::DkimSigning => ("dkim", "dkim", DKIM_SIGN_HEADERS),
            Module::Arc => ("arc", "arc", ARC_SIGN_HEADERS),
        };
        SignSettings {
            enabled: true,
            selector: selector.into(),
            path: format!("{dbdir}/{dir}/$domain.$selector.key"),
            domains: HashMap::new(),
            selector_map: HashMap::new(),
            path_map: HashMap::new(),
            sign_authenticated: true,
            sign_local: true,
            sign_inbound: false,
            sign_networks: Vec::new(),
            use_domain: UseDomain::Header,
            use_domain_sign_local: None,
            use_domain_sign_inbound: None,
            use_domain_sign_networks: None,
            use_esld: true,
            allow_envfrom_empty: true,
            allow_hdrfrom_mismatch: false,
            allow_hdrfrom_mismatch_local: false,
            allow_hdrfrom_mismatch_sign_networks: false,
            allow_hdrfrom_multiple: false,
            allow_username_mismatch: false,
            try_fallback: true,
            sign_headers: sign_headers.into(),
            local_addrs: LOCAL_ADDRS.iter().filter_map(|n| n.parse().ok()).collect(),
        }
    }
}

/// `DBDIR` of the lua modules' default key paths, for a section without
/// `path` (the shipped `signing.conf` sets `path` from `${DBDIR}`).
const DEFAULT_DBDIR: &str = "/var/lib/sluice";

impl SignSettings {
    /// The module's settings from the whole tree; `None` when the section
    /// is absent (the module is off) or says `enabled = false`.
    pub fn from_tree(
        tree: &Value,
        module: Module,
    ) -> Result<Option<SignSettings>, SignConfigError> {
        let Some(section) = tree.get(module.section()) else {
            return Ok(None);
        };
        let mut s = Reader { module, section }.read(module.defaults(DEFAULT_DBDIR))?;
        if let Some(addrs) = tree.pointer("/options/local_addrs") {
            s.local_addrs = networks(module, "options.local_addrs", addrs)?;
        }
        Ok(s.enabled.then_some(s))
    }
}

struct Reader<'a> {
    module: Module,
    section: &'a Value,
}

impl Reader<'_> {
    fn shape(&self, key: &str, expected: &'static str) -> SignConfigError {
        SignConfigError::Shape {
            section: self.module.section(),
            key: key.into(),
            expected,
        }
    }

    fn bool(&self, key: &str, into: &mut bool) -> Result<(), SignConfigError> {
        if let Some(v) = self.section.get(key) {
            *into = value::boolean(v).map_err(|e| self.shape(key, e))?;
        }
        Ok(())
    }

    fn string(&self, key: &str) -> Result<Option<String>, SignConfigError> {
        self.section
            .get(key)
            .map(|v| value::string(v).map_err(|e| self.shape(key, e)))
            .transpose()
    }

    fn use_domain(&self, key: &str) -> Result<Option<UseDomain>, SignConfigError> {
        let Some(v) = self.string(key)? else {
            return Ok(None);
        };
        Ok(Some(match v.to_ascii_lowercase().as_str() {
            "header" => UseDomain::Header,
            "envelope" => UseDomain::Envelope,
            "auth" => UseDomain::Auth,
            "recipient" => UseDomain::Recipient,
            d if d.contains('.') => UseDomain::Fixed(d.to_string()),
            _ => {
                return Err(SignConfigError::UseDomain {
                    section: self.module.section(),
                    key: key.into(),
                    value: v,
                })
            }
        }))
    }

    fn read(&self, mut s: SignSettings) -> Result<SignSettings, SignConfigError> {
        if !self.section.is_object() {
            return Err(self.shape("", "a section"));
        }
        self.bool("enabled", &mut s.enabled)?;
        for (key, into) in [
            ("sign_authenticated", &mut s.sign_authenticated),
            ("sign_local", &mut s.sign_local),
            ("sign_inbound", &mut s.sign_inbound),
            ("use_esld", &mut s.use_esld),
            ("allow_envfrom_empty", &mut s.allow_envfrom_empty),
            ("allow_hdrfrom_mismatch", &mut s.allow_hdrfrom_mismatch),
            (
                "allow_hdrfrom_mismatch_local",
                &mut s.allow_hdrfrom_mismatch_local,
            ),
            (
                "allow_hdrfrom_mismatch_sign_networks",
                &mut s.allow_hdrfrom_mismatch_sign_networks,
            ),
            ("allow_hdrfrom_multiple", &mut s.allow_hdrfrom_multiple),
            ("allow_username_mismatch", &mut s.allow_username_mismatch),
            ("try_fallback", &mut s.try_fallback),
        ] {
            self.bool(key, into)?;
        }
        if let Some(v) = self.string("selector")? {
            s.selector = v;
        }
        if let Some(v) = self.string("path")? {
            s.path = v;
        }
        if let Some(v) = self.string("sign_headers")? {
            s.sign_headers = v;
        }
        if let Some(v) = self.use_domain("use_domain")? {
            s.use_domain = v;
        }
        s.use_domain_sign_local = self.use_domain("use_domain_sign_local")?;
        s.use_domain_sign_inbound = self.use_domain("use_domain_sign_inbound")?;
        s.use_domain_sign_networks = self.use_domain("use_domain_sign_networks")?;
        if let Some(v) = self.section.get("sign_networks") {
            s.sign_networks = networks(self.module, "sign_networks", v)?;
        }
        if let Some(v) = self.section.get("domain") {
            s.domains = self.domains(v)?;
        }
        for (key, into) in [
            ("selector_map", &mut s.selector_map),
            ("path_map", &mut s.path_map),
        ] {
            if let Some(path) = self.string(key)? {
                *into = self.map(key, &path)?;
            }
        }
        Ok(s)
    }

    /// `domain { example.com { selector = ..; path = ..; selectors = [..] } }`.
    fn domains(&self, v: &Value) -> Result<HashMap<String, Vec<KeySpec>>, SignConfigError> {
        let Value::Object(map) = v else {
            return Err(self.shape("domain", "a section of domains"));
        };
        let mut out = HashMap::new();
        for (name, entry) in map {
            let key = format!("domain.{name}");
            let mut specs = Vec::new();
            let one = self.key_spec(&key, entry)?;
            if one != KeySpec::default() {
                specs.push(one);
            }
            if let Some(list) = entry.get("selectors") {
                let items = match list {
                    Value::Array(items) => items.as_slice(),
                    other => std::slice::from_ref(other),
                };
                for item in items {
                    specs.push(self.key_spec(&format!("{key}.selectors"), item)?);
                }
            }
            out.insert(name.to_ascii_lowercase(), specs);
        }
        Ok(out)
    }

    fn key_spec(&self, key: &str, v: &Value) -> Result<KeySpec, SignConfigError> {
        if !v.is_object() {
            return Err(self.shape(key, "a section with selector and path"));
        }
        let field = |name: &str| {
            v.get(name)
                .map(|x| value::string(x).map_err(|e| self.shape(&format!("{key}.{name}"), e)))
                .transpose()
        };
        Ok(KeySpec {
            selector: field("selector")?,
            path: field("path")?,
        })
    }

    /// A map file of `domain value` lines (`#` comments), as Rspamd's
    /// selector and path maps; `file://` prefixes are accepted. Read once
    /// at load: a reload rereads it.
    fn map(&self, key: &str, path: &str) -> Result<HashMap<String, String>, SignConfigError> {
        let file = path.strip_prefix("file://").unwrap_or(path);
        let text = std::fs::read_to_string(file).map_err(|source| SignConfigError::Map {
            section: self.module.section(),
            key: key.into(),
            path: file.into(),
            source,
        })?;
        Ok(parse_map(&text))
    }
}

/// `domain value` pairs, one a line; blank lines and `#` comments skipped.
pub fn parse_map(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter_map(|l| {
            let (k, v) = l.split_once(char::is_whitespace)?;
            Some((k.to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect()
}

fn networks(module: Module, key: &str, v: &Value) -> Result<Vec<IpNet>, SignConfigError> {
    let bad = |value: String| SignConfigError::Network {
        section: module.section(),
        key: key.into(),
        value,
    };
    let list = value::strings(v).map_err(|_| bad(v.to_string()))?;
    list.into_iter()
        .flat_map(|s| {
            s.split([',', ' '])
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .map(|n| {
            n.parse::<IpNet>()
                .or_else(|_| n.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| bad(n.clone()))
        })
        .collect()
}
