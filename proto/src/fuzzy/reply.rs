//! A fuzzy storage reply (Rspamd's `struct rspamd_fuzzy_reply`).
//!
//! Layout, packed, little-endian:
//!
//! ```text
//! value i32 | flag u32 | tag u32 | prob f32     the short (version 3) reply ends here
//! digest [u8; 64] | ts u32 | reserved [u8; 12]
//! ```
//!
//! `value` is the hash's weight on a check, or a status: 0 done, 401 the
//! hash is on the storage's skip list, 403 refused (read-only, not in
//! `allow_update`, unencrypted where encryption is required, rate limited),
//! 500 internal error. `prob` is the match's strength (1.0 for an exact
//! digest, the share of matching shingles otherwise); a check that finds
//! nothing answers value 0 and prob 0.

use super::{command::Epoch, DIGEST_LEN};

/// The short reply's size (version 3 clients).
pub const REPLY_V1_LEN: usize = 16;
/// The full reply's size.
pub const REPLY_LEN: usize = REPLY_V1_LEN + DIGEST_LEN + 4 + 12;

/// Status values the storage puts in `value` when it does not return a weight.
pub mod status {
    pub const OK: i32 = 0;
    pub const SKIPPED: i32 = 401;
    pub const FORBIDDEN: i32 = 403;
    pub const INTERNAL: i32 = 500;
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub value: i32,
    /// The hash's list on a check; the number of stored hashes on a stat.
    pub flag: u32,
    pub tag: u32,
    pub prob: f32,
    /// The digest that matched (a shingles match names the stored digest).
    pub digest: [u8; DIGEST_LEN],
    /// When the hash was last written (Unix seconds).
    pub ts: u32,
}

/// Why bytes are not a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fuzzy reply truncated: {len} bytes, need {need}")]
pub struct ReplyError {
    pub len: usize,
    pub need: usize,
}

impl Reply {
    /// A reply carrying only a status (no match).
    #[must_use]
    pub fn status(value: i32, tag: u32) -> Self {
        Self {
            value,
            flag: 0,
            tag,
            prob: 0.0,
            digest: [0; DIGEST_LEN],
            ts: 0,
        }
    }

    /// Encodes the reply in the form the command's sender expects.
    #[must_use]
    pub fn encode(&self, epoch: Epoch) -> Vec<u8> {
        let mut out = Vec::with_capacity(REPLY_LEN);
        out.extend_from_slice(&self.value.to_le_bytes());
        out.extend_from_slice(&self.flag.to_le_bytes());
        out.extend_from_slice(&self.tag.to_le_bytes());
        out.extend_from_slice(&self.prob.to_le_bytes());
        if epoch == Epoch::V11 {
            out.extend_from_slice(&self.digest);
            out.extend_from_slice(&self.ts.to_le_bytes());
            out.extend_from_slice(&[0; 12]);
        }
        out
    }

    /// Decodes a full (version 4) reply; extra bytes are ignored, as Rspamd's
    /// client ignores them.
    pub fn decode(buf: &[u8]) -> Result<Self, ReplyError> {
        if buf.len() < REPLY_LEN {
            return Err(ReplyError {
                len: buf.len(),
                need: REPLY_LEN,
            });
        }
        let word = |at: usize| buf[at..at + 4].try_into().unwrap_or([0; 4]);
        Ok(Self {
            value: i32::from_le_bytes(word(0)),
            flag: u32::from_le_bytes(word(4)),
            tag: u32::from_le_bytes(word(8)),
            prob: f32::from_le_bytes(word(12)),
            digest: buf[16..16 + DIGEST_LEN]
                .try_into()
                .unwrap_or([0; DIGEST_LEN]),
            ts: u32::from_le_bytes(word(16 + DIGEST_LEN)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Reply {
        Reply {
            value: 10,
            flag: 1,
            tag: 77,
            prob: 0.75,
            digest: [3; DIGEST_LEN],
            ts: 1_700_000_000,
        }
    }

    #[test]
    fn full_reply_round_trips() {
        let bytes = sample().encode(Epoch::V11);
        assert_eq!(bytes.len(), 96);
        assert_eq!(&bytes[12..16], &0.75f32.to_le_bytes());
        assert_eq!(&bytes[84..96], &[0; 12]);
        assert_eq!(Reply::decode(&bytes).unwrap(), sample());
    }

    #[test]
    fn legacy_reply_is_the_first_sixteen_bytes() {
        let short = sample().encode(Epoch::V10);
        assert_eq!(short.len(), REPLY_V1_LEN);
        assert_eq!(short[..], sample().encode(Epoch::V11)[..16]);
        assert_eq!(Reply::decode(&short), Err(ReplyError { len: 16, need: 96 }));
    }

    #[test]
    fn status_replies_carry_the_tag() {
        let reply = Reply::status(status::FORBIDDEN, 5);
        let back = Reply::decode(&reply.encode(Epoch::V11)).unwrap();
        assert_eq!((back.value, back.tag, back.prob), (403, 5, 0.0));
    }
}
