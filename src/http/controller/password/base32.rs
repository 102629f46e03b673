//! Rspamd's base32: zbase32's alphabet with the bits of each byte taken
//! least significant first (not RFC 4648's order), no padding.
use std::sync::OnceLock;

use data_encoding::{BitOrder, Encoding, Specification};

fn rspamd() -> &'static Encoding {
    static ENC: OnceLock<Encoding> = OnceLock::new();
    ENC.get_or_init(|| {
        let mut spec = Specification::new();
        spec.symbols.push_str("ybndrfg8ejkmcpqxot1uwisza345h769");
        spec.bit_order = BitOrder::LeastSignificantFirst;
        spec.check_trailing_bits = false;
        spec.encoding().expect("a valid base32 specification")
    })
}

pub fn encode(bytes: &[u8]) -> String {
    rspamd().encode(bytes)
}

/// `None` for characters outside the alphabet or a length no encoding has.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    rspamd().decode(text.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_least_significant_first() {
        // 0x01: bit 0 set in the first 5-bit group ('b' is 1), the rest 0.
        assert_eq!(encode(&[0x01]), "by");
        assert_eq!(encode(&[0x20]), "yb");
        assert_eq!(decode("by"), Some(vec![0x01]));
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&bytes)), Some(bytes));
    }

    #[test]
    fn foreign_characters_are_refused() {
        assert_eq!(decode("0"), None);
        assert_eq!(decode("ybnd!"), None);
    }
}
