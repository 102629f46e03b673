//! Test support for the HTTP listeners: a real `sluice run` with its scan,
//! controller and milter listeners on port 0, and a minimal HTTP/1.1 client
//! over raw sockets, so tests see exactly the bytes on the wire.
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::launcher::{Launch, Log, Started, Stderr};

pub struct Sluice {
    child: Child,
    pub http: SocketAddr,
    pub controller: SocketAddr,
    pub milter: SocketAddr,
    log: Log,
    pub dir: tempfile::TempDir,
}

/// Files to place under the daemon's `$LOCAL_CONFDIR` (`local.d/x.inc`, ...).
pub type ConfFiles<'a> = &'a [(&'a str, &'a str)];

impl Sluice {
    pub fn start(files: ConfFiles<'_>) -> Sluice {
        Sluice::start_with(files, &[])
    }

    /// Starts with extra command-line arguments (`--http unix:...`).
    pub fn start_with(files: ConfFiles<'_>, extra: &[String]) -> Sluice {
        let mut launch = Launch::new();
        for (rel, text) in files {
            launch.file(rel, text, false);
        }
        launch.args(["--milter", "inet:127.0.0.1:0"]);
        // A private DBDIR too: the shipped Bayes store must not be shared
        // between tests running in parallel (nor left under /var/lib).
        launch.vars_here(&["DBDIR", "LOCAL_CONFDIR"]);
        if !extra.iter().any(|a| a == "--http") {
            launch.args(["--http", "127.0.0.1:0"]);
        }
        launch.args(["--controller", "127.0.0.1:0"]);
        launch.args(extra.iter().cloned());
        launch.env("SLUICE_LOG", Some("info".as_ref()));
        let Started { child, dir, log } = launch.spawn(Stderr::Lines);
        let mut s = Sluice {
            child,
            http: "0.0.0.0:0".parse().unwrap(),
            controller: "0.0.0.0:0".parse().unwrap(),
            milter: "0.0.0.0:0".parse().unwrap(),
            log,
            dir,
        };
        s.milter = s.listening("milter listening on inet:");
        s.controller = s.listening("controller listening on inet:");
        if !extra.iter().any(|a| a == "--http") {
            s.http = s.listening("http listening on inet:");
        }
        s
    }

    fn listening(&mut self, needle: &str) -> SocketAddr {
        let line = self.wait_log(needle);
        let rest = line.split(needle).nth(1).unwrap();
        rest.split_whitespace().next().unwrap().parse().unwrap()
    }

    /// The log, settled (see [`Log::settled_lines`]).
    pub fn log(&self) -> Vec<String> {
        self.log.settled_lines()
    }

    /// Waits for a log line containing `needle`; generous, as a debug
    /// build on a busy machine loads the shipped config slowly.
    pub fn wait_log(&mut self, needle: &str) -> String {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if let Some(l) = self.log.lines().into_iter().find(|l| l.contains(needle)) {
                return l;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("sluice exited ({status}); log: {:#?}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no log line with {needle:?}; log: {:#?}", self.log());
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn hup(&self) {
        self.signal("HUP");
    }

    /// Sends a signal by name (`HUP`, `TERM`, ...).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    /// The exit status, once the daemon has exited within `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Sluice {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Builds a request with `Content-Length` (unless a header says otherwise).
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    let chunked = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding"));
    if !chunked {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Reads one response (Content-Length framed, as the server always sends).
pub fn read_response<R: BufRead>(r: &mut R) -> Response {
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    let mut parts = line.trim_end().splitn(3, ' ');
    let _version = parts.next().unwrap();
    let status: u16 = parts
        .next()
        .unwrap_or_else(|| panic!("bad status line {line:?}"))
        .parse()
        .unwrap();
    let reason = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).expect("header line");
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; len];
    r.read_exact(&mut body).expect("body");
    Response {
        status,
        reason,
        headers,
        body,
    }
}

/// One request on a fresh connection.
pub fn send(addr: SocketAddr, raw: &[u8]) -> Response {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(raw).unwrap();
    read_response(&mut BufReader::new(s))
}

pub fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    send(addr, &request("POST", path, headers, body))
}

pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    send(addr, &request("GET", path, headers, b""))
}

/// GTUBE, assembled at run time so this file is not itself a test pattern.
pub fn gtube_message() -> Vec<u8> {
    let pattern = [
        "XJS*C4JDBQADN1.NSBN3*2IDNEN*",
        "GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X",
    ]
    .concat();
    format!(
        "From: a@example.org\r\nTo: b@example.net\r\nSubject: test\r\nMessage-ID: <gtube@example.org>\r\n\r\n{pattern}\r\n"
    )
    .into_bytes()
}

/// A plain, harmless message.
pub fn ham_message() -> Vec<u8> {
    b"From: a@example.org\r\nTo: b@example.net\r\nSubject: lunch\r\nMessage-ID: <ham@example.org>\r\n\r\nSee you at noon.\r\n".to_vec()
}

/// A message of the shared corpus (read in place): `$SLUICE_CORPUS`, else
/// `shared/corpus` beside the repository.
pub fn corpus(rel: &str) -> PathBuf {
    match std::env::var_os("SLUICE_CORPUS") {
        Some(dir) => PathBuf::from(dir).join(rel),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/corpus")
            .join(rel),
    }
}
