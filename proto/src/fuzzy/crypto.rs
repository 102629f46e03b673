//! Rspamd's cryptobox in its default mode, as the fuzzy protocol uses it.
//!
//! - Keys: curve25519 (X25519), 32-byte secret and public keys.
//! - Shared key ("nm"): HChaCha20 over the X25519 shared point with an
//!   all-zero 16-byte input (`rspamd_cryptobox_nm`), as libsodium's
//!   `crypto_box_curve25519xchacha20poly1305_beforenm`.
//! - Sealing: XChaCha20 keyed with nm and the 24-byte nonce; the whole first
//!   64-byte keystream block is spent on the Poly1305 key (its first 32
//!   bytes), the data is enciphered from the second block on, and the
//!   16-byte tag is Poly1305 over the ciphertext alone. This differs from
//!   libsodium's secretbox (which starts the data 32 bytes into the first
//!   block), so no packaged AEAD matches it; it is assembled here from the
//!   stream cipher and the one-time authenticator.

use chacha20::cipher::{array::Array, KeyIvInit, StreamCipher};
use chacha20::{hchacha, Key, XChaCha20, XNonce, R20};
use poly1305::universal_hash::KeyInit;
use poly1305::Poly1305;
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, StaticSecret};

use super::base32::{self, Base32Error};

pub const KEY_LEN: usize = 32;
pub const NONCE_LEN: usize = 24;
pub const MAC_LEN: usize = 16;

/// Why a key or a sealed message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("bad key: {0}")]
    Key(#[from] Base32Error),
    #[error("the public key does not belong to the private key")]
    KeyMismatch,
    #[error("the peer's public key gives a degenerate shared secret")]
    WeakKey,
    #[error("message authentication failed")]
    BadMac,
    #[error("no randomness from the system: {0}")]
    Random(String),
}

/// A curve25519 keypair (Rspamd's `kex` keypair).
#[derive(Clone)]
pub struct Keypair {
    secret: StaticSecret,
    public: [u8; KEY_LEN],
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keypair")
            .field("public", &base32::encode(&self.public))
            .finish_non_exhaustive()
    }
}

impl Keypair {
    /// A new random keypair.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut secret = [0u8; KEY_LEN];
        fill_random(&mut secret)?;
        Ok(Self::from_secret(secret))
    }

    #[must_use]
    pub fn from_secret(secret: [u8; KEY_LEN]) -> Self {
        let secret = StaticSecret::from(secret);
        let public = PublicKey::from(&secret).to_bytes();
        Self { secret, public }
    }

    /// Reads a keypair as Rspamd's configs write it (`privkey`, and
    /// `pubkey` when given, in Rspamd base32); a `pubkey` that is not the
    /// private key's is refused rather than silently failing every client.
    pub fn from_base32(privkey: &str, pubkey: Option<&str>) -> Result<Self, CryptoError> {
        let pair = Self::from_secret(base32::decode_exact(privkey.trim())?);
        if let Some(pubkey) = pubkey {
            let given: [u8; KEY_LEN] = base32::decode_exact(pubkey.trim())?;
            if given != pair.public {
                return Err(CryptoError::KeyMismatch);
            }
        }
        Ok(pair)
    }

    #[must_use]
    pub fn public(&self) -> &[u8; KEY_LEN] {
        &self.public
    }

    #[must_use]
    pub fn secret_bytes(&self) -> [u8; KEY_LEN] {
        self.secret.to_bytes()
    }

    /// The shared key with a peer's public key.
    pub fn shared(&self, peer: &[u8; KEY_LEN]) -> Result<SharedKey, CryptoError> {
        let point = self.secret.diffie_hellman(&PublicKey::from(*peer));
        if !point.was_contributory() {
            return Err(CryptoError::WeakKey);
        }
        let nm = hchacha::<R20>(&Key::from(*point.as_bytes()), &Array::from([0u8; 16]));
        Ok(SharedKey(nm.into()))
    }
}

/// Reads a public key written in Rspamd base32 (`encryption_key`).
pub fn public_from_base32(text: &str) -> Result<[u8; KEY_LEN], CryptoError> {
    Ok(base32::decode_exact(text.trim())?)
}

/// The precomputed key of one client/server key pairing.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedKey([u8; KEY_LEN]);

impl std::fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedKey(..)")
    }
}

impl SharedKey {
    /// Enciphers `data` in place and returns its tag.
    #[must_use]
    pub fn seal(&self, nonce: &[u8; NONCE_LEN], data: &mut [u8]) -> [u8; MAC_LEN] {
        let (mut stream, mac) = self.start(nonce);
        stream.apply_keystream(data);
        mac.compute_unpadded(data).into()
    }

    /// Checks `mac` and deciphers `data` in place; on a bad tag `data` is
    /// left as it came.
    pub fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        mac: &[u8; MAC_LEN],
        data: &mut [u8],
    ) -> Result<(), CryptoError> {
        let (mut stream, auth) = self.start(nonce);
        let expected: [u8; MAC_LEN] = auth.compute_unpadded(data).into();
        if !bool::from(expected.ct_eq(mac)) {
            return Err(CryptoError::BadMac);
        }
        stream.apply_keystream(data);
        Ok(())
    }

    /// The cipher positioned at the second block, and the authenticator
    /// keyed with the first.
    fn start(&self, nonce: &[u8; NONCE_LEN]) -> (XChaCha20, Poly1305) {
        let mut stream = XChaCha20::new(&Key::from(self.0), &XNonce::from(*nonce));
        let mut block = [0u8; 64];
        stream.apply_keystream(&mut block);
        let auth = Poly1305::new(poly1305::Key::from_slice(&block[..32]));
        (stream, auth)
    }
}

/// A fresh random nonce.
pub fn random_nonce() -> Result<[u8; NONCE_LEN], CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce)?;
    Ok(nonce)
}

fn fill_random(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buf).map_err(|e| CryptoError::Random(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Printed by `rspamadm keypair` (Rspamd 3.4).
    const PRIVKEY: &str = "aadjrin691ibgxhpcpg7iyb854wkrtmw178jsgdoqec9d16hszwy";
    const PUBKEY: &str = "tdya6yyj6k89ww8bnoeeth99chx181r9bmqo9qwjuffdsfcp1mny";

    #[test]
    fn derives_the_public_key_rspamadm_printed() {
        let pair = Keypair::from_base32(PRIVKEY, Some(PUBKEY)).unwrap();
        assert_eq!(base32::encode(pair.public()), PUBKEY);
    }

    #[test]
    fn refuses_a_public_key_of_another_pair() {
        let other = base32::encode(Keypair::generate().unwrap().public());
        assert_eq!(
            Keypair::from_base32(PRIVKEY, Some(&other)).unwrap_err(),
            CryptoError::KeyMismatch
        );
    }

    #[test]
    fn both_sides_derive_one_shared_key() {
        let a = Keypair::generate().unwrap();
        let b = Keypair::generate().unwrap();
        assert_eq!(a.shared(b.public()).unwrap(), b.shared(a.public()).unwrap());
    }

    #[test]
    fn refuses_the_zero_point() {
        let a = Keypair::generate().unwrap();
        assert_eq!(a.shared(&[0; 32]).unwrap_err(), CryptoError::WeakKey);
    }

    #[test]
    fn seal_then_open_and_tampering_fails() {
        let a = Keypair::generate().unwrap();
        let b = Keypair::generate().unwrap();
        let key = a.shared(b.public()).unwrap();
        let nonce = random_nonce().unwrap();
        let mut data = b"fuzzy command bytes".to_vec();
        let mac = key.seal(&nonce, &mut data);
        assert_ne!(&data[..], b"fuzzy command bytes");
        let mut copy = data.clone();
        copy[0] ^= 1;
        assert_eq!(key.open(&nonce, &mac, &mut copy), Err(CryptoError::BadMac));
        let mut other_nonce = nonce;
        other_nonce[23] ^= 1;
        let mut copy = data.clone();
        assert_eq!(
            key.open(&other_nonce, &mac, &mut copy),
            Err(CryptoError::BadMac)
        );
        key.open(&nonce, &mac, &mut data).unwrap();
        assert_eq!(&data[..], b"fuzzy command bytes");
    }

    /// The construction against libsodium-style XChaCha20 keystream: the
    /// data starts at the second block, so enciphering 64 zero bytes and
    /// then the data equals enciphering (64 zeros ++ data) in one pass.
    #[test]
    fn data_starts_at_the_second_keystream_block() {
        let key = SharedKey([9; 32]);
        let nonce = [4; NONCE_LEN];
        let mut data = [0u8; 10];
        let _ = key.seal(&nonce, &mut data);
        let mut whole = [0u8; 74];
        XChaCha20::new(&Key::from([9; 32]), &XNonce::from(nonce)).apply_keystream(&mut whole);
        assert_eq!(data, whole[64..]);
    }
}
