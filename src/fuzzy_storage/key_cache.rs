//! Shared keys of encrypted clients, by the storage key and the client's
//! public key: the key exchange is the dearest step of an encrypted
//! request, and a client (Rspamd's, sluice's) keeps one keypair per rule, so
//! a storage meets the same few public keys over and over. Rspamd's storage
//! keeps such a cache too (`keypair_cache_size`, 512 by default).
//!
//! Bounded, least recently used out first. A pairing that fails (a weak
//! public key) is not kept: it is refused each time.
use std::collections::HashMap;
use std::sync::Mutex;

use sluice_proto::fuzzy::crypto::KEY_LEN;
use sluice_proto::fuzzy::{CryptoError, Keypair, SharedKey};

/// Rspamd's default `keypair_cache_size`.
pub const DEFAULT_CAPACITY: usize = 512;

type Pairing = ([u8; KEY_LEN], [u8; KEY_LEN]);

#[derive(Debug)]
pub struct KeyCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    keys: HashMap<Pairing, (SharedKey, u64)>,
    clock: u64,
    /// Key exchanges done (misses), for tests and logs.
    derived: u64,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl KeyCache {
    /// A cache of at most `capacity` pairings (0 keeps none).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::default(),
        }
    }

    /// The shared key of `pair` with the client key `peer`, derived on a
    /// miss.
    pub fn shared(&self, pair: &Keypair, peer: &[u8; KEY_LEN]) -> Result<SharedKey, CryptoError> {
        let id = (*pair.public(), *peer);
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        if let Some((key, used)) = inner.keys.get_mut(&id) {
            *used = now;
            return Ok(key.clone());
        }
        inner.derived += 1;
        // Derived under the lock: the storage answers on one thread, and
        // two threads deriving one pairing would only waste the work.
        let key = pair.shared(peer)?;
        if self.capacity == 0 {
            return Ok(key);
        }
        if inner.keys.len() >= self.capacity {
            // A full scan, only when a new client arrives at a full cache.
            if let Some(oldest) = inner.keys.iter().min_by_key(|(_, v)| v.1).map(|(k, _)| *k) {
                inner.keys.remove(&oldest);
            }
        }
        inner.keys.insert(id, (key.clone(), now));
        Ok(key)
    }

    /// How many key exchanges were done (cache misses).
    pub fn derived(&self) -> u64 {
        self.lock().derived
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_client_is_not_derived_again_and_keys_agree() {
        let server = Keypair::generate().unwrap();
        let client = Keypair::generate().unwrap();
        let cache = KeyCache::new(4);
        let a = cache.shared(&server, client.public()).unwrap();
        let b = cache.shared(&server, client.public()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, server.shared(client.public()).unwrap());
        assert_eq!(cache.derived(), 1);
        // Another storage keypair is another pairing.
        let other = Keypair::generate().unwrap();
        let c = cache.shared(&other, client.public()).unwrap();
        assert_ne!(a, c);
        assert_eq!(cache.derived(), 2);
    }

    #[test]
    fn the_least_recently_used_goes_first_when_full() {
        let server = Keypair::generate().unwrap();
        let clients: Vec<Keypair> = (0..3).map(|_| Keypair::generate().unwrap()).collect();
        let cache = KeyCache::new(2);
        cache.shared(&server, clients[0].public()).unwrap();
        cache.shared(&server, clients[1].public()).unwrap();
        // Client 0 used again: client 1 is now the oldest.
        cache.shared(&server, clients[0].public()).unwrap();
        cache.shared(&server, clients[2].public()).unwrap();
        assert_eq!(cache.derived(), 3);
        cache.shared(&server, clients[0].public()).unwrap();
        assert_eq!(cache.derived(), 3, "client 0 stayed");
        cache.shared(&server, clients[1].public()).unwrap();
        assert_eq!(cache.derived(), 4, "client 1 was evicted");
    }

    #[test]
    fn a_weak_key_is_refused_every_time() {
        let server = Keypair::generate().unwrap();
        let cache = KeyCache::new(2);
        assert_eq!(
            cache.shared(&server, &[0; KEY_LEN]).unwrap_err(),
            CryptoError::WeakKey
        );
        assert!(cache.shared(&server, &[0; KEY_LEN]).is_err());
        assert_eq!(cache.derived(), 2);
    }
}
