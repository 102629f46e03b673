//! Rspamd's `history_redis` section: where the rows go, how many are kept, whether they
//! are compressed, and whether subjects are hidden.
use std::time::Duration;

use serde_json::Value;

use crate::config::value;
use crate::redis::{RedisConfig, RedisConfigError};

/// The module name Rspamd reads its Redis settings under (`history_redis { servers }`,
/// `redis { history_redis { ... } }`, `redis.disabled_modules`).
pub const MODULE: &str = "history_redis";

/// A `history_redis` section that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HistoryConfigError {
    #[error(transparent)]
    Redis(#[from] RedisConfigError),
    #[error("{key}: expected {expected}")]
    Shape { key: String, expected: &'static str },
}

impl crate::config::SettingError for HistoryConfigError {
    fn key(&self) -> Option<String> {
        match self {
            HistoryConfigError::Redis(e) => crate::config::SettingError::key(e),
            HistoryConfigError::Shape { key, .. } => Some(key.clone()),
        }
    }
}

/// How a subject is hashed when `subject_privacy` is on (Rspamd's hash names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivacyHash {
    Blake2,
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl PrivacyHash {
    fn parse(s: &str) -> Option<PrivacyHash> {
        Some(match s.to_ascii_lowercase().as_str() {
            "blake2" | "blake2b" => PrivacyHash::Blake2,
            "md5" => PrivacyHash::Md5,
            "sha1" => PrivacyHash::Sha1,
            "sha256" => PrivacyHash::Sha256,
            "sha512" => PrivacyHash::Sha512,
            _ => return None,
        })
    }

    /// The lowercase hex digest of `data`.
    pub fn hex(self, data: &[u8]) -> String {
        use sha2::Digest;
        let bytes: Vec<u8> = match self {
            PrivacyHash::Blake2 => blake2::Blake2b512::digest(data).to_vec(),
            PrivacyHash::Md5 => md5::Md5::digest(data).to_vec(),
            PrivacyHash::Sha1 => sha1::Sha1::digest(data).to_vec(),
            PrivacyHash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            PrivacyHash::Sha512 => sha2::Sha512::digest(data).to_vec(),
        };
        data_encoding::HEXLOWER.encode(&bytes)
    }
}

/// Subject obfuscation, as Rspamd's `maybe_obfuscate_string`.
#[derive(Debug, Clone, PartialEq)]
pub struct Privacy {
    pub hash: PrivacyHash,
    /// Written before the hash with a `:` (none when empty).
    pub prefix: String,
    /// Hex digits kept (all when 0).
    pub length: usize,
}

impl Privacy {
    /// The subject as stored: an empty one as is, otherwise `prefix:hexhash`.
    pub fn apply(&self, subject: &str) -> String {
        if subject.is_empty() {
            return String::new();
        }
        let mut hex = self.hash.hex(subject.as_bytes());
        if self.length > 0 {
            hex.truncate(self.length);
        }
        if self.prefix.is_empty() {
            hex
        } else {
            format!("{}:{hex}", self.prefix)
        }
    }
}

/// The section's values, with Rspamd 3.4's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct HistorySettings {
    /// The list is `key_prefix` + host name (+ `_zst` when compressed), as Rspamd names it.
    pub key_prefix: String,
    /// Lifetime of the lists (none: kept until trimmed).
    pub expire: Option<Duration>,
    /// Rows each host's list keeps.
    pub nrows: usize,
    /// Rows stored as zstd frames of their JSON.
    pub compress: bool,
    pub privacy: Option<Privacy>,
}

impl Default for HistorySettings {
    fn default() -> HistorySettings {
        HistorySettings {
            key_prefix: "rs_history".into(),
            expire: None,
            nrows: 200,
            compress: true,
            privacy: None,
        }
    }
}

impl HistorySettings {
    /// The settings and the Redis to use; `None` when the section is absent or disabled,
    /// or no Redis serves it (the in-memory ring keeps the history then).
    pub fn from_tree(
        tree: &Value,
    ) -> Result<Option<(HistorySettings, RedisConfig)>, HistoryConfigError> {
        let Some(section) = tree.get(MODULE) else {
            return Ok(None);
        };
        let settings = HistorySettings::from_section(section)?;
        if !read(section, "enabled", value::boolean)?.unwrap_or(true) {
            return Ok(None);
        }
        Ok(RedisConfig::for_module(tree, MODULE)?.map(|r| (settings, r)))
    }

    pub fn from_section(s: &Value) -> Result<HistorySettings, HistoryConfigError> {
        let d = HistorySettings::default();
        let expire = read(s, "expire", value::duration)?.filter(|e| !e.is_zero());
        let nrows = read(s, "nrows", value::size)?.unwrap_or(d.nrows);
        if nrows == 0 {
            return Err(shape("nrows", "a positive number of rows"));
        }
        let private = read(s, "subject_privacy", value::boolean)?.unwrap_or(false);
        let privacy = if private {
            let alg =
                read(s, "subject_privacy_alg", value::string)?.unwrap_or_else(|| "blake2".into());
            Some(Privacy {
                hash: PrivacyHash::parse(&alg).ok_or_else(|| {
                    shape(
                        "subject_privacy_alg",
                        "one of blake2, md5, sha1, sha256, sha512",
                    )
                })?,
                prefix: read(s, "subject_privacy_prefix", value::string)?
                    .unwrap_or_else(|| "obf".into()),
                length: read(s, "subject_privacy_length", value::size)?.unwrap_or(16),
            })
        } else {
            None
        };
        Ok(HistorySettings {
            key_prefix: read(s, "key_prefix", value::string)?.unwrap_or(d.key_prefix),
            expire,
            nrows,
            compress: read(s, "compress", value::boolean)?.unwrap_or(d.compress),
            privacy,
        })
    }

    /// This host's list, as Rspamd 3.4 names it (so its controller on this host reads
    /// the same rows).
    pub fn list_key(&self, host: &str) -> String {
        let zst = if self.compress { "_zst" } else { "" };
        format!("{}{host}{zst}", self.key_prefix)
    }

    /// The set of every host's list, so that any node reads them all.
    pub fn hosts_key(&self) -> String {
        format!("{}_hosts", self.key_prefix)
    }
}

fn read<T>(
    s: &Value,
    key: &str,
    f: impl Fn(&Value) -> Result<T, value::Expected>,
) -> Result<Option<T>, HistoryConfigError> {
    s.get(key)
        .map(|v| f(v).map_err(|e| shape(key, e)))
        .transpose()
}

fn shape(key: &str, expected: &'static str) -> HistoryConfigError {
    HistoryConfigError::Shape {
        key: format!("{MODULE}.{key}"),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rspamd_defaults_and_keys() {
        let tree = json!({"history_redis": {"key_prefix": "rs_history", "nrows": 200,
                                            "compress": true, "subject_privacy": false},
                          "redis": {"servers": "127.0.0.1:6379"}});
        let (s, r) = HistorySettings::from_tree(&tree).unwrap().unwrap();
        assert_eq!(s, HistorySettings::default());
        assert_eq!(s.list_key("mx1"), "rs_historymx1_zst");
        assert_eq!(s.hosts_key(), "rs_history_hosts");
        assert_eq!(r.write.len(), 1);
        let plain =
            HistorySettings::from_section(&json!({"compress": false, "expire": "5d"})).unwrap();
        assert_eq!(plain.list_key("mx1"), "rs_historymx1");
        assert_eq!(plain.expire, Some(Duration::from_secs(5 * 86_400)));
    }

    #[test]
    fn without_redis_or_section_or_when_disabled_it_is_off() {
        let no_redis = json!({"history_redis": {}});
        assert!(HistorySettings::from_tree(&no_redis).unwrap().is_none());
        let no_section = json!({"redis": {"servers": "127.0.0.1"}});
        assert!(HistorySettings::from_tree(&no_section).unwrap().is_none());
        let off = json!({"history_redis": {"enabled": false}, "redis": {"servers": "127.0.0.1"}});
        assert!(HistorySettings::from_tree(&off).unwrap().is_none());
        let disabled = json!({"history_redis": {},
            "redis": {"servers": "127.0.0.1", "disabled_modules": ["history_redis"]}});
        assert!(HistorySettings::from_tree(&disabled).unwrap().is_none());
        let own = json!({"history_redis": {"servers": "127.0.0.1:7000"}});
        assert!(HistorySettings::from_tree(&own).unwrap().is_some());
    }

    #[test]
    fn subject_privacy_as_rspamd() {
        let s = HistorySettings::from_section(&json!({"subject_privacy": true})).unwrap();
        let p = s.privacy.unwrap();
        let hidden = p.apply("hello");
        // BLAKE2b-512("hello"), its first 16 hex digits.
        assert_eq!(hidden, "obf:e4cfa39a3d37be31");
        assert_eq!(p.apply(""), "");
        let full = Privacy {
            hash: PrivacyHash::Sha256,
            prefix: String::new(),
            length: 0,
        };
        assert_eq!(
            full.apply("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = HistorySettings::from_section(&json!({"nrows": "many"})).unwrap_err();
        assert!(e.to_string().starts_with("history_redis.nrows"), "{e}");
        let e = HistorySettings::from_section(&json!({"subject_privacy": true,
                                                      "subject_privacy_alg": "crc"}))
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("history_redis.subject_privacy_alg"),
            "{e}"
        );
    }
}
