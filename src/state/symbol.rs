//! What the modules share: the symbols they add after the scan, and how their record keys
//! are made.
use blake2::{Blake2b512, Digest};

/// A symbol a module adds to the verdict after the scan (weight 0, as Rspamd's).
#[derive(Debug, Clone, PartialEq)]
pub struct StateSymbol {
    pub name: String,
    pub options: Vec<String>,
}

impl StateSymbol {
    pub fn new(name: &str, options: &[&str]) -> StateSymbol {
        StateSymbol {
            name: name.to_string(),
            options: options.iter().map(ToString::to_string).collect(),
        }
    }
}

/// A key of `len` hex digits after `prefix`, hashing `parts` (blake2b).
pub fn hash_key(prefix: &str, parts: &[&[u8]], len: usize) -> String {
    let mut h = Blake2b512::new();
    for p in parts {
        h.update(p);
    }
    let hex = data_encoding::HEXLOWER.encode(&h.finalize());
    format!("{prefix}{}", &hex[..len.min(hex.len())])
}
