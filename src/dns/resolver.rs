//! The resolver: typed lookups (TXT, A, AAAA, MX, PTR) over `hickory-resolver`, each bounded by
//! the caller's [`Budget`], each counted in [`DnsMetrics`], each failure mapped to a
//! [`DnsError`] kind. Hickory keeps the cache (positive and negative TTLs, a size bound).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use hickory_resolver::config::{
    NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts, ServerOrderingStrategy,
};
use hickory_resolver::lookup::Lookup;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::{Name, ResolveError};
use tokio::time::Instant;

use super::settings::RESOLV_CONF;
use super::upstream::{self, CountingProvider};
use super::{Budget, DnsError, DnsMetrics, DnsSettings, DnsSettingsError, FailureKind};

/// One mail exchanger of an MX answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mx {
    pub preference: u16,
    /// The exchanger's name, without the root's trailing dot.
    pub exchange: String,
}

/// The shared resolver. Cheap to share behind an `Arc`; lookups run concurrently.
pub struct Resolver {
    inner: hickory_resolver::Resolver<CountingProvider>,
    metrics: Arc<DnsMetrics>,
}

impl Resolver {
    /// A resolver for `settings`; the nameservers of `/etc/resolv.conf` when none is set.
    pub fn new(settings: &DnsSettings) -> Result<Self, DnsSettingsError> {
        let servers = if settings.nameservers.is_empty() {
            system_nameservers()?
        } else {
            settings.nameservers.clone()
        };
        let metrics = Arc::new(DnsMetrics::default());
        let inner = hickory_resolver::Resolver::builder_with_config(
            config(&servers),
            CountingProvider::new(metrics.clone()),
        )
        .with_options(options(settings))
        .build();
        Ok(Resolver { inner, metrics })
    }

    pub fn metrics(&self) -> &Arc<DnsMetrics> {
        &self.metrics
    }

    /// TXT records, each record's character-strings joined (as SPF and DKIM read them).
    pub async fn txt(&self, name: &str, budget: &Budget) -> Result<Vec<String>, DnsError> {
        let found = self.lookup(name, RecordType::TXT, budget).await?;
        let texts = found.iter().filter_map(|r| match r {
            RData::TXT(txt) => Some(
                txt.txt_data()
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
                    preference: mx.preference(),
                    exchange: plain(mx.exchange()),
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
            RData::PTR(ptr) => Some(plain(&ptr.0)),
            _ => None,
        });
        non_empty(names.collect(), &reverse, RecordType::PTR)
    }

    /// One lookup, counted and bounded by the budget. A spent budget sends nothing.
    async fn lookup(
        &self,
        name: &str,
        rtype: RecordType,
        budget: &Budget,
    ) -> Result<Lookup, DnsError> {
        self.metrics.lookup();
        let started = Instant::now();
        let result = self.bounded(name, rtype, budget).await;
        self.metrics.latency(started.elapsed());
        if let Err(e) = &result {
            self.metrics.failure(FailureKind::of(e));
        }
        result
    }

    async fn bounded(
        &self,
        name: &str,
        rtype: RecordType,
        budget: &Budget,
    ) -> Result<Lookup, DnsError> {
        let fqdn = absolute(name)?;
        if budget.is_spent() {
            return Err(timeout(name));
        }
        let asked = upstream::tracking(self.inner.lookup(fqdn, rtype));
        let Ok((answer, sent)) = tokio::time::timeout_at(budget.deadline(), asked).await else {
            return Err(timeout(name));
        };
        let answer = answer.map_err(|e| classify(name, rtype, &e));
        if !sent
            && matches!(
                &answer,
                Ok(_) | Err(DnsError::NxDomain { .. } | DnsError::NoData { .. })
            )
        {
            self.metrics.cache_hit();
        }
        answer
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

fn classify(name: &str, rtype: RecordType, e: &ResolveError) -> DnsError {
    let failed = || DnsError::Failed {
        name: name.to_string(),
        reason: e.to_string(),
    };
    let Some(proto) = e.proto() else {
        return failed();
    };
    match proto.kind() {
        ProtoErrorKind::NoRecordsFound { response_code, .. } => match *response_code {
            ResponseCode::NXDomain => DnsError::NxDomain {
                name: name.to_string(),
            },
            ResponseCode::NoError => no_data(name, rtype),
            code => DnsError::ServFail {
                name: name.to_string(),
                code,
            },
        },
        ProtoErrorKind::Timeout => timeout(name),
        _ => failed(),
    }
}

/// UDP first, TCP for truncated answers, for each server in order. The configured servers are
/// trusted with negative answers: an NXDOMAIN is final, not a reason to ask the next one.
fn config(servers: &[SocketAddr]) -> ResolverConfig {
    let mut config = ResolverConfig::new();
    for &addr in servers {
        for protocol in [Protocol::Udp, Protocol::Tcp] {
            let mut ns = NameServerConfig::new(addr, protocol);
            ns.trust_negative_responses = true;
            config.add_name_server(ns);
        }
    }
    config
}

fn options(s: &DnsSettings) -> ResolverOpts {
    let mut o = ResolverOpts::default();
    o.timeout = s.timeout;
    o.attempts = s.retransmits;
    o.cache_size = s.cache_size;
    o.positive_max_ttl = Some(s.cache_max_ttl);
    o.negative_max_ttl = Some(s.cache_negative_max_ttl);
    // Mail authentication asks about the world, never about this host's /etc/hosts.
    o.use_hosts_file = ResolveHosts::Never;
    // Big TXT records (2048-bit DKIM keys) fit one UDP answer with EDNS.
    o.edns0 = true;
    // One server at a time, in the configured order, as Rspamd does.
    o.num_concurrent_reqs = 1;
    o.server_ordering_strategy = ServerOrderingStrategy::UserProvidedOrder;
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
pub fn resolv_conf_nameservers(text: &[u8]) -> Result<Vec<SocketAddr>, ResolveError> {
    let (config, _) = hickory_resolver::system_conf::parse_resolv_conf(text)?;
    let mut servers: Vec<SocketAddr> = Vec::new();
    for ns in config.name_servers() {
        if !servers.contains(&ns.socket_addr) {
            servers.push(ns.socket_addr);
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
