//! `sluice reload` (the unit's ExecReload): SIGHUP, then the result read from the
//! controller's reload counters: exit 0 once reloaded, non-zero when the daemon refused the
//! new configuration.
use std::process::Command;

use crate::support::http::Sluice;

fn reload(s: &Sluice) -> std::process::Output {
    Command::new(crate::support::sluice_bin())
        .args(["reload", "--pid", &s.pid().to_string()])
        .args(["--controller", &format!("http://{}", s.controller)])
        .args(["--timeout", "120"])
        .output()
        .unwrap()
}

#[test]
fn reload_waits_for_the_result_and_reports_a_failure() {
    let mut s = Sluice::start(&[]);
    let out = reload(&s);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("configuration reloaded"), "{stdout}");
    // It returned after the daemon logged the reload, not before.
    assert!(s
        .log()
        .iter()
        .any(|l| l.contains("SIGHUP: configuration reloaded")));

    std::fs::create_dir_all(s.path("local.d")).unwrap();
    std::fs::write(
        s.path("local.d/worker-proxy.inc"),
        "discard_on_reject = {{{ broken\n",
    )
    .unwrap();
    let out = reload(&s);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("reload failed"), "{stderr}");
    s.wait_log("reload failed, keeping the running configuration");
}
