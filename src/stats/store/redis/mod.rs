//! The Redis store, for several nodes sharing one statistics database.
//!
//! Connections are kept in a small pool and reused (Rspamd users have run
//! out of ephemeral ports at ~500 msg/s with a connection per request);
//! each message costs one round trip to classify (one script call) and two to
//! learn.
//!
//! A scan runs on a session thread that other sessions wait behind, so a
//! request to Redis is bounded as a whole: connect, write and every reply
//! share one deadline, `timeout` from its start ([`conn`]). After a
//! failure the store is down: requests are refused at once (scans go on
//! without Bayes, learns get an error) while a background probe reconnects
//! ([`health`]). The pool's lock is never held across I/O.
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
//!
//! Classification (the lookup script, the learned totals) reads from `read_servers`
//! when they name another server, and under Sentinel from a replica in sync (the master
//! when none is), as the other modules read; learning writes to the write server (the
//! master). A reader that fails is left alone until its probe reaches it again, and the
//! reads go to the write server meanwhile.
//!
//! Under a Redis Cluster (`cluster = true;`) the prefix is written `{prefix}` (braces
//! included): a hash tag, so that every key of one script or transaction, and so all
//! the statistics, share one slot; the store asks the seed nodes which master serves it
//! (at open and while down: a failover or a moved slot) and talks to that master alone.
mod health;

use std::collections::HashMap;
use std::net::ToSocketAddrs;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use redis::{ConnectionAddr, IntoConnectionInfo, RedisError};

use super::api::{Class, LearnOutcome, LearnRequest, Store, StoreError, StoreStat};
use crate::redis::blocking::{self as conn, Addr, Conn, Target};
use crate::redis::client::Script;
use crate::stats::classifier::{Counts, Learns};
use health::{Health, Probe};

/// Connections kept idle for reuse; more are opened under load and closed
/// when the pool is full.
const POOL_MAX_IDLE: usize = 16;

/// How long a user's learned totals are reused before Redis is asked
/// again. They gate classification (below `min_learns` a scan does not
/// tokenize), so a node notices another node's learns this much later.
const LEARNS_TTL: Duration = Duration::from_secs(1);
/// Users whose totals are remembered; past this the memory starts over.
const LEARNS_MAX_USERS: usize = 10_000;

pub use crate::config::bayes::RedisSettings;

/// The Redis-backed store.
pub struct RedisStore {
    /// The write server (the master): learning, and reads while there is no reader.
    shared: Arc<Shared>,
    /// Where classification reads, when not the write server.
    reader: Option<Arc<Shared>>,
    /// user -> (when read, totals), for [`Store::learns`].
    learns: Mutex<HashMap<u64, (Instant, Learns)>>,
    /// The async client of [`Store::lookup_ahead`] (one server or a read server beside
    /// it; under Sentinel or a Cluster the lookups stay on the blocking connections).
    ahead: Option<crate::redis::Client>,
}

/// What the scans and the reconnect probe share.
struct Shared {
    settings: RedisSettings,
    /// What every key starts with: the prefix, a hash tag under a cluster.
    base: String,
    /// The parsed address; TCP names resolved by [`Shared::resolve`].
    target: RwLock<Target>,
    /// Host and port to resolve again while down (a moved server).
    host: Option<(String, u16)>,
    /// The sentinels to ask for the master instead (at open, and again while down: a
    /// failover), and the pattern of the masters' names.
    sentinel: Option<(
        Vec<crate::redis::Server>,
        Option<regex::Regex>,
        crate::redis::sentinel::SentinelAuth,
    )>,
    /// Under Sentinel: a replica in sync rather than the master.
    replica: bool,
    idle: Mutex<Vec<Conn>>,
    health: Health,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("server", &self.shared.settings.server)
            .field("prefix", &self.shared.settings.prefix)
            .finish()
    }
}

impl RedisStore {
    /// Validates the address and checks that the server answers: a bad
    /// address or an unreachable server is an error (`sluice learn`,
    /// `sluice stat`).
    pub fn open(settings: RedisSettings) -> Result<RedisStore, StoreError> {
        let store = RedisStore::new(settings)?;
        store
            .shared
            .resolve()
            .map_err(|reason| store.shared.fail(reason))?;
        store.shared.ping().map_err(|e| store.shared.err(&e))?;
        crate::metrics::global().bayes_store.up();
        store.reach_reader();
        Ok(store)
    }

    /// The reader reached, or left down with its probe running (the reads go to the
    /// write server meanwhile).
    fn reach_reader(&self) {
        let Some(r) = &self.reader else { return };
        let reached = r
            .resolve()
            .and_then(|()| r.ping().map_err(|e| r.describe(&e)));
        if let Err(reason) = reached {
            mark_down(r, &format!("unreachable at start: {reason}"));
        }
    }

    /// Like [`RedisStore::open`], but an unreachable server is not an
    /// error: the store starts down and comes up by itself when the
    /// server answers (the daemon; no restart or reload needed).
    pub fn open_or_reconnect(settings: RedisSettings) -> Result<RedisStore, StoreError> {
        let store = RedisStore::new(settings)?;
        let reached = store
            .shared
            .resolve()
            .and_then(|()| store.shared.ping().map_err(|e| store.shared.describe(&e)));
        match reached {
            Ok(()) => crate::metrics::global().bayes_store.up(),
            Err(reason) => mark_down(&store.shared, &format!("unreachable at start: {reason}")),
        }
        store.reach_reader();
        Ok(store)
    }

    /// Parses the addresses; nothing is connected yet.
    pub(crate) fn new(settings: RedisSettings) -> Result<RedisStore, StoreError> {
        let reader = if settings.cluster.is_some() {
            None
        } else if settings.sentinel.is_some() {
            let mut r = settings.clone();
            r.server = "sentinel-replica".into();
            Some(Arc::new(Shared::new(r, true)?))
        } else if let Some(server) = &settings.read_server {
            let mut r = settings.clone();
            r.server.clone_from(server);
            Some(Arc::new(Shared::new(r, false)?))
        } else {
            None
        };
        Ok(RedisStore {
            ahead: ahead_client(&settings).map(crate::redis::Client::shared),
            shared: Arc::new(Shared::new(settings, false)?),
            reader,
            learns: Mutex::new(HashMap::new()),
        })
    }

    /// Where classification reads: the reader, or the write server without one.
    fn reads(&self) -> &Arc<Shared> {
        self.reader.as_ref().unwrap_or(&self.shared)
    }

    /// Whether requests are refused for now (an outage, a probe running).
    pub fn is_down(&self) -> bool {
        self.shared.health.is_down()
    }

    /// [`with`] on the write server.
    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, RedisError>,
    ) -> Result<T, StoreError> {
        with(&self.shared, f)
    }

    /// [`with`] on the reader, or on the write server while there is none
    /// or it is down.
    fn with_reader<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, RedisError>,
    ) -> Result<T, StoreError> {
        match &self.reader {
            Some(r) if !r.health.is_down() => with(r, f),
            _ => with(&self.shared, f),
        }
    }
}

/// Stops using `sh` (its pool emptied) until its probe reaches it again.
fn mark_down(sh: &Arc<Shared>, reason: &str) {
    sh.idle.lock().map(|mut p| p.clear()).ok();
    let weak = Arc::downgrade(sh);
    let name = sh.settings.server.as_str();
    sh.health.mark_down(weak, name, reason);
}

/// Runs `f` on a pooled connection to `sh`, all of it before one deadline. A
/// connection that failed is dropped (its stream may hold half a reply); a failure of
/// the server or the path to it marks it down; a healthy connection returns to the pool.
fn with<T>(
    sh: &Arc<Shared>,
    f: impl FnOnce(&mut Conn) -> Result<T, RedisError>,
) -> Result<T, StoreError> {
    if sh.health.is_down() {
        sh.health.skip();
        return Err(StoreError::RedisDown {
            addr: sh.settings.server.clone(),
        });
    }
    let deadline = Instant::now() + sh.settings.timeout;
    let pooled = sh.idle.lock().ok().and_then(|mut p| p.pop());
    let result = match pooled {
        Some(mut c) => {
            c.deadline(deadline);
            Ok(c)
        }
        None => sh.connect(deadline),
    }
    .and_then(|mut c| f(&mut c).map(|out| (c, out)));
    match result {
        Ok((c, out)) => {
            sh.give_back(c);
            Ok(out)
        }
        Err(e) => {
            if conn::is_outage(&e) {
                mark_down(sh, &sh.describe(&e));
            }
            Err(sh.err(&e))
        }
    }
}

impl Shared {
    /// Parses `settings.server`; `replica`: under Sentinel, a replica in sync is asked
    /// for rather than the master.
    fn new(settings: RedisSettings, replica: bool) -> Result<Shared, StoreError> {
        let url = if settings.server.contains("://") {
            settings.server.clone()
        } else {
            format!("redis://{}", settings.server)
        };
        let bad = |reason: String| StoreError::Redis {
            addr: settings.server.clone(),
            reason,
        };
        let info = url
            .as_str()
            .into_connection_info()
            .map_err(|e| bad(e.to_string()))?;
        let (addr, host) = match info.addr {
            ConnectionAddr::Tcp(h, p) => (Addr::Tcp(Vec::new()), Some((h, p))),
            ConnectionAddr::Unix(path) => (Addr::Unix(path), None),
            ConnectionAddr::TcpTls { .. } => {
                return Err(bad("TLS to Redis is not supported".into()));
            }
        };
        let target = Target {
            addr,
            db: info.redis.db,
            username: info.redis.username,
            password: info.redis.password,
        };
        let sentinel = match &settings.sentinel {
            Some(s) => {
                let pattern = s
                    .masters_pattern
                    .as_deref()
                    .map(regex::Regex::new)
                    .transpose()
                    .map_err(|e| bad(e.to_string()))?;
                Some((s.sentinels.clone(), pattern, s.auth.clone()))
            }
            None => None,
        };
        let base = match settings.cluster {
            Some(_) => format!("{{{}}}", settings.prefix),
            None => settings.prefix.clone(),
        };
        Ok(Shared {
            base,
            sentinel,
            settings,
            target: RwLock::new(target),
            host,
            replica,
            idle: Mutex::new(Vec::new()),
            health: Health::default(),
        })
    }

    /// Looks the host up, or asks the sentinels for the master (at open and by the
    /// probe, never on a scan).
    fn resolve(&self) -> Result<(), String> {
        if let Some(seeds) = &self.settings.cluster {
            let login = self
                .target
                .read()
                .map(|t| (t.username.clone(), t.password.clone()))
                .unwrap_or_default();
            let master = crate::redis::cluster::master_of_blocking(
                seeds,
                self.base.as_bytes(),
                login,
                self.settings.timeout,
            )
            .map_err(|e| e.to_string())?;
            return self.point_at(&master);
        }
        if let Some((sentinels, pattern, auth)) = &self.sentinel {
            let pick = if self.replica {
                crate::redis::sentinel::reader_blocking
            } else {
                crate::redis::sentinel::master_blocking
            };
            let server = pick(sentinels, pattern.as_ref(), auth, self.settings.timeout)
                .map_err(|e| e.to_string())?;
            return self.point_at(&server);
        }
        let Some((host, port)) = &self.host else {
            return Ok(());
        };
        let addrs: Vec<_> = (host.as_str(), *port)
            .to_socket_addrs()
            .map_err(|e| format!("resolving {host}: {e}"))?
            .collect();
        if let Ok(mut t) = self.target.write() {
            t.addr = Addr::Tcp(addrs);
        }
        Ok(())
    }

    /// Sends the next connections to `server` (a master found through the sentinels or
    /// the cluster's slot map).
    fn point_at(&self, server: &crate::redis::Server) -> Result<(), String> {
        let addr = match server {
            crate::redis::Server::Tcp(h, p) => Addr::Tcp(
                (h.as_str(), *p)
                    .to_socket_addrs()
                    .map_err(|e| format!("resolving {h}: {e}"))?
                    .collect(),
            ),
            crate::redis::Server::Unix(p) => Addr::Unix(p.into()),
        };
        if let Ok(mut t) = self.target.write() {
            t.addr = addr;
        }
        Ok(())
    }

    fn connect(&self, deadline: Instant) -> Result<Conn, RedisError> {
        let target = self
            .target
            .read()
            .map(|t| t.clone())
            .map_err(|_| RedisError::from(std::io::Error::other("address lock poisoned")))?;
        Conn::open(&target, deadline)
    }

    /// One `PING` on a new connection, which then joins the pool.
    fn ping(&self) -> Result<(), RedisError> {
        let mut c = self.connect(Instant::now() + self.settings.timeout)?;
        redis::cmd("PING").query::<String>(&mut c)?;
        self.give_back(c);
        Ok(())
    }

    fn give_back(&self, c: Conn) {
        if !c.is_healthy() {
            return;
        }
        if let Ok(mut p) = self.idle.lock() {
            if p.len() < POOL_MAX_IDLE {
                p.push(c);
            }
        }
    }

    fn describe(&self, e: &RedisError) -> String {
        if e.is_timeout() {
            format!("timed out after {} ms", self.settings.timeout.as_millis())
        } else {
            e.to_string()
        }
    }

    fn err(&self, e: &RedisError) -> StoreError {
        if e.is_timeout() {
            StoreError::RedisTimeout {
                addr: self.settings.server.clone(),
                millis: self.settings.timeout.as_millis(),
            }
        } else {
            self.fail(e.to_string())
        }
    }

    fn fail(&self, reason: String) -> StoreError {
        StoreError::Redis {
            addr: self.settings.server.clone(),
            reason,
        }
    }
}

impl Probe for Shared {
    fn health(&self) -> &Health {
        &self.health
    }

    fn try_once(&self) -> Result<(), String> {
        self.resolve()?;
        self.ping().map_err(|e| self.describe(&e))
    }

    fn name(&self) -> &str {
        &self.settings.server
    }
}

impl RedisStore {
    fn ns(&self, user: u64) -> String {
        if user == 0 {
            format!("{}:", self.shared.base)
        } else {
            format!("{}:u{user:016x}:", self.shared.base)
        }
    }

    fn learn_inner(
        &self,
        c: &mut Conn,
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
                .arg(format!("{}:users", self.shared.base))
                .arg(&ns)
                .ignore();
        }
        if !req.tokens.is_empty() {
            let hll = p.cmd("PFADD").arg(format!("{}:hll", self.shared.base));
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
            if let Some(ttl) = self.shared.settings.expire {
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
        c: &mut Conn,
        ns: &str,
        tokens: &[u64],
        counts: &[i64],
    ) -> Result<(), RedisError> {
        if self.shared.settings.expire.is_none() {
            return Ok(());
        }
        let mut p = redis::pipe();
        let mut any = false;
        for (t, n) in tokens.iter().zip(counts) {
            if *n >= self.shared.settings.common_hits {
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

/// Reads `S` and `H` of the learned totals (`KEYS[1]`) and of every token, and answers
/// them packed in one string: `s h` per key (empty for an absent field), the totals first,
/// then the tokens' in order, comma-separated. The tokens come packed too, as Rspamd's
/// script takes them: `ARGV[1]` is the namespace's `t:` prefix and `ARGV[2]` every token
/// in 16 hex digits, back to back, so a message with hundreds of tokens is one short
/// argument to encode and send rather than a key each. (The keys it reads are thus not
/// all declared: this store is one server, never a cluster.)
const LOOKUP_SCRIPT: &str = r"
local v = redis.call('HMGET', KEYS[1], 'S', 'H')
local out = { (v[1] or '') .. ' ' .. (v[2] or '') }
local prefix, packed = ARGV[1], ARGV[2]
for i = 1, #packed - 15, 16 do
  v = redis.call('HMGET', prefix .. string.sub(packed, i, i + 15), 'S', 'H')
  out[#out + 1] = (v[1] or '') .. ' ' .. (v[2] or '')
end
return table.concat(out, ',')
";

fn lookup_script() -> &'static Script {
    static S: OnceLock<Script> = OnceLock::new();
    S.get_or_init(|| Script::new(LOOKUP_SCRIPT))
}

/// Runs `script` by its SHA-1 (EVALSHA), and whole (EVAL) when the server does not know
/// it yet (a restart, `SCRIPT FLUSH`), which also loads it. `args` adds its `nkeys` keys,
/// then its arguments.
fn eval<T: redis::FromRedisValue>(
    c: &mut Conn,
    script: &Script,
    nkeys: usize,
    args: impl Fn(&mut redis::Cmd),
) -> Result<T, RedisError> {
    let mut sha = redis::cmd("EVALSHA");
    sha.arg(script.sha1()).arg(nkeys);
    args(&mut sha);
    match sha.query(c) {
        Err(e) if e.kind() == redis::ErrorKind::NoScriptError => {
            let mut full = redis::cmd("EVAL");
            full.arg(script.code()).arg(nkeys);
            args(&mut full);
            full.query(c)
        }
        other => other,
    }
}

/// The async client's configuration for [`Store::lookup_ahead`]: the write server and the
/// read server as the URLs name them; `None` under Sentinel or a Cluster, or for an
/// address the blocking store would refuse.
fn ahead_client(s: &RedisSettings) -> Option<crate::redis::RedisConfig> {
    if s.sentinel.is_some() || s.cluster.is_some() {
        return None;
    }
    let info = |server: &str| {
        let url = if server.contains("://") {
            server.to_string()
        } else {
            format!("redis://{server}")
        };
        url.as_str().into_connection_info().ok()
    };
    let place = |i: &redis::ConnectionInfo| match &i.addr {
        ConnectionAddr::Tcp(h, p) => Some(crate::redis::Server::Tcp(h.clone(), *p)),
        ConnectionAddr::Unix(p) => Some(crate::redis::Server::Unix(p.display().to_string())),
        ConnectionAddr::TcpTls { .. } => None,
    };
    let write = info(&s.server)?;
    let read = match &s.read_server {
        Some(r) => Some(place(&info(r)?)?),
        None => None,
    };
    Some(crate::redis::RedisConfig::single(
        place(&write)?,
        read,
        write.redis.db,
        (write.redis.username.clone(), write.redis.password.clone()),
        s.timeout,
    ))
}

/// Parses the lookup script's answer for `n` tokens: the learned totals and the counts.
fn unpack_lookup(packed: &[u8], n: usize) -> Result<(Learns, Vec<Counts>), String> {
    let mut all = unpack(packed, n + 1).ok_or_else(|| {
        let head = String::from_utf8_lossy(&packed[..packed.len().min(80)]).into_owned();
        format!("unexpected answer of the lookup script: {head:?}")
    })?;
    let first = all.remove(0);
    let learns = Learns {
        spam: first.spam,
        ham: first.ham,
    };
    Ok((learns, all))
}

/// Adds the lookup script's key and arguments to `cmd`: `{ns}learns`, then `{ns}t:` and
/// every token in 16 hex digits in one buffer (a scan has hundreds of tokens; an argument
/// or a formatted string each showed in profiles).
fn lookup_args(cmd: &mut redis::Cmd, ns: &str, tokens: &[u64]) {
    let mut key = Vec::with_capacity(ns.len() + 8);
    key.extend_from_slice(ns.as_bytes());
    key.extend_from_slice(b"learns");
    cmd.arg(&key[..]);
    key.truncate(ns.len());
    key.extend_from_slice(b"t:");
    cmd.arg(&key[..]);
    let mut packed = Vec::with_capacity(tokens.len() * 16);
    for t in tokens {
        packed.extend_from_slice(&hex16(*t));
    }
    cmd.arg(&packed[..]);
}

/// `{t:016x}` without the formatting machinery, a byte (two digits) per step.
fn hex16(t: u64) -> [u8; 16] {
    static PAIRS: [[u8; 2]; 256] = {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut table = [[0u8; 2]; 256];
        let mut i = 0;
        while i < 256 {
            table[i] = [DIGITS[i >> 4], DIGITS[i & 0xf]];
            i += 1;
        }
        table
    };
    let mut out = [0u8; 16];
    for (i, pair) in t.to_be_bytes().iter().enumerate() {
        out[2 * i..2 * i + 2].copy_from_slice(&PAIRS[usize::from(*pair)]);
    }
    out
}

/// The counts of [`LOOKUP_SCRIPT`]'s answer, `n` of them; `None` when it is not one.
fn unpack(packed: &[u8], n: usize) -> Option<Vec<Counts>> {
    let mut out = Vec::with_capacity(n);
    for pair in packed.split(|b| *b == b',') {
        let space = pair.iter().position(|b| *b == b' ')?;
        out.push(Counts {
            spam: number(&pair[..space])?,
            ham: number(&pair[space + 1..])?,
        });
    }
    (out.len() == n).then_some(out)
}

/// A count as the script wrote it: empty (an absent field) is 0, and so is a negative one
/// (a moved message's token that had expired; see [`count`]).
fn number(b: &[u8]) -> Option<u64> {
    let (negative, digits) = match b.split_first() {
        Some((b'-', rest)) if !rest.is_empty() => (true, rest),
        _ => (false, b),
    };
    let mut v: u64 = 0;
    for d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if negative { 0 } else { v })
}

impl Store for RedisStore {
    /// One script call (EVALSHA) that reads the learned totals and every token and
    /// answers them packed in one string: one command and one reply to parse per message,
    /// where a pipeline of one `HMGET` per token had the client parse a reply per token,
    /// most of a scan's time.
    fn lookup(&self, user: u64, tokens: &[u64]) -> Result<(Learns, Vec<Counts>), StoreError> {
        let ns = self.ns(user);
        let packed: Vec<u8> = self.with_reader(|c| {
            eval(c, lookup_script(), 1, |cmd| {
                lookup_args(cmd, &ns, tokens);
            })
        })?;
        unpack_lookup(&packed, tokens.len()).map_err(|reason| self.shared.fail(reason))
    }

    /// With the async client, and while the server the reads go to is up (while it is
    /// down, its probe running, the scan's own lookup refuses at once, as before).
    fn looks_up_ahead(&self) -> bool {
        self.ahead.is_some() && !self.reads().health.is_down()
    }

    fn lookup_ahead(&self, user: u64, tokens: Vec<u64>) -> Option<super::api::LookupFuture> {
        if !self.looks_up_ahead() {
            return None;
        }
        let client = self.ahead.clone()?;
        let sh = Arc::clone(self.reads());
        let deadline = Instant::now() + sh.settings.timeout;
        let ns = self.ns(user);
        Some(Box::pin(async move {
            let packed: Vec<u8> = client
                .eval(
                    crate::redis::Role::Read,
                    lookup_script(),
                    1,
                    |cmd| lookup_args(cmd, &ns, &tokens),
                    deadline,
                )
                .await
                .map_err(|e| {
                    // The server or the path failed: down, probed, counted as an outage.
                    if !matches!(e, crate::redis::RedisError::Command { .. }) {
                        mark_down(&sh, &e.to_string());
                    }
                    sh.fail(e.to_string())
                })?;
            unpack_lookup(&packed, tokens.len()).map_err(|reason| sh.fail(reason))
        }))
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
            self.with_reader(|c| redis::cmd("HMGET").arg(&key).arg("S").arg("H").query(c))?;
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
        let prefix = self.shared.base.clone();
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
            location: format!("{} prefix {}", self.shared.settings.server, prefix),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[Counts]) -> Vec<(u64, u64)> {
        v.iter().map(|c| (c.spam, c.ham)).collect()
    }

    #[test]
    fn packed_counts_are_read_in_order_absent_fields_as_zero() {
        let v = unpack(b"3 1, 7,5 ,-2 4,18446744073709551615 10", 5).unwrap();
        assert_eq!(
            pairs(&v),
            vec![(3, 1), (0, 7), (5, 0), (0, 4), (u64::MAX, 10)]
        );
    }

    #[test]
    fn a_packed_answer_of_the_wrong_shape_is_refused() {
        assert!(unpack(b"3 1,2 2", 3).is_none(), "too few");
        assert!(unpack(b"3 1,x 2", 2).is_none(), "not a number");
        assert!(unpack(b"3 1,- 2", 2).is_none(), "a lone sign");
        assert!(unpack(b"3 1,2", 2).is_none(), "one field");
        assert!(unpack(b"18446744073709551616 0", 1).is_none(), "overflow");
        assert!(unpack(b"OK", 1).is_none());
    }

    #[test]
    fn tokens_go_packed_in_sixteen_hex_digits_after_their_prefix() {
        for t in [0, 1, 0xdead_beef, u64::MAX, 0x0123_4567_89ab_cdef] {
            assert_eq!(hex16(t), format!("{t:016x}").as_bytes());
        }
        let mut cmd = redis::cmd("EVALSHA");
        lookup_args(&mut cmd, "BAYES:u5:", &[0xab, u64::MAX]);
        let args: Vec<Vec<u8>> = cmd
            .args_iter()
            .map(|a| match a {
                redis::Arg::Simple(b) => b.to_vec(),
                redis::Arg::Cursor => Vec::new(),
            })
            .collect();
        assert_eq!(
            args,
            vec![
                b"EVALSHA".to_vec(),
                b"BAYES:u5:learns".to_vec(),
                b"BAYES:u5:t:".to_vec(),
                b"00000000000000abffffffffffffffff".to_vec(),
            ]
        );
    }
}
