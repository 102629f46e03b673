//! The module's records, in the embedded store or Redis (every node of a
//! cluster then reads the same network and adds to the same training set).
//!
//! Keys of rule prefix `P` over the symbol set of digest `D` (a new symbol
//! set means new keys, so a network never meets inputs it was not trained
//! on):
//! - `rn_P_D`: the network: `sluice-ann 1 D VERSION BASE64`, kept for
//!   `ann_expire` after its last training;
//! - `rn_P_D_spam` / `rn_P_D_ham`: how many vectors of the class are stored,
//!   and `rn_P_D_spam_N` the N-th (1-based), as `index:value` pairs of the
//!   inputs that are set;
//! - `rn_P_D_lock`: the node that is training, for `lock_expire`.
//!
//! Under a Redis Cluster each name starts with the hash tag `{rn_P_D}` instead.
use std::sync::Arc;
use std::time::{Duration, Instant};

use data_encoding::BASE64;

use super::error::NeuralStoreError;
use super::net::Net;
use super::profile::Profile;
use crate::redis::client::Script;
use crate::state::store::{Records, Store};

/// Training vectors wait this long for the rest of their set.
const VECTOR_TTL: Duration = Duration::from_secs(365 * 86_400);

const ANN_TAG: &str = "sluice-ann";
const ANN_FORMAT: u32 = 1;

/// A network with what ties it to its symbol set and its history.
#[derive(Debug, Clone, PartialEq)]
pub struct Ann {
    /// The profile digest it was trained on.
    pub digest: String,
    /// Raised by each training, on any node.
    pub version: u64,
    pub net: Net,
}

impl Ann {
    pub fn encode(&self) -> String {
        format!(
            "{ANN_TAG} {ANN_FORMAT} {} {} {}",
            self.digest,
            self.version,
            BASE64.encode(&self.net.to_bytes())
        )
    }

    /// Reads [`Ann::encode`] back for `profile`: a network of another symbol
    /// set, or whose width differs from the profile's, is retired.
    pub fn decode(key: &str, text: &str, profile: &Profile) -> Result<Ann, NeuralStoreError> {
        let bad = |reason: &str| NeuralStoreError::Record {
            key: key.to_string(),
            reason: reason.to_string(),
        };
        let mut f = text.split(' ');
        if f.next() != Some(ANN_TAG) {
            return Err(bad("not a network record"));
        }
        if f.next() != Some("1") {
            return Err(bad("unknown record format"));
        }
        let digest = f.next().ok_or_else(|| bad("no digest"))?.to_string();
        if digest != profile.digest() {
            return Err(NeuralStoreError::Retired {
                key: key.to_string(),
                stored: digest,
                want: profile.digest().to_string(),
            });
        }
        let version = f
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad("bad version"))?;
        let bytes = BASE64
            .decode(f.next().ok_or_else(|| bad("no network"))?.as_bytes())
            .map_err(|_| bad("network is not base64"))?;
        let net = Net::from_bytes(&bytes).map_err(|source| NeuralStoreError::Net {
            key: key.to_string(),
            source,
        })?;
        if net.inputs() != profile.len() {
            return Err(NeuralStoreError::Retired {
                key: key.to_string(),
                stored: format!("{digest} ({} inputs)", net.inputs()),
                want: format!("{} ({} inputs)", profile.digest(), profile.len()),
            });
        }
        Ok(Ann {
            digest,
            version,
            net,
        })
    }
}

/// The two classes of training vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Spam = 0,
    Ham = 1,
}

impl From<crate::verdict::AnnTrain> for Class {
    fn from(c: crate::verdict::AnnTrain) -> Class {
        match c {
            crate::verdict::AnnTrain::Spam => Class::Spam,
            crate::verdict::AnnTrain::Ham => Class::Ham,
        }
    }
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Spam => "spam",
            Class::Ham => "ham",
        }
    }
}

/// One rule's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    base: String,
}

impl Keys {
    pub fn new(prefix: &str, profile: &Profile) -> Keys {
        Keys {
            base: format!("rn_{prefix}_{}", profile.digest()),
        }
    }

    pub fn ann(&self) -> String {
        self.base.clone()
    }

    pub fn count(&self, c: Class) -> String {
        format!("{}_{}", self.base, c.as_str())
    }

    pub fn vector(&self, c: Class, n: usize) -> String {
        format!("{}_{}_{n}", self.base, c.as_str())
    }

    pub fn lock(&self) -> String {
        format!("{}_lock", self.base)
    }
}

/// A vector as the `index:value` pairs of its set inputs.
pub fn encode_vector(inputs: &[f32]) -> String {
    let mut out = String::new();
    for (i, x) in inputs.iter().enumerate().filter(|(_, x)| **x != 0.0) {
        if !out.is_empty() {
            out.push(';');
        }
        out.push_str(&format!("{i}:{x}"));
    }
    out
}

/// [`encode_vector`] back into `width` inputs; `None` for a damaged record
/// or one with an index past the width.
pub fn decode_vector(text: &str, width: usize) -> Option<Vec<f32>> {
    let mut v = vec![0.0; width];
    for pair in text.split(';').filter(|p| !p.is_empty()) {
        let (i, x) = pair.split_once(':')?;
        let i: usize = i.parse().ok()?;
        let x: f32 = x.parse().ok()?;
        if i >= width || !x.is_finite() {
            return None;
        }
        v[i] = x;
    }
    Some(v)
}

/// Appends a vector unless the class holds `limit` already; the count after.
const PUSH: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[2]) then return -1 end
n = n + 1
redis.call('SET', KEYS[1], tostring(n), 'PX', ARGV[3])
redis.call('SET', KEYS[1] .. '_' .. n, ARGV[1], 'PX', ARGV[3])
return n
";

/// Takes the training lock if nobody holds it.
const LOCK: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
";

fn script(code: &'static str) -> Arc<Script> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static SCRIPTS: OnceLock<Mutex<HashMap<&'static str, Arc<Script>>>> = OnceLock::new();
    let mut m = SCRIPTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Arc::clone(m.entry(code).or_insert_with(|| Arc::new(Script::new(code))))
}

fn millis(d: Duration) -> String {
    d.as_millis().max(1).to_string()
}

/// The module's view of its store, each call bounded by `timeout`.
#[derive(Debug, Clone)]
pub struct AnnStore {
    pub store: Store,
    pub timeout: Duration,
}

impl AnnStore {
    fn deadline(&self) -> Instant {
        Instant::now() + self.timeout
    }

    /// `keys` as stored: under a Redis Cluster the base is the hash tag of every key of
    /// the rule, so the push script's vector keys (derived from its count key) share
    /// its slot; elsewhere Rspamd's names.
    fn placed(&self, keys: &Keys) -> Keys {
        if !self.store.is_cluster() {
            return keys.clone();
        }
        Keys {
            base: self.store.tag(&keys.base, String::new()),
        }
    }

    /// The stored network for `profile`, if there is one.
    pub async fn load(
        &self,
        keys: &Keys,
        profile: &Profile,
    ) -> Result<Option<Ann>, NeuralStoreError> {
        let keys = &self.placed(keys);
        let key = keys.ann();
        let got = self
            .store
            .get(std::slice::from_ref(&key), self.deadline())
            .await?;
        match got.into_iter().next().flatten() {
            Some(text) => Ann::decode(&key, &text, profile).map(Some),
            None => Ok(None),
        }
    }

    pub async fn save(
        &self,
        keys: &Keys,
        ann: &Ann,
        ttl: Duration,
    ) -> Result<(), NeuralStoreError> {
        let keys = &self.placed(keys);
        let pair = (keys.ann(), ann.encode());
        Ok(self.store.set(&[pair], ttl, self.deadline()).await?)
    }

    /// Stored vectors of each class: (spam, ham).
    pub async fn counts(&self, keys: &Keys) -> Result<(usize, usize), NeuralStoreError> {
        let keys = &self.placed(keys);
        let k = [keys.count(Class::Spam), keys.count(Class::Ham)];
        let got = self.store.get(&k, self.deadline()).await?;
        let n = |v: Option<&Option<String>>| {
            v.and_then(Option::as_deref)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)
        };
        Ok((n(got.first()), n(got.get(1))))
    }

    /// Stores a vector of class `c` unless it holds `limit` of them; the
    /// class's count after, `None` when it was full.
    pub async fn push(
        &self,
        keys: &Keys,
        c: Class,
        inputs: &[f32],
        limit: usize,
    ) -> Result<Option<usize>, NeuralStoreError> {
        let keys = &self.placed(keys);
        let count = keys.count(c);
        let vector = encode_vector(inputs);
        let args = [vector.clone(), limit.to_string(), millis(VECTOR_TTL)];
        let local = |r: &mut dyn Records| -> i64 {
            let n: usize = r.read(&count).and_then(|s| s.parse().ok()).unwrap_or(0);
            if n >= limit {
                return -1;
            }
            r.write(&count, &(n + 1).to_string(), VECTOR_TTL);
            r.write(&keys.vector(c, n + 1), &vector, VECTOR_TTL);
            i64::try_from(n + 1).unwrap_or(i64::MAX)
        };
        let n: i64 = self
            .store
            .atomic(
                &script(PUSH),
                std::slice::from_ref(&count),
                &args,
                local,
                self.deadline(),
            )
            .await?;
        Ok(usize::try_from(n).ok())
    }

    /// The first `n` vectors of class `c`, `width` inputs each (damaged
    /// ones are left out).
    pub async fn vectors(
        &self,
        keys: &Keys,
        c: Class,
        n: usize,
        width: usize,
    ) -> Result<Vec<Vec<f32>>, NeuralStoreError> {
        let keys = &self.placed(keys);
        let k: Vec<String> = (1..=n).map(|i| keys.vector(c, i)).collect();
        let got = self.store.get(&k, self.deadline()).await?;
        Ok(got
            .into_iter()
            .flatten()
            .filter_map(|t| decode_vector(&t, width))
            .collect())
    }

    /// Takes the training lock for `hold`; false when another node has it.
    pub async fn lock(
        &self,
        keys: &Keys,
        holder: &str,
        hold: Duration,
    ) -> Result<bool, NeuralStoreError> {
        let keys = &self.placed(keys);
        let lock = keys.lock();
        let args = [holder.to_string(), millis(hold)];
        let local = |r: &mut dyn Records| -> i64 {
            if r.read(&lock).is_some() {
                return 0;
            }
            r.write(&lock, holder, hold);
            1
        };
        let got: i64 = self
            .store
            .atomic(
                &script(LOCK),
                std::slice::from_ref(&lock),
                &args,
                local,
                self.deadline(),
            )
            .await?;
        Ok(got == 1)
    }

    /// After a training: the sets start empty again and the lock goes.
    pub async fn reset(&self, keys: &Keys) -> Result<(), NeuralStoreError> {
        let keys = &self.placed(keys);
        let zero = [
            (keys.count(Class::Spam), "0".to_string()),
            (keys.count(Class::Ham), "0".to_string()),
        ];
        self.store.set(&zero, VECTOR_TTL, self.deadline()).await?;
        self.unlock(keys).await
    }

    pub async fn unlock(&self, keys: &Keys) -> Result<(), NeuralStoreError> {
        let keys = &self.placed(keys);
        let gone = [(keys.lock(), String::new())];
        Ok(self
            .store
            .set(&gone, Duration::from_millis(1), self.deadline())
            .await?)
    }
}
