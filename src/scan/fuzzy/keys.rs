//! The keys a fuzzy rule hashes with, derived from its `fuzzy_key` and
//! `fuzzy_shingles_key` strings as Rspamd derives them, so that the same
//! strings give the same hashes on both sides of a shared storage.
use blake2::digest::{FixedOutput, KeyInit, Update};
use blake2::{Blake2b512, Blake2bMac512, Digest};

/// A digest: BLAKE2b-512, Rspamd's `rspamd_cryptobox_HASHBYTES`.
pub type Digest64 = [u8; 64];

/// Both sides' default for either key string.
pub const DEFAULT_KEY: &str = "rspamd";

/// Number of shingles per text (`RSPAMD_SHINGLE_SIZE`).
pub const SHINGLES: usize = 32;

/// The fixed key of attachment and image digests (BLAKE2b of "rspamd"):
/// those digests do not depend on the rule, so any rule finds a stored
/// attachment.
const PART_KEY: [u8; 64] = [
    0xef, 0x43, 0xae, 0x80, 0xcc, 0x8d, 0xc3, 0x4c, 0x6f, 0x1b, 0xd6, 0x18, 0x1b, 0xae, 0x87, 0x74,
    0x0c, 0xca, 0xf7, 0x8e, 0x5f, 0x2e, 0x54, 0x32, 0xf6, 0x79, 0xb9, 0x27, 0x26, 0x96, 0x20, 0x92,
    0x70, 0x07, 0x85, 0xeb, 0x83, 0xf7, 0x89, 0xe0, 0xd7, 0x32, 0x2a, 0xd2, 0x1a, 0x64, 0x41, 0xef,
    0x49, 0xff, 0xc3, 0x8c, 0x54, 0xf9, 0x67, 0x74, 0x30, 0x1e, 0x70, 0x2e, 0xb7, 0x12, 0x09, 0xfe,
];

/// A rule's hashing keys.
#[derive(Clone)]
pub struct RuleKeys {
    /// Keys the text digests: BLAKE2b-512 of `fuzzy_key`.
    pub hash_key: Digest64,
    /// The shingles' base key: the first 16 bytes of BLAKE2b-512 of
    /// `fuzzy_shingles_key`.
    pub shingles_key: [u8; 16],
    /// One 16-byte key per shingle, each the hash of the one before.
    pub shingle_keys: [[u8; 16]; SHINGLES],
}

impl std::fmt::Debug for RuleKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RuleKeys(..)")
    }
}

impl RuleKeys {
    /// Keys of `fuzzy_key` and `fuzzy_shingles_key` (`None`: "rspamd").
    pub fn new(fuzzy_key: Option<&str>, shingles_key: Option<&str>) -> RuleKeys {
        let hash_key = blake2b(fuzzy_key.unwrap_or(DEFAULT_KEY).as_bytes());
        let sk = blake2b(shingles_key.unwrap_or(DEFAULT_KEY).as_bytes());
        let mut base = [0u8; 16];
        base.copy_from_slice(&sk[..16]);
        RuleKeys {
            hash_key,
            shingles_key: base,
            shingle_keys: derive_shingle_keys(&base),
        }
    }
}

impl Default for RuleKeys {
    fn default() -> RuleKeys {
        RuleKeys::new(None, None)
    }
}

/// Unkeyed BLAKE2b-512.
pub fn blake2b(data: &[u8]) -> Digest64 {
    Blake2b512::digest(data).into()
}

/// Keyed BLAKE2b-512 over the concatenation of `chunks`.
pub fn keyed_blake2b<'a>(key: &[u8], chunks: impl IntoIterator<Item = &'a [u8]>) -> Digest64 {
    // A 64-byte key is the longest BLAKE2b takes; every key here is one.
    let mut mac = <Blake2bMac512 as KeyInit>::new_from_slice(key).expect("key of at most 64 bytes");
    for c in chunks {
        Update::update(&mut mac, c);
    }
    mac.finalize_fixed().into()
}

/// The digest of an attachment's or image's decoded bytes.
pub fn part_digest(data: &[u8]) -> Digest64 {
    keyed_blake2b(&PART_KEY, [data])
}

fn derive_shingle_keys(base: &[u8; 16]) -> [[u8; 16]; SHINGLES] {
    let mut keys = [[0u8; 16]; SHINGLES];
    let mut cur = *base;
    for k in &mut keys {
        let h = blake2b(&cur);
        k.copy_from_slice(&h[..16]);
        cur = *k;
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_part_key_is_the_hash_of_rspamd() {
        assert_eq!(blake2b(b"rspamd"), PART_KEY);
    }

    #[test]
    fn keys_follow_the_strings() {
        let a = RuleKeys::new(None, None);
        let b = RuleKeys::new(Some("rspamd"), Some("rspamd"));
        let c = RuleKeys::new(Some("other"), None);
        assert_eq!(a.hash_key, b.hash_key);
        assert_ne!(a.hash_key, c.hash_key);
        assert_eq!(a.shingles_key, c.shingles_key);
        assert_eq!(a.shingle_keys[0], blake2b(&a.shingles_key)[..16]);
        assert_eq!(a.shingle_keys[1], blake2b(&a.shingle_keys[0])[..16]);
    }
}
