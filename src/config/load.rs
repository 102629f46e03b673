//! Where the configuration comes from and how it layers. Without `-c FILE` the shipped
//! `conf/` compiled into the binary is `$CONFDIR`; with it, the file's directory is. Either way
//! the admin's `$LOCAL_CONFDIR/local.d` (merged) and `override.d` (replacing) files are read
//! from disk, exactly as with Rspamd.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::embedded::{LayeredSource, BUILTIN_CONFDIR};
use super::error::ConfigError;
use super::ucl::{self, Document, Vars};

/// What the command line says about configuration.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-c FILE`: the main file on disk; `None` uses the built-in configuration.
    pub config_file: Option<PathBuf>,
    /// `--var NAME=VALUE`, applied after the defaults (later wins).
    pub vars: Vec<(String, String)>,
}

/// Default variable values; `CONFDIR` depends on where the main file is.
const DEFAULT_VARS: &[(&str, &str)] = &[
    ("LOCAL_CONFDIR", "/etc/sluice"),
    ("DBDIR", "/var/lib/sluice"),
    ("RUNDIR", "/run/sluice"),
    ("LOGDIR", "/var/log/sluice"),
];

/// The merged configuration tree.
pub fn load_tree(opts: &LoadOptions) -> Result<Value, ConfigError> {
    Ok(load_document(opts)?.value)
}

/// The merged tree with key positions and parse warnings.
pub fn load_document(opts: &LoadOptions) -> Result<Document, ConfigError> {
    let (main, confdir) = match &opts.config_file {
        Some(file) => (file.to_string_lossy().into_owned(), confdir_of(file)),
        None => (
            format!("{BUILTIN_CONFDIR}/sluice.conf"),
            BUILTIN_CONFDIR.to_string(),
        ),
    };
    let defaults = DEFAULT_VARS
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()));
    let vars = std::iter::once(("CONFDIR".to_string(), confdir))
        .chain(defaults)
        .chain(opts.vars.iter().cloned());
    Ok(ucl::parse_file(&LayeredSource, Vars::new(vars), &main)?)
}

/// The directory of the main file, `.` for a bare file name.
fn confdir_of(file: &Path) -> String {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_string_lossy().into_owned(),
        _ => ".".to_string(),
    }
}

/// Parses one `--var NAME=VALUE` argument.
pub fn parse_var(arg: &str) -> Result<(String, String), ConfigError> {
    match arg.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(ConfigError::BadVar(arg.to_string())),
    }
}
