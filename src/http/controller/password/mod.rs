//! Controller passwords as Rspamd stores them: plain text, or a hash made
//! by `rspamadm pw` (or `sluice pw`) of the form `$ID$SALT$KEY`, where ID
//! names the key derivation (`1`: PBKDF2 over BLAKE2b, `2`:
//! Catena-Butterfly) and SALT and KEY are Rspamd's base32 (zbase32's
//! alphabet, bits least significant first).
//!
//! A hash is verified by deriving the key again from the given password;
//! plain passwords and derived keys are compared in constant time. A
//! password that passed is remembered (as a digest) so that the WebUI,
//! which sends it with every request, does not pay the derivation each
//! time; wrong passwords always pay it, and the controller's login
//! lockout bounds how often.
mod base32;
mod catena;
mod pbkdf2;

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use blake2::{Blake2b512, Digest};

/// The key derivations Rspamd's hashes name, with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kdf {
    /// `$1$`: PBKDF2-blake2b, 16000 rounds.
    Pbkdf2,
    /// `$2$`: Catena-Butterfly, garlic 10.
    Catena,
}

const SALT_LEN: usize = 20;
const KEY_LEN: usize = 32;
const PBKDF2_ROUNDS: u32 = 16_000;
const CATENA_GARLIC: u8 = 10;
const CATENA_LAMBDA: u8 = 4;
/// Catena's associated data in Rspamd.
const CATENA_DATA: &[u8] = b"rspamd";

impl Kdf {
    /// The `--type` names of `rspamadm pw`.
    pub fn from_name(name: &str) -> Option<Kdf> {
        match name {
            "pbkdf2" | "PBKDF2-blake2b" => Some(Kdf::Pbkdf2),
            "catena" | "Catena-Butterfly" => Some(Kdf::Catena),
            _ => None,
        }
    }

    fn id(self) -> u8 {
        match self {
            Kdf::Pbkdf2 => 1,
            Kdf::Catena => 2,
        }
    }

    fn derive(self, password: &[u8], salt: &[u8]) -> Vec<u8> {
        match self {
            Kdf::Pbkdf2 => pbkdf2::derive(password, salt, PBKDF2_ROUNDS, KEY_LEN),
            Kdf::Catena => {
                let p = catena::Params {
                    lambda: CATENA_LAMBDA,
                    min_garlic: CATENA_GARLIC,
                    garlic: CATENA_GARLIC,
                    hash_len: KEY_LEN as u8,
                };
                catena::hash(password, salt, CATENA_DATA, p)
                    .expect("Rspamd's parameters are usable")
            }
        }
    }
}

/// A configured password: text, or a hash to verify against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored<'a> {
    Plain(&'a str),
    Hashed {
        kdf: Kdf,
        salt: Vec<u8>,
        key: Vec<u8>,
    },
    /// Names a known derivation but its salt or key does not decode to
    /// the right length: matches nothing, as in Rspamd.
    Broken(&'a str),
}

impl<'a> Stored<'a> {
    /// Reads a configured value. `$ID$` with an ID Rspamd does not know is
    /// plain text, as Rspamd reads it.
    pub fn parse(s: &'a str) -> Stored<'a> {
        let kdf = match s.get(..3) {
            Some("$1$") => Kdf::Pbkdf2,
            Some("$2$") => Kdf::Catena,
            _ => return Stored::Plain(s),
        };
        let Some((salt, key)) = s[3..].split_once('$') else {
            return Stored::Broken("no `$` between salt and key");
        };
        match (base32::decode(salt), base32::decode(key)) {
            (Some(salt), Some(key)) if salt.len() == SALT_LEN && key.len() == KEY_LEN => {
                Stored::Hashed { kdf, salt, key }
            }
            (Some(_), Some(_)) => Stored::Broken("salt or key of the wrong length"),
            _ => Stored::Broken("salt or key is not Rspamd's base32"),
        }
    }

    /// Why a hash-looking value can never match; `None` when it is usable.
    pub fn problem(&self) -> Option<&'a str> {
        match self {
            Stored::Broken(why) => Some(why),
            _ => None,
        }
    }
}

/// Whether `given` is the password `configured` stands for.
pub fn verify(configured: &str, given: &str) -> bool {
    match Stored::parse(configured) {
        Stored::Plain(p) => same(p.as_bytes(), given.as_bytes()),
        Stored::Broken(_) => false,
        Stored::Hashed { kdf, salt, key } => {
            let memo = memo_key(configured, given);
            if passed()
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&memo)
            {
                return true;
            }
            let ok = same(&kdf.derive(given.as_bytes(), &salt), &key);
            if ok {
                let mut set = passed().lock().unwrap_or_else(|p| p.into_inner());
                if set.len() >= MEMO_MAX {
                    set.clear();
                }
                set.insert(memo);
            }
            ok
        }
    }
}

/// A hash of `password` in Rspamd's format, with a fresh random salt.
pub fn encrypt(kdf: Kdf, password: &str) -> String {
    let mut salt = [0u8; SALT_LEN];
    fill_random(&mut salt);
    let key = kdf.derive(password.as_bytes(), &salt);
    format!(
        "${}${}${}",
        kdf.id(),
        base32::encode(&salt),
        base32::encode(&key)
    )
}

/// Salts from the operating system's generator.
fn fill_random(buf: &mut [u8]) {
    // rustls's ring provider is linked in already; its generator reads
    // the kernel's.
    use rustls::crypto::ring::default_provider;
    default_provider()
        .secure_random
        .fill(buf)
        .expect("the system random generator works");
}

/// Password pairs that passed at most (a WebUI or two and some scripts).
const MEMO_MAX: usize = 64;

fn passed() -> &'static Mutex<HashSet<[u8; 64]>> {
    static PASSED: OnceLock<Mutex<HashSet<[u8; 64]>>> = OnceLock::new();
    PASSED.get_or_init(Default::default)
}

fn memo_key(configured: &str, given: &str) -> [u8; 64] {
    let mut d = Blake2b512::new();
    d.update((configured.len() as u64).to_le_bytes());
    d.update(configured);
    d.update(given);
    d.finalize().into()
}

/// Compares without an early exit, so timing does not reveal the prefix.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(!x));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made by `rspamadm pw -p test` and `rspamadm pw -t pbkdf2 -p test`
    // (Rspamd 3.4).
    const CATENA_TEST: &str =
        "$2$tswof7ip5395745hkth5895531xqaayk$447cr594t1rfdxwude31k77rpiyak8ici4ui6i337hsbqxeoespy";
    const PBKDF2_TEST: &str =
        "$1$gdcxp6yiinbzdbwqfsfxzu6g44a6n41n$e66zhrnqomxyw8cbg6ypshbeoqx58ukapa3hms9i6sgm9yfziaoy";

    #[test]
    fn rspamadm_hashes_verify() {
        for h in [CATENA_TEST, PBKDF2_TEST] {
            assert!(matches!(Stored::parse(h), Stored::Hashed { .. }), "{h}");
            assert!(!verify(h, "Test"), "{h}");
            assert!(!verify(h, "test "), "{h}");
            assert!(!verify(h, h), "the hash itself is no password: {h}");
            assert!(verify(h, "test"), "{h}");
            // Remembered now; still only for the right password.
            assert!(verify(h, "test"), "{h}");
            assert!(!verify(h, "tesT"), "{h}");
        }
    }

    #[test]
    fn rspamadm_hashes_of_long_passwords_verify() {
        // Over 64 bytes: PBKDF2 hashes it to a key first.
        let pw = "a much longer password with spaces and ünïcödé that is more than sixty-four bytes long, really";
        for h in [
            "$2$7hm638g4prsosb1u7m63oxhfg8eidhrt$r6zzyhtnjkrayehsuuepcs5uznd11cwyjafmx49tme1hp4wxt7sy",
            "$1$mq5kj5xi8it85zr6nci8zwspkuc4sp3o$8qez7xtijnyyqoe7uaahkwrbm1t3boz4daqaa3ywkdpod68pfhyb",
        ] {
            assert!(verify(h, pw), "{h}");
            assert!(!verify(h, &pw[..pw.len() - 1]), "{h}");
        }
    }

    #[test]
    fn own_hashes_verify_and_differ_by_salt() {
        for kdf in [Kdf::Pbkdf2, Kdf::Catena] {
            let a = encrypt(kdf, "s3cret");
            let b = encrypt(kdf, "s3cret");
            assert_ne!(a, b);
            assert!(a.starts_with(&format!("${}$", kdf.id())));
            assert_eq!(a.len(), 3 + 32 + 1 + 52);
            assert!(verify(&a, "s3cret"));
            assert!(!verify(&a, "s3creT"));
        }
    }

    #[test]
    fn plain_and_unknown_ids_compare_as_text() {
        assert!(verify("secret", "secret"));
        assert!(!verify("secret", "secreT"));
        assert!(verify("$9$abc$def", "$9$abc$def"));
        assert!(!verify("", "x"));
    }

    #[test]
    fn broken_hashes_match_nothing() {
        for bad in ["$2$short$key", "$1$nodollar", "$2$0000$0000"] {
            assert!(Stored::parse(bad).problem().is_some(), "{bad}");
            assert!(!verify(bad, bad));
            assert!(!verify(bad, ""));
        }
    }

    #[test]
    fn comparison_is_exact() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abcd"));
        assert!(!same(b"abcd", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"", b"a"));
    }
}
