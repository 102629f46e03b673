//! The Redis backend, in the layout of Rspamd's (`fuzzy_backend_redis.c`),
//! so a sluice storage and an Rspamd storage on one Redis share hashes:
//!
//! - `<prefix><digest>` (the 64 raw digest bytes after the prefix): a hash
//!   with `V` (weight, summed by `HINCRBY`), `F` (flag), `C` (first write,
//!   Unix seconds), expiring after `expire`;
//! - `<prefix>_<i>_<shingle>` (decimal index and value): the digest the
//!   i-th shingle was written with, expiring alike;
//! - `<prefix>_count`: how many hashes were written, less those deleted.
//!
//! The prefix is `fuzzy` unless `prefix` says otherwise.
use std::time::{Duration, Instant};

use sluice_proto::fuzzy::{Command, DIGEST_LEN};

use super::{BackendError, Found, Refresh};
use crate::fuzzy_storage::matching;
use crate::redis::{Client, Role};

#[derive(Debug, Clone)]
pub struct RedisBackend {
    client: Client,
    prefix: String,
}

impl RedisBackend {
    pub fn new(client: Client, prefix: String) -> Self {
        Self { client, prefix }
    }

    /// A transaction, as Rspamd writes; under a Redis Cluster a plain pipeline, which the
    /// Redis layer sends per slot: the digest's hash, its shingles and the count are
    /// records of their own, each written whole, and tagging them into one slot would
    /// put the whole storage on one master.
    fn pipe(&self) -> ::redis::Pipeline {
        let mut p = ::redis::pipe();
        if !self.client.is_cluster() {
            p.atomic();
        }
        p
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.client.config().timeout
    }

    fn digest_key(&self, digest: &[u8; DIGEST_LEN]) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.prefix.len() + DIGEST_LEN);
        key.extend_from_slice(self.prefix.as_bytes());
        key.extend_from_slice(digest);
        key
    }

    fn shingle_key(&self, index: usize, value: u64) -> String {
        format!("{}_{index}_{value}", self.prefix)
    }

    fn count_key(&self) -> String {
        format!("{}_count", self.prefix)
    }

    pub async fn check(&self, cmd: &Command) -> Result<Option<Found>, BackendError> {
        if let Some(found) = self.lookup(&cmd.digest, 1.0).await? {
            return Ok(Some(found));
        }
        let Some(shingles) = &cmd.shingles else {
            return Ok(None);
        };
        let keys: Vec<String> = shingles
            .iter()
            .enumerate()
            .map(|(i, &s)| self.shingle_key(i, s))
            .collect();
        let mut mget = ::redis::cmd("MGET");
        mget.arg(&keys);
        let got: Vec<Option<Vec<u8>>> = self
            .client
            .query(Role::Read, &mget, self.deadline())
            .await?;
        let found: Vec<Option<[u8; DIGEST_LEN]>> = got
            .into_iter()
            .map(|v| v.and_then(|d| d.get(..DIGEST_LEN).and_then(|d| d.try_into().ok())))
            .collect();
        match matching::vote(&found) {
            Some(v) => self.lookup(&v.digest, v.prob).await,
            None => Ok(None),
        }
    }

    /// `HMGET <key> V F C`: found when both V and F are there, as in Rspamd.
    async fn lookup(
        &self,
        digest: &[u8; DIGEST_LEN],
        prob: f32,
    ) -> Result<Option<Found>, BackendError> {
        let mut hmget = ::redis::cmd("HMGET");
        hmget
            .arg(self.digest_key(digest))
            .arg("V")
            .arg("F")
            .arg("C");
        let fields: Vec<Option<String>> = self
            .client
            .query(Role::Read, &hmget, self.deadline())
            .await?;
        let number = |i: usize| -> Option<i64> { fields.get(i)?.as_deref()?.trim().parse().ok() };
        let (Some(value), Some(flag)) = (number(0), number(1)) else {
            return Ok(None);
        };
        Ok(Some(Found {
            digest: *digest,
            value: i32::try_from(value).unwrap_or(if value < 0 { i32::MIN } else { i32::MAX }),
            flag: u32::try_from(flag).unwrap_or(0),
            ts: number(2).and_then(|c| u32::try_from(c).ok()).unwrap_or(0),
            prob,
        }))
    }

    /// Rspamd's write, as one transaction (see [`RedisBackend::pipe`]).
    pub async fn write(&self, cmd: &Command, expire: Duration) -> Result<(), BackendError> {
        let key = self.digest_key(&cmd.digest);
        let ttl = expire.as_secs().max(1);
        let now = super::now() / 1000;
        let mut p = self.pipe();
        p.cmd("HSET").arg(&key).arg("F").arg(cmd.flag).ignore();
        p.cmd("HSETNX").arg(&key).arg("C").arg(now).ignore();
        p.cmd("HINCRBY").arg(&key).arg("V").arg(cmd.value).ignore();
        p.cmd("EXPIRE").arg(&key).arg(ttl).ignore();
        p.cmd("INCR").arg(self.count_key()).ignore();
        if let Some(shingles) = &cmd.shingles {
            for (i, &s) in shingles.iter().enumerate() {
                p.cmd("SETEX")
                    .arg(self.shingle_key(i, s))
                    .arg(ttl)
                    .arg(&cmd.digest[..])
                    .ignore();
            }
        }
        self.client
            .pipe::<()>(Role::Write, &p, self.deadline())
            .await?;
        Ok(())
    }

    /// Rspamd's refresh: `EXPIRE` on each digest key and on the shingle
    /// keys its query sent (a key that is gone stays gone).
    pub async fn refresh(&self, batch: &[Refresh], expire: Duration) -> Result<u64, BackendError> {
        let ttl = expire.as_secs().max(1);
        let mut p = ::redis::pipe();
        for r in batch {
            p.cmd("EXPIRE").arg(self.digest_key(&r.digest)).arg(ttl);
            for (i, &s) in r.shingles.iter().flat_map(|s| s.iter()).enumerate() {
                p.cmd("EXPIRE")
                    .arg(self.shingle_key(i, s))
                    .arg(ttl)
                    .ignore();
            }
        }
        let renewed: Vec<i64> = self.client.pipe(Role::Write, &p, self.deadline()).await?;
        Ok(renewed.iter().filter(|&&n| n == 1).count() as u64)
    }

    pub async fn delete(&self, cmd: &Command) -> Result<(), BackendError> {
        let mut p = self.pipe();
        p.cmd("DEL").arg(self.digest_key(&cmd.digest)).ignore();
        p.cmd("DECR").arg(self.count_key()).ignore();
        if let Some(shingles) = &cmd.shingles {
            for (i, &s) in shingles.iter().enumerate() {
                p.cmd("DEL").arg(self.shingle_key(i, s)).ignore();
            }
        }
        self.client
            .pipe::<()>(Role::Write, &p, self.deadline())
            .await?;
        Ok(())
    }

    pub async fn count(&self) -> Result<u64, BackendError> {
        let mut get = ::redis::cmd("GET");
        get.arg(self.count_key());
        let n: Option<i64> = self.client.query(Role::Read, &get, self.deadline()).await?;
        Ok(n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
    }
}
