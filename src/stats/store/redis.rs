//! The Redis store, for several nodes sharing one statistics database.
//!
//! Connections are kept in a small pool and reused (Rspamd users have run
//! out of ephemeral ports at ~500 msg/s with a connection per request);
//! each message costs one pipelined round trip to classify and two to
//! learn. Every connection has connect, read and write timeouts, so a scan
//! waits for a slow Redis at most `timeout` before it goes on without Bayes.
//!
//! Layout under `prefix` (default `BAYES`), `U` = `""` for the global
//! statistics or `u<user hash>:` per user:
//! - `{prefix}:{U}t:{token}`: hash `S`/`H` = spam/ham messages with the token.
//!   Learning refreshes the key's TTL to `expire`; a token that reached
//!   `common_hits` in a class is made persistent. Rare tokens thus expire.
//! - `{prefix}:{U}learns`: hash `S`/`H` = learned messages.
//! - `{prefix}:{U}learned`: hash digest -> `S`/`H` (relearn moves).
//! - `{prefix}:users`: set of per-user tags; `{prefix}:hll`: HyperLogLog of
//!   tokens (approximate distinct count for `sluice stat`).
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::{Client, Connection, RedisError};

use super::{Class, LearnOutcome, LearnRequest, Store, StoreError, StoreStat};
use crate::stats::classifier::{Counts, Learns};

/// Connections kept idle for reuse; more are opened under load and closed
/// when the pool is full.
const POOL_MAX_IDLE: usize = 16;

/// How long a user's learned totals are reused before Redis is asked
/// again. They gate classification (below `min_learns` a scan does not
/// tokenize), so a node notices another node's learns this much later.
const LEARNS_TTL: Duration = Duration::from_secs(1);
/// Users whose totals are remembered; past this the memory starts over.
const LEARNS_MAX_USERS: usize = 10_000;

/// Redis connection settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisSettings {
    /// `host:port` or a `redis://` URL; loopback in tests.
    pub server: String,
    pub prefix: String,
    pub timeout: Duration,
    /// TTL of rarely seen tokens; `None`: tokens never expire.
    pub expire: Option<Duration>,
    /// Learned this many times in one class, a token no longer expires.
    pub common_hits: i64,
}

/// The Redis-backed store.
pub struct RedisStore {
    client: Client,
    settings: RedisSettings,
    idle: Mutex<Vec<Connection>>,
    /// user -> (when read, totals), for [`Store::learns`].
    learns: Mutex<HashMap<u64, (Instant, Learns)>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("server", &self.settings.server)
            .field("prefix", &self.settings.prefix)
            .finish()
    }
}

impl RedisStore {
    /// Validates the address and checks that the server answers.
    pub fn open(settings: RedisSettings) -> Result<RedisStore, StoreError> {
        let url = if settings.server.contains("://") {
            settings.server.clone()
        } else {
            format!("redis://{}", settings.server)
        };
        let client = Client::open(url.as_str()).map_err(|e| StoreError::Redis {
            addr: settings.server.clone(),
            reason: e.to_string(),
        })?;
        let store = RedisStore {
            client,
            settings,
            idle: Mutex::new(Vec::new()),
            learns: Mutex::new(HashMap::new()),
        };
        store.with_conn(|c| redis::cmd("PING").query::<String>(c))?;
        Ok(store)
    }

    fn err(&self, e: RedisError) -> StoreError {
        if e.is_timeout() {
            StoreError::RedisTimeout {
                addr: self.settings.server.clone(),
                millis: self.settings.timeout.as_millis(),
            }
        } else {
            StoreError::Redis {
                addr: self.settings.server.clone(),
                reason: e.to_string(),
            }
        }
    }

    fn connect(&self) -> Result<Connection, RedisError> {
        let t = self.settings.timeout;
        let c = self.client.get_connection_with_timeout(t)?;
        c.set_read_timeout(Some(t))?;
        c.set_write_timeout(Some(t))?;
        Ok(c)
    }

    /// Runs `f` on a pooled connection; a connection that failed is
    /// dropped (its stream may hold half a reply), a healthy one returns.
    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, RedisError>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle.lock().ok().and_then(|mut p| p.pop());
        let mut conn = match pooled {
            Some(c) => c,
            None => self.connect().map_err(|e| self.err(e))?,
        };
        let out = f(&mut conn).map_err(|e| self.err(e))?;
        if let Ok(mut p) = self.idle.lock() {
            if p.len() < POOL_MAX_IDLE {
                p.push(conn);
            }
        }
        Ok(out)
    }

    fn ns(&self, user: u64) -> String {
        if user == 0 {
            format!("{}:", self.settings.prefix)
        } else {
            format!("{}:u{user:016x}:", self.settings.prefix)
        }
    }

    fn learn_inner(
        &self,
        c: &mut Connection,
        req: &LearnRequest<'_>,
    ) -> Result<LearnOutcome, RedisError> {
        let ns = self.ns(req.user);
        let digest = format!("{:032x}", req.digest);
        let before: Option<String> = redis::cmd("HGET")
            .arg(format!("{ns}learned"))
            .arg(&digest)
            .query(c)?;
        let before = before.and_then(|s| Class::from_code(*s.as_bytes().first()?));
        if before == Some(req.class) {
            return Ok(LearnOutcome::AlreadyLearned);
        }
        let field = field(req.class);
        let mut p = redis::pipe();
        p.atomic();
        p.cmd("HSET")
            .arg(format!("{ns}learned"))
            .arg(&digest)
            .arg(field)
            .ignore();
        p.cmd("HINCRBY")
            .arg(format!("{ns}learns"))
            .arg(field)
            .arg(1)
            .ignore();
        if let Some(old) = before {
            p.cmd("HINCRBY")
                .arg(format!("{ns}learns"))
                .arg(self::field(old))
                .arg(-1)
                .ignore();
        }
        if req.user != 0 {
            p.cmd("SADD")
                .arg(format!("{}:users", self.settings.prefix))
                .arg(&ns)
                .ignore();
        }
        if !req.tokens.is_empty() {
            let hll = p.cmd("PFADD").arg(format!("{}:hll", self.settings.prefix));
            for t in req.tokens {
                hll.arg(*t);
            }
            hll.ignore();
        }
        for &t in req.tokens {
            let key = format!("{ns}t:{t:016x}");
            p.cmd("HINCRBY").arg(&key).arg(field).arg(1);
            if let Some(old) = before {
                p.cmd("HINCRBY")
                    .arg(&key)
                    .arg(self::field(old))
                    .arg(-1)
                    .ignore();
            }
            if let Some(ttl) = self.settings.expire {
                p.cmd("EXPIRE").arg(&key).arg(ttl.as_secs().max(1)).ignore();
            }
        }
        let counts: Vec<i64> = p.query(c)?;
        self.persist_common(c, &ns, req.tokens, &counts)?;
        Ok(match before {
            Some(from) => LearnOutcome::Moved { from },
            None => LearnOutcome::Learned,
        })
    }

    /// Tokens learned often enough stop expiring.
    fn persist_common(
        &self,
        c: &mut Connection,
        ns: &str,
        tokens: &[u64],
        counts: &[i64],
    ) -> Result<(), RedisError> {
        if self.settings.expire.is_none() {
            return Ok(());
        }
        let mut p = redis::pipe();
        let mut any = false;
        for (t, n) in tokens.iter().zip(counts) {
            if *n >= self.settings.common_hits {
                p.cmd("PERSIST").arg(format!("{ns}t:{t:016x}")).ignore();
                any = true;
            }
        }
        if any {
            p.query::<()>(c)?;
        }
        Ok(())
    }
}

fn field(c: Class) -> &'static str {
    match c {
        Class::Spam => "S",
        Class::Ham => "H",
    }
}

/// Counters can dip below zero when a moved message's token had expired.
fn count(v: Option<i64>) -> u64 {
    v.unwrap_or(0).max(0) as u64
}

impl Store for RedisStore {
    fn lookup(&self, user: u64, tokens: &[u64]) -> Result<(Learns, Vec<Counts>), StoreError> {
        let ns = self.ns(user);
        let mut p = redis::pipe();
        p.cmd("HMGET").arg(format!("{ns}learns")).arg("S").arg("H");
        for t in tokens {
            p.cmd("HMGET")
                .arg(format!("{ns}t:{t:016x}"))
                .arg("S")
                .arg("H");
        }
        let rows: Vec<(Option<i64>, Option<i64>)> = self.with_conn(|c| p.query(c))?;
        let mut it = rows.into_iter();
        let (s, h) = it.next().unwrap_or((None, None));
        let learns = Learns {
            spam: count(s),
            ham: count(h),
        };
        let counts = it
            .map(|(s, h)| Counts {
                spam: count(s),
                ham: count(h),
            })
            .collect();
        Ok((learns, counts))
    }

    fn learn(&self, req: &LearnRequest<'_>) -> Result<LearnOutcome, StoreError> {
        let out = self.with_conn(|c| self.learn_inner(c, req));
        if let Ok(mut m) = self.learns.lock() {
            m.remove(&req.user);
        }
        out
    }

    /// Remembered for [`LEARNS_TTL`], else one `HMGET`.
    fn learns(&self, user: u64) -> Result<Learns, StoreError> {
        let now = Instant::now();
        let fresh = |at: &Instant| now.saturating_duration_since(*at) < LEARNS_TTL;
        if let Some((_, l)) = self
            .learns
            .lock()
            .ok()
            .and_then(|m| m.get(&user).copied())
            .filter(|(at, _)| fresh(at))
        {
            return Ok(l);
        }
        let key = format!("{}learns", self.ns(user));
        let (s, h): (Option<i64>, Option<i64>) =
            self.with_conn(|c| redis::cmd("HMGET").arg(&key).arg("S").arg("H").query(c))?;
        let l = Learns {
            spam: count(s),
            ham: count(h),
        };
        if let Ok(mut m) = self.learns.lock() {
            if m.len() >= LEARNS_MAX_USERS {
                m.clear();
            }
            m.insert(user, (now, l));
        }
        Ok(l)
    }

    fn stat(&self) -> Result<StoreStat, StoreError> {
        let prefix = self.settings.prefix.clone();
        let (s, h, users, tokens, info): (Option<i64>, Option<i64>, u64, u64, String) = self
            .with_conn(|c| {
                redis::pipe()
                    .cmd("HMGET")
                    .arg(format!("{prefix}:learns"))
                    .arg("S")
                    .arg("H")
                    .cmd("SCARD")
                    .arg(format!("{prefix}:users"))
                    .cmd("PFCOUNT")
                    .arg(format!("{prefix}:hll"))
                    .cmd("INFO")
                    .arg("memory")
                    .query::<((Option<i64>, Option<i64>), u64, u64, String)>(c)
                    .map(|((s, h), u, t, i)| (s, h, u, t, i))
            })?;
        let size = info
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        Ok(StoreStat {
            backend: "redis",
            location: format!("{} prefix {}", self.settings.server, prefix),
            learns: Learns {
                spam: count(s),
                ham: count(h),
            },
            tokens,
            size_bytes: size,
            users,
        })
    }
}
