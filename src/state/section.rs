//! Reading a state module's section: typed values with Rspamd's defaults, and the lists
//! Rspamd takes as maps (inline, or a file of one entry a line, `#` comments).
use std::time::Duration;

use ipnet::IpNet;
use serde_json::Value;

use super::error::StateConfigError;
use crate::config::value;

/// One module's section and its name, for error keys.
pub struct Section<'a> {
    pub name: &'static str,
    pub value: Option<&'a Value>,
}

impl Section<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.value.and_then(|v| v.get(key))
    }

    fn shape(&self, key: &str, expected: &'static str) -> StateConfigError {
        StateConfigError::Shape {
            key: format!("{}.{key}", self.name),
            expected,
        }
    }

    pub fn duration(&self, key: &str, default: Duration) -> Result<Duration, StateConfigError> {
        self.get(key).map_or(Ok(default), |v| {
            value::duration(v).map_err(|e| self.shape(key, e))
        })
    }

    pub fn size(&self, key: &str, default: usize) -> Result<usize, StateConfigError> {
        self.get(key).map_or(Ok(default), |v| {
            value::size(v).map_err(|e| self.shape(key, e))
        })
    }

    pub fn string(&self, key: &str, default: &str) -> Result<String, StateConfigError> {
        self.get(key).map_or(Ok(default.to_string()), |v| {
            value::string(v).map_err(|e| self.shape(key, e))
        })
    }

    pub fn opt_string(&self, key: &str) -> Result<Option<String>, StateConfigError> {
        self.get(key)
            .map(|v| value::string(v).map_err(|e| self.shape(key, e)))
            .transpose()
    }

    pub fn number(&self, key: &str, default: f64) -> Result<f64, StateConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => {
                crate::config::ucl::type_atom(&value::string(v).map_err(|e| self.shape(key, e))?)
                    .as_f64()
                    .ok_or_else(|| self.shape(key, "a number"))
            }
        }
    }

    pub fn boolean(&self, key: &str, default: bool) -> Result<bool, StateConfigError> {
        self.get(key).map_or(Ok(default), |v| {
            value::boolean(v).map_err(|e| self.shape(key, e))
        })
    }

    pub fn enabled(&self) -> Result<bool, StateConfigError> {
        self.boolean("enabled", true)
    }

    /// A list of entries: inline (an array, or one string split on commas and spaces), or
    /// the lines of the files it names (`/path`, `file:///path`; a missing file is empty,
    /// as Rspamd's optional maps are).
    pub fn list(&self, key: &str) -> Result<Vec<String>, StateConfigError> {
        let Some(v) = self.get(key) else {
            return Ok(Vec::new());
        };
        let items = value::strings(v).map_err(|e| self.shape(key, e))?;
        let mut out = Vec::new();
        for item in items {
            let path = item.strip_prefix("file://").unwrap_or(&item);
            if path.starts_with('/') {
                match std::fs::read_to_string(path) {
                    Ok(text) => out.extend(
                        text.lines()
                            .map(|l| l.split('#').next().unwrap_or("").trim())
                            .filter(|l| !l.is_empty())
                            .map(|l| l.split_whitespace().next().unwrap_or(l).to_string()),
                    ),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(StateConfigError::Map {
                            key: format!("{}.{key}", self.name),
                            path: path.to_string(),
                            reason: e.to_string(),
                        })
                    }
                }
            } else {
                out.extend(
                    item.split([',', ' '])
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(str::to_string),
                );
            }
        }
        Ok(out)
    }

    /// A list of networks (addresses or CIDR), inline or from files.
    pub fn networks(&self, key: &str) -> Result<Vec<IpNet>, StateConfigError> {
        self.list(key)?
            .iter()
            .map(|n| {
                value::network(n).ok_or_else(|| self.shape(key, "a list of CIDR nets or addresses"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn lists_inline_and_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ips.map");
        std::fs::write(&file, "# comment\n192.0.2.0/24 some note\n\n2001:db8::1\n").unwrap();
        let v = json!({"ip": [file.display().to_string(), "198.51.100.7"],
                       "rcpts": "postmaster, mailer-daemon", "missing": "/nonexistent/x.map",
                       "bad": "not-an-ip"});
        let s = Section {
            name: "greylist",
            value: Some(&v),
        };
        assert_eq!(s.networks("ip").unwrap().len(), 3);
        assert_eq!(
            s.list("rcpts").unwrap(),
            vec!["postmaster", "mailer-daemon"]
        );
        assert!(s.list("missing").unwrap().is_empty());
        let e = s.networks("bad").unwrap_err();
        assert!(e.to_string().starts_with("greylist.bad"), "{e}");
    }
}
