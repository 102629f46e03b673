//! The storage's UDP side: one datagram in, at most one datagram out.
//!
//! Every datagram is decoded whole; one that is not a command (truncated,
//! oversized, a version Rspamd 3.x does not send, an envelope that does not
//! open) is dropped and counted, as Rspamd's storage drops it: there is no
//! sender to trust with an answer. A command is always answered: with its
//! result, or with a status (403 refused, 500 the backend failed).
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sluice_proto::fuzzy::{status, Command, Op, Reply, Request, DIGEST_LEN, MAX_PACKET, SHINGLES};
use tracing::{debug, warn};

use super::backend::{Backend, BackendError, Found, Refresh};
use super::key_cache::KeyCache;
use super::replay::{Nonces, Seen};
use super::settings::StorageSettings;

/// What the storage did, for logs, tests and `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Commands decoded from plain datagrams.
    pub plain: AtomicU64,
    /// Commands decoded from encrypted datagrams.
    pub encrypted: AtomicU64,
    pub checked: AtomicU64,
    pub matched: AtomicU64,
    pub added: AtomicU64,
    pub deleted: AtomicU64,
    pub refused: AtomicU64,
    /// Datagrams dropped as not being commands.
    pub invalid: AtomicU64,
    /// Encrypted datagrams seen before (answered again or dropped).
    pub repeated: AtomicU64,
    pub backend_errors: AtomicU64,
    /// Hashes whose expiry a hit renewed.
    pub refreshed: AtomicU64,
}

/// Digests found by hits, with the shingles of the query that found each.
type Pending = HashMap<[u8; DIGEST_LEN], Option<Box<[u64; SHINGLES]>>>;

/// At most this many hits wait for their expiry to be renewed; more are
/// let go (a hash that is hit often is hit again before the next sync).
const MAX_PENDING: usize = 65_536;

/// Rspamd renews a hash's expiry when a check finds it with more than this
/// probability (`fuzzy_storage.c`).
const REFRESH_PROB: f32 = 0.9;

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The storage: settings, backend, the nonces seen, the clients' shared
/// keys, counters.
#[derive(Debug)]
pub struct Storage {
    pub settings: StorageSettings,
    pub backend: Backend,
    pub counters: Counters,
    pub keys: KeyCache,
    nonces: Nonces,
    /// Hits whose expiry is renewed at the next sync, by digest.
    pending: Mutex<Pending>,
}

impl Storage {
    pub fn new(settings: StorageSettings, backend: Backend) -> Self {
        Self {
            keys: KeyCache::new(settings.keypair_cache_size),
            settings,
            backend,
            counters: Counters::default(),
            nonces: Nonces::default(),
            pending: Mutex::default(),
        }
    }

    /// Answers one datagram from `peer`; `None` drops it.
    pub async fn handle(&self, packet: &[u8], peer: SocketAddr) -> Option<Vec<u8>> {
        if packet.len() > MAX_PACKET {
            bump(&self.counters.invalid);
            debug!(
                "fuzzy storage: {peer}: {}-byte datagram dropped (over {MAX_PACKET})",
                packet.len()
            );
            return None;
        }
        let request = match Request::decode_with(packet, &self.settings.keypairs, |pair, peer| {
            self.keys.shared(pair, peer)
        }) {
            Ok(r) => r,
            Err(e) => {
                bump(&self.counters.invalid);
                debug!("fuzzy storage: {peer}: dropped: {e}");
                return None;
            }
        };
        bump(if request.shared.is_some() {
            &self.counters.encrypted
        } else {
            &self.counters.plain
        });
        if let Some(nonce) = &request.nonce {
            match self.nonces.see(nonce) {
                Seen::First => {}
                Seen::InFlight => {
                    bump(&self.counters.repeated);
                    return None;
                }
                Seen::Answered(reply) => {
                    bump(&self.counters.repeated);
                    return Some(reply);
                }
            }
        }
        let reply = self.answer(&request, peer.ip()).await;
        let bytes = match request.answer(&reply) {
            Ok(b) => b,
            Err(e) => {
                warn!("fuzzy storage: {peer}: cannot seal the reply: {e}");
                return None;
            }
        };
        if let Some(nonce) = &request.nonce {
            self.nonces.answered(nonce, &bytes);
        }
        Some(bytes)
    }

    async fn answer(&self, request: &Request, peer: IpAddr) -> Reply {
        let cmd = &request.command;
        if self.settings.encrypted_only && request.shared.is_none() {
            bump(&self.counters.refused);
            return refused(cmd);
        }
        match cmd.op {
            Op::Check => self.check(cmd).await,
            Op::Stat => match self.backend.count().await {
                Ok(n) => Reply {
                    prob: 1.0,
                    flag: u32::try_from(n).unwrap_or(u32::MAX),
                    ..done(cmd)
                },
                Err(e) => self.failed(cmd, &e),
            },
            Op::Write | Op::Del if !self.may_update(peer) => {
                bump(&self.counters.refused);
                refused(cmd)
            }
            Op::Write => match self.backend.write(cmd, self.settings.expire).await {
                Ok(()) => {
                    bump(&self.counters.added);
                    done(cmd)
                }
                Err(e) => self.failed(cmd, &e),
            },
            Op::Del => match self.backend.delete(cmd).await {
                Ok(()) => {
                    bump(&self.counters.deleted);
                    done(cmd)
                }
                Err(e) => self.failed(cmd, &e),
            },
            Op::Other(code) => {
                debug!("fuzzy storage: unknown command {code}");
                Reply::status(status::INTERNAL, cmd.tag)
            }
        }
    }

    async fn check(&self, cmd: &Command) -> Reply {
        bump(&self.counters.checked);
        match self.backend.check(cmd).await {
            Ok(Some(found)) => {
                bump(&self.counters.matched);
                if found.prob > REFRESH_PROB && !self.settings.read_only {
                    self.renew_later(&found, cmd);
                }
                matched(cmd, &found)
            }
            Ok(None) => Reply::status(status::OK, cmd.tag),
            Err(e) => self.failed(cmd, &e),
        }
    }

    /// Queues the found hash (and the query's shingles) for renewal, as
    /// Rspamd queues a refresh with its updates: applied at the next sync,
    /// in one write, never on the check's path.
    fn renew_later(&self, found: &Found, cmd: &Command) {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if pending.len() < MAX_PENDING || pending.contains_key(&found.digest) {
            pending.insert(found.digest, cmd.shingles.clone());
        }
    }

    /// The periodic work (every `sync`): renews the expiries of the hashes
    /// hits found, then drops expired hashes. Returns how many were
    /// renewed and how many removed.
    pub async fn sync(&self) -> Result<(u64, u64), BackendError> {
        let batch: Vec<Refresh> = {
            let mut pending = self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            pending
                .drain()
                .map(|(digest, shingles)| Refresh { digest, shingles })
                .collect()
        };
        let renewed = if batch.is_empty() {
            0
        } else {
            self.backend.refresh(&batch, self.settings.expire).await?
        };
        self.counters
            .refreshed
            .fetch_add(renewed, Ordering::Relaxed);
        Ok((renewed, self.backend.sweep()?))
    }

    fn failed(&self, cmd: &Command, e: &dyn std::fmt::Display) -> Reply {
        bump(&self.counters.backend_errors);
        warn!("fuzzy storage: {e}");
        Reply::status(status::INTERNAL, cmd.tag)
    }

    /// Rspamd's rule: not read-only, and the sender in `allow_update`
    /// (nobody when it is empty).
    fn may_update(&self, peer: IpAddr) -> bool {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        !self.settings.read_only && self.settings.allow_update.iter().any(|n| n.contains(&peer))
    }
}

/// A write, delete or stat that went through: value 0, prob 1.
fn done(cmd: &Command) -> Reply {
    Reply {
        value: status::OK,
        flag: u32::from(cmd.flag),
        tag: cmd.tag,
        prob: 1.0,
        digest: cmd.digest,
        ts: 0,
    }
}

fn refused(cmd: &Command) -> Reply {
    Reply {
        flag: u32::from(cmd.flag),
        digest: cmd.digest,
        ..Reply::status(status::FORBIDDEN, cmd.tag)
    }
}

fn matched(cmd: &Command, found: &Found) -> Reply {
    Reply {
        value: found.value,
        flag: found.flag,
        tag: cmd.tag,
        prob: found.prob,
        digest: found.digest,
        ts: found.ts,
    }
}

/// Serves `socket` until `stop` is cancelled. The embedded backend answers
/// in place (its calls do not wait on the network); the Redis one answers
/// in a task per datagram, so one slow answer does not hold up the rest.
pub async fn serve(
    storage: Arc<Storage>,
    socket: Arc<tokio::net::UdpSocket>,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut buf = vec![0u8; MAX_PACKET + 1];
    let in_place = matches!(storage.backend, Backend::Embedded(_));
    loop {
        let (len, peer) = tokio::select! {
            () = stop.cancelled() => return,
            got = socket.recv_from(&mut buf) => match got {
                Ok(got) => got,
                Err(e) => {
                    debug!("fuzzy storage: receive: {e}");
                    continue;
                }
            },
        };
        if in_place {
            if let Some(reply) = storage.handle(&buf[..len], peer).await {
                send(&socket, &reply, peer).await;
            }
        } else {
            let (storage, socket, packet) = (
                Arc::clone(&storage),
                Arc::clone(&socket),
                buf[..len].to_vec(),
            );
            tokio::spawn(async move {
                if let Some(reply) = storage.handle(&packet, peer).await {
                    send(&socket, &reply, peer).await;
                }
            });
        }
    }
}

async fn send(socket: &tokio::net::UdpSocket, reply: &[u8], peer: SocketAddr) {
    if let Err(e) = socket.send_to(reply, peer).await {
        debug!("fuzzy storage: reply to {peer}: {e}");
    }
}
