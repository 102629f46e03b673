//! Configuration: Rspamd-compatible UCL files, layered like Rspamd's (`local.d` merges,
//! `override.d` replaces), merged into one tree and read once into the typed [`Config`]: a
//! struct per section, each default written once, shared read-only by the subsystems.
//!
//! Layout: [`ucl`] parses text into a tree; [`load`] picks the sources (the shipped `conf/`
//! compiled in by `build.rs`, or `-c FILE`) and variables, and names `local.d` files nothing
//! reads; the sections: [`milter`], [`logging`], [`http`] (the workers), [`bayes`] (the
//! classifier), [`forward`] (upstream and mirror blocks, [`hosts`] their lists), [`rules`]
//! (actions, weights, rule tables, module switches); [`unknown_keys`] reports keys that
//! nothing reads; [`configdump`] backs the CLI subcommand. The whole of `sluice configtest`
//! is `daemon::check`, which builds what `run` builds.

pub mod bayes;
pub mod dns;
pub mod dump;
pub mod dynamic;
pub mod embedded;
pub mod error;
pub mod forward;
pub mod hosts;
pub mod http;
pub mod listen;
pub mod load;
pub mod local_addrs;
pub mod logging;
pub mod milter;
pub mod neighbours;
pub mod rules;
pub mod setting;
pub mod ucl;
pub mod unknown_keys;
pub mod value;

pub use bayes::StatsConfig;
pub use error::ConfigError;
pub use forward::ForwardSettings;
pub use http::HttpSettings;
pub use listen::{ListenAddr, ListenAddrError};
pub use load::{load_document, load_tree, parse_var, LoadOptions};
pub use logging::LogSettings;
pub use milter::{MilterSettings, OversizeAction};
pub use rules::ScanConfig;
pub use setting::SettingError;

use std::collections::BTreeMap;

use milter::SettingsReader;
use ucl::Location;

/// The loaded configuration: the merged tree for every subsystem, the validated milter
/// settings, and warnings (ignored or unknown keys) to log at startup.
#[derive(Debug, Clone)]
pub struct Config {
    pub tree: serde_json::Value,
    pub milter: MilterSettings,
    pub logging: LogSettings,
    /// The HTTP workers (`worker "normal"`, `worker "controller"`).
    pub http: HttpSettings,
    /// The `classifier "bayes"` section; `None` when absent.
    pub bayes: Option<StatsConfig>,
    /// Forward mode: the `milter` section's upstream and mirror blocks.
    pub forward: ForwardSettings,
    /// The sections the scan pipeline is built from.
    pub rules: ScanConfig,
    /// `options.dns`: the shared resolver's nameservers, timeouts, cache and budget.
    pub dns: dns::DnsSettings,
    pub warnings: Vec<String>,
    /// Dotted key path to where it was (last) defined, so errors found by the sections'
    /// readers can name a file and line.
    pub positions: BTreeMap<String, Location>,
}

impl Config {
    pub fn load(opts: &LoadOptions) -> Result<Config, ConfigError> {
        let doc = load_document(opts)?;
        let mut warnings = doc.warnings;
        let milter = SettingsReader::new(&doc.positions, &mut warnings).milter(&doc.value)?;
        let logging = LogSettings::from_tree(&doc.value).map_err(|error| {
            let key = error.key().unwrap_or_default();
            ConfigError::Logging {
                location: locate(&doc.positions, &key),
                error,
            }
        })?;
        let http = HttpSettings::from_tree(&doc.value, &mut warnings).map_err(|error| {
            let key = error.key().unwrap_or_default();
            ConfigError::Http {
                location: locate(&doc.positions, &key),
                error,
            }
        })?;
        let bayes = StatsConfig::from_tree(&doc.value).map_err(|e| located(&doc.positions, e))?;
        let forward = ForwardSettings::from_tree(&doc.value, milter.session.scan_timeout)
            .map_err(|e| located(&doc.positions, e))?;
        let rules = ScanConfig::from_tree(&doc.value).map_err(|e| located(&doc.positions, e))?;
        let dns = dns::DnsSettings::from_tree(&doc.value).map_err(|error| ConfigError::Dns {
            location: locate(&doc.positions, &format!("options.dns.{}", error.key)),
            error,
        })?;
        warnings.extend(unknown_keys::warnings(&doc.value, &doc.positions));
        Ok(Config {
            tree: doc.value,
            milter,
            logging,
            http,
            bayes,
            forward,
            rules,
            dns,
            warnings,
            positions: doc.positions,
        })
    }

    /// Where `key` (a dotted path such as `worker.controller.bind_socket`) was defined: its own
    /// definition, else that of the nearest enclosing section, else `default` (a built-in value).
    pub fn locate(&self, key: &str) -> String {
        locate(&self.positions, key)
    }
}

/// A section's error with the file and line of the setting at fault.
fn located<E>(positions: &BTreeMap<String, Location>, error: E) -> ConfigError
where
    E: SettingError + Into<error::SectionError>,
{
    let key = error.key().unwrap_or_default();
    ConfigError::Section {
        location: locate(positions, &key),
        error: error.into(),
    }
}

fn locate(positions: &BTreeMap<String, Location>, key: &str) -> String {
    let mut path = key;
    loop {
        if let Some(at) = positions.get(path) {
            return at.to_string();
        }
        match path.rsplit_once('.') {
            Some((parent, _)) => path = parent,
            None => return "default".to_string(),
        }
    }
}

/// The files' part of `sluice configtest`: loads and validates the configuration and returns
/// its warnings. The whole check, everything `run` builds, is `daemon::check`.
pub fn configtest(opts: &LoadOptions) -> Result<Vec<String>, ConfigError> {
    Config::load(opts).map(|c| c.warnings)
}

/// `sluice configdump`: the merged tree in UCL syntax (see [`dump::to_ucl`]).
pub fn configdump(opts: &LoadOptions) -> Result<String, ConfigError> {
    Ok(dump::to_ucl(&load_tree(opts)?))
}
