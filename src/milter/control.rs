//! What a session shares with whoever admits it: whether it is inside a
//! message, and a way to ask it to leave. The server's session table
//! (`server::table`) evicts sessions through it when the cap is reached.
//!
//! One atomic state settles the race between an eviction and a message
//! that starts at the same moment: whichever moves the state first wins,
//! so a session inside a transaction is never evicted, and an evicted one
//! never starts a message.
use std::sync::atomic::{AtomicU8, Ordering};

use tokio::sync::Notify;

const IDLE: u8 = 0;
const IN_MESSAGE: u8 = 1;
const EVICTED: u8 = 2;

/// One session's shared state.
#[derive(Debug, Default)]
pub struct SessionControl {
    state: AtomicU8,
    evict: Notify,
}

impl SessionControl {
    /// A message begins (MAIL): false when the session was evicted first.
    pub fn begin_message(&self) -> bool {
        match self
            .state
            .compare_exchange(IDLE, IN_MESSAGE, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(now) => now == IN_MESSAGE,
        }
    }

    /// The message ended (answered or aborted): evictable again.
    pub fn end_message(&self) {
        let _ = self
            .state
            .compare_exchange(IN_MESSAGE, IDLE, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Asks an idle session to leave. False (and nothing happens) when it is
    /// inside a message or already leaving.
    pub fn evict(&self) -> bool {
        let won = self
            .state
            .compare_exchange(IDLE, EVICTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if won {
            self.evict.notify_one();
        }
        won
    }

    pub fn is_evicted(&self) -> bool {
        self.state.load(Ordering::Acquire) == EVICTED
    }

    /// Resolves once the session is evicted.
    pub async fn evicted(&self) {
        while !self.is_evicted() {
            self.evict.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_inside_a_message_cannot_be_evicted() {
        let c = SessionControl::default();
        assert!(c.begin_message());
        assert!(!c.evict(), "inside a message");
        c.end_message();
        assert!(c.evict(), "between messages");
        assert!(!c.begin_message(), "evicted sessions start nothing");
        assert!(!c.evict(), "evicted once");
    }

    #[tokio::test]
    async fn eviction_wakes_the_session() {
        let c = std::sync::Arc::new(SessionControl::default());
        let waiter = tokio::spawn({
            let c = c.clone();
            async move { c.evicted().await }
        });
        tokio::task::yield_now().await;
        assert!(c.evict());
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
    }
}
