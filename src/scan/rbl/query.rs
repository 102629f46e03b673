//! The names a list is asked about: an address reversed under the zone (`4.3.2.1.zone`,
//! IPv6 by nibbles), a name as it is, or an address hashed (`hash`, `hash_format`, `hash_len`)
//! as Rspamd hashes it.

use std::net::IpAddr;

use blake2::Blake2b512;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// Rspamd's hash names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
    /// BLAKE2b with a 64-byte digest (Rspamd's `blake2`).
    Blake2,
}

impl Hash {
    pub fn parse(name: &str) -> Option<Hash> {
        Some(match name.to_ascii_lowercase().as_str() {
            "md5" => Hash::Md5,
            "sha1" => Hash::Sha1,
            "sha256" => Hash::Sha256,
            "sha384" => Hash::Sha384,
            "sha512" => Hash::Sha512,
            "blake2" => Hash::Blake2,
            _ => return None,
        })
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Md5 => Md5::digest(data).to_vec(),
            Hash::Sha1 => Sha1::digest(data).to_vec(),
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha384 => Sha384::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
            Hash::Blake2 => Blake2b512::digest(data).to_vec(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HashFormat {
    #[default]
    Hex,
    /// Rspamd's own base32 (the zbase32 alphabet, low bits first).
    Base32,
    Base64,
}

/// `data` hashed and encoded, cut to `len` characters.
pub fn hashed(data: &str, hash: Hash, format: HashFormat, len: Option<usize>) -> String {
    let digest = hash.digest(data.as_bytes());
    let mut s = match format {
        HashFormat::Hex => data_encoding::HEXLOWER.encode(&digest),
        HashFormat::Base32 => base32(&digest),
        HashFormat::Base64 => data_encoding::BASE64.encode(&digest),
    };
    if let Some(n) = len {
        s.truncate(n);
    }
    s
}

const ZBASE32: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";

/// Rspamd's default base32: five bits at a time from the low end of a little-endian bit
/// stream, in the zbase32 alphabet.
fn base32(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in data {
        acc |= u32::from(b) << bits;
        bits += 8;
        while bits >= 5 {
            out.push(ZBASE32[(acc & 0x1f) as usize] as char);
            acc >>= 5;
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ZBASE32[(acc & 0x1f) as usize] as char);
    }
    out
}

/// An address in list order: IPv4 octets reversed, IPv6 nibbles reversed.
pub fn reversed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}")
        }
        IpAddr::V6(v6) => {
            let mut parts = Vec::with_capacity(32);
            for byte in v6.octets().iter().rev() {
                parts.push(format!("{:x}", byte & 0xf));
                parts.push(format!("{:x}", byte >> 4));
            }
            parts.join(".")
        }
    }
}

/// Whether a name can be asked at all (Rspamd's check: no empty label, labels of at most 63
/// characters that neither start nor end with a hyphen).
pub fn valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_reversed() {
        assert_eq!(reversed("192.0.2.1".parse().unwrap()), "1.2.0.192");
        let v6 = reversed("2001:db8::1".parse().unwrap());
        assert!(v6.starts_with("1.0.0.0.0.0.0.0"), "{v6}");
        assert!(v6.ends_with("8.b.d.0.1.0.0.2"), "{v6}");
        assert_eq!(v6.split('.').count(), 32);
    }

    #[test]
    fn hashes_and_formats() {
        assert_eq!(
            hashed("abc", Hash::Md5, HashFormat::Hex, None),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            hashed("abc", Hash::Sha1, HashFormat::Hex, Some(8)),
            "a9993e36"
        );
        assert_eq!(hashed("abc", Hash::Sha256, HashFormat::Hex, None).len(), 64);
        assert_eq!(
            hashed("abc", Hash::Blake2, HashFormat::Base32, Some(32)).len(),
            32
        );
        assert_eq!(
            hashed("abc", Hash::Sha1, HashFormat::Base64, None),
            "qZk+NkcGgWq6PiVxeFDCbJzQ2J0="
        );
    }

    #[test]
    fn base32_takes_low_bits_first() {
        // 0x01: the low five bits are 1 ('b'), the rest 0 ('y').
        assert_eq!(base32(&[0x01]), "by");
        // 0xff 0xff: 31, 31, 31 (low bits of the second byte), then the last bit.
        assert_eq!(base32(&[0xff, 0xff]), "999b");
    }

    #[test]
    fn bad_names_are_not_asked() {
        assert!(valid("2.0.0.127.zen.test"));
        assert!(!valid("a..b"));
        assert!(!valid("-a.test"));
        assert!(!valid(&format!("{}.test", "x".repeat(64))));
    }
}
