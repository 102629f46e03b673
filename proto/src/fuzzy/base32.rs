//! Rspamd's base32: the z-base-32 alphabet with the bits of each byte taken
//! least significant first (Rspamd's `RSPAMD_BASE32_DEFAULT`). Keys in
//! Rspamd's configs (`encryption_key`, `keypair { pubkey; privkey; }`) and the
//! output of `rspamadm keypair` are written this way; the RFC 4648 codecs of
//! other crates read the same letters into different bytes.

/// The z-base-32 alphabet, in value order.
const ALPHABET: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";

/// Why a string is not Rspamd base32.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Base32Error {
    #[error("invalid base32 character {0:?} at offset {1}")]
    BadChar(char, usize),
    #[error("base32 text decodes to {got} bytes, expected {want}")]
    Length { got: usize, want: usize },
}

/// Encodes `bytes`, five bits at a time from the least significant end.
#[must_use]
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        acc |= u32::from(b) << bits;
        bits += 8;
        while bits >= 5 {
            out.push(char::from(ALPHABET[(acc & 0x1f) as usize]));
            acc >>= 5;
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[(acc & 0x1f) as usize]));
    }
    out
}

/// Decodes `text` the way Rspamd does: whole bytes as they fill, then the
/// partial byte the last characters leave (so a 32-byte key's 52 characters
/// give 32 bytes and four padding bits are dropped).
pub fn decode(text: &str) -> Result<Vec<u8>, Base32Error> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8 + 1);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for (offset, c) in text.char_indices() {
        if bits >= 8 {
            out.push((acc & 0xff) as u8);
            acc >>= 8;
            bits -= 8;
        }
        let value = value_of(c).ok_or(Base32Error::BadChar(c, offset))?;
        acc |= u32::from(value) << bits;
        bits += 5;
    }
    if bits > 0 {
        out.push((acc & 0xff) as u8);
    }
    Ok(out)
}

/// Decodes `text` into exactly `N` bytes (a key).
pub fn decode_exact<const N: usize>(text: &str) -> Result<[u8; N], Base32Error> {
    let bytes = decode(text)?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| Base32Error::Length {
            got: bytes.len(),
            want: N,
        })
}

fn value_of(c: char) -> Option<u8> {
    let byte = u8::try_from(c).ok()?;
    ALPHABET
        .iter()
        .position(|&a| a == byte)
        .and_then(|p| u8::try_from(p).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_length() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = encode(&bytes);
            assert_eq!(decode(&text).unwrap(), bytes, "len {len}");
        }
    }

    #[test]
    fn a_32_byte_key_is_52_characters() {
        assert_eq!(encode(&[0xa5; 32]).len(), 52);
        let key: [u8; 32] = decode_exact(&encode(&[7; 32])).unwrap();
        assert_eq!(key, [7; 32]);
    }

    #[test]
    fn reads_and_writes_back_a_key_printed_by_rspamadm() {
        // `rspamadm keypair` (Rspamd 3.4); crypto's tests check the bytes.
        let text = "tdya6yyj6k89ww8bnoeeth99chx181r9bmqo9qwjuffdsfcp1mny";
        let key: [u8; 32] = decode_exact(text).unwrap();
        assert_eq!(encode(&key), text);
    }

    #[test]
    fn low_bits_come_first() {
        // 0x01: value 1 ('b') then the remaining three zero bits ('y').
        assert_eq!(encode(&[0x01]), "by");
        // 0x20: low five bits zero ('y'), then 1 ('b').
        assert_eq!(encode(&[0x20]), "yb");
    }

    #[test]
    fn rejects_letters_outside_the_alphabet() {
        assert_eq!(decode("ybl"), Err(Base32Error::BadChar('l', 2)));
        assert_eq!(decode("yb0").unwrap_err(), Base32Error::BadChar('0', 2));
        assert!(matches!(
            decode_exact::<32>("ybnd"),
            Err(Base32Error::Length { got: 2, want: 32 })
        ));
    }
}
