//! The embedded store's in-memory view of what the classifier reads.
//!
//! Why: a trained store holds around a million tokens, and one B-tree
//! descent per token (hundreds per message) made classification the
//! dearest part of a scan; a hash map answers the same question orders of
//! magnitude faster (`docs/performance.md`).
//!
//! What is kept:
//! - the learned-message totals of every user, always: a scan checks them
//!   first and skips tokenizing while a class is below `min_learns`;
//! - the counts of tokens seen in at least `min_hits` messages. The
//!   classifier ignores rarer tokens anyway, and they are most of a store
//!   (words seen once), so leaving them out keeps the map a fraction of
//!   the file. A token missing from the map reads as zero.
//!
//! The token map is built on the first lookup, so a `sluice learn` run
//! that never classifies never pays for it. It is bounded by `max_tokens`:
//! past that it is dropped and lookups go to the database again.
//!
//! Consistency: the map holds absolute counts, written by the single
//! writer after each commit while it still holds the writer's lock, so a
//! reader sees the state of one commit or the next, never a mix of a
//! message's tokens and another commit's totals.
use std::collections::HashMap;
use std::sync::{PoisonError, RwLock, RwLockReadGuard};

use crate::config::bayes::DEFAULT_CACHE_TOKENS;
use crate::stats::classifier::{Counts, Learns};

use super::layout::slot;

/// A stored token's key: its [`slot`] (the user mixed in).
pub type Key = u64;
/// (spam, ham) message counts as stored.
pub type Pair = (u32, u32);

/// slot -> (spam, ham).
type TokenMap = HashMap<Key, Pair, foldhash::fast::RandomState>;

/// How much to keep in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// Tokens seen in fewer messages than this (both classes) are not
    /// kept; use the classifier's `min_token_hits`.
    pub min_hits: u64,
    /// At most this many tokens; 0 turns the token map off.
    pub max_tokens: usize,
}

impl CacheLimits {
    /// What the embedded store keeps in memory: only tokens the classifier
    /// can use (`min_token_hits`), at most `cache_tokens` of them.
    pub fn of(cfg: &crate::config::bayes::StatsConfig) -> CacheLimits {
        CacheLimits {
            min_hits: cfg.tuning.min_token_hits,
            max_tokens: cfg.cache_tokens,
        }
    }
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            min_hits: 2,
            max_tokens: DEFAULT_CACHE_TOKENS,
        }
    }
}

/// Committed values to publish after a write transaction.
#[derive(Debug, Default)]
pub struct Changes {
    pub learns: Vec<(u64, (u64, u64))>,
    pub tokens: Vec<(Key, Pair)>,
}

#[derive(Debug)]
enum Tokens {
    /// Not built yet (no lookup so far).
    Unbuilt,
    Ready(TokenMap),
    /// Over `max_tokens`, or turned off: the database answers.
    Off,
}

#[derive(Debug)]
struct State {
    learns: HashMap<u64, Learns>,
    tokens: Tokens,
}

/// See the module documentation.
#[derive(Debug)]
pub struct Cache {
    limits: CacheLimits,
    state: RwLock<State>,
}

/// What [`Cache::lookup`] answers when it has no token map.
pub enum Miss {
    /// Not built yet: [`Cache::build`] it, then ask again.
    Build,
    /// Ask the database.
    Database,
}

impl Cache {
    /// `learns`: every user's totals as the database holds them now.
    pub fn new(limits: CacheLimits, learns: HashMap<u64, Learns>) -> Cache {
        let tokens = if limits.max_tokens == 0 {
            Tokens::Off
        } else {
            Tokens::Unbuilt
        };
        Cache {
            limits: CacheLimits {
                min_hits: limits.min_hits.max(1),
                ..limits
            },
            state: RwLock::new(State { learns, tokens }),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn learns(&self, user: u64) -> Learns {
        self.read().learns.get(&user).copied().unwrap_or_default()
    }

    /// Totals and counts from memory, or why not.
    pub fn lookup(&self, user: u64, tokens: &[u64]) -> Result<(Learns, Vec<Counts>), Miss> {
        let st = self.read();
        let map = match &st.tokens {
            Tokens::Ready(m) => m,
            Tokens::Unbuilt => return Err(Miss::Build),
            Tokens::Off => return Err(Miss::Database),
        };
        let counts = tokens
            .iter()
            .map(|t| {
                map.get(&slot(user, *t))
                    .map_or(Counts::default(), |&(s, h)| Counts {
                        spam: u64::from(s),
                        ham: u64::from(h),
                    })
            })
            .collect();
        Ok((st.learns.get(&user).copied().unwrap_or_default(), counts))
    }

    /// Builds the token map unless it was built meanwhile. `scan` reads
    /// every stored token into the callback it is given (which answers
    /// `false` to stop early). It runs under this cache's lock, so a
    /// commit published before it is in what it reads and one published
    /// after overwrites what it read.
    pub fn build<E>(
        &self,
        scan: impl FnOnce(&mut dyn FnMut(Key, Pair) -> bool) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut st = self.state.write().unwrap_or_else(PoisonError::into_inner);
        if !matches!(st.tokens, Tokens::Unbuilt) {
            return Ok(());
        }
        let mut map = TokenMap::default();
        let mut over = false;
        scan(&mut |key, counts| {
            if !self.keep(counts) {
                return true;
            }
            if map.len() >= self.limits.max_tokens {
                over = true;
                return false;
            }
            map.insert(key, counts);
            true
        })?;
        st.tokens = if over {
            self.too_many();
            Tokens::Off
        } else {
            Tokens::Ready(map)
        };
        Ok(())
    }

    /// Publishes what a commit wrote (in commit order).
    pub fn apply(&self, changes: &Changes) {
        let mut st = self.state.write().unwrap_or_else(PoisonError::into_inner);
        for &(user, (spam, ham)) in &changes.learns {
            st.learns.insert(user, Learns { spam, ham });
        }
        let Tokens::Ready(map) = &mut st.tokens else {
            return;
        };
        for &(key, counts) in &changes.tokens {
            if self.keep(counts) {
                map.insert(key, counts);
            } else {
                map.remove(&key);
            }
        }
        if map.len() > self.limits.max_tokens {
            self.too_many();
            st.tokens = Tokens::Off;
        }
    }

    fn too_many(&self) {
        tracing::info!(
            "bayes: more than {} frequent tokens; counts are read from the database",
            self.limits.max_tokens
        );
    }

    fn keep(&self, (spam, ham): Pair) -> bool {
        u64::from(spam) + u64::from(ham) >= self.limits.min_hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(c: &Cache, v: Vec<(Key, Pair)>) {
        c.build(|push: &mut dyn FnMut(Key, Pair) -> bool| {
            for (k, r) in v {
                if !push(k, r) {
                    break;
                }
            }
            Ok::<(), ()>(())
        })
        .unwrap();
    }

    fn limits(max_tokens: usize) -> CacheLimits {
        CacheLimits {
            min_hits: 2,
            max_tokens,
        }
    }

    #[test]
    fn rare_tokens_read_as_zero_and_frequent_ones_exactly() {
        let c = Cache::new(limits(10), HashMap::new());
        assert!(matches!(c.lookup(0, &[1]), Err(Miss::Build)));
        build(&c, vec![(1, (1, 0)), (2, (3, 4))]);
        let (_, counts) = c.lookup(0, &[1, 2, 3]).unwrap_or_else(|_| panic!("built"));
        assert_eq!(counts[0], Counts::default());
        assert_eq!(counts[1], Counts { spam: 3, ham: 4 });
        assert_eq!(counts[2], Counts::default());
    }

    #[test]
    fn commits_update_learns_and_tokens() {
        let c = Cache::new(limits(10), HashMap::new());
        build(&c, vec![(2, (3, 4))]);
        c.apply(&Changes {
            learns: vec![(0, (5, 6))],
            tokens: vec![(2, (1, 0)), (7, (2, 0))],
        });
        assert_eq!(c.learns(0), Learns { spam: 5, ham: 6 });
        let (l, counts) = c.lookup(0, &[2, 7]).unwrap_or_else(|_| panic!("built"));
        assert_eq!(l, Learns { spam: 5, ham: 6 });
        assert_eq!(counts[0], Counts::default(), "dropped below min_hits");
        assert_eq!(counts[1], Counts { spam: 2, ham: 0 });
    }

    #[test]
    fn too_many_tokens_turn_the_map_off() {
        let c = Cache::new(limits(1), HashMap::new());
        build(&c, vec![(1, (2, 0)), (2, (2, 0))]);
        assert!(matches!(c.lookup(0, &[1]), Err(Miss::Database)));
        let c = Cache::new(limits(1), HashMap::new());
        build(&c, vec![(1, (2, 0))]);
        c.apply(&Changes {
            learns: vec![],
            tokens: vec![(2, (2, 0))],
        });
        assert!(matches!(c.lookup(0, &[1]), Err(Miss::Database)));
        assert!(matches!(
            Cache::new(limits(0), HashMap::new()).lookup(0, &[1]),
            Err(Miss::Database)
        ));
    }
}
