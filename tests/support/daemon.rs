//! A real `sluice run` on port 0 for tests, with its log captured.
use std::net::SocketAddr;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::launcher::{Launch, Log, Started, Stderr};

pub struct Daemon {
    child: Child,
    pub addr: SocketAddr,
    log: Log,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts the daemon with the shipped config plus `extra` UCL as the
    /// admin's `local.d/worker-proxy.inc` (the `milter` section).
    pub fn start(extra_conf: &str) -> Daemon {
        Daemon::start_with_files(&[("worker-proxy.inc", extra_conf)])
    }

    /// Starts the daemon with the given `local.d` files (name, content). The
    /// admin layer and the Bayes store live in a temporary folder, so nothing
    /// on the machine running the tests changes the result.
    pub fn start_with_files(files: &[(&str, &str)]) -> Daemon {
        Daemon::start_with_http(files, "127.0.0.1:0")
    }

    /// [`Daemon::start_with_files`] with the scan (HTTP) listener on `http`,
    /// so a test can restart a scanner on the same address.
    pub fn start_with_http(files: &[(&str, &str)], http: &str) -> Daemon {
        let mut launch = Launch::new();
        launch.folder("local.d");
        for (name, text) in files {
            launch.file(&format!("local.d/{name}"), text, false);
        }
        launch.args(["--milter", "inet:127.0.0.1:0"]);
        // The HTTP listeners default to fixed ports; tests run in parallel.
        launch.args(["--http", http, "--controller", "127.0.0.1:0"]);
        launch.vars_here(&["DBDIR", "LOCAL_CONFDIR"]);
        launch.env("SLUICE_LOG", Some("info".as_ref()));
        let Started { child, dir, log } = launch.spawn(Stderr::Lines);
        let start = Instant::now();
        let addr = loop {
            let found = log.lines().iter().find_map(|line| {
                let rest = line.split("milter listening on inet:").nth(1)?;
                Some(rest.trim().to_string())
            });
            if let Some(addr) = found {
                break addr;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "sluice did not start; log: {:?}",
                log.lines()
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        Daemon {
            child,
            addr: addr.parse().expect("listening address"),
            log,
            _dir: dir,
        }
    }

    /// The admin's `local.d` of this daemon (exists when started with extra config).
    pub fn local_d(&self) -> std::path::PathBuf {
        self._dir.path().join("local.d")
    }

    /// Sends a signal by name (`HUP`, `USR1`, ...).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// The log, settled (see [`Log::settled_lines`]).
    pub fn log(&self) -> Vec<String> {
        self.log.settled_lines()
    }

    /// Waits until a log line contains `needle`.
    pub fn wait_log(&self, needle: &str) -> String {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Some(l) = self.log.lines().into_iter().find(|l| l.contains(needle)) {
                return l;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no log line with {needle:?}; log: {:#?}", self.log());
    }

    /// The controller's `/metrics` text (address from the start-up log).
    pub fn metrics(&self) -> String {
        use std::io::{Read, Write};
        let line = self.wait_log("controller listening on ");
        let addr = line
            .split("controller listening on ")
            .nth(1)
            .and_then(|a| a.split_whitespace().next())
            .map(|a| a.trim_start_matches("inet:"))
            .expect("controller address");
        let mut c = std::net::TcpStream::connect(addr).expect("controller");
        c.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        out
    }

    /// Waits until `n` log lines contain `needle`, then returns them.
    pub fn wait_lines(&self, needle: &str, n: usize) -> Vec<String> {
        let start = Instant::now();
        loop {
            let lines: Vec<String> = self
                .log()
                .into_iter()
                .filter(|l| l.contains(needle))
                .collect();
            if lines.len() >= n {
                return lines;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "only {} of {n} lines with {needle:?}; log: {:#?}",
                lines.len(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no draining, pooled connections to it just break.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(40),
                "sluice did not stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One raw milter frame.
pub fn frame(code: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
    v.push(code);
    v.extend_from_slice(payload);
    v
}

/// The MTA's option negotiation offer.
pub fn optneg(version: u32, actions: u32, protocol: u32) -> Vec<u8> {
    let mut p = version.to_be_bytes().to_vec();
    p.extend_from_slice(&actions.to_be_bytes());
    p.extend_from_slice(&protocol.to_be_bytes());
    frame(b'O', &p)
}

/// GTUBE, assembled at run time so this file is not itself a test pattern.
pub fn gtube() -> String {
    [
        "XJS*C4JDBQADN1.NSBN3*2IDNEN*",
        "GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X",
    ]
    .concat()
}
