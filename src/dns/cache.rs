//! The DNS cache every lookup goes through: sluice's typed lookups and the authentication
//! checks (mail-auth calls it through its `DnsCache` and `ResolverCache` traits). Hickory's own
//! cache is off, so a miss here is a query to a nameserver: the counters of
//! [`DnsMetrics`](super::DnsMetrics) count queries as misses.
//!
//! Each table is bounded: when full, expired entries go first, then the entry that expires
//! soonest. Latency is timed by the caller: around each query for sluice's own lookups, around
//! each check's verify call for the authentication checks (mail-auth queries between a miss and
//! its insert, out of this cache's sight). Positive answers are kept at most `cache_max_ttl`; negative answers carry the TTL
//! the zone's SOA gives them, capped by `cache_negative_max_ttl`.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mail_auth::dns::{DnsCache, ResolverCache};
use mail_auth::dns::{Mx as AuthMx, Negative, RecordSet, TxtRecord};

use super::{DnsMetrics, FailureKind};

/// One table: key to value and the instant it expires.
pub struct Bounded<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
    capacity: usize,
    max_ttl: Duration,
    metrics: Arc<DnsMetrics>,
}

impl<K: Hash + Eq + Clone, V: Clone> Bounded<K, V> {
    pub fn new(capacity: usize, max_ttl: Duration, metrics: Arc<DnsMetrics>) -> Self {
        Bounded {
            entries: Mutex::new(HashMap::new()),
            capacity,
            max_ttl,
            metrics,
        }
    }

    /// The live entry for `key`. A miss counts as a query: the caller asks a nameserver next.
    pub fn lookup<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.metrics.lookup();
        let now = Instant::now();
        let mut entries = lock(&self.entries);
        if let Some((v, until)) = entries.get(key) {
            if *until > now {
                self.metrics.cache_hit();
                return Some(v.clone());
            }
            entries.remove(key);
        }
        self.metrics.query_sent();
        None
    }

    /// Stores an answer until `valid_until`, capped by the table's longest TTL.
    pub fn store(&self, key: K, value: V, valid_until: Instant) {
        let now = Instant::now();
        if self.capacity == 0 {
            return;
        }
        let until = valid_until.min(now + self.max_ttl);
        let mut entries = lock(&self.entries);
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            make_room(&mut entries, now);
        }
        entries.insert(key, (value, until));
    }

    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Drops the expired entries, or if none has expired the one that expires soonest.
fn make_room<K: Hash + Eq + Clone, V>(entries: &mut HashMap<K, (V, Instant)>, now: Instant) {
    let before = entries.len();
    entries.retain(|_, (_, until)| *until > now);
    if entries.len() < before {
        return;
    }
    let soonest = entries
        .iter()
        .min_by_key(|(_, (_, until))| *until)
        .map(|(k, _)| k.clone());
    if let Some(k) = soonest {
        entries.remove(&k);
    }
}

impl<K: Hash + Eq + Clone, V: Clone + Outcome> ResolverCache<K, V> for Bounded<K, V> {
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lookup(name)
    }

    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        lock(&self.entries).remove(name).map(|(v, _)| v)
    }

    fn insert(&self, key: K, value: V, valid_until: Instant) {
        if let Some(kind) = value.failure() {
            self.metrics.failure(kind);
        }
        self.store(key, value, valid_until);
    }
}

/// What a cached answer says about the lookup, for the failure counters.
pub trait Outcome {
    fn failure(&self) -> Option<FailureKind>;
}

impl<T> Outcome for Result<RecordSet<T>, Negative> {
    fn failure(&self) -> Option<FailureKind> {
        self.as_ref().err().map(|n| negative_kind(n.code))
    }
}

impl Outcome for TxtRecord {
    fn failure(&self) -> Option<FailureKind> {
        match self {
            TxtRecord::Error(mail_auth::Error::Dns(mail_auth::DnsError::RecordNotFound(code))) => {
                Some(negative_kind(*code))
            }
            _ => None,
        }
    }
}

fn negative_kind(code: hickory_resolver::proto::op::ResponseCode) -> FailureKind {
    if code == hickory_resolver::proto::op::ResponseCode::NXDomain {
        FailureKind::NxDomain
    } else {
        FailureKind::NoData
    }
}

type Answer<T> = Result<RecordSet<T>, Negative>;

/// The tables of the authentication checks, one per record type, as mail-auth asks for them.
pub struct AuthCache {
    pub txt: Bounded<Box<str>, TxtRecord>,
    pub mx: Bounded<Box<str>, Answer<AuthMx>>,
    pub ipv4: Bounded<Box<str>, Answer<Ipv4Addr>>,
    pub ipv6: Bounded<Box<str>, Answer<Ipv6Addr>>,
    pub ptr: Bounded<IpAddr, Answer<Box<str>>>,
}

impl AuthCache {
    /// Tables sharing `capacity` entries in all (a table holds at least one).
    pub fn new(capacity: usize, max_ttl: Duration, metrics: &Arc<DnsMetrics>) -> Self {
        let each = capacity.div_ceil(5);
        AuthCache {
            txt: Bounded::new(each, max_ttl, metrics.clone()),
            mx: Bounded::new(each, max_ttl, metrics.clone()),
            ipv4: Bounded::new(each, max_ttl, metrics.clone()),
            ipv6: Bounded::new(each, max_ttl, metrics.clone()),
            ptr: Bounded::new(each, max_ttl, metrics.clone()),
        }
    }
}

impl DnsCache for AuthCache {
    type Txt = Bounded<Box<str>, TxtRecord>;
    type Mx = Bounded<Box<str>, Answer<AuthMx>>;
    type Ipv4 = Bounded<Box<str>, Answer<Ipv4Addr>>;
    type Ipv6 = Bounded<Box<str>, Answer<Ipv6Addr>>;
    type Ptr = Bounded<IpAddr, Answer<Box<str>>>;

    fn txt(&self) -> Option<&Self::Txt> {
        Some(&self.txt)
    }
    fn mx(&self) -> Option<&Self::Mx> {
        Some(&self.mx)
    }
    fn ipv4(&self) -> Option<&Self::Ipv4> {
        Some(&self.ipv4)
    }
    fn ipv6(&self) -> Option<&Self::Ipv6> {
        Some(&self.ipv6)
    }
    fn ptr(&self) -> Option<&Self::Ptr> {
        Some(&self.ptr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(capacity: usize) -> Bounded<String, u32> {
        Bounded::new(capacity, Duration::from_secs(60), Arc::default())
    }

    #[test]
    fn a_full_table_drops_the_entry_that_expires_soonest() {
        let t = table(2);
        let now = Instant::now();
        t.store("a".into(), 1, now + Duration::from_secs(10));
        t.store("b".into(), 2, now + Duration::from_secs(5));
        t.store("c".into(), 3, now + Duration::from_secs(20));
        assert_eq!(t.len(), 2);
        assert_eq!(t.lookup("b"), None);
        assert_eq!(t.lookup("a"), Some(1));
        assert_eq!(t.lookup("c"), Some(3));
    }

    #[test]
    fn expired_entries_are_misses_and_misses_count_as_queries() {
        let t = table(4);
        t.store("gone".into(), 1, Instant::now());
        assert_eq!(t.lookup("gone"), None);
        t.store("here".into(), 2, Instant::now() + Duration::from_secs(30));
        assert_eq!(t.lookup("here"), Some(2));
        let m = t.metrics.snapshot();
        assert_eq!((m.lookups, m.queries, m.cache_hits), (2, 1, 1));
    }

    #[test]
    fn the_longest_ttl_caps_what_the_answer_says() {
        let t: Bounded<String, u32> = Bounded::new(4, Duration::ZERO, Arc::default());
        t.store("k".into(), 1, Instant::now() + Duration::from_secs(3600));
        assert_eq!(t.lookup("k"), None);
    }
}
