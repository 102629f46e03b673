//! PBKDF2 with keyed BLAKE2b as its PRF, as Rspamd's `$1$` password hashes
//! use it (not HMAC: the password is the BLAKE2b key). A password longer
//! than a BLAKE2b key is hashed to one first, as Rspamd does.
use blake2::digest::{FixedOutput, KeyInit, Update};
use blake2::{Blake2b512, Blake2bMac512, Digest};

const BLOCK: usize = 64;
type Block = [u8; BLOCK];

/// `key_len` bytes derived from `password` and `salt` in `rounds` rounds
/// (at least one).
pub fn derive(password: &[u8], salt: &[u8], rounds: u32, key_len: usize) -> Vec<u8> {
    let long_key: Block;
    let key = if password.len() > BLOCK {
        long_key = Blake2b512::digest(password).into();
        &long_key[..]
    } else {
        password
    };
    let mut out = Vec::with_capacity(key_len);
    let mut count: u32 = 1;
    while out.len() < key_len {
        let mut salted = salt.to_vec();
        salted.extend_from_slice(&count.to_be_bytes());
        let mut d = prf(key, &salted);
        let mut acc = d;
        for _ in 1..rounds.max(1) {
            d = prf(key, &d);
            for (a, x) in acc.iter_mut().zip(d) {
                *a ^= x;
            }
        }
        let take = (key_len - out.len()).min(BLOCK);
        out.extend_from_slice(&acc[..take]);
        count += 1;
    }
    out
}

/// BLAKE2b-512 of `msg` keyed with `key`; unkeyed for an empty key, as
/// libsodium treats it.
fn prf(key: &[u8], msg: &[u8]) -> Block {
    if key.is_empty() {
        return Blake2b512::digest(msg).into();
    }
    let mut mac = <Blake2bMac512 as KeyInit>::new_from_slice(key).expect("key of at most 64 bytes");
    Update::update(&mut mac, msg);
    mac.finalize_fixed().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_passwords_are_hashed_to_a_key_first() {
        let long = [b'a'; 100];
        let key: Block = Blake2b512::digest(long).into();
        assert_eq!(derive(&long, b"salt", 3, 32), derive(&key, b"salt", 3, 32));
    }

    #[test]
    fn blocks_continue_past_one_digest() {
        let two = derive(b"pw", b"salt", 2, 100);
        assert_eq!(two.len(), 100);
        assert_eq!(&two[..64], &derive(b"pw", b"salt", 2, 64)[..]);
        assert_ne!(&two[..36], &two[64..]);
    }

    #[test]
    fn rounds_change_the_key() {
        assert_ne!(derive(b"pw", b"salt", 1, 32), derive(b"pw", b"salt", 2, 32));
        assert_ne!(derive(b"pw", b"salt", 1, 32), derive(b"pw", b"salu", 1, 32));
    }
}
