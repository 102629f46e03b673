//! `/saveactions` and `/savesymbols` (privileged): thresholds and weights
//! from the WebUI are written to Rspamd's dynamic configuration
//! ([`crate::config::dynamic`]) and the daemon reloads, so the next scan
//! uses them, and so do restarts and later reloads.
//!
//! Bodies are Rspamd's: `/saveactions` takes `[reject, rewrite subject,
//! add header, greylist]` (a number, or null for no threshold);
//! `/savesymbols` takes `[{"name": SYMBOL, "value": WEIGHT}, ...]`, where
//! names the rules do not know are skipped. Replies are
//! `{"success":true}` or Rspamd's error.
use hyper::body::Incoming;
use hyper::Request;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::super::body;
use super::super::reply::{self, Domain, Reply};
use super::super::shared::Shared;
use crate::config::dynamic::Dynamic;
use crate::verdict::RuleBook;

/// The actions of `/saveactions`' array, in its order.
const SAVED_ACTIONS: [&str; 4] = ["reject", "rewrite subject", "add header", "greylist"];

/// Saves are read-modify-write of one file: one at a time.
static SAVING: Mutex<()> = Mutex::const_new(());

/// Why a save got no `{"success":true}`.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("Empty body is not permitted")]
    EmptyBody,
    #[error("Cannot parse input")]
    Parse,
    #[error("No symbols to save")]
    NoSymbols,
    #[error("{0}")]
    Body(String, u16),
    #[error("Save error: no dynamic configuration file (set DBDIR or options.dynamic_conf)")]
    NoFile,
    #[error("Save error: {0}")]
    Write(String),
    #[error("Saved, but the reload failed: {0}")]
    Reload(String),
}

impl SaveError {
    fn status(&self) -> u16 {
        match self {
            SaveError::EmptyBody | SaveError::Parse => 400,
            SaveError::NoSymbols => 404,
            SaveError::Body(_, s) => *s,
            SaveError::NoFile | SaveError::Write(_) | SaveError::Reload(_) => 500,
        }
    }
}

/// What a request asks to change.
enum Change {
    Actions([Option<f64>; 4]),
    Symbols(Vec<(String, f64)>),
}

pub async fn actions(req: Request<Incoming>, shared: &Shared) -> Reply {
    answer(save(req, shared, None).await)
}

pub async fn symbols(req: Request<Incoming>, shared: &Shared, rules: &dyn RuleBook) -> Reply {
    answer(save(req, shared, Some(rules)).await)
}

fn answer(r: Result<usize, SaveError>) -> Reply {
    match r {
        Ok(n) => {
            tracing::info!(
                changed = n,
                "controller: saved to the dynamic configuration"
            );
            reply::json(&json!({"success": true}), false)
        }
        Err(e) => {
            tracing::warn!("controller: save: {e}");
            reply::error(e.status(), &e.to_string(), Domain::None)
        }
    }
}

/// `rules`: `Some` for symbols (their known names), `None` for actions.
async fn save(
    req: Request<Incoming>,
    shared: &Shared,
    rules: Option<&dyn RuleBook>,
) -> Result<usize, SaveError> {
    let body = body::read(req.into_body(), &shared.controller.body, false)
        .await
        .map_err(|e| SaveError::Body(e.to_string(), e.status()))?;
    if body.bytes.is_empty() {
        return Err(SaveError::EmptyBody);
    }
    let input: Value = serde_json::from_slice(&body.bytes).map_err(|_| SaveError::Parse)?;
    let change = match rules {
        None => Change::Actions(parse_actions(&input)?),
        Some(r) => Change::Symbols(parse_symbols(&input, r)?),
    };
    let path = shared.admin.dynamic_conf.clone().ok_or(SaveError::NoFile)?;
    let _one = SAVING.lock().await;
    let written = tokio::task::spawn_blocking(move || -> Result<usize, SaveError> {
        let write = |e: crate::config::dynamic::DynamicError| SaveError::Write(e.to_string());
        let mut d = Dynamic::read(&path).map_err(write)?;
        let n = match change {
            Change::Actions(values) => {
                for (name, v) in SAVED_ACTIONS.iter().zip(values) {
                    d.set_action(name, Some(v));
                }
                values.len()
            }
            Change::Symbols(list) => {
                for (name, v) in &list {
                    d.set_symbol(name, Some(*v));
                }
                list.len()
            }
        };
        d.write(&path).map_err(write)?;
        Ok(n)
    })
    .await
    .map_err(|e| SaveError::Write(e.to_string()))??;
    reload(shared).await?;
    Ok(written)
}

/// Asks the daemon to reload and waits for it.
pub async fn reload(shared: &Shared) -> Result<(), SaveError> {
    let Some(tx) = &shared.admin.reload else {
        return Err(SaveError::Reload("no daemon to reload".into()));
    };
    let (ask, answer) = tokio::sync::oneshot::channel();
    tx.send(ask)
        .await
        .map_err(|_| SaveError::Reload("the daemon is stopping".into()))?;
    match answer.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(SaveError::Reload(e)),
        Err(_) => Err(SaveError::Reload("the daemon is stopping".into())),
    }
}

/// Rspamd's array of four thresholds.
fn parse_actions(v: &Value) -> Result<[Option<f64>; 4], SaveError> {
    let list = v
        .as_array()
        .filter(|a| a.len() == 4)
        .ok_or(SaveError::Parse)?;
    let mut out = [None; 4];
    for (slot, x) in out.iter_mut().zip(list) {
        *slot = match x {
            Value::Null => None,
            other => Some(number(other).ok_or(SaveError::Parse)?),
        };
    }
    Ok(out)
}

/// The `{name, value}` entries of symbols the rules know.
fn parse_symbols(v: &Value, rules: &dyn RuleBook) -> Result<Vec<(String, f64)>, SaveError> {
    let list = v.as_array().ok_or(SaveError::Parse)?;
    let known = rules.symbols();
    let mut out = Vec::new();
    for entry in list {
        let obj = entry.as_object().ok_or(SaveError::Parse)?;
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .ok_or(SaveError::Parse)?;
        let value = obj.get("value").and_then(number).ok_or(SaveError::Parse)?;
        if known.iter().any(|s| s.name == name) {
            out.push((name.to_string(), value));
        }
    }
    if out.is_empty() {
        return Err(SaveError::NoSymbols);
    }
    Ok(out)
}

/// The WebUI sends numbers, sometimes as strings.
fn number(v: &Value) -> Option<f64> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.filter(|f| f.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_thresholds_numbers_or_null() {
        let v = json!([15, "6.5", null, 4]);
        assert_eq!(
            parse_actions(&v).unwrap(),
            [Some(15.0), Some(6.5), None, Some(4.0)]
        );
        assert!(matches!(
            parse_actions(&json!([1, 2, 3])),
            Err(SaveError::Parse)
        ));
        assert!(matches!(
            parse_actions(&json!([1, 2, 3, "x"])),
            Err(SaveError::Parse)
        ));
        assert!(matches!(parse_actions(&json!({})), Err(SaveError::Parse)));
    }
}
