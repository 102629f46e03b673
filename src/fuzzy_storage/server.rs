//! The storage's UDP side: one datagram in, at most one datagram out.
//!
//! Every datagram is decoded whole; one that is not a command (truncated,
//! oversized, a version Rspamd 3.x does not send, an envelope that does not
//! open) is dropped and counted, as Rspamd's storage drops it: there is no
//! sender to trust with an answer. A command is always answered: with its
//! result, or with a status (403 refused, 500 the backend failed).
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sluice_proto::fuzzy::{status, Command, Op, Reply, Request, MAX_PACKET};
use tracing::{debug, warn};

use super::backend::{Backend, Found};
use super::replay::{Nonces, Seen};
use super::settings::StorageSettings;

/// What the storage did, for logs, tests and `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
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
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The storage: settings, backend, the nonces seen, counters.
#[derive(Debug)]
pub struct Storage {
    pub settings: StorageSettings,
    pub backend: Backend,
    pub counters: Counters,
    nonces: Nonces,
}

impl Storage {
    pub fn new(settings: StorageSettings, backend: Backend) -> Self {
        Self {
            settings,
            backend,
            counters: Counters::default(),
            nonces: Nonces::default(),
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
        let request = match Request::decode(packet, &self.settings.keypairs) {
            Ok(r) => r,
            Err(e) => {
                bump(&self.counters.invalid);
                debug!("fuzzy storage: {peer}: dropped: {e}");
                return None;
            }
        };
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
                matched(cmd, &found)
            }
            Ok(None) => Reply::status(status::OK, cmd.tag),
            Err(e) => self.failed(cmd, &e),
        }
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
