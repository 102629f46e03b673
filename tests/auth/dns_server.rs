//! DNS servers on loopback for the tests: nsd serving the zones in `integration/dns/` (and a
//! zone it never loads, which it answers SERVFAIL for), and a UDP socket that reads and drops
//! every query (a nameserver that never answers).

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};
use sluice::config::dns::DnsSettings;
use sluice::dns::Resolver;

pub use crate::support::nsd::{free_port, Nsd};

/// nsd serving `integration/dns/`, and `broken.test.` whose master is a closed loopback port:
/// that zone never loads, so nsd answers SERVFAIL for it.
pub async fn start_nsd() -> Nsd {
    let dead_master = free_port();
    let zonesdir = Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/dns");
    let zones = move |dir: &Path| {
        format!(
            r#"zone:
  name: sluice.test
  zonefile: sluice.test.zone
zone:
  name: 2.0.192.in-addr.arpa
  zonefile: 2.0.192.in-addr.arpa.zone
zone:
  name: broken.test
  zonefile: "{}/broken.test.zone"
  request-xfr: 127.0.0.1@{dead_master} NOKEY
"#,
            dir.display()
        )
    };
    Nsd::start(Some(&zonesdir), zones, "sluice.test").await
}

/// A nameserver that never answers: reads every query and drops it, counting them.
pub struct Silent {
    pub addr: SocketAddr,
    received: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Silent {
    pub fn start() -> Silent {
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

    pub fn received(&self) -> usize {
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
pub fn resolver(dns: &Value) -> Resolver {
    Resolver::new(&DnsSettings::from_ucl(dns).unwrap()).unwrap()
}

pub fn resolver_for(nsd: &Nsd) -> Resolver {
    resolver(&json!({ "nameserver": [nsd.addr.to_string()], "timeout": "2s", "retransmits": 1 }))
}
