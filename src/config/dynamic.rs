//! Rspamd's dynamic configuration: action thresholds and symbol weights
//! saved from the controller (`/saveactions`, `/savesymbols`) into a file
//! under `$DBDIR` (`options.dynamic_conf`, by default
//! `$DBDIR/rspamd_dynamic`), laid over the files' values on every load, so
//! they hold across restarts and reloads until saved back to the files'
//! values.
//!
//! The format is Rspamd's: a JSON array of metrics, each
//! `{"metric": "default", "actions": [{"action": NAME, "value": N|null}],
//! "symbols": [{"name": NAME, "value": N}]}`.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Rspamd's file name under `$DBDIR`.
pub const FILE: &str = "rspamd_dynamic";
const METRIC: &str = "default";

#[derive(Debug, thiserror::Error)]
pub enum DynamicError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not Rspamd's dynamic configuration: {source}")]
    Format {
        path: PathBuf,
        source: serde_json::Error,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionValue {
    pub action: String,
    /// `None`: the action has no threshold.
    pub value: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SymbolValue {
    pub name: String,
    pub value: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Metric {
    metric: String,
    #[serde(default)]
    actions: Vec<ActionValue>,
    #[serde(default)]
    symbols: Vec<SymbolValue>,
}

/// The saved overrides (of the default metric; others are kept as read).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dynamic {
    metrics: Vec<Metric>,
}

impl Dynamic {
    /// The file at `path`; a missing file is an empty configuration.
    pub fn read(path: &Path) -> Result<Dynamic, DynamicError> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Dynamic::default()),
            Err(source) => {
                return Err(DynamicError::Io {
                    path: path.into(),
                    source,
                })
            }
        };
        let metrics = serde_json::from_slice(&text).map_err(|source| DynamicError::Format {
            path: path.into(),
            source,
        })?;
        Ok(Dynamic { metrics })
    }

    /// Writes to a temporary file renamed over `path`, so a reader never
    /// sees half a file.
    pub fn write(&self, path: &Path) -> Result<(), DynamicError> {
        let io = |source| DynamicError::Io {
            path: path.into(),
            source,
        };
        let text = serde_json::to_vec_pretty(&self.metrics).expect("plain data serializes");
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    fn default_metric(&mut self) -> &mut Metric {
        if let Some(i) = self.metrics.iter().position(|m| m.metric == METRIC) {
            return &mut self.metrics[i];
        }
        self.metrics.push(Metric {
            metric: METRIC.into(),
            ..Metric::default()
        });
        self.metrics.last_mut().expect("just pushed")
    }

    /// Sets (`Some`) or drops (`None`: back to the files' value) the
    /// override of an action's threshold.
    pub fn set_action(&mut self, action: &str, value: Option<Option<f64>>) {
        let m = self.default_metric();
        m.actions.retain(|a| a.action != action);
        if let Some(value) = value {
            m.actions.push(ActionValue {
                action: action.into(),
                value,
            });
        }
    }

    /// Sets (`Some`) or drops (`None`) the override of a symbol's weight.
    pub fn set_symbol(&mut self, name: &str, value: Option<f64>) {
        let m = self.default_metric();
        m.symbols.retain(|s| s.name != name);
        if let Some(value) = value {
            m.symbols.push(SymbolValue {
                name: name.into(),
                value,
            });
        }
    }

    /// Lays the overrides over the merged tree: `actions.NAME` and
    /// `symbols.NAME.weight` (a top-level symbol entry wins over its
    /// group's).
    pub fn apply(&self, tree: &mut Value) {
        let Some(m) = self.metrics.iter().find(|m| m.metric == METRIC) else {
            return;
        };
        let Some(root) = tree.as_object_mut() else {
            return;
        };
        let actions = object(root, "actions");
        for a in &m.actions {
            let v = a.value.map_or(Value::Null, Value::from);
            let name = spelling(&a.action);
            actions.retain(|k, _| spelling(k) != name);
            actions.insert(name, v);
        }
        let symbols = object(root, "symbols");
        for s in &m.symbols {
            let entry = symbols
                .entry(s.name.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Some(e) = entry.as_object_mut() {
                e.remove("score");
                e.insert("weight".into(), s.value.into());
            }
        }
    }
}

/// `add header`, `add-header` and `add_header` are one action.
fn spelling(action: &str) -> String {
    action.trim().to_ascii_lowercase().replace([' ', '-'], "_")
}

/// The object at `root[key]`, made one if it is missing or not one.
fn object<'a>(root: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let v = root
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    v.as_object_mut().expect("made an object")
}

/// Where the dynamic configuration of `tree` lives: `options.dynamic_conf`,
/// else `$DBDIR/rspamd_dynamic`.
pub fn path(tree: &Value, dbdir: Option<&str>) -> Option<PathBuf> {
    let configured = tree
        .get("options")
        .and_then(|o| o.get("dynamic_conf"))
        .and_then(Value::as_str);
    match (configured, dbdir) {
        (Some(p), _) => Some(PathBuf::from(p)),
        (None, Some(dir)) => Some(Path::new(dir).join(FILE)),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn overrides_apply_over_the_files() {
        let mut d = Dynamic::default();
        d.set_action("reject", Some(Some(9.0)));
        d.set_action("greylist", Some(None));
        d.set_symbol("SYM_A", Some(3.5));
        d.set_symbol("SYM_B", Some(-1.0));
        let mut tree = json!({
            "actions": {"reject": 15, "greylist": 4, "add header": 6},
            "symbols": {"SYM_A": {"score": 1.0, "description": "kept"}},
        });
        d.apply(&mut tree);
        assert_eq!(tree["actions"]["reject"], 9.0);
        assert_eq!(tree["actions"]["greylist"], Value::Null);
        assert_eq!(tree["actions"]["add header"], 6);
        assert_eq!(
            tree["symbols"]["SYM_A"],
            json!({"description": "kept", "weight": 3.5})
        );
        assert_eq!(tree["symbols"]["SYM_B"]["weight"], -1.0);
    }

    #[test]
    fn saved_in_rspamds_format_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        assert_eq!(Dynamic::read(&path).unwrap(), Dynamic::default());
        let mut d = Dynamic::default();
        d.set_action("add header", Some(Some(5.0)));
        d.set_symbol("SYM_A", Some(2.0));
        d.set_symbol("SYM_A", Some(2.5));
        d.write(&path).unwrap();
        let text: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            text,
            json!([{"metric": "default",
                    "actions": [{"action": "add header", "value": 5.0}],
                    "symbols": [{"name": "SYM_A", "value": 2.5}]}])
        );
        let back = Dynamic::read(&path).unwrap();
        assert_eq!(back, d);
        let mut cleared = back.clone();
        cleared.set_symbol("SYM_A", None);
        cleared.set_action("add header", None);
        let mut tree = json!({"actions": {"add_header": 6}});
        cleared.apply(&mut tree);
        assert_eq!(tree["actions"]["add_header"], 6);
        std::fs::write(&path, "{").unwrap();
        assert!(matches!(
            Dynamic::read(&path),
            Err(DynamicError::Format { .. })
        ));
    }

    #[test]
    fn path_from_options_or_dbdir() {
        assert_eq!(
            path(&json!({}), Some("/db")),
            Some(PathBuf::from("/db/rspamd_dynamic"))
        );
        assert_eq!(
            path(&json!({"options": {"dynamic_conf": "/x/dyn"}}), Some("/db")),
            Some(PathBuf::from("/x/dyn"))
        );
        assert_eq!(path(&json!({}), None), None);
    }
}
