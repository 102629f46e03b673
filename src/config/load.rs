//! Where the configuration comes from and how it layers. Without `-c FILE` the shipped
//! `conf/` compiled into the binary is `$CONFDIR`; with it, the file's directory is. Either way
//! the admin's `$LOCAL_CONFDIR/local.d` (merged) and `override.d` (replacing) files are read
//! from disk, exactly as with Rspamd.

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::embedded::{LayeredSource, BUILTIN_CONFDIR};
use super::error::ConfigError;
use super::ucl::{self, Document, Source, Vars};

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
    // Rspamd's worker-controller.inc names its WebUI `static_dir = "${WWWDIR}"`.
    ("WWWDIR", "/usr/share/rspamd/www"),
];

impl LoadOptions {
    /// A variable's value: the last `--var` that sets it, else the default
    /// (`CONFDIR` is not among them: it depends on the main file).
    pub fn var(&self, name: &str) -> Option<String> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .or_else(|| {
                DEFAULT_VARS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            })
    }
}

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
    let vars: Vec<(String, String)> = std::iter::once(("CONFDIR".to_string(), confdir))
        .chain(defaults)
        .chain(opts.vars.iter().cloned())
        .collect();
    let local = vars
        .iter()
        .rev()
        .find(|(n, _)| n == "LOCAL_CONFDIR")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let source = Recording::default();
    let dbdir = vars
        .iter()
        .rev()
        .find(|(n, _)| n == "DBDIR")
        .map(|(_, v)| v.clone());
    let mut doc = ucl::parse_file(&source, Vars::new(vars), &main)?;
    doc.warnings
        .extend(unread_module_files(&local, &source.asked.borrow()));
    if let Some(path) = super::dynamic::path(&doc.value, dbdir.as_deref()) {
        match super::dynamic::Dynamic::read(&path) {
            Ok(d) => d.apply(&mut doc.value),
            Err(e) => doc
                .warnings
                .push(format!("dynamic configuration not applied: {e}")),
        }
    }
    Ok(doc)
}

/// The layered source, remembering every path the parser asked for (found or not).
#[derive(Default)]
struct Recording {
    asked: RefCell<HashSet<PathBuf>>,
}

impl Source for Recording {
    fn read(&self, path: &str) -> std::io::Result<Option<String>> {
        self.asked.borrow_mut().insert(PathBuf::from(path));
        LayeredSource.read(path)
    }

    fn list(&self, dir: &str) -> std::io::Result<Vec<String>> {
        LayeredSource.list(dir)
    }
}

/// A warning for each `*.conf` in `local.d` and `override.d` that no include asked for:
/// Rspamd's file of a module sluice does not have (`clickhouse.conf`, `greylist.conf`, ...).
fn unread_module_files(local_confdir: &str, asked: &HashSet<PathBuf>) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["local.d", "override.d"] {
        let dir = format!("{local_confdir}/{sub}");
        let mut names = ucl::DiskSource.list(&dir).unwrap_or_default();
        names.sort();
        for name in names.iter().filter(|n| n.ends_with(".conf")) {
            let path = format!("{dir}/{name}");
            if !asked.contains(Path::new(&path)) {
                let module = name.trim_end_matches(".conf");
                out.push(format!(
                    "{path}: not used: sluice has no `{module}` module, this file is ignored"
                ));
            }
        }
    }
    out
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
