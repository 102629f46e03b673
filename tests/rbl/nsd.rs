//! nsd on a free loopback port serving one zone the test writes, killed on drop.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use sluice::config::dns::DnsSettings;
use sluice::dns::{Budget, Resolver};

pub struct Nsd {
    child: Child,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Nsd {
    /// Serves `zone` (the records of `origin`, `$ORIGIN` and SOA added here).
    pub async fn start(origin: &str, records: &str) -> Nsd {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let zone = format!(
            "$ORIGIN {origin}.\n$TTL 300\n@ IN SOA ns.{origin}. admin.{origin}. 1 3600 600 86400 60\n\
             @ IN NS ns.{origin}.\nns IN A 127.0.0.1\n{records}\n"
        );
        std::fs::write(dir.path().join("lists.zone"), zone).unwrap();
        let d = dir.path().display();
        let conf = format!(
            "server:\n  ip-address: 127.0.0.1\n  port: {port}\n  username: \"\"\n  chroot: \"\"\n  \
             zonesdir: \"{d}\"\n  database: \"\"\n  pidfile: \"{d}/nsd.pid\"\n  \
             xfrdfile: \"{d}/xfrd.state\"\n  zonelistfile: \"{d}/zone.list\"\n  xfrdir: \"{d}\"\n  \
             logfile: \"{d}/nsd.log\"\n  server-count: 1\n  verbosity: 1\n\
             remote-control:\n  control-enable: no\nzone:\n  name: {origin}\n  zonefile: lists.zone\n"
        );
        let conf_path = dir.path().join("nsd.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let bin = if Path::new("/usr/sbin/nsd").exists() {
            "/usr/sbin/nsd"
        } else {
            "nsd"
        };
        let child = Command::new(bin)
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
        nsd.wait_ready(origin).await;
        nsd
    }

    async fn wait_ready(&mut self, origin: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let probe = resolver(self.addr, "200ms");
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("nsd exited ({status}): {}", self.log());
            }
            if probe
                .a(
                    &format!("ns.{origin}"),
                    &Budget::new(Duration::from_secs(1)),
                )
                .await
                .is_ok()
            {
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

/// A resolver as the daemon builds it, asking only `addr`.
pub fn resolver(addr: SocketAddr, timeout: &str) -> Resolver {
    let dns = json!({ "nameserver": [addr.to_string()], "timeout": timeout, "retransmits": 0 });
    Resolver::new(&DnsSettings::from_ucl(&dns).unwrap()).unwrap()
}

pub fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
