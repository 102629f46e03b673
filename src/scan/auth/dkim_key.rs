//! Whether a DKIM key record holds a usable public key. With the ring backend, mail-auth keeps a
//! record's `p=` bytes unread until it verifies, so a key that does not parse (or an RSA
//! signature checked against an Ed25519 key) comes back as a bad signature. Rspamd, and RFC
//! 6376 6.1.2, call that a permanent failure of the key, not a rejected signature: this reads
//! the record again (from the resolver's cache) to tell the two apart.

use data_encoding::BASE64;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;

use crate::dns::{Budget, Resolver};

/// `false` when the selector's record holds a key that cannot verify an `rsa` signature
/// (`rsa` true) or an `ed25519` one; `true` when it is usable or cannot be read now (the
/// verifier's own answer stands then).
pub async fn usable(
    resolver: &Resolver,
    domain: &str,
    selector: &str,
    rsa: bool,
    budget: &Budget,
) -> bool {
    let name = format!("{selector}._domainkey.{domain}");
    let Ok(texts) = resolver.txt(&name, budget).await else {
        return true;
    };
    match texts.iter().find_map(|t| key_of(t)) {
        Some((kind, key)) => fits(&kind, &key, rsa),
        None => true,
    }
}

/// The record's `k=` (default `rsa`) and decoded `p=`; `None` when it has no `p=`.
fn key_of(record: &str) -> Option<(String, Vec<u8>)> {
    let mut kind = "rsa".to_string();
    let mut key = None;
    for tag in record.split(';') {
        let Some((k, v)) = tag.split_once('=') else {
            continue;
        };
        let value: String = v.chars().filter(|c| !c.is_whitespace()).collect();
        match k.trim() {
            "k" => kind = value.to_ascii_lowercase(),
            "p" => key = Some(value),
            _ => {}
        }
    }
    let key = key?;
    // An empty p= is a revoked key: mail-auth reports that itself.
    if key.is_empty() {
        return None;
    }
    Some((kind, BASE64.decode(key.as_bytes()).unwrap_or_default()))
}

fn fits(kind: &str, key: &[u8], rsa: bool) -> bool {
    match (kind, rsa) {
        ("rsa", true) => {
            rsa::RsaPublicKey::from_public_key_der(key).is_ok()
                || rsa::RsaPublicKey::from_pkcs1_der(key).is_ok()
        }
        ("ed25519", false) => key.len() == 32,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_cannot_verify_their_signature_kind_are_told_apart() {
        let garbage = key_of("v=DKIM1; k=rsa; p=bm90IGEga2V5IGF0IGFsbA==").unwrap();
        assert!(!fits(&garbage.0, &garbage.1, true));
        let ed = key_of(&format!(
            "v=DKIM1; k=ed25519; p={}",
            BASE64.encode(&[7; 32])
        ))
        .unwrap();
        assert!(fits(&ed.0, &ed.1, false));
        assert!(
            !fits(&ed.0, &ed.1, true),
            "an rsa signature on an ed25519 key"
        );
        assert!(
            key_of("v=DKIM1; k=rsa; p=").is_none(),
            "revoked: mail-auth's answer"
        );
        assert!(!fits("rsa", b"\x30\x03\x02\x01\x01", true));
    }
}
