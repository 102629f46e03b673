//! DNS servers on loopback for the tests: nsd serving the zones in `integration/dns/` (and a
//! zone it never loads, which it answers SERVFAIL for), and a UDP socket that reads and drops
//! every query (a nameserver that never answers).

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sluice::config::dns::DnsSettings;
use sluice::dns::{Budget, Resolver};

/// nsd in the foreground on a free loopback port, killed on drop.
pub struct Nsd {
    child: Child,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Nsd {
    pub async fn start() -> Nsd {
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
pub fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
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
