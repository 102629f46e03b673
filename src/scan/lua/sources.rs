//! Which Lua files a configuration asks for, read into memory once per
//! load: `lua = "FILE"` entries (must exist), then the admin's optional
//! `lua_local { file = …; dir = …; }` (Rspamd's `rspamd.local.lua` and
//! `lua.local.d/*.lua`, shipped pointing into `$LOCAL_CONFDIR`).
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::LuaLoadError;
use super::sandbox::LuaLimits;
use crate::config::value;

/// One rule file's name and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub name: String,
    pub code: String,
}

/// Every script the tree names, in load order.
pub fn scripts(tree: &Value) -> Result<Vec<Script>, LuaLoadError> {
    let mut out = Vec::new();
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

/// `lua_limits { memory = 64m; instructions = 10000000; }`.
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
