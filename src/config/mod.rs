//! Configuration: Rspamd-compatible UCL files, layered like Rspamd's (`local.d` merges,
//! `override.d` replaces), turned into one JSON tree that each subsystem reads its own section
//! from, plus the validated [`MilterSettings`] this module owns.
//!
//! Layout: [`ucl`] parses text into a tree; [`load`] picks the sources (the shipped `conf/`
//! compiled in by `build.rs`, or `-c FILE`) and variables; [`milter`] validates the `milter`
//! section; [`configtest`] and [`configdump`] back the CLI subcommands.

pub mod dump;
pub mod embedded;
pub mod error;
pub mod listen;
pub mod load;
pub mod milter;
pub mod ucl;
pub mod value;

pub use error::ConfigError;
pub use listen::{ListenAddr, ListenAddrError};
pub use load::{load_document, load_tree, parse_var, LoadOptions};
pub use milter::{MilterSettings, OversizeAction};

use milter::SettingsReader;

/// The loaded configuration: the merged tree for every subsystem, the validated milter
/// settings, and warnings (ignored or unknown keys) to log at startup.
#[derive(Debug, Clone)]
pub struct Config {
    pub tree: serde_json::Value,
    pub milter: MilterSettings,
    pub warnings: Vec<String>,
}

impl Config {
    pub fn load(opts: &LoadOptions) -> Result<Config, ConfigError> {
        let doc = load_document(opts)?;
        let mut warnings = doc.warnings;
        let milter = SettingsReader::new(&doc.positions, &mut warnings).milter(&doc.value)?;
        warnings.extend(crate::scan::unknown_keys::warnings(
            &doc.value,
            &doc.positions,
        ));
        Ok(Config {
            tree: doc.value,
            milter,
            warnings,
        })
    }
}

/// `sluice configtest`: loads and validates everything; returns the warnings.
pub fn configtest(opts: &LoadOptions) -> Result<Vec<String>, ConfigError> {
    Config::load(opts).map(|c| c.warnings)
}

/// `sluice configdump`: the merged tree in UCL syntax (see [`dump::to_ucl`]).
pub fn configdump(opts: &LoadOptions) -> Result<String, ConfigError> {
    Ok(dump::to_ucl(&load_tree(opts)?))
}
