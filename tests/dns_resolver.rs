//! The shared DNS resolver against a real authoritative server: nsd on 127.0.0.1 serving the
//! zones in `integration/dns/`, a zone nsd never loads (it answers SERVFAIL for it), and a UDP
//! socket that reads and drops every query (a nameserver that never answers). Every resolver
//! here is given its nameservers: nothing asks the system's resolver or leaves the machine.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sluice::dns::{Budget, DnsError, DnsSettings, FailureKind, Mx, Resolver};

/// nsd in the foreground on a free loopback port, killed on drop.
struct Nsd {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Nsd {
    async fn start() -> Nsd {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        // The master of `broken.test.` is a closed loopback port: the zone never loads.
        let dead_master = free_port();
        let conf = nsd_conf(dir.path(), port, dead_master);
        let conf_path = dir.path().join("nsd.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(nsd_binary())
            .arg("-d")
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nsd must be installed (test.sh installs it)");
        let mut nsd = Nsd {
            child,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            dir,
        };
        nsd.wait_ready().await;
        nsd
    }

    /// Until nsd answers for the test zone (it binds before it has loaded the zones).
    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let probe = resolver(&json!({
            "nameserver": [self.addr.to_string()], "timeout": "200ms", "retransmits": 0,
        }));
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("nsd exited ({status}): {}", self.log());
            }
            let budget = Budget::new(Duration::from_secs(1));
            if probe.txt("sluice.test", &budget).await.is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "nsd not ready: {}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nsd.log")).unwrap_or_default()
    }
}

impl Drop for Nsd {
    /// SIGTERM first, so nsd stops and reaps its server and xfrd processes; SIGKILL if it
    /// has not exited within a few seconds.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nsd_binary() -> &'static str {
    if Path::new("/usr/sbin/nsd").exists() {
        "/usr/sbin/nsd"
    } else {
        "nsd"
    }
}

fn zones_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/dns")
}

fn nsd_conf(dir: &Path, port: u16, dead_master: u16) -> String {
    let d = dir.display();
    format!(
        r#"server:
  ip-address: 127.0.0.1
  port: {port}
  username: ""
  chroot: ""
  zonesdir: "{zones}"
  database: ""
  pidfile: "{d}/nsd.pid"
  xfrdfile: "{d}/xfrd.state"
  zonelistfile: "{d}/zone.list"
  xfrdir: "{d}"
  logfile: "{d}/nsd.log"
  server-count: 1
  verbosity: 1
remote-control:
  control-enable: no
zone:
  name: sluice.test
  zonefile: sluice.test.zone
zone:
  name: 2.0.192.in-addr.arpa
  zonefile: 2.0.192.in-addr.arpa.zone
zone:
  name: broken.test
  zonefile: "{d}/broken.test.zone"
  request-xfr: 127.0.0.1@{dead_master} NOKEY
"#,
        zones = zones_dir().display(),
    )
}

/// A loopback port free for both UDP and TCP at the time of asking.
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A nameserver that never answers: reads every query and drops it, counting them.
struct Silent {
    addr: SocketAddr,
    received: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Silent {
    fn start() -> Silent {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let received = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (received.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !s.load(Ordering::Relaxed) {
                if socket.recv_from(&mut buf).is_ok() {
                    r.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Silent {
            addr,
            received,
            stop,
            thread: Some(thread),
        }
    }

    fn received(&self) -> usize {
        self.received.load(Ordering::Relaxed)
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A resolver built the way the daemon will build it: from an `options.dns` section.
fn resolver(dns: &Value) -> Resolver {
    Resolver::new(&DnsSettings::from_ucl(dns).unwrap()).unwrap()
}

fn resolver_for(nsd: &Nsd) -> Resolver {
    resolver(&json!({ "nameserver": [nsd.addr.to_string()], "timeout": "2s", "retransmits": 1 }))
}

fn budget() -> Budget {
    Budget::new(Duration::from_secs(10))
}

#[tokio::test]
async fn each_lookup_kind_returns_typed_records() {
    let nsd = Nsd::start().await;
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
    let nsd = Nsd::start().await;
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
    let nsd = Nsd::start().await;
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
    let m = r.metrics().snapshot();
    assert_eq!(m.queries, 3);
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
    let nsd = Nsd::start().await;
    let r = resolver(&json!({
        "nameserver": [silent.addr.to_string(), nsd.addr.to_string()],
        "timeout": "300ms", "retransmits": 1,
    }));
    let got = r.a("host.sluice.test", &budget()).await.unwrap();
    assert_eq!(got, vec![Ipv4Addr::new(192, 0, 2, 1)]);
    assert!(silent.received() >= 1, "the first server was not asked");
}

#[tokio::test]
async fn latencies_are_counted_once_per_lookup() {
    let nsd = Nsd::start().await;
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
    let nsd = Nsd::start().await;
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
