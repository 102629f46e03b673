//! `sluice learn` while `sluice run` holds the embedded store: the command
//! finds the file locked, learns through the daemon's controller (address
//! and password from the configuration both read), and the messages land in
//! the daemon's store.
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::http::{corpus, get};
use crate::support::launcher::{Launch, Started, Stderr};

/// Kills the daemon when the test ends, passed or not.
struct Running(Started);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.child.kill();
        let _ = self.0.child.wait();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn files(class: &str, n: usize) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus(class))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v.truncate(n);
    v
}

fn start(port: u16) -> Running {
    let mut launch = Launch::new();
    // Loopback is not a secure_ip here: every learn needs the password.
    let controller = format!(
        "bind_socket = \"127.0.0.1:{port}\";\npassword = \"reader\";\n\
         enable_password = \"admin\";\nsecure_ip = \"192.0.2.1\";\n"
    );
    launch.file("local.d/worker-controller.inc", &controller, false);
    launch.file("local.d/classifier-bayes.conf", "min_learns = 1;\n", false);
    launch.args(["--milter", "inet:127.0.0.1:0", "--http", "127.0.0.1:0"]);
    launch.vars_here(&["DBDIR", "LOCAL_CONFDIR"]);
    launch.env("SLUICE_LOG", Some("info".as_ref()));
    let mut run = Running(launch.spawn(Stderr::Lines));
    let start = Instant::now();
    while !run
        .0
        .log
        .lines()
        .iter()
        .any(|l| l.contains("controller listening"))
    {
        if let Ok(Some(status)) = run.0.child.try_wait() {
            panic!("sluice exited ({status}): {:#?}", run.0.log.lines());
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{:#?}",
            run.0.log.lines()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    run
}

fn learn(dir: &Path, spam: &[PathBuf], ham: &[PathBuf]) -> Output {
    let var = |name: &str| format!("{name}={}", dir.display());
    Command::new(crate::support::sluice_bin())
        .args(["learn", "--quiet", "--var", &var("DBDIR")])
        .args(["--var", &var("LOCAL_CONFDIR"), "--spam"])
        .args(spam)
        .arg("--ham")
        .args(ham)
        .output()
        .unwrap()
}

#[test]
fn learn_goes_through_the_running_daemon() {
    let port = free_port();
    let run = start(port);
    let dir = run.0.dir.path().to_path_buf();
    let (spam, ham) = (files("spam", 3), files("ham", 2));
    let out = learn(&dir, &spam, &ham);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "learning through its controller at 127.0.0.1:{port}"
        )),
        "{stderr}"
    );
    assert!(stdout.contains("5 messages in"), "{stdout}");
    assert!(stdout.contains("5 learned"), "{stdout}");
    let ctl: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let stat = get(ctl, "/stat", &[("Password", "admin")]).json();
    assert_eq!(stat["learned"], 5, "{stat}");
    let revision = |sym: &str| {
        stat["statfiles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["symbol"] == sym)
            .unwrap()["revision"]
            .clone()
    };
    assert_eq!(
        (revision("BAYES_SPAM"), revision("BAYES_HAM")),
        (3.into(), 2.into())
    );

    // `sluice stat` reads the same figures from the controller.
    let var = |name: &str| format!("{name}={}", dir.display());
    let out = Command::new(crate::support::sluice_bin())
        .args([
            "stat",
            "--var",
            &var("DBDIR"),
            "--var",
            &var("LOCAL_CONFDIR"),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("BAYES_SPAM, learned: 3"), "{text}");
    assert!(text.contains("BAYES_HAM, learned: 2"), "{text}");
    assert!(text.contains("(held by the running daemon)"), "{text}");
    let tokens = stat["statfiles"][0]["used"].as_u64().unwrap();
    assert!(
        tokens > 0 && text.contains(&format!("Tokens: {tokens};")),
        "{text}"
    );

    // Again: the daemon knows them (Rspamd's 208), nothing is counted twice.
    let out = learn(&dir, &spam, &ham);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("5 already learned"), "{stdout}");
    let stat = get(ctl, "/stat", &[("Password", "admin")]).json();
    assert_eq!(stat["learned"], 5, "{stat}");
}

#[test]
fn a_refused_password_ends_the_run_with_the_reason() {
    let port = free_port();
    let run = start(port);
    let dir = run.0.dir.path().to_path_buf();
    // The learning side's configuration names another password.
    let other = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(other.path().join("local.d")).unwrap();
    std::fs::write(
        other.path().join("local.d/worker-controller.inc"),
        format!(
            "bind_socket = \"127.0.0.1:{port}\";\npassword = \"wrong\";\n\
             secure_ip = \"192.0.2.1\";\n"
        ),
    )
    .unwrap();
    let out = Command::new(crate::support::sluice_bin())
        .args(["learn", "--quiet"])
        .args(["--var", &format!("DBDIR={}", dir.display())])
        .args([
            "--var",
            &format!("LOCAL_CONFDIR={}", other.path().display()),
        ])
        .arg("--spam")
        .args(files("spam", 1))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("refused to learn (401)"), "{stderr}");
}
