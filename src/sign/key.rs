//! Private keys from files: PEM RSA (PKCS#1 `RSA PRIVATE KEY` or PKCS#8
//! `PRIVATE KEY`), PEM Ed25519 (PKCS#8), and Rspamd's own Ed25519 form (the
//! base64 of seed and public key that `rspamadm dkim_keygen -t ed25519`
//! prints). Keys are cached by path and reread when the file changes, so
//! a rotated key is used without a reload.
//!
//! ring signs; it refuses RSA keys outside 2048..=4096 bits, which RFC 8301
//! still allows from 1024, so those sign through the `rsa` crate.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use mail_auth::common::crypto::{Algorithm, DkimKey, Ed25519Key, RsaKey, Sha256, SigningKey};
use mail_auth::common::headers::Writable;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;

use super::error::KeyError;

/// A private key that signs DKIM and ARC.
pub enum Key {
    /// RSA of 2048..=4096 bits or Ed25519, signed by ring.
    Ring(Box<DkimKey>),
    /// RSA of a size ring refuses.
    OtherRsa(Box<RsaPrivateKey>),
}

/// DER DigestInfo prefix of a SHA-256 digest (RFC 8017 9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

impl SigningKey for Key {
    type Hasher = Sha256;

    fn sign(&self, input: impl Writable) -> mail_auth::Result<Vec<u8>> {
        match self {
            Key::Ring(key) => key.sign(input),
            Key::OtherRsa(key) => {
                let digest = self.hash(input);
                let padding = Pkcs1v15Sign {
                    hash_len: Some(digest.as_ref().len()),
                    prefix: SHA256_DIGEST_INFO.into(),
                };
                // With an RNG the private operation is blinded.
                key.sign_with_rng(&mut rsa::rand_core::OsRng, padding, digest.as_ref())
                    .map_err(|e| {
                        mail_auth::Error::Crypto(mail_auth::common::crypto::CryptoError::Library(
                            e.to_string(),
                        ))
                    })
            }
        }
    }

    fn algorithm(&self) -> Algorithm {
        match self {
            Key::Ring(key) => key.algorithm(),
            Key::OtherRsa(_) => Algorithm::RsaSha256,
        }
    }
}

/// A loaded key shared by the messages it signs; mail-auth's signers take
/// their key by value, so they get this handle rather than the key.
#[derive(Clone)]
pub struct SharedKey(pub Arc<Key>);

impl std::fmt::Debug for SharedKey {
    // Never print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedKey({})", self.0.algorithm().name())
    }
}

impl mail_auth::common::crypto::SigningKey for SharedKey {
    type Hasher = Sha256;

    fn sign(&self, input: impl Writable) -> mail_auth::Result<Vec<u8>> {
        self.0.sign(input)
    }

    fn algorithm(&self) -> Algorithm {
        self.0.algorithm()
    }
}

/// Parses a key file's bytes; `path` only names it in errors.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Key, KeyError> {
    let bad = |reason: String| KeyError::Parse {
        path: path.to_path_buf(),
        reason,
    };
    if let Ok(der) = PrivateKeyDer::from_pem_slice(bytes) {
        return match der {
            PrivateKeyDer::Pkcs1(p1) => {
                let raw = p1.secret_pkcs1_der();
                match RsaKey::from_key_der(PrivateKeyDer::Pkcs1(raw.into())) {
                    Ok(k) => Ok(Key::Ring(Box::new(DkimKey::Rsa(k)))),
                    Err(e) => RsaPrivateKey::from_pkcs1_der(raw)
                        .map(|k| Key::OtherRsa(Box::new(k)))
                        .map_err(|_| bad(e.to_string())),
                }
            }
            PrivateKeyDer::Pkcs8(p8) => parse_pkcs8(p8.secret_pkcs8_der())
                .ok_or_else(|| bad("PKCS#8 key is neither RSA nor Ed25519".into())),
            _ => Err(bad("only RSA and Ed25519 keys sign DKIM".into())),
        };
    }
    rspamd_ed25519(bytes).ok_or_else(|| bad("not a PEM key nor an Ed25519 key in base64".into()))
}

/// A PKCS#8 key: RSA, else Ed25519 (v1 as OpenSSL writes it, or v2).
fn parse_pkcs8(raw: &[u8]) -> Option<Key> {
    if let Ok(k) = RsaKey::from_key_der(PrivateKeyDer::Pkcs8(raw.into())) {
        return Some(Key::Ring(Box::new(DkimKey::Rsa(k))));
    }
    if let Ok(k) = Ed25519Key::from_pkcs8_maybe_unchecked_der(raw) {
        return Some(Key::Ring(Box::new(DkimKey::Ed25519(k))));
    }
    RsaPrivateKey::from_pkcs8_der(raw)
        .ok()
        .map(|k| Key::OtherRsa(Box::new(k)))
}

/// Rspamd's Ed25519 key file: base64 of the 32-byte seed followed by the
/// 32-byte public key.
fn rspamd_ed25519(bytes: &[u8]) -> Option<Key> {
    let text = std::str::from_utf8(bytes).ok()?.trim();
    let raw = mail_parser::decoders::base64::base64_decode(text.as_bytes())?;
    let (seed, public) = (raw.get(..32)?, raw.get(32..)?);
    if public.len() != 32 {
        return None;
    }
    Ed25519Key::from_seed_and_public_key(seed, public)
        .ok()
        .map(|k| Key::Ring(Box::new(DkimKey::Ed25519(k))))
}

/// Reads and parses a key file.
pub fn load(path: &Path) -> Result<Key, KeyError> {
    let bytes = std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &bytes)
}

/// Loaded keys by path, each with the modification time it was read at.
#[derive(Debug, Default)]
pub struct KeyCache {
    keys: Mutex<HashMap<PathBuf, (Option<SystemTime>, SharedKey)>>,
    /// Paths found missing, so that each is reported once. Bounded: past
    /// the bound every miss counts as reported.
    missing: Mutex<std::collections::HashSet<PathBuf>>,
}

/// Most missing paths remembered.
const MISSING_MAX: usize = 10_000;

impl KeyCache {
    /// Whether `path` is reported missing for the first time.
    pub fn first_miss(&self, path: &Path) -> bool {
        let mut seen = self.missing.lock().unwrap_or_else(|p| p.into_inner());
        seen.len() < MISSING_MAX && seen.insert(path.to_path_buf())
    }

    /// The key at `path`, read again only when the file's time changed.
    pub fn get(&self, path: &Path) -> Result<SharedKey, KeyError> {
        let mtime = std::fs::metadata(path)
            .map_err(|source| KeyError::Read {
                path: path.to_path_buf(),
                source,
            })?
            .modified()
            .ok();
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, key)) = keys.get(path) {
            if *at == mtime {
                return Ok(key.clone());
            }
        }
        let key = SharedKey(Arc::new(load(path)?));
        keys.insert(path.to_path_buf(), (mtime, key.clone()));
        Ok(key)
    }
}
