//! nsd in the foreground on a free loopback port, killed on drop: the DNS server the
//! authentication and DNS-list tests ask.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use sluice::config::dns::DnsSettings;
use sluice::dns::{Budget, DnsError, Resolver};

pub struct Nsd {
    child: Child,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Nsd {
    /// Serves the `zone:` clauses `zones` writes for the run's own folder (where a zone file
    /// may be written too); zone files are read from `zonesdir`, the run's folder if `None`.
    /// Ready once nsd answers for `probe` from a loaded zone.
    pub async fn start(
        zonesdir: Option<&Path>,
        zones: impl FnOnce(&Path) -> String,
        probe: &str,
    ) -> Nsd {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let conf =
            server_conf(dir.path(), zonesdir.unwrap_or(dir.path()), port) + &zones(dir.path());
        let conf_path = dir.path().join("nsd.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(binary())
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
        nsd.wait_ready(probe).await;
        nsd
    }

    /// nsd binds before it has loaded its zones; until then it refuses or fails. An
    /// authoritative answer, records or none, means the zone is loaded.
    async fn wait_ready(&mut self, probe: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let dns =
            json!({ "nameserver": [self.addr.to_string()], "timeout": "200ms", "retransmits": 0 });
        let resolver = Resolver::new(&DnsSettings::from_ucl(&dns).unwrap()).unwrap();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("nsd exited ({status}): {}", self.log());
            }
            let budget = Budget::new(Duration::from_secs(1));
            match resolver.txt(probe, &budget).await {
                Ok(_) | Err(DnsError::NoData { .. } | DnsError::NxDomain { .. }) => return,
                Err(_) => {}
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

fn binary() -> &'static str {
    if Path::new("/usr/sbin/nsd").exists() {
        "/usr/sbin/nsd"
    } else {
        "nsd"
    }
}

fn server_conf(dir: &Path, zonesdir: &Path, port: u16) -> String {
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
"#,
        zones = zonesdir.display(),
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
