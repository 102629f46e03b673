//! A `sluice run` for operations tests: the admin's `local.d` files are
//! given up front, stderr goes to a file, `$NOTIFY_SOCKET` points at a
//! socket the test holds, and start-up waits for `READY=1`, so the tests
//! see the daemon exactly as systemd would.
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use super::launcher::{Launch, Log, Started, Stderr};

use sluice_proto::milter::client::{Envelope, MtaClient, Response};
use sluice_proto::milter::optneg::OptNeg;
use sluice_proto::milter::Reply;

pub struct OpsDaemon {
    child: Child,
    pub dir: tempfile::TempDir,
    pub notify: UnixDatagram,
    /// Where the log goes: stderr's file unless a `logging.inc` redirects it.
    pub log_path: PathBuf,
    pub milter: String,
    pub controller: String,
}

impl OpsDaemon {
    /// Starts with `files` (name, content) written into `local.d`, every
    /// listener on a port-0 command-line override.
    pub fn start(files: &[(&str, &str)], log_path: Option<&str>) -> OpsDaemon {
        let listen = [
            "--milter",
            "inet:127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--controller",
            "127.0.0.1:0",
        ];
        OpsDaemon::start_listening(files, log_path, &listen)
    }

    /// [`OpsDaemon::start`] with only the `listen` flags given: the roles
    /// not named there take their addresses from the config files. `$DIR`
    /// in `files` is the daemon's temporary folder.
    pub fn start_listening(
        files: &[(&str, &str)],
        log_path: Option<&str>,
        listen: &[&str],
    ) -> OpsDaemon {
        OpsDaemon::launch(files, log_path, listen, false)
    }

    /// [`OpsDaemon::start`] as systemd starts a service whose stderr is
    /// the journal: `JOURNAL_STREAM` names the device and inode of stderr
    /// (here the log file).
    pub fn start_journald(files: &[(&str, &str)]) -> OpsDaemon {
        let listen = [
            "--milter",
            "inet:127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--controller",
            "127.0.0.1:0",
        ];
        OpsDaemon::launch(files, None, &listen, true)
    }

    fn launch(
        files: &[(&str, &str)],
        log_path: Option<&str>,
        listen: &[&str],
        journal: bool,
    ) -> OpsDaemon {
        let mut launch = Launch::new();
        if journal {
            use std::os::unix::fs::MetadataExt;
            // Created now so that its inode is known; opening it for stderr
            // truncates the same file.
            launch.file("stderr.log", "", false);
            let meta = std::fs::metadata(launch.dir().join("stderr.log")).unwrap();
            let stream = format!("{}:{}", meta.dev(), meta.ino());
            launch.env("JOURNAL_STREAM", Some(std::ffi::OsStr::new(&stream)));
        } else {
            launch.env("JOURNAL_STREAM", None);
        }
        launch.folder("local.d");
        for (name, text) in files {
            launch.file(&format!("local.d/{name}"), text, true);
        }
        let notify_path = launch.dir().join("notify.sock");
        let notify = UnixDatagram::bind(&notify_path).unwrap();
        notify
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let pid_file = launch.dir().join("sluice.pid").display().to_string();
        launch.args(listen.iter().copied());
        launch.vars_here(&["LOCAL_CONFDIR"]);
        launch.args(["--pid-file".to_string(), pid_file]);
        launch.env("SLUICE_LOG", None);
        launch.env("NOTIFY_SOCKET", Some(notify_path.as_os_str()));
        let Started { child, dir, log } = launch.spawn(Stderr::File("stderr.log"));
        let log_path = match (log_path, log) {
            (Some(p), _) => dir.path().join(p),
            (None, Log::File(stderr_path)) => stderr_path,
            (None, Log::Lines(_)) => unreachable!("stderr goes to a file"),
        };
        let mut d = OpsDaemon {
            child,
            dir,
            notify,
            log_path,
            milter: String::new(),
            controller: String::new(),
        };
        let ready = d.next_notify();
        assert!(ready.starts_with("READY=1"), "{ready}; log: {}", d.log());
        // READY's status line names the milter listeners, whatever the log says.
        d.milter = ready
            .split("serving milter on inet:")
            .nth(1)
            .and_then(|r| r.split([',', '\n']).next())
            .unwrap_or_else(|| panic!("no milter address in {ready:?}"))
            .to_string();
        d.controller = d.address("controller listening on");
        d
    }

    /// The next sd_notify datagram (30 s at most).
    pub fn next_notify(&self) -> String {
        let mut buf = [0u8; 512];
        match self.notify.recv(&mut buf) {
            Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(e) => panic!("no sd_notify message ({e}); log: {}", self.log()),
        }
    }

    /// An address from a "... listening on ADDR" log line; empty when the
    /// log does not have it (level above info, syslog).
    fn address(&self, needle: &str) -> String {
        let log = self.log();
        let Some(rest) = log.split(needle).nth(1) else {
            return String::new();
        };
        let addr: String = rest
            .trim_start()
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '"')
            .collect();
        addr.trim_start_matches("inet:").to_string()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn pid_file(&self) -> PathBuf {
        self.dir.path().join("sluice.pid")
    }

    pub fn local_d(&self) -> PathBuf {
        self.dir.path().join("local.d")
    }

    pub fn log(&self) -> String {
        read(&self.log_path)
    }

    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name}");
    }

    /// Waits until `path` contains `needle` `times` times.
    pub fn wait_in(&self, path: &Path, needle: &str, times: usize) -> String {
        let start = Instant::now();
        loop {
            let text = read(path);
            if text.matches(needle).count() >= times {
                return text;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{needle:?} x{times} not in {}: {text}",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn wait_log(&self, needle: &str, times: usize) -> String {
        self.wait_in(&self.log_path.clone(), needle, times)
    }

    /// Waits for the exit status (40 s at most).
    pub fn wait_exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(40),
                "sluice did not stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for OpsDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Postfix 3.7's offer.
pub const POSTFIX_OFFER: OptNeg = OptNeg {
    version: 6,
    actions: 0x1ff,
    protocol: 0x1f_ffff,
};

/// GTUBE, assembled at run time so this file is not itself a test pattern.
pub fn gtube_message() -> Vec<u8> {
    let body = [
        "XJS*C4JDBQADN1.NSBN3*2IDNEN*",
        "GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X",
    ]
    .concat();
    format!(
        "From: a@example.org\r\nTo: b@example.net\r\nSubject: t\r\n\
Message-ID: <ops@example.org>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

pub fn ham_message() -> Vec<u8> {
    // A plausible clean message: the shipped rules score a missing Date.
    b"From: a@example.org\r\nTo: b@example.net\r\nSubject: lunch\r\n\
Date: Sun, 22 Nov 2026 05:00:24 +0000\r\n\
Message-ID: <ham@example.org>\r\n\r\nSee you at noon.\r\n"
        .to_vec()
}

/// One message over a fresh connection, without a Connect (no client IP).
pub async fn send(addr: &str, raw: &[u8]) -> Response {
    let mut c = MtaClient::connect_tcp(addr.parse().unwrap()).await.unwrap();
    c.negotiate(POSTFIX_OFFER).await.unwrap();
    let env = Envelope {
        from: "a@example.org",
        rcpts: &["b@example.net"],
        queue_id: Some("4OPS1"),
    };
    let r = c.send_message(&env, raw).await.unwrap();
    c.quit().await.unwrap();
    r
}

pub fn reply_text(r: &Reply) -> String {
    match r {
        Reply::ReplyCode(t) => String::from_utf8_lossy(t).into_owned(),
        other => format!("{other:?}"),
    }
}

/// A corpus directory of `n` copies of `raw` for `bench_milter`.
pub fn corpus(dir: &Path, raw: &[u8], n: usize) -> PathBuf {
    let c = dir.join("corpus");
    std::fs::create_dir_all(&c).unwrap();
    for i in 0..n {
        std::fs::write(c.join(format!("m{i}.eml")), raw).unwrap();
    }
    c
}
