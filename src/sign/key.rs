//! Private keys from files: PEM RSA (PKCS#1 `RSA PRIVATE KEY` or PKCS#8
//! `PRIVATE KEY`), PEM Ed25519 (PKCS#8), and Rspamd's own Ed25519 form (the
//! base64 of seed and public key that `rspamadm dkim_keygen -t ed25519`
//! prints). Keys are cached by path and reread when the file changes, so
//! a rotated key is used without a reload.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use mail_auth::common::crypto::{Algorithm, DkimKey, Ed25519Key, RsaKey, Sha256, SigningKey};
use mail_auth::common::headers::Writable;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;

use super::error::KeyError;

/// A loaded key shared by the messages it signs; mail-auth's signers take
/// their key by value, so they get this handle rather than the key.
#[derive(Clone)]
pub struct SharedKey(pub Arc<DkimKey>);

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
pub fn parse(path: &Path, bytes: &[u8]) -> Result<DkimKey, KeyError> {
    let bad = |reason: String| KeyError::Parse {
        path: path.to_path_buf(),
        reason,
    };
    if let Ok(der) = PrivateKeyDer::from_pem_slice(bytes) {
        return match der {
            PrivateKeyDer::Pkcs1(_) => RsaKey::from_key_der(der)
                .map(DkimKey::Rsa)
                .map_err(|e| bad(e.to_string())),
            PrivateKeyDer::Pkcs8(p8) => {
                let raw = p8.secret_pkcs8_der().to_vec();
                match RsaKey::from_key_der(PrivateKeyDer::Pkcs8(raw.clone().into())) {
                    Ok(k) => Ok(DkimKey::Rsa(k)),
                    Err(_) => Ed25519Key::from_pkcs8_der(&raw)
                        .map(DkimKey::Ed25519)
                        .map_err(|_| bad("PKCS#8 key is neither RSA nor Ed25519".into())),
                }
            }
            _ => Err(bad("only RSA and Ed25519 keys sign DKIM".into())),
        };
    }
    rspamd_ed25519(bytes).ok_or_else(|| bad("not a PEM key nor an Ed25519 key in base64".into()))
}

/// Rspamd's Ed25519 key file: base64 of the 32-byte seed followed by the
/// 32-byte public key.
fn rspamd_ed25519(bytes: &[u8]) -> Option<DkimKey> {
    let text = std::str::from_utf8(bytes).ok()?.trim();
    let raw = mail_parser::decoders::base64::base64_decode(text.as_bytes())?;
    let (seed, public) = (raw.get(..32)?, raw.get(32..)?);
    if public.len() != 32 {
        return None;
    }
    Ed25519Key::from_seed_and_public_key(seed, public)
        .ok()
        .map(DkimKey::Ed25519)
}

/// Reads and parses a key file.
pub fn load(path: &Path) -> Result<DkimKey, KeyError> {
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
