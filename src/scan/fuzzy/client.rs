//! One rule's exchange with its storage: every hash of a message as one
//! datagram each, sent together on one UDP socket, replies matched by tag,
//! unanswered commands sent again after each `timeout` up to `retransmits`
//! times, and the whole bounded by the caller's deadline.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sluice_proto::fuzzy::{crypto, envelope, Command, Keypair, Reply, SharedKey, MAX_PACKET};
use tokio::net::UdpSocket;

use super::settings::FuzzyRule;

/// Why an exchange gave no replies.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("fuzzy storage {server}: {source}")]
    Io {
        server: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("fuzzy storage {server}: no reply within the deadline")]
    Timeout { server: SocketAddr },
    #[error("fuzzy rule {rule}: bad encryption key: {reason}")]
    Key { rule: String, reason: String },
}

/// A rule's connection settings: its servers (taken in turn) and, for an
/// encrypted rule, the storage's public key and this client's keypair.
#[derive(Debug)]
pub struct RuleClient {
    servers: Vec<SocketAddr>,
    next: AtomicUsize,
    timeout: Duration,
    retransmits: u32,
    crypto: Option<Sealing>,
}

#[derive(Debug)]
struct Sealing {
    server_key: [u8; crypto::KEY_LEN],
    local: Keypair,
    shared: SharedKey,
}

impl RuleClient {
    /// The client of `rule`; an encrypted rule gets a fresh keypair, as
    /// Rspamd's client makes one per rule at start.
    pub fn new(rule: &FuzzyRule) -> Result<RuleClient, ClientError> {
        let key_err = |reason: String| ClientError::Key {
            rule: rule.name.clone(),
            reason,
        };
        let crypto = match &rule.encryption_key {
            Some(k) => {
                let server_key =
                    crypto::public_from_base32(k).map_err(|e| key_err(e.to_string()))?;
                let local = Keypair::generate().map_err(|e| key_err(e.to_string()))?;
                let shared = local
                    .shared(&server_key)
                    .map_err(|e| key_err(e.to_string()))?;
                Some(Sealing {
                    server_key,
                    local,
                    shared,
                })
            }
            None => None,
        };
        Ok(RuleClient {
            servers: rule.servers.clone(),
            next: AtomicUsize::new(0),
            timeout: rule.timeout,
            retransmits: rule.retransmits,
            crypto,
        })
    }

    /// The next server, round robin.
    fn server(&self) -> SocketAddr {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.servers[i % self.servers.len()]
    }

    fn seal(&self, cmd: &Command) -> Vec<u8> {
        let plain = cmd.encode();
        match &self.crypto {
            // Sealing fails only without randomness; the storage then
            // drops the plain command as undecryptable, which times out.
            Some(s) => {
                envelope::seal_request_shared(&s.server_key, s.local.public(), &s.shared, &plain)
                    .unwrap_or(plain)
            }
            None => plain,
        }
    }

    fn open(&self, packet: &[u8]) -> Option<Reply> {
        match &self.crypto {
            Some(s) => Reply::decode(&envelope::open_reply(&s.shared, packet).ok()?).ok(),
            None => Reply::decode(packet).ok(),
        }
    }

    /// Sends `commands` (their tags are set here) and returns the replies
    /// that came, in the commands' order (`None`: no reply). An error only
    /// when nothing could be sent or nothing came back at all.
    pub async fn exchange(
        &self,
        mut commands: Vec<Command>,
        deadline: Instant,
    ) -> Result<Vec<(Command, Option<Reply>)>, ClientError> {
        let server = self.server();
        let io = |source| ClientError::Io { server, source };
        let bind: SocketAddr = if server.is_ipv6() {
            "[::]:0".parse().unwrap_or_else(|_| unreachable!())
        } else {
            "0.0.0.0:0".parse().unwrap_or_else(|_| unreachable!())
        };
        let sock = UdpSocket::bind(bind).await.map_err(io)?;
        sock.connect(server).await.map_err(io)?;
        let mut by_tag: HashMap<u32, usize> = HashMap::new();
        for (i, c) in commands.iter_mut().enumerate() {
            let mut tag = fastrand::u32(..);
            while by_tag.contains_key(&tag) {
                tag = fastrand::u32(..);
            }
            c.tag = tag;
            by_tag.insert(tag, i);
        }
        let packets: Vec<Vec<u8>> = commands.iter().map(|c| self.seal(c)).collect();
        let mut replies: Vec<Option<Reply>> = vec![None; commands.len()];
        let mut buf = vec![0u8; MAX_PACKET * 2];
        let mut got_any = false;
        'attempts: for _ in 0..=self.retransmits {
            for (p, r) in packets.iter().zip(&replies) {
                if r.is_none() {
                    sock.send(p).await.map_err(io)?;
                }
            }
            let until = deadline.min(Instant::now() + self.timeout);
            while replies.iter().any(Option::is_none) {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match tokio::time::timeout(left, sock.recv(&mut buf)).await {
                    Ok(Ok(n)) => {
                        let Some(reply) = self.open(&buf[..n]) else {
                            continue;
                        };
                        if let Some(&i) = by_tag.get(&reply.tag) {
                            got_any = true;
                            replies[i].get_or_insert(reply);
                        }
                    }
                    // ICMP unreachable and the like: wait for the next try.
                    Ok(Err(_)) => tokio::time::sleep(left.min(Duration::from_millis(50))).await,
                    Err(_) => break,
                }
            }
            if replies.iter().all(Option::is_some) || Instant::now() >= deadline {
                break 'attempts;
            }
        }
        if !got_any {
            return Err(ClientError::Timeout { server });
        }
        Ok(commands.into_iter().zip(replies).collect())
    }
}
