//! The resolver: one `mail_auth::MessageAuthenticator` (whose hickory resolver serves the
//! authentication checks and sluice's own typed lookups alike), the bounded [`cache`] both go
//! through, and typed lookups (TXT, A, AAAA, MX, PTR), each bounded by the caller's [`Budget`],
//! counted in [`DnsMetrics`] and with its failure mapped to a [`DnsError`] kind.
//!
//! [`cache`]: super::cache

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant as StdInstant;

use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
    ServerOrderingStrategy,
};
use hickory_resolver::net::{DnsError as HickoryDnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::Name;
use hickory_resolver::proto::rr::{RData, RecordType};
use mail_auth::MessageAuthenticator;

use super::cache::{AuthCache, Bounded};
use super::{Budget, DnsError, DnsMetrics, FailureKind};
use crate::config::dns::{DnsSettings, DnsSettingsError, RESOLV_CONF};

/// One mail exchanger of an MX answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mx {
    pub preference: u16,
    /// The exchanger's name, without the root's trailing dot.
    pub exchange: String,
}

type Typed = Result<Arc<[RData]>, DnsError>;

/// The shared resolver. Cheap to share behind an `Arc`; lookups run concurrently.
pub struct Resolver {
    authenticator: MessageAuthenticator,
    auth_cache: AuthCache,
    typed: Bounded<(Box<str>, RecordType), Typed>,
    metrics: Arc<DnsMetrics>,
}

impl Resolver {
    /// A resolver for `settings`; the nameservers of `/etc/resolv.conf` when none is set.
    pub fn new(settings: &DnsSettings) -> Result<Self, DnsSettingsError> {
        Self::with_metrics(settings, Arc::default())
    }

    /// A resolver counting into `metrics` (the daemon's process-wide counters).
    pub fn with_metrics(
        settings: &DnsSettings,
        metrics: Arc<DnsMetrics>,
    ) -> Result<Self, DnsSettingsError> {
        let servers = if settings.nameservers.is_empty() {
            system_nameservers()?
        } else {
            settings.nameservers.clone()
        };
        let authenticator = MessageAuthenticator::new(config(&servers), options(settings))
            .map_err(|e| DnsSettingsError::new("nameserver", e.to_string()))?
            .with_max_negative_ttl(settings.cache_negative_max_ttl);
        Ok(Resolver {
            authenticator,
            auth_cache: AuthCache::new(settings.cache_size, settings.cache_max_ttl, &metrics),
            typed: Bounded::new(settings.cache_size, settings.cache_max_ttl, metrics.clone()),
            metrics,
        })
    }

    pub fn metrics(&self) -> &Arc<DnsMetrics> {
        &self.metrics
    }

    /// The verifier the authentication checks call, on this resolver.
    pub fn authenticator(&self) -> &MessageAuthenticator {
        &self.authenticator
    }

    /// The cache the authentication checks pass to mail-auth (`Parameters::with_cache`).
    pub fn auth_cache(&self) -> &AuthCache {
        &self.auth_cache
    }

    /// TXT records, each record's character-strings joined (as SPF and DKIM read them).
    pub async fn txt(&self, name: &str, budget: &Budget) -> Result<Vec<String>, DnsError> {
        let found = self.lookup(name, RecordType::TXT, budget).await?;
        let texts = found.iter().filter_map(|r| match r {
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .map(|part| String::from_utf8_lossy(part))
                    .collect::<String>(),
            ),
            _ => None,
        });
        non_empty(texts.collect(), name, RecordType::TXT)
    }

    pub async fn a(&self, name: &str, budget: &Budget) -> Result<Vec<Ipv4Addr>, DnsError> {
        let found = self.lookup(name, RecordType::A, budget).await?;
        let ips = found.iter().filter_map(|r| match r {
            RData::A(a) => Some(a.0),
            _ => None,
        });
        non_empty(ips.collect(), name, RecordType::A)
    }

    pub async fn aaaa(&self, name: &str, budget: &Budget) -> Result<Vec<Ipv6Addr>, DnsError> {
        let found = self.lookup(name, RecordType::AAAA, budget).await?;
        let ips = found.iter().filter_map(|r| match r {
            RData::AAAA(a) => Some(a.0),
            _ => None,
        });
        non_empty(ips.collect(), name, RecordType::AAAA)
    }

    /// MX records, most preferred first.
    pub async fn mx(&self, name: &str, budget: &Budget) -> Result<Vec<Mx>, DnsError> {
        let found = self.lookup(name, RecordType::MX, budget).await?;
        let mut mxs: Vec<Mx> = found
            .iter()
            .filter_map(|r| match r {
                RData::MX(mx) => Some(Mx {
                    preference: mx.preference,
                    exchange: plain(&mx.exchange),
                }),
                _ => None,
            })
            .collect();
        mxs.sort_by_key(|mx| mx.preference);
        non_empty(mxs, name, RecordType::MX)
    }

    /// The names an address points back to (its `in-addr.arpa` or `ip6.arpa` PTR records).
    pub async fn ptr(&self, ip: IpAddr, budget: &Budget) -> Result<Vec<String>, DnsError> {
        let reverse = Name::from(ip).to_ascii();
        let found = self.lookup(&reverse, RecordType::PTR, budget).await?;
        let names = found.iter().filter_map(|r| match r {
            RData::PTR(ptr) => Some(plain(ptr)),
            _ => None,
        });
        non_empty(names.collect(), &reverse, RecordType::PTR)
    }

    /// One lookup: from the cache, or asked of the nameservers within the budget (a spent
    /// budget sends nothing). Latency is timed from the miss to the answer.
    async fn lookup(&self, name: &str, rtype: RecordType, budget: &Budget) -> Typed {
        let fqdn = absolute(name)?;
        if budget.is_spent() {
            self.metrics.failure(FailureKind::Timeout);
            return Err(timeout(name));
        }
        let key = (fqdn.to_ascii().to_ascii_lowercase().into_boxed_str(), rtype);
        if let Some(hit) = self.typed.lookup(&key) {
            return hit;
        }
        let started = StdInstant::now();
        let result = self.ask(fqdn, name, rtype, budget).await;
        self.metrics.latency(started.elapsed());
        match result {
            Ok((answer, until)) => {
                if let Err(e) = &answer {
                    self.metrics.failure(FailureKind::of(e));
                }
                self.typed.store(key, answer.clone(), until);
                answer
            }
            Err(e) => {
                self.metrics.failure(FailureKind::of(&e));
                Err(e)
            }
        }
    }

    /// The answer and until when it may be cached; `Err` for what must not be cached.
    async fn ask(
        &self,
        fqdn: Name,
        name: &str,
        rtype: RecordType,
        budget: &Budget,
    ) -> Result<(Typed, StdInstant), DnsError> {
        let asked = self.authenticator.resolver().lookup(fqdn, rtype);
        let Ok(answer) = tokio::time::timeout_at(budget.deadline(), asked).await else {
            return Err(timeout(name));
        };
        match answer {
            Ok(found) => {
                let records: Arc<[RData]> = found
                    .answers()
                    .iter()
                    .filter(|r| r.record_type() == rtype)
                    .map(|r| r.data.clone())
                    .collect();
                if records.is_empty() {
                    return Ok((Err(no_data(name, rtype)), found.valid_until()));
                }
                Ok((Ok(records), found.valid_until()))
            }
            Err(e) => classify(name, rtype, &e),
        }
    }
}

fn timeout(name: &str) -> DnsError {
    DnsError::Timeout {
        name: name.to_string(),
    }
}

/// The name as an absolute one, so no search domain of resolv.conf is ever appended.
fn absolute(name: &str) -> Result<Name, DnsError> {
    let mut n = Name::from_str_relaxed(name).map_err(|e| DnsError::BadName {
        name: name.to_string(),
        reason: e.to_string(),
    })?;
    n.set_fqdn(true);
    Ok(n)
}

fn plain(name: &Name) -> String {
    name.to_ascii().trim_end_matches('.').to_string()
}

/// An answer without a record of the type asked (e.g. only a CNAME) is "no data".
fn non_empty<T>(found: Vec<T>, name: &str, rtype: RecordType) -> Result<Vec<T>, DnsError> {
    if found.is_empty() {
        return Err(no_data(name, rtype));
    }
    Ok(found)
}

fn no_data(name: &str, rtype: RecordType) -> DnsError {
    DnsError::NoData {
        name: name.to_string(),
        rtype: type_name(rtype),
    }
}

fn type_name(rtype: RecordType) -> &'static str {
    match rtype {
        RecordType::TXT => "TXT",
        RecordType::A => "A",
        RecordType::AAAA => "AAAA",
        RecordType::MX => "MX",
        RecordType::PTR => "PTR",
        _ => "other",
    }
}

/// A negative answer is cached for the TTL its SOA gives (none: not cached); failures and
/// timeouts are not cached at all.
fn classify(name: &str, rtype: RecordType, e: &NetError) -> Result<(Typed, StdInstant), DnsError> {
    match e {
        NetError::Dns(HickoryDnsError::NoRecordsFound(none)) => {
            let err = match none.response_code {
                ResponseCode::NXDomain => DnsError::NxDomain {
                    name: name.to_string(),
                },
                ResponseCode::NoError => no_data(name, rtype),
                code => {
                    return Err(DnsError::ServFail {
                        name: name.to_string(),
                        code,
                    })
                }
            };
            let ttl = std::time::Duration::from_secs(u64::from(none.negative_ttl.unwrap_or(0)));
            Ok((Err(err), StdInstant::now() + ttl))
        }
        NetError::Dns(HickoryDnsError::ResponseCode(code)) => Err(DnsError::ServFail {
            name: name.to_string(),
            code: *code,
        }),
        NetError::Timeout => Err(timeout(name)),
        _ => Err(DnsError::Failed {
            name: name.to_string(),
            reason: e.to_string(),
        }),
    }
}

/// UDP first, TCP for truncated answers, for each server in order. The configured servers are
/// trusted with negative answers: an NXDOMAIN is final, not a reason to ask the next one.
fn config(servers: &[SocketAddr]) -> ResolverConfig {
    let mut config = ResolverConfig::from_parts(None, Vec::new(), Vec::new());
    for &addr in servers {
        let connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
            .into_iter()
            .map(|mut c| {
                c.port = addr.port();
                c
            })
            .collect();
        config.add_name_server(NameServerConfig::new(addr.ip(), true, connections));
    }
    config
}

fn options(s: &DnsSettings) -> ResolverOpts {
    let mut o = ResolverOpts::default();
    o.timeout = s.timeout;
    o.attempts = s.retransmits;
    // The bounded cache in front of the resolver is the only one, so that a miss there is a
    // query (what the counters report).
    o.cache_size = 0;
    // Mail authentication asks about the world, never about this host's /etc/hosts.
    o.use_hosts_file = ResolveHosts::Never;
    // Big TXT records (2048-bit DKIM keys) fit one UDP answer with EDNS.
    o.edns0 = true;
    // One server at a time, the fastest first: a server that timed out drops behind the
    // others, so the next try of a lookup goes to another one. (Hickory bounds each try by
    // `timeout` across all servers, so the configured order alone would ask a dead first
    // server on every try.)
    o.num_concurrent_reqs = 1;
    o.server_ordering_strategy = ServerOrderingStrategy::QueryStatistics;
    o
}

fn system_nameservers() -> Result<Vec<SocketAddr>, DnsSettingsError> {
    let text = std::fs::read(RESOLV_CONF).map_err(|e| {
        DnsSettingsError::new("nameserver", format!("none set, and {RESOLV_CONF}: {e}"))
    })?;
    let servers = resolv_conf_nameservers(&text).map_err(|e| {
        DnsSettingsError::new("nameserver", format!("none set, and {RESOLV_CONF}: {e}"))
    })?;
    if servers.is_empty() {
        return Err(DnsSettingsError::new(
            "nameserver",
            format!("none set, and {RESOLV_CONF} names none"),
        ));
    }
    Ok(servers)
}

/// The `nameserver` lines of a resolv.conf, in order.
pub fn resolv_conf_nameservers(text: &[u8]) -> Result<Vec<SocketAddr>, NetError> {
    let (config, _) = hickory_resolver::system_conf::parse_resolv_conf(text)?;
    let mut servers: Vec<SocketAddr> = Vec::new();
    for ns in config.name_servers() {
        let port = ns.connections.first().map_or(53, |c| c.port);
        let addr = SocketAddr::new(ns.ip, port);
        if !servers.contains(&addr) {
            servers.push(addr);
        }
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_servers_keep_their_order() {
        let text = b"search example.org\nnameserver 127.0.0.2\nnameserver ::1\noptions ndots:2\n";
        let got = resolv_conf_nameservers(text).unwrap();
        let want: Vec<SocketAddr> =
            vec!["127.0.0.2:53".parse().unwrap(), "[::1]:53".parse().unwrap()];
        assert_eq!(got, want);
    }

    #[test]
    fn names_become_absolute() {
        assert!(absolute("sel._domainkey.example.org").unwrap().is_fqdn());
        assert!(matches!(absolute("a..b"), Err(DnsError::BadName { .. })));
    }
}
