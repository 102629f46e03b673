//! Encrypted requests seen lately, by nonce: a datagram sent again with the
//! same nonce (a client's retransmission, or a replay by someone who
//! captured it) must not add its weight twice. A repeat gets the reply the
//! first one got, or nothing while the first is still being answered.
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use sluice_proto::fuzzy::crypto::NONCE_LEN;

/// How many nonces are remembered: many more than the requests a busy
/// storage answers in a client's retransmission window.
pub const CAPACITY: usize = 16_384;

/// What a nonce was seen with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// New: the caller answers it and records the reply.
    First,
    /// Still being answered.
    InFlight,
    /// Answered with these bytes.
    Answered(Vec<u8>),
}

#[derive(Debug, Default)]
pub struct Nonces {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    replies: HashMap<[u8; NONCE_LEN], Option<Vec<u8>>>,
    order: VecDeque<[u8; NONCE_LEN]>,
}

impl Nonces {
    /// Looks `nonce` up, and claims it when new.
    pub fn see(&self, nonce: &[u8; NONCE_LEN]) -> Seen {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(reply) = inner.replies.get(nonce) {
            return reply.clone().map_or(Seen::InFlight, Seen::Answered);
        }
        if inner.order.len() >= CAPACITY {
            if let Some(old) = inner.order.pop_front() {
                inner.replies.remove(&old);
            }
        }
        inner.replies.insert(*nonce, None);
        inner.order.push_back(*nonce);
        Seen::First
    }

    /// Records the reply a claimed nonce got.
    pub fn answered(&self, nonce: &[u8; NONCE_LEN], reply: &[u8]) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(slot) = inner.replies.get_mut(nonce) {
            *slot = Some(reply.to_vec());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_gets_the_first_reply() {
        let n = Nonces::default();
        assert_eq!(n.see(&[1; NONCE_LEN]), Seen::First);
        assert_eq!(n.see(&[1; NONCE_LEN]), Seen::InFlight);
        n.answered(&[1; NONCE_LEN], b"reply");
        assert_eq!(n.see(&[1; NONCE_LEN]), Seen::Answered(b"reply".to_vec()));
        assert_eq!(n.see(&[2; NONCE_LEN]), Seen::First);
    }

    #[test]
    fn the_oldest_are_forgotten_first() {
        let n = Nonces::default();
        for i in 0..=CAPACITY {
            let mut nonce = [0; NONCE_LEN];
            nonce[..8].copy_from_slice(&(i as u64).to_le_bytes());
            assert_eq!(n.see(&nonce), Seen::First);
        }
        assert_eq!(n.see(&[0; NONCE_LEN]), Seen::First, "evicted");
    }
}
