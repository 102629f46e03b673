//! A fuzzy storage command: what a `fuzzy_check` client sends (Rspamd's
//! `struct rspamd_fuzzy_cmd` and `rspamd_fuzzy_shingle_cmd`, `fuzzy_wire.h`).
//!
//! Layout, packed, integers little-endian (Rspamd writes host order; every
//! platform it ships on is little-endian):
//!
//! ```text
//! version u8 | cmd u8 | shingles_count u8 | flag u8 | value i32 | tag u32 | digest [u8; 64]
//! [ shingles [u64; 32] ]          when shingles_count > 0
//! [ extension ... ]               version 4 only, to the end of the datagram:
//!     'd' len u8 bytes[len]       source domain
//!     '4' [u8; 4]                 source IPv4
//!     '6' [u8; 16]                source IPv6
//! ```
//!
//! Version 3 commands must be exactly their size (no extensions) and get the
//! short reply; version 4 (Rspamd 1.7 and later) gets the full one.

use super::{DIGEST_LEN, MAX_PACKET, SHINGLES};

/// The protocol version Rspamd 3.x clients send.
pub const VERSION: u8 = 4;
/// The oldest version a storage still answers (short replies).
pub const VERSION_LEGACY: u8 = 3;
/// A single-hash command's size.
pub const COMMAND_LEN: usize = 12 + DIGEST_LEN;
/// A shingles command's size: the single-hash part and 32 shingles.
pub const SHINGLE_COMMAND_LEN: usize = COMMAND_LEN + SHINGLES * 8;

/// What the client asks (`FUZZY_CHECK`, `FUZZY_WRITE`, `FUZZY_DEL`,
/// `FUZZY_STAT`; Rspamd 3.4 has no other client command).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Check,
    Write,
    Del,
    Stat,
    /// A code Rspamd 3.4 does not define; kept so the storage can refuse it.
    Other(u8),
}

impl Op {
    #[must_use]
    pub fn from_code(code: u8) -> Self {
        match code {
            0 => Self::Check,
            1 => Self::Write,
            2 => Self::Del,
            3 => Self::Stat,
            other => Self::Other(other),
        }
    }

    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            Self::Check => 0,
            Self::Write => 1,
            Self::Del => 2,
            Self::Stat => 3,
            Self::Other(code) => code,
        }
    }
}

/// Which reply a command's sender understands (Rspamd's `rspamd_fuzzy_epoch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epoch {
    /// Version 3: the 16-byte reply (value, flag, tag, prob).
    V10,
    /// Version 4: the full reply with digest and timestamp.
    V11,
}

/// Optional data a version 4 command carries after its hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extension {
    SourceDomain(Vec<u8>),
    SourceIp4([u8; 4]),
    SourceIp6([u8; 16]),
}

/// One decoded command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub version: u8,
    pub op: Op,
    /// The list (flag) the hash belongs to, as configured in `fuzzy_map`.
    pub flag: u8,
    /// The weight a write adds (or a delete removes).
    pub value: i32,
    /// Chosen by the client; the reply echoes it so answers can be matched.
    pub tag: u32,
    pub digest: [u8; DIGEST_LEN],
    /// The 32 shingles of a text part, when the client sent them.
    pub shingles: Option<Box<[u64; SHINGLES]>>,
    pub extensions: Vec<Extension>,
}

/// Why a datagram is not a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("fuzzy command truncated: {len} bytes, need {need}")]
    Truncated { len: usize, need: usize },
    #[error("fuzzy command of {len} bytes exceeds the {max}-byte datagram limit")]
    TooLarge { len: usize, max: usize },
    #[error("unsupported fuzzy protocol version {0}")]
    Version(u8),
    #[error("version 3 fuzzy command must be exactly {want} bytes, got {len}")]
    LegacyLength { len: usize, want: usize },
    #[error("bad fuzzy command extension at offset {offset}: {why}")]
    Extension { offset: usize, why: &'static str },
}

impl Command {
    /// A version 4 single-hash command.
    #[must_use]
    pub fn new(op: Op, digest: [u8; DIGEST_LEN]) -> Self {
        Self {
            version: VERSION,
            op,
            flag: 0,
            value: 0,
            tag: 0,
            digest,
            shingles: None,
            extensions: Vec::new(),
        }
    }

    /// Which reply the sender expects.
    #[must_use]
    pub fn epoch(&self) -> Epoch {
        if self.version >= VERSION {
            Epoch::V11
        } else {
            Epoch::V10
        }
    }

    /// Decodes one plaintext command (a whole datagram, or the plaintext of
    /// an encrypted one).
    pub fn decode(buf: &[u8]) -> Result<Self, CommandError> {
        if buf.len() > MAX_PACKET {
            return Err(CommandError::TooLarge {
                len: buf.len(),
                max: MAX_PACKET,
            });
        }
        let need = |need: usize| {
            if buf.len() < need {
                Err(CommandError::Truncated {
                    len: buf.len(),
                    need,
                })
            } else {
                Ok(())
            }
        };
        need(COMMAND_LEN)?;
        let version = buf[0];
        let has_shingles = buf[2] > 0;
        let size = if has_shingles {
            SHINGLE_COMMAND_LEN
        } else {
            COMMAND_LEN
        };
        match version {
            VERSION => need(size)?,
            VERSION_LEGACY if buf.len() != size => {
                return Err(CommandError::LegacyLength {
                    len: buf.len(),
                    want: size,
                })
            }
            VERSION_LEGACY => {}
            other => return Err(CommandError::Version(other)),
        }
        let shingles = has_shingles.then(|| Box::new(read_shingles(&buf[COMMAND_LEN..size])));
        Ok(Self {
            version,
            op: Op::from_code(buf[1]),
            flag: buf[3],
            value: i32::from_le_bytes(le4(&buf[4..8])),
            tag: u32::from_le_bytes(le4(&buf[8..12])),
            digest: buf[12..COMMAND_LEN].try_into().unwrap_or([0; DIGEST_LEN]),
            shingles,
            extensions: decode_extensions(&buf[size..], size)?,
        })
    }

    /// Encodes the command as Rspamd's client sends it.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SHINGLE_COMMAND_LEN + 32);
        out.push(self.version);
        out.push(self.op.code());
        out.push(if self.shingles.is_some() {
            SHINGLES as u8
        } else {
            0
        });
        out.push(self.flag);
        out.extend_from_slice(&self.value.to_le_bytes());
        out.extend_from_slice(&self.tag.to_le_bytes());
        out.extend_from_slice(&self.digest);
        if let Some(shingles) = &self.shingles {
            for s in shingles.iter() {
                out.extend_from_slice(&s.to_le_bytes());
            }
        }
        for ext in &self.extensions {
            encode_extension(ext, &mut out);
        }
        out
    }
}

fn le4(bytes: &[u8]) -> [u8; 4] {
    bytes.try_into().unwrap_or([0; 4])
}

fn read_shingles(bytes: &[u8]) -> [u64; SHINGLES] {
    let mut out = [0u64; SHINGLES];
    for (slot, chunk) in out.iter_mut().zip(bytes.chunks_exact(8)) {
        *slot = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
    }
    out
}

/// Extensions run to the end of the datagram; `base` is their offset in it,
/// for the error.
fn decode_extensions(mut rest: &[u8], base: usize) -> Result<Vec<Extension>, CommandError> {
    let mut out = Vec::new();
    let mut offset = base;
    while let Some((&kind, tail)) = rest.split_first() {
        let bad = |why| CommandError::Extension { offset, why };
        let (ext, used) = match kind {
            b'd' => {
                let (&len, body) = tail.split_first().ok_or(bad("domain without length"))?;
                let len = usize::from(len);
                let domain = body.get(..len).ok_or(bad("domain truncated"))?;
                (Extension::SourceDomain(domain.to_vec()), 1 + len)
            }
            b'4' => {
                let ip = tail.get(..4).ok_or(bad("IPv4 address truncated"))?;
                (Extension::SourceIp4(ip.try_into().unwrap_or([0; 4])), 4)
            }
            b'6' => {
                let ip = tail.get(..16).ok_or(bad("IPv6 address truncated"))?;
                (Extension::SourceIp6(ip.try_into().unwrap_or([0; 16])), 16)
            }
            _ => return Err(bad("unknown extension type")),
        };
        out.push(ext);
        rest = &tail[used..];
        offset += 1 + used;
    }
    Ok(out)
}

fn encode_extension(ext: &Extension, out: &mut Vec<u8>) {
    match ext {
        Extension::SourceDomain(domain) => {
            let domain = &domain[..domain.len().min(255)];
            out.push(b'd');
            out.push(domain.len() as u8);
            out.extend_from_slice(domain);
        }
        Extension::SourceIp4(ip) => {
            out.push(b'4');
            out.extend_from_slice(ip);
        }
        Extension::SourceIp6(ip) => {
            out.push(b'6');
            out.extend_from_slice(ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Command {
        let mut cmd = Command::new(Op::Write, [0xab; DIGEST_LEN]);
        cmd.flag = 1;
        cmd.value = 10;
        cmd.tag = 0xdead_beef;
        cmd
    }

    #[test]
    fn single_hash_layout() {
        let bytes = sample().encode();
        assert_eq!(bytes.len(), COMMAND_LEN);
        assert_eq!(&bytes[..4], &[4, 1, 0, 1]);
        assert_eq!(&bytes[4..8], &10i32.to_le_bytes());
        assert_eq!(&bytes[8..12], &[0xef, 0xbe, 0xad, 0xde]);
        assert_eq!(Command::decode(&bytes).unwrap(), sample());
    }

    #[test]
    fn shingles_and_extensions_round_trip() {
        let mut cmd = sample();
        let mut shingles = [0u64; SHINGLES];
        for (i, s) in shingles.iter_mut().enumerate() {
            *s = (i as u64) << 40 | 7;
        }
        cmd.shingles = Some(Box::new(shingles));
        cmd.extensions = vec![
            Extension::SourceDomain(b"example.org".to_vec()),
            Extension::SourceIp4([127, 0, 0, 1]),
            Extension::SourceIp6([0; 16]),
        ];
        let bytes = cmd.encode();
        assert_eq!(bytes[2], 32);
        assert_eq!(bytes.len(), SHINGLE_COMMAND_LEN + 13 + 5 + 17);
        assert_eq!(Command::decode(&bytes).unwrap(), cmd);
    }

    #[test]
    fn truncated_commands_say_what_is_missing() {
        let bytes = sample().encode();
        assert_eq!(
            Command::decode(&bytes[..40]),
            Err(CommandError::Truncated { len: 40, need: 76 })
        );
        let mut shingled = bytes.clone();
        shingled[2] = 32;
        assert_eq!(
            Command::decode(&shingled),
            Err(CommandError::Truncated { len: 76, need: 332 })
        );
    }

    #[test]
    fn wrong_versions_are_refused() {
        let mut bytes = sample().encode();
        bytes[0] = 2;
        assert_eq!(Command::decode(&bytes), Err(CommandError::Version(2)));
        bytes[0] = 5;
        assert_eq!(Command::decode(&bytes), Err(CommandError::Version(5)));
    }

    #[test]
    fn legacy_commands_have_no_room_for_extensions() {
        let mut bytes = sample().encode();
        bytes[0] = 3;
        let cmd = Command::decode(&bytes).unwrap();
        assert_eq!(cmd.epoch(), Epoch::V10);
        bytes.extend_from_slice(b"4\x7f\0\0\x01");
        assert_eq!(
            Command::decode(&bytes),
            Err(CommandError::LegacyLength { len: 81, want: 76 })
        );
    }

    #[test]
    fn bad_extensions_are_refused() {
        let mut bytes = sample().encode();
        bytes.extend_from_slice(b"d\x09short");
        assert!(matches!(
            Command::decode(&bytes),
            Err(CommandError::Extension { offset: 76, .. })
        ));
        let mut bytes = sample().encode();
        bytes.extend_from_slice(b"4\x7f\0\0\x01x");
        assert!(matches!(
            Command::decode(&bytes),
            Err(CommandError::Extension { offset: 81, .. })
        ));
    }

    #[test]
    fn oversized_datagrams_are_refused() {
        let bytes = vec![4u8; MAX_PACKET + 1];
        assert!(matches!(
            Command::decode(&bytes),
            Err(CommandError::TooLarge { .. })
        ));
    }

    #[test]
    fn unknown_codes_are_kept() {
        assert_eq!(Op::from_code(9), Op::Other(9));
        assert_eq!(Op::Other(9).code(), 9);
        for code in 0..4 {
            assert_eq!(Op::from_code(code).code(), code);
        }
    }
}
