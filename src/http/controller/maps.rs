//! `/maps`, `/getmap` and `/savemap`: the map files the rules read, as
//! Rspamd's WebUI lists, shows and edits them. A map is named by a number
//! (the `Map` header) derived from its path, so it stays the same across
//! reloads. `/savemap` (privileged) writes the file (a temporary file
//! renamed over it) and reloads the daemon, so the next scan reads the new
//! entries.
use std::path::{Path, PathBuf};

use hyper::body::Incoming;
use hyper::Request;
use serde_json::{json, Value};

use super::super::body;
use super::super::reply::{self, Domain, Reply};
use super::super::shared::Shared;
use crate::verdict::{MapFile, RuleBook};

/// The map's number for the `Map` header.
pub fn id(path: &Path) -> u32 {
    let h = xxhash_rust::xxh3::xxh3_64(path.as_os_str().as_encoded_bytes());
    (h & 0x7fff_ffff) as u32
}

/// `/maps`: `[{map, uri, description, editable}]`, readable files only.
pub fn list(rules: &dyn RuleBook) -> Value {
    let rows: Vec<Value> = rules
        .map_files()
        .iter()
        .filter(|f| f.path.exists())
        .map(|f| {
            json!({
                "map": id(&f.path),
                "uri": f.path.display().to_string(),
                "description": f.description,
                "editable": editable(&f.path),
            })
        })
        .collect();
    Value::Array(rows)
}

fn editable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.permissions().readonly())
}

/// The file the request's `Map` header names, or the status and error.
fn find(req: &Request<Incoming>, rules: &dyn RuleBook) -> Result<PathBuf, (u16, &'static str)> {
    let header = req.headers().get("map").ok_or((400, "Id header missing"))?;
    let wanted = header
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .ok_or((400, "Invalid map id"))?;
    rules
        .map_files()
        .into_iter()
        .map(|f: MapFile| f.path)
        .find(|p| id(p) == wanted)
        .ok_or((404, "Map not found"))
}

/// `/getmap`: the file's text.
pub async fn get(req: Request<Incoming>, rules: &dyn RuleBook) -> Reply {
    let path = match find(&req, rules) {
        Ok(p) => p,
        Err((status, why)) => return reply::error(status, why, Domain::None),
    };
    match tokio::fs::read(&path).await {
        Ok(text) => reply::text("text/plain", String::from_utf8_lossy(&text).into_owned()),
        Err(e) => reply::error(500, &format!("Map read error: {e}"), Domain::None),
    }
}

/// `/savemap`: writes the body to the file, then reloads.
pub async fn save(req: Request<Incoming>, shared: &Shared, rules: &dyn RuleBook) -> Reply {
    let path = match find(&req, rules) {
        Ok(p) => p,
        Err((status, why)) => return reply::error(status, why, Domain::None),
    };
    let text = match body::read(req.into_body(), &shared.controller.body, false).await {
        Ok(b) => b.bytes,
        Err(e) => return reply::error(e.status(), &e.to_string(), Domain::None),
    };
    let tmp = path.with_extension("new");
    let written = async {
        tokio::fs::write(&tmp, &text).await?;
        tokio::fs::rename(&tmp, &path).await
    };
    if let Err(e) = written.await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return reply::error(500, &format!("Map write error: {e}"), Domain::None);
    }
    tracing::info!(map = %path.display(), bytes = text.len(), "controller: map saved");
    match super::save::reload(shared).await {
        Ok(()) => reply::json(&json!({"success": true}), false),
        Err(e) => reply::error(500, &e.to_string(), Domain::None),
    }
}
