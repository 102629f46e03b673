//! A module's Redis: one multiplexed connection per role (write, and read when
//! `read_servers` differ or sentinels list replicas), shared by every scan, opened on
//! first use and again after a failure; each call bounded by the caller's deadline.
//!
//! Reads go to the read servers (then the write servers if none answers); under Sentinel
//! to a replica the sentinels list as in sync (then the master), writes to the master.
//!
//! A failed call drops its connection (a failover leaves it talking to a dead or demoted
//! server) and holds further attempts off for a short pause, so that while Redis is down
//! scans fail at once instead of each waiting out a connect. With sentinels, the master is
//! resolved on each (re)connect and again every `sentinel_watch_time`.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{
    Cmd, ConnectionAddr, ConnectionInfo, ErrorKind, FromRedisValue, Pipeline, RedisConnectionInfo,
    RedisFuture, Value,
};

use super::cluster::{self, Cluster};
use super::config::{RedisConfig, Server};
use super::deferred::{self, Write};
use super::error::RedisError;
use super::sentinel;

/// After a failure, how long calls fail without trying (the server gets a new attempt
/// after this).
const RETRY_PAUSE: Duration = Duration::from_millis(250);

/// Which servers a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Read,
    Write,
}

/// One module's Redis. Cheap to clone; clones share the connections.
#[derive(Clone)]
pub struct Client {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("servers", &self.inner.config.describe())
            .finish()
    }
}

pub(super) struct Inner {
    config: RedisConfig,
    write: Slot,
    read: Slot,
    counters: Counters,
    /// The writer of [`Client::later`], started on first use.
    later: std::sync::OnceLock<deferred::Queue>,
}

/// Calls and failures, for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    pub calls: AtomicU64,
    pub failures: AtomicU64,
    pub connects: AtomicU64,
}

#[derive(Default)]
struct Slot {
    live: tokio::sync::Mutex<Option<Live>>,
    retry_at: Mutex<Option<Instant>>,
}

/// A connection to one server, or to a whole cluster.
#[derive(Clone)]
pub enum Conn {
    Single(MultiplexedConnection),
    Cluster(Cluster),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipe: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipe, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipe, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// The clients of [`Client::shared`]: each configuration's identity and its client, while
/// some module holds it.
type Registry = Vec<(String, Weak<Inner>)>;

struct Live {
    conn: Conn,
    /// Tells this connection from the next one to the same server.
    id: u64,
    server: Server,
    /// When the master was last confirmed (sentinels only).
    checked: Instant,
}

impl Client {
    pub fn new(config: RedisConfig) -> Client {
        Client {
            inner: Arc::new(Inner {
                config,
                write: Slot::default(),
                read: Slot::default(),
                counters: Counters::default(),
                later: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The process's client for the servers of `config`: one per server, database and
    /// login, whatever module asks (the state modules, the Bayes lookups), so that the
    /// calls of one message, and of messages at the same time, share a connection and go
    /// out together. The first asker's `timeout` stays the client's (each call has its
    /// own deadline anyway).
    pub fn shared(config: RedisConfig) -> Client {
        static ALL: OnceLock<Mutex<Registry>> = OnceLock::new();
        let key = config.identity();
        let mut all = ALL
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        all.retain(|(_, w)| w.strong_count() > 0);
        if let Some(inner) = all
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, w)| w.upgrade())
        {
            return Client { inner };
        }
        let c = Client::new(config);
        all.push((key, Arc::downgrade(&c.inner)));
        c
    }

    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }

    pub fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    /// Runs one command.
    pub async fn query<T: FromRedisValue>(
        &self,
        role: Role,
        cmd: &redis::Cmd,
        deadline: Instant,
    ) -> Result<T, RedisError> {
        self.run(role, deadline, |mut c| async move {
            cmd.query_async::<T>(&mut c).await
        })
        .await
    }

    /// Runs a pipeline in one round trip.
    pub async fn pipe<T: FromRedisValue>(
        &self,
        role: Role,
        pipe: &redis::Pipeline,
        deadline: Instant,
    ) -> Result<T, RedisError> {
        self.run(role, deadline, |mut c| async move {
            pipe.query_async::<T>(&mut c).await
        })
        .await
    }

    /// Runs `script` (EVALSHA, loading it when the server does not know it yet).
    pub async fn script<T: FromRedisValue>(
        &self,
        script: &Script,
        keys: &[String],
        args: &[String],
        deadline: Instant,
    ) -> Result<T, RedisError> {
        self.eval(
            Role::Write,
            script,
            keys.len(),
            |c| {
                c.arg(keys).arg(args);
            },
            deadline,
        )
        .await
    }

    /// Runs `script` on `role`'s server, its `nkeys` keys and then its arguments added by
    /// `args` (EVALSHA, then EVAL when the server does not know the script yet).
    pub async fn eval<T: FromRedisValue>(
        &self,
        role: Role,
        script: &Script,
        nkeys: usize,
        args: impl Fn(&mut Cmd),
        deadline: Instant,
    ) -> Result<T, RedisError> {
        let mut sha = redis::cmd("EVALSHA");
        sha.arg(&script.sha1).arg(nkeys);
        args(&mut sha);
        let mut full = redis::cmd("EVAL");
        full.arg(script.code).arg(nkeys);
        args(&mut full);
        let (sha, full) = (&sha, &full);
        self.run(role, deadline, |mut c| async move {
            match sha.query_async::<T>(&mut c).await {
                Err(e) if e.kind() == ErrorKind::NoScriptError => full.query_async(&mut c).await,
                other => other,
            }
        })
        .await
    }

    /// Queues `w` for the client's writer, which sends it with the others of the next
    /// few milliseconds in one round trip ([`deferred`]); the caller does not wait.
    pub fn later(&self, w: Write) {
        let queue = self
            .inner
            .later
            .get_or_init(|| deferred::start(Arc::downgrade(&self.inner)));
        deferred::push(queue, w, || self.inner.config.describe());
    }

    pub(super) async fn run<T, F, Fut>(
        &self,
        role: Role,
        deadline: Instant,
        f: F,
    ) -> Result<T, RedisError>
    where
        F: Fn(Conn) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let c = &self.inner.counters;
        c.calls.fetch_add(1, Ordering::Relaxed);
        // A read on a connection the server dropped while it sat idle (Sentinel drops its
        // clients when it promotes a replica) gets one more try on a new one; a write
        // is not repeated (a script may have run).
        let result = match self.run_once(role, deadline, &f, None).await {
            Err(Failure::Retry(_, stale)) if role == Role::Read => {
                self.run_once(role, deadline, &f, Some(stale)).await
            }
            other => other,
        }
        .map_err(Failure::into_error);
        if result.is_err() {
            c.failures.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    async fn run_once<T, F, Fut>(
        &self,
        role: Role,
        deadline: Instant,
        f: &F,
        stale: Option<u64>,
    ) -> Result<T, Failure>
    where
        F: Fn(Conn) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let slot = self.slot(role);
        let (conn, server, reused) = self
            .connection(role, deadline, stale)
            .await
            .map_err(Failure::Final)?;
        let cluster = self.is_cluster();
        let label = || {
            if cluster {
                self.inner.config.describe()
            } else {
                server.to_string()
            }
        };
        let at = tokio::time::Instant::from_std(deadline);
        let failed = match tokio::time::timeout_at(at, f(conn)).await {
            Ok(Ok(v)) => return Ok(v),
            // A cluster connection reconnects to each node by itself: a node down or slow
            // fails the calls for its slots only, and the others go on.
            Ok(Err(e)) if cluster && !e.is_connection_dropped() => RedisError::Command {
                server: label(),
                reason: e.to_string(),
            },
            Err(_) if cluster => RedisError::Timeout { server: label() },
            Ok(Err(e)) if !is_outage(&e) => RedisError::Command {
                server: label(),
                reason: e.to_string(),
            },
            Ok(Err(e)) if stale.is_none() && reused.is_some() && e.is_connection_dropped() => {
                let lost = RedisError::Lost {
                    server: label(),
                    reason: e.to_string(),
                };
                return Err(Failure::Retry(lost, reused.unwrap_or_default()));
            }
            Ok(Err(e)) => {
                slot.fail(&server);
                RedisError::Lost {
                    server: label(),
                    reason: e.to_string(),
                }
            }
            Err(_) => {
                slot.fail(&server);
                RedisError::Timeout { server: label() }
            }
        };
        Err(Failure::Final(failed))
    }

    /// Whether the servers are a Redis Cluster's seed nodes.
    pub fn is_cluster(&self) -> bool {
        self.inner.config.cluster
    }

    fn slot(&self, role: Role) -> &Slot {
        let i = &self.inner;
        match role {
            Role::Read if i.config.cluster => &i.write,
            Role::Read if !i.config.read.is_empty() || !i.config.sentinels.is_empty() => &i.read,
            _ => &i.write,
        }
    }

    /// The servers a role's connection may go to, in order of preference.
    async fn candidates(&self, role: Role, deadline: Instant) -> Result<Vec<Server>, RedisError> {
        let cfg = &self.inner.config;
        if cfg.sentinels.is_empty() {
            return Ok(match role {
                Role::Read if !cfg.read.is_empty() => {
                    let mut c = cfg.read.clone();
                    c.extend(cfg.write.iter().filter(|w| !cfg.read.contains(w)).cloned());
                    c
                }
                _ => cfg.write.clone(),
            });
        }
        let pattern = cfg.sentinel_masters_pattern.as_ref();
        let auth = &cfg.sentinel_auth;
        match role {
            Role::Write => sentinel::master(&cfg.sentinels, pattern, auth, deadline)
                .await
                .map(|m| vec![m]),
            Role::Read => {
                let (m, mut replicas) =
                    sentinel::master_and_replicas(&cfg.sentinels, pattern, auth, deadline).await?;
                replicas.push(m);
                Ok(replicas)
            }
        }
    }

    /// The role's live connection, opened (and the master resolved) when there is none or
    /// it is the `stale` one (a call found it dropped); with its id when it was open
    /// already.
    async fn connection(
        &self,
        role: Role,
        deadline: Instant,
        stale: Option<u64>,
    ) -> Result<(Conn, Server, Option<u64>), RedisError> {
        let cfg = &self.inner.config;
        let slot = self.slot(role);
        let at = tokio::time::Instant::from_std(deadline);
        let mut live = tokio::time::timeout_at(at, slot.live.lock())
            .await
            .map_err(|_| RedisError::Timeout {
                server: cfg.describe(),
            })?;
        if live.as_ref().is_some_and(|l| Some(l.id) == stale) {
            *live = None;
        }
        if let Some(l) = live.as_mut() {
            let fresh = cfg.sentinels.is_empty() || l.checked.elapsed() < cfg.sentinel_watch_time;
            if fresh {
                return Ok((l.conn.clone(), l.server.clone(), Some(l.id)));
            }
            // Time to ask the sentinels again; a server no longer listed for the role
            // (a new master) gets a new connection.
            if let Ok(c) = self.candidates(role, deadline).await {
                if c.contains(&l.server) {
                    l.checked = Instant::now();
                    return Ok((l.conn.clone(), l.server.clone(), Some(l.id)));
                }
                tracing::info!(
                    "redis: sentinels list {} for {role:?}, not {}",
                    c.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                    l.server
                );
            }
            *live = None;
        }
        if let Some(at) = *slot
            .retry_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            if Instant::now() < at {
                return Err(RedisError::Backoff {
                    server: cfg.describe(),
                });
            }
        }
        if cfg.cluster {
            self.inner.counters.connects.fetch_add(1, Ordering::Relaxed);
            let seed = cfg
                .write
                .first()
                .cloned()
                .ok_or_else(|| RedisError::Connect {
                    server: cfg.describe(),
                    reason: "no seed node configured".into(),
                })?;
            return match cluster::open(cfg, deadline).await {
                Ok(c) => {
                    let conn = Conn::Cluster(c);
                    *live = Some(Live {
                        conn: conn.clone(),
                        id: next_id(),
                        server: seed.clone(),
                        checked: Instant::now(),
                    });
                    Ok((conn, seed, None))
                }
                Err(e) => {
                    slot.hold_off();
                    Err(e)
                }
            };
        }
        let candidates = match self.candidates(role, deadline).await {
            Ok(c) => c,
            Err(e) => {
                slot.hold_off();
                return Err(e);
            }
        };
        let mut last = None;
        for server in candidates {
            self.inner.counters.connects.fetch_add(1, Ordering::Relaxed);
            match open(cfg, &server, deadline).await {
                Ok(conn) => {
                    let conn = Conn::Single(conn);
                    *live = Some(Live {
                        conn: conn.clone(),
                        id: next_id(),
                        server: server.clone(),
                        checked: Instant::now(),
                    });
                    return Ok((conn, server, None));
                }
                Err(e) => last = Some(e),
            }
        }
        slot.hold_off();
        Err(last.unwrap_or(RedisError::Connect {
            server: cfg.describe(),
            reason: "no server configured".into(),
        }))
    }
}

/// How a call failed: for good, or on an open connection found dropped (worth one more
/// try on a new one, for a read; the id names the dropped one).
enum Failure {
    Retry(RedisError, u64),
    Final(RedisError),
}

impl Failure {
    fn into_error(self) -> RedisError {
        match self {
            Failure::Retry(e, _) | Failure::Final(e) => e,
        }
    }
}

/// A new connection's id.
fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Slot {
    /// Drops the connection to `server` (if it is still the live one) and pauses attempts.
    /// Never waits: a caller holding the slot is opening a connection already, and a
    /// broken one left in place fails its next call at once and is dropped then.
    fn fail(&self, server: &Server) {
        if let Ok(mut live) = self.live.try_lock() {
            if live.as_ref().is_some_and(|l| &l.server == server) {
                *live = None;
            }
        }
        self.hold_off();
    }

    fn hold_off(&self) {
        let mut at = self
            .retry_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *at = Some(Instant::now() + RETRY_PAUSE);
    }
}

/// Where `server` is and how to log in to it.
pub(super) fn connection_info(cfg: &RedisConfig, server: &Server) -> ConnectionInfo {
    let addr = match server {
        Server::Tcp(h, p) => ConnectionAddr::Tcp(h.clone(), *p),
        Server::Unix(p) => ConnectionAddr::Unix(p.into()),
    };
    ConnectionInfo {
        addr,
        redis: RedisConnectionInfo {
            db: cfg.db,
            username: cfg.username.clone(),
            password: cfg.password.clone(),
            ..Default::default()
        },
    }
}

/// Connects, logs in and selects the database, all before `deadline`.
async fn open(
    cfg: &RedisConfig,
    server: &Server,
    deadline: Instant,
) -> Result<MultiplexedConnection, RedisError> {
    let info = connection_info(cfg, server);
    let failed = |reason: String| RedisError::Connect {
        server: server.to_string(),
        reason,
    };
    let client = redis::Client::open(info).map_err(|e| failed(e.to_string()))?;
    let at = tokio::time::Instant::from_std(deadline);
    match tokio::time::timeout_at(at, client.get_multiplexed_tokio_connection()).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(failed(e.to_string())),
        Err(_) => Err(RedisError::Timeout {
            server: server.to_string(),
        }),
    }
}

/// Whether the connection is worth dropping after `e`: the path or the server failed, or the
/// server is a replica now (a failover).
fn is_outage(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            ErrorKind::ReadOnly | ErrorKind::ParseError | ErrorKind::AuthenticationFailed
        )
        || e.code() == Some("LOADING")
        || e.code() == Some("MASTERDOWN")
}

/// A Lua script for [`Client::script`], with its SHA-1 computed once.
#[derive(Debug, Clone)]
pub struct Script {
    code: &'static str,
    sha1: String,
}

impl Script {
    pub fn new(code: &'static str) -> Script {
        use sha1::Digest;
        let digest = sha1::Sha1::digest(code.as_bytes());
        Script {
            code,
            sha1: data_encoding::HEXLOWER.encode(&digest),
        }
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The SHA-1 that EVALSHA names it by (lowercase hex).
    pub fn sha1(&self) -> &str {
        &self.sha1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unused_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    fn config(port: u16, timeout: Duration) -> RedisConfig {
        let tree = serde_json::json!({"redis": {"servers": format!("127.0.0.1:{port}"),
                                                "timeout": timeout.as_secs_f64()}});
        RedisConfig::for_module(&tree, "greylist").unwrap().unwrap()
    }

    #[tokio::test]
    async fn one_shared_client_per_server_whatever_the_timeout() {
        let port = unused_port();
        let a = Client::shared(config(port, Duration::from_millis(300)));
        let b = Client::shared(config(port, Duration::from_secs(2)));
        assert!(Arc::ptr_eq(&a.inner, &b.inner));
        let other = Client::shared(config(unused_port(), Duration::from_millis(300)));
        assert!(!Arc::ptr_eq(&a.inner, &other.inner));
        let ping = redis::cmd("PING");
        let deadline = Instant::now() + Duration::from_millis(300);
        let refused = a.query::<String>(Role::Write, &ping, deadline).await;
        assert!(refused.is_err());
        assert_eq!(b.counters().calls.load(Ordering::Relaxed), 1);
        drop((a, b));
        // Once nobody holds it, a new one.
        let c = Client::shared(config(port, Duration::from_millis(300)));
        assert_eq!(c.counters().calls.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn script_sha_is_redis_sha1_hex() {
        // SHA-1 of "return 1", as `SCRIPT LOAD "return 1"` answers it.
        let s = Script::new("return 1");
        assert_eq!(s.sha1, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    }

    #[tokio::test]
    async fn refused_then_held_off_and_counted() {
        let c = Client::new(config(unused_port(), Duration::from_millis(300)));
        let deadline = Instant::now() + Duration::from_millis(300);
        let e = c
            .query::<String>(Role::Write, &redis::cmd("PING"), deadline)
            .await
            .unwrap_err();
        assert!(matches!(e, RedisError::Connect { .. }), "{e}");
        let e = c
            .query::<String>(Role::Read, &redis::cmd("PING"), deadline)
            .await
            .unwrap_err();
        assert!(matches!(e, RedisError::Backoff { .. }), "{e}");
        assert_eq!(c.counters().failures.load(Ordering::Relaxed), 2);
        assert_eq!(c.counters().connects.load(Ordering::Relaxed), 1);
    }

    /// A server that answers one command per connection and then closes it (as Sentinel
    /// drops the clients of a replica it promotes): a read on the dropped connection is
    /// tried again on a new one and succeeds; a write is not repeated.
    #[tokio::test]
    async fn a_read_on_a_dropped_connection_gets_one_more_try() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let serve = tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 256];
                if s.read(&mut buf).await.unwrap_or(0) > 0 {
                    let _ = s.write_all(b"+PONG\r\n").await;
                }
                drop(s);
            }
        });
        let c = Client::new(config(port, Duration::from_secs(2)));
        let ping = redis::cmd("PING");
        let deadline = || Instant::now() + Duration::from_secs(2);
        let first: String = c.query(Role::Read, &ping, deadline()).await.unwrap();
        assert_eq!(first, "PONG");
        // Let the client see the close.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let again: String = c.query(Role::Read, &ping, deadline()).await.unwrap();
        assert_eq!(again, "PONG");
        assert_eq!(c.counters().connects.load(Ordering::Relaxed), 2);
        assert_eq!(c.counters().failures.load(Ordering::Relaxed), 0);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let write = c.query::<String>(Role::Write, &ping, deadline()).await;
        assert!(matches!(write, Err(RedisError::Lost { .. })), "{write:?}");
        serve.abort();
    }

    /// A server that accepts and never answers: the call ends at its deadline.
    #[tokio::test]
    async fn a_silent_server_is_cut_at_the_deadline() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let hold = tokio::spawn(async move {
            let mut kept = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                kept.push(s);
            }
        });
        let c = Client::new(config(port, Duration::from_millis(200)));
        let start = Instant::now();
        let e = c
            .query::<String>(
                Role::Write,
                &redis::cmd("PING"),
                start + Duration::from_millis(200),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, RedisError::Timeout { .. }), "{e}");
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
        hold.abort();
    }
}
