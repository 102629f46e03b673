//! Which Lua files a configuration asks for, read into memory once per
//! load: the shipped rule set (`lua_rules { enabled; dir; }`, `conf/lua`,
//! served from the binary when no `-c FILE` is given), then `lua = "FILE"`
//! entries (must exist), then the admin's optional
//! `lua_local { file = …; dir = …; }` (Rspamd's `rspamd.local.lua` and
//! `lua.local.d/*.lua`, shipped pointing into `$LOCAL_CONFDIR`).
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::LuaLoadError;
use super::sandbox::LuaLimits;
use crate::config::embedded::LayeredSource;
use crate::config::ucl::Source;
use crate::config::value;

/// One rule file's name and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub name: String,
    pub code: String,
}

/// Every script the tree names, in load order.
pub fn scripts(tree: &Value) -> Result<Vec<Script>, LuaLoadError> {
    let mut out = shipped(tree)?;
    if let Some(v) = tree.get("lua") {
        let files = value::strings(v).map_err(|expected| LuaLoadError::Config {
            key: "lua".into(),
            expected,
        })?;
        for f in files {
            out.push(read(Path::new(&f))?);
        }
    }
    let Some(local) = tree.get("lua_local") else {
        return Ok(out);
    };
    if let Some(f) = local
        .get("file")
        .map(|v| setting(v, "lua_local.file"))
        .transpose()?
    {
        let path = PathBuf::from(f);
        if path.is_file() {
            out.push(read(&path)?);
        }
    }
    if let Some(d) = local
        .get("dir")
        .map(|v| setting(v, "lua_local.dir"))
        .transpose()?
    {
        out.extend(read_dir(Path::new(&d))?);
    }
    Ok(out)
}

/// The shipped rules: `*.lua` of `lua_rules.dir` in name order, unless
/// `lua_rules.enabled = false`. Read through the config's own source, so
/// `<builtin>/lua` comes from the binary like the rest of `$CONFDIR`.
fn shipped(tree: &Value) -> Result<Vec<Script>, LuaLoadError> {
    let Some(section) = tree.get("lua_rules") else {
        return Ok(Vec::new());
    };
    let enabled = match section.get("enabled") {
        Some(v) => value::boolean(v).map_err(|expected| LuaLoadError::Config {
            key: "lua_rules.enabled".into(),
            expected,
        })?,
        None => true,
    };
    let Some(dir) = section.get("dir") else {
        return Ok(Vec::new());
    };
    let dir = setting(dir, "lua_rules.dir")?;
    if !enabled {
        return Ok(Vec::new());
    }
    let src = LayeredSource;
    let io = |source| LuaLoadError::ReadDir {
        path: PathBuf::from(&dir),
        source,
    };
    let mut names: Vec<String> = src.list(&dir).map_err(io)?;
    names.retain(|n| n.ends_with(".lua"));
    names.sort();
    let mut out = Vec::new();
    for n in names {
        let path = format!("{}/{n}", dir.trim_end_matches('/'));
        let code = src.read(&path).map_err(|source| LuaLoadError::Read {
            path: PathBuf::from(&path),
            source,
        })?;
        if let Some(code) = code {
            out.push(Script { name: path, code });
        }
    }
    Ok(out)
}

/// `lua_limits { memory = 64m; instructions = 10000000; time = 200ms; }`.
pub fn limits(tree: &Value) -> Result<LuaLimits, LuaLoadError> {
    let mut l = LuaLimits::default();
    let Some(section) = tree.get("lua_limits") else {
        return Ok(l);
    };
    let bad = |key: &str, expected| LuaLoadError::Config {
        key: format!("lua_limits.{key}"),
        expected,
    };
    if let Some(v) = section.get("memory") {
        l.memory = value::size(v).map_err(|e| bad("memory", e))?;
    }
    if let Some(v) = section.get("instructions") {
        let n = value::size(v).map_err(|e| bad("instructions", e))?;
        l.instructions = n as u64;
    }
    if let Some(v) = section.get("time") {
        l.time = value::duration(v).map_err(|e| bad("time", e))?;
    }
    Ok(l)
}

fn setting(v: &Value, key: &str) -> Result<String, LuaLoadError> {
    value::string(v).map_err(|expected| LuaLoadError::Config {
        key: key.into(),
        expected,
    })
}

fn read(path: &Path) -> Result<Script, LuaLoadError> {
    let code = std::fs::read_to_string(path).map_err(|source| LuaLoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Script {
        name: path.to_string_lossy().into_owned(),
        code,
    })
}

/// `*.lua` files of `dir`, sorted by name; a missing directory is empty.
fn read_dir(dir: &Path) -> Result<Vec<Script>, LuaLoadError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(LuaLoadError::ReadDir {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "lua") && p.is_file())
        .collect();
    paths.sort();
    paths.iter().map(|p| read(p)).collect()
}
