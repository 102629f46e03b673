//! Upstream selection (Rspamd's rotations) and health bookkeeping for one
//! group. The pool hands out member indices; the client owns connections.
//! Every method takes `now` so tests drive time exactly.
use std::sync::Mutex;
use std::time::Instant;

use super::health::{jittered, Health};
use crate::config::forward::HealthSettings;
use crate::config::hosts::Rotation;

/// How one attempt on a member ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A complete HTTP exchange (whatever the status: the scanner answered).
    Ok,
    /// Connect, IO, TLS or timeout failure.
    Fail,
}

#[derive(Debug, Clone, Default)]
struct Member {
    health: Health,
    /// Round-robin's current weight.
    current: u32,
    inflight: u32,
}

#[derive(Debug)]
struct State {
    members: Vec<Member>,
    rng: fastrand::Rng,
}

/// A group's members with their weights and health.
#[derive(Debug)]
pub struct Pool {
    rotation: Rotation,
    /// Configured weights, at least 1.
    weights: Vec<u32>,
    health: HealthSettings,
    state: Mutex<State>,
}

/// How many times `hash` re-hashes past dead members before going random.
const REHASH_LIMIT: u64 = 20;

impl Pool {
    /// A pool of `weights.len()` members; `seed` fixes the random draws.
    pub fn new(rotation: Rotation, weights: Vec<u32>, health: HealthSettings, seed: u64) -> Pool {
        let weights: Vec<u32> = weights.into_iter().map(|w| w.max(1)).collect();
        let members = weights
            .iter()
            .map(|&w| Member {
                current: w,
                ..Member::default()
            })
            .collect();
        Pool {
            rotation,
            weights,
            health,
            state: Mutex::new(State {
                members,
                rng: fastrand::Rng::with_seed(seed),
            }),
        }
    }

    pub fn len(&self) -> usize {
        self.weights.len()
    }

    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain counters behind; keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether member `i` is in rotation at `now`.
    pub fn is_alive(&self, i: usize, now: Instant) -> bool {
        self.lock()
            .members
            .get(i)
            .is_some_and(|m| m.health.is_alive(now))
    }

    /// Members in rotation at `now`.
    pub fn alive_count(&self, now: Instant) -> usize {
        let st = self.lock();
        st.members.iter().filter(|m| m.health.is_alive(now)).count()
    }

    /// Picks a member for one attempt and counts it in flight; the caller
    /// must [`Pool::release`] it. `exclude` holds members that already failed
    /// this message; they are skipped unless nothing else is alive. `key` is
    /// the `hash` rotation's key.
    pub fn select(&self, key: Option<&[u8]>, exclude: &[usize], now: Instant) -> Option<usize> {
        let mut st = self.lock();
        let alive: Vec<usize> = (0..st.members.len())
            .filter(|&i| st.members[i].health.is_alive(now))
            .collect();
        let fresh: Vec<usize> = alive
            .iter()
            .copied()
            .filter(|i| !exclude.contains(i))
            .collect();
        let candidates = match (fresh.is_empty(), alive.is_empty()) {
            (false, _) => fresh,
            (true, false) => alive,
            // Nothing alive (every dead time still running): probe them all.
            (true, true) => (0..st.members.len()).collect(),
        };
        if candidates.is_empty() {
            return None;
        }
        let pick = match self.rotation {
            Rotation::RoundRobin => self.round_robin(&mut st, &candidates),
            Rotation::MasterSlave => self.master(&candidates),
            Rotation::Random => least_loaded_of_two(&mut st, &candidates),
            Rotation::Hash => match key {
                Some(k) => hashed(&mut st, &candidates, k, now),
                None => least_loaded_of_two(&mut st, &candidates),
            },
        };
        st.members[pick].inflight += 1;
        Some(pick)
    }

    /// Ends an attempt on member `i`. A failure may take it out of rotation,
    /// but never the last live member.
    pub fn release(&self, i: usize, outcome: Outcome, now: Instant) {
        let mut st = self.lock();
        let live_others = (0..st.members.len())
            .filter(|&j| j != i && st.members[j].health.is_alive(now))
            .count();
        let draw = st.rng.f64();
        let Some(m) = st.members.get_mut(i) else {
            return;
        };
        m.inflight = m.inflight.saturating_sub(1);
        match outcome {
            Outcome::Ok => m.health.ok(),
            Outcome::Fail => {
                if m.health.fail(now, &self.health) {
                    if live_others > 0 {
                        m.health.kill(now, jittered(self.health.revive_time, draw));
                    } else {
                        m.health.spare();
                    }
                }
            }
        }
    }

    /// Weighted round-robin: the highest current weight wins and pays one;
    /// when every candidate is spent, all are refilled.
    fn round_robin(&self, st: &mut State, candidates: &[usize]) -> usize {
        if candidates.iter().all(|&i| st.members[i].current == 0) {
            for &i in candidates {
                st.members[i].current = self.weights[i];
            }
        }
        let mut best = candidates[0];
        for &i in candidates {
            if st.members[i].current > st.members[best].current {
                best = i;
            }
        }
        st.members[best].current -= 1;
        best
    }

    /// The heaviest candidate; the first listed among equals.
    fn master(&self, candidates: &[usize]) -> usize {
        let mut best = candidates[0];
        for &i in candidates {
            if self.weights[i] > self.weights[best] {
                best = i;
            }
        }
        best
    }
}

/// Power of two choices: two distinct random candidates, the one with fewer
/// requests in flight (recent errors counting as load) wins.
fn least_loaded_of_two(st: &mut State, candidates: &[usize]) -> usize {
    if candidates.len() == 1 {
        return candidates[0];
    }
    let a = st.rng.usize(..candidates.len());
    let mut b = st.rng.usize(..candidates.len() - 1);
    if b >= a {
        b += 1;
    }
    let load = |i: usize| st.members[i].inflight + st.members[i].health.errors();
    let (a, b) = (candidates[a], candidates[b]);
    if load(b) < load(a) {
        b
    } else {
        a
    }
}

/// Jump hash over all members, so a member's death moves only its own keys;
/// a dead or excluded target re-hashes, then falls back to random.
fn hashed(st: &mut State, candidates: &[usize], key: &[u8], _now: Instant) -> usize {
    let n = st.members.len() as u32;
    let mut h = fnv1a(key);
    for attempt in 0..REHASH_LIMIT {
        let target = jump_hash(h, n) as usize;
        if candidates.contains(&target) {
            return target;
        }
        h = fnv1a(&h.wrapping_add(attempt + 1).to_le_bytes());
    }
    least_loaded_of_two(st, candidates)
}

/// FNV-1a, 64 bits: stable across runs and builds (unlike std's hasher).
pub fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Lamping and Veach's jump consistent hash: a bucket in `0..buckets`.
pub fn jump_hash(mut key: u64, buckets: u32) -> u32 {
    let (mut b, mut j): (i64, i64) = (-1, 0);
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b.max(0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn health() -> HealthSettings {
        HealthSettings {
            max_errors: 2,
            error_time: Duration::from_secs(10),
            revive_time: Duration::from_secs(60),
        }
    }

    fn counts(pool: &Pool, n: usize, key: Option<&[u8]>, now: Instant) -> Vec<usize> {
        let mut c = vec![0; pool.len()];
        for _ in 0..n {
            let i = pool.select(key, &[], now).unwrap();
            pool.release(i, Outcome::Ok, now);
            c[i] += 1;
        }
        c
    }

    fn kill(pool: &Pool, i: usize, now: Instant) {
        for _ in 0..health().max_errors {
            pool.release(i, Outcome::Fail, now);
        }
    }

    #[test]
    fn round_robin_follows_weights() {
        let now = Instant::now();
        let p = Pool::new(Rotation::RoundRobin, vec![10, 5, 1], health(), 1);
        assert_eq!(counts(&p, 160, None, now), vec![100, 50, 10]);
        let even = Pool::new(Rotation::RoundRobin, vec![1, 1, 1], health(), 1);
        let order: Vec<usize> = (0..6)
            .map(|_| even.select(None, &[], now).unwrap())
            .collect();
        assert_eq!(order, vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn master_slave_uses_the_first_until_it_dies() {
        let now = Instant::now();
        let p = Pool::new(Rotation::MasterSlave, vec![1, 1, 1], health(), 1);
        assert_eq!(counts(&p, 10, None, now), vec![10, 0, 0]);
        kill(&p, 0, now);
        assert_eq!(counts(&p, 10, None, now), vec![0, 10, 0]);
        let later = now + Duration::from_secs(100);
        assert_eq!(
            counts(&p, 10, None, later),
            vec![10, 0, 0],
            "master revived"
        );
        let weighted = Pool::new(Rotation::MasterSlave, vec![1, 5, 5], health(), 1);
        assert_eq!(counts(&weighted, 4, None, now), vec![0, 4, 0]);
    }

    #[test]
    fn hash_is_sticky_and_moves_only_dead_keys() {
        let now = Instant::now();
        let p = Pool::new(Rotation::Hash, vec![1; 4], health(), 1);
        let keys: Vec<Vec<u8>> = (0..200)
            .map(|i| format!("10.0.0.{i}").into_bytes())
            .collect();
        let before: Vec<usize> = keys
            .iter()
            .map(|k| {
                let i = p.select(Some(k), &[], now).unwrap();
                p.release(i, Outcome::Ok, now);
                i
            })
            .collect();
        let mut per = [0; 4];
        for &b in &before {
            per[b] += 1;
        }
        assert!(per.iter().all(|&c| c > 25), "spread over all: {per:?}");
        kill(&p, 2, now);
        for (k, &b) in keys.iter().zip(&before) {
            let i = p.select(Some(k), &[], now).unwrap();
            p.release(i, Outcome::Ok, now);
            if b == 2 {
                assert_ne!(i, 2);
            } else {
                assert_eq!(i, b, "live targets keep their keys");
            }
        }
    }

    #[test]
    fn random_prefers_the_less_loaded() {
        let now = Instant::now();
        let p = Pool::new(Rotation::Random, vec![1, 1], health(), 7);
        // Member 0 holds five requests in flight: every choice goes to 1.
        for _ in 0..5 {
            assert_eq!(p.select(None, &[1], now), Some(0));
        }
        for _ in 0..20 {
            let i = p.select(None, &[], now).unwrap();
            assert_eq!(i, 1);
            p.release(i, Outcome::Ok, now);
        }
        let spread = counts(
            &Pool::new(Rotation::Random, vec![1; 3], health(), 3),
            300,
            None,
            now,
        );
        assert!(spread.iter().all(|&c| c > 60), "{spread:?}");
    }

    #[test]
    fn last_live_member_is_never_killed() {
        let now = Instant::now();
        let p = Pool::new(Rotation::RoundRobin, vec![1, 1], health(), 1);
        kill(&p, 0, now);
        assert!(!p.is_alive(0, now));
        kill(&p, 1, now);
        kill(&p, 1, now);
        assert!(p.is_alive(1, now), "the last one stays");
        assert_eq!(p.alive_count(now), 1);
    }

    #[test]
    fn revival_is_jittered_within_bounds() {
        let now = Instant::now();
        let p = Pool::new(Rotation::RoundRobin, vec![1, 1], health(), 42);
        kill(&p, 0, now);
        assert!(!p.is_alive(0, now + Duration::from_secs(35)));
        assert!(p.is_alive(0, now + Duration::from_secs(85)));
    }

    #[test]
    fn exclusion_skips_failed_members_unless_nothing_else_lives() {
        let now = Instant::now();
        let p = Pool::new(Rotation::MasterSlave, vec![1, 1], health(), 1);
        assert_eq!(p.select(None, &[0], now), Some(1));
        kill(&p, 1, now);
        assert_eq!(p.select(None, &[0], now), Some(0), "only live one");
    }

    #[test]
    fn jump_hash_matches_reference_values() {
        // One bucket: always bucket 0.
        assert_eq!(jump_hash(0, 1), 0);
        assert_eq!(jump_hash(1, 1), 0);
        for k in 0..1000u64 {
            assert!(jump_hash(k, 7) < 7);
        }
        // Growing the bucket count only moves keys to the new bucket.
        for k in 0..1000u64 {
            let (a, b) = (
                jump_hash(fnv1a(&k.to_le_bytes()), 5),
                jump_hash(fnv1a(&k.to_le_bytes()), 6),
            );
            assert!(a == b || b == 5);
        }
    }
}
