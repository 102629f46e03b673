//! The shared DNS resolver against a real authoritative server (nsd on loopback, see
//! [`super::dns_server`]). Every resolver here is given its nameservers: nothing asks the
//! system's resolver or leaves the machine.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use sluice::dns::{Budget, DnsError, FailureKind, Mx};

use super::dns_server::{resolver, resolver_for, start_nsd, Silent};

fn budget() -> Budget {
    Budget::new(Duration::from_secs(10))
}

#[tokio::test]
async fn each_lookup_kind_returns_typed_records() {
    let nsd = start_nsd().await;
    let r = resolver_for(&nsd);
    let b = budget();
    assert_eq!(
        r.txt("sluice.test", &b).await.unwrap(),
        vec!["v=spf1 ip4:192.0.2.0/24 -all"]
    );
    // A record split into character-strings comes back joined.
    assert_eq!(
        r.txt("sel._domainkey.sluice.test", &b).await.unwrap(),
        vec!["v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC5xA1test"]
    );
    let mut multi = r.txt("multi.sluice.test.", &b).await.unwrap();
    multi.sort();
    assert_eq!(multi, vec!["first record", "second record"]);
    assert_eq!(
        r.a("host.sluice.test", &b).await.unwrap(),
        vec![Ipv4Addr::new(192, 0, 2, 1)]
    );
    assert_eq!(
        r.aaaa("host.sluice.test", &b).await.unwrap(),
        vec!["2001:db8::1".parse::<Ipv6Addr>().unwrap()]
    );
    let mx = |p, e: &str| Mx {
        preference: p,
        exchange: e.to_string(),
    };
    assert_eq!(
        r.mx("sluice.test", &b).await.unwrap(),
        vec![mx(10, "mx1.sluice.test"), mx(20, "mx2.sluice.test")]
    );
    let ip: IpAddr = "192.0.2.1".parse().unwrap();
    assert_eq!(r.ptr(ip, &b).await.unwrap(), vec!["host.sluice.test"]);
}

#[tokio::test]
async fn nxdomain_no_data_and_servfail_are_told_apart() {
    let nsd = start_nsd().await;
    let r = resolver_for(&nsd);
    let b = budget();
    let nx = r.a("nope.sluice.test", &b).await.unwrap_err();
    assert!(matches!(nx, DnsError::NxDomain { .. }), "{nx:?}");
    assert!(!nx.is_temporary());
    let nodata = r.a("txtonly.sluice.test", &b).await.unwrap_err();
    assert!(
        matches!(nodata, DnsError::NoData { rtype: "A", .. }),
        "{nodata:?}"
    );
    assert!(!nodata.is_temporary());
    let ptr_nx = r.ptr("192.0.2.99".parse().unwrap(), &b).await.unwrap_err();
    assert!(matches!(ptr_nx, DnsError::NxDomain { .. }), "{ptr_nx:?}");
    let servfail = r.txt("_dmarc.broken.test", &b).await.unwrap_err();
    assert!(
        matches!(servfail, DnsError::ServFail { .. }),
        "{servfail:?}"
    );
    assert!(servfail.is_temporary());
    // A server failure is temporary: it is not cached, the next lookup asks again.
    let queries = r.metrics().snapshot().queries;
    let again = r.txt("_dmarc.broken.test", &b).await.unwrap_err();
    assert!(matches!(again, DnsError::ServFail { .. }), "{again:?}");
    assert!(
        r.metrics().snapshot().queries > queries,
        "SERVFAIL was cached"
    );
    let m = r.metrics().snapshot();
    assert_eq!(m.failures_of(FailureKind::NxDomain), 2);
    assert_eq!(m.failures_of(FailureKind::NoData), 1);
    assert_eq!(m.failures_of(FailureKind::ServFail), 2);
    assert_eq!(m.failures_of(FailureKind::Timeout), 0);
    assert_eq!(m.lookups, 5);
    assert_eq!(m.cache_hits, 0);
}

#[tokio::test]
async fn a_repeated_lookup_is_answered_from_the_cache() {
    let nsd = start_nsd().await;
    let r = resolver_for(&nsd);
    let b = budget();
    let first = r.txt("sluice.test", &b).await.unwrap();
    let after_first = r.metrics().snapshot();
    assert_eq!(after_first.queries, 1, "{after_first:?}");
    assert_eq!(after_first.cache_hits, 0);
    assert_eq!(r.txt("sluice.test", &b).await.unwrap(), first);
    let after_second = r.metrics().snapshot();
    assert_eq!(after_second.queries, 1, "the second lookup sent a query");
    assert_eq!(after_second.cache_hits, 1);

    // Negative answers are cached too (the zone's SOA allows it).
    r.a("nope.sluice.test", &b).await.unwrap_err();
    let err = r.a("nope.sluice.test", &b).await.unwrap_err();
    assert!(matches!(err, DnsError::NxDomain { .. }), "{err:?}");
    let m = r.metrics().snapshot();
    assert_eq!(m.queries, 2);
    assert_eq!(m.cache_hits, 2);

    // What a cached lookup costs (printed for the record, not asserted).
    let n = 2000;
    let started = Instant::now();
    for _ in 0..n {
        r.txt("sluice.test", &b).await.unwrap();
    }
    let per = started.elapsed() / n;
    eprintln!("cached TXT lookup: {per:?} each");
    assert_eq!(r.metrics().snapshot().queries, 2);
}

#[tokio::test]
async fn a_silent_server_times_out_after_its_retransmits() {
    let silent = Silent::start();
    let r = resolver(&json!({
        "nameserver": [silent.addr.to_string()], "timeout": "200ms", "retransmits": 2,
    }));
    let started = Instant::now();
    let err = r.txt("sluice.test", &budget()).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, DnsError::Timeout { .. }), "{err:?}");
    assert!(err.is_temporary());
    // One try and two retransmits, each waiting the timeout.
    assert!(took >= Duration::from_millis(550), "gave up after {took:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(silent.received(), 3);
    // One cache miss, one query; its retransmits are the resolver's.
    let m = r.metrics().snapshot();
    assert_eq!(m.queries, 1);
    assert_eq!(m.failures_of(FailureKind::Timeout), 1);
}

#[tokio::test]
async fn the_message_budget_ends_all_waiting_lookups() {
    let silent = Silent::start();
    // Without the budget these lookups would wait several seconds.
    let r = resolver(&json!({
        "nameserver": [silent.addr.to_string()], "timeout": "1s", "retransmits": 5,
    }));
    let b = Budget::new(Duration::from_millis(300));
    let started = Instant::now();
    let (txt, a, mx) = tokio::join!(
        r.txt("sluice.test", &b),
        r.a("host.sluice.test", &b),
        r.mx("sluice.test", &b),
    );
    let took = started.elapsed();
    for err in [txt.unwrap_err(), a.unwrap_err(), mx.unwrap_err()] {
        assert!(matches!(err, DnsError::Timeout { .. }), "{err:?}");
    }
    assert!(took >= Duration::from_millis(290), "ended after {took:?}");
    assert!(took < Duration::from_millis(1000), "ended after {took:?}");
    assert_eq!(r.metrics().snapshot().failures_of(FailureKind::Timeout), 3);

    // Once spent, the budget sends nothing more.
    let queries = r.metrics().snapshot().queries;
    let err = r.txt("other.sluice.test", &b).await.unwrap_err();
    assert!(matches!(err, DnsError::Timeout { .. }), "{err:?}");
    assert_eq!(r.metrics().snapshot().queries, queries);
}

#[tokio::test]
async fn a_silent_first_server_falls_over_to_the_next() {
    let silent = Silent::start();
    let nsd = start_nsd().await;
    let r = resolver(&json!({
        "nameserver": [silent.addr.to_string(), nsd.addr.to_string()],
        "timeout": "300ms", "retransmits": 1,
    }));
    // Servers are tried fastest first (a fresh pool's order is by chance): every lookup is
    // answered, whichever server a try starts with.
    let got = r.a("host.sluice.test", &budget()).await.unwrap();
    assert_eq!(got, vec![Ipv4Addr::new(192, 0, 2, 1)]);
    for name in ["mx1.sluice.test", "mx2.sluice.test", "nospf.sluice.test"] {
        assert!(r.a(name, &budget()).await.is_ok(), "{name}");
    }
}

#[tokio::test]
async fn latencies_are_counted_once_per_lookup() {
    let nsd = start_nsd().await;
    let r = resolver_for(&nsd);
    let b = budget();
    for name in ["sluice.test", "multi.sluice.test", "nope.sluice.test"] {
        let _ = r.txt(name, &b).await;
    }
    let m = r.metrics().snapshot();
    assert_eq!(m.lookups, 3);
    assert_eq!(m.latency_buckets.iter().sum::<u64>(), 3);
    assert!(m.latency_sum_us > 0);
    // What a lookup that asks nsd costs, end to end (printed for the record, not asserted).
    eprintln!("uncached lookup: {} µs each", m.latency_sum_us / m.lookups);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_share_one_resolver_and_its_cache() {
    let nsd = start_nsd().await;
    let r = Arc::new(resolver_for(&nsd));
    let b = budget();
    r.mx("sluice.test", &b).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let r = r.clone();
            tokio::spawn(async move { r.mx("sluice.test", &b).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().len(), 2);
    }
    let m = r.metrics().snapshot();
    assert_eq!(m.queries, 1, "{m:?}");
    assert_eq!(m.cache_hits, 20);
}
