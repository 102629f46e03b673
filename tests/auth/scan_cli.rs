//! `sluice scan` with an envelope on the command line runs the auth checks against nsd, as the
//! daemon does; without one it makes no query and gives no auth symbol.

use std::process::Command;

use super::checks::{message, signed};
use super::dns_server::start_nsd;

/// Runs `sluice scan --json ARGS FILE` with `options.dns` on nsd; the reply's symbols.
fn scan(conf: &std::path::Path, args: &[&str], msg: &str) -> serde_json::Value {
    let file = conf.join("message.eml");
    std::fs::write(&file, msg).unwrap();
    let out = Command::new(crate::support::sluice_bin())
        .arg("scan")
        .arg("--json")
        .arg("--var")
        .arg(format!("LOCAL_CONFDIR={}", conf.display()))
        .arg("--var")
        .arg(format!("DBDIR={}", conf.display()))
        .args(args)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    reply["symbols"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn scan_with_envelope_flags_runs_the_auth_checks() {
    let nsd = start_nsd().await;
    let conf = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(conf.path().join("local.d")).unwrap();
    let dns = format!(
        "dns {{ nameserver = [\"{}\"]; timeout = 2s; retransmits = 1; }}\n",
        nsd.addr
    );
    std::fs::write(conf.path().join("local.d/options.inc"), dns).unwrap();
    let msg = signed(&message("a@sign.sluice.test"), "ed");
    let envelope = [
        "--ip",
        "192.0.2.1",
        "--helo",
        "mx.example.net",
        "--from",
        "b@pass.sluice.test",
        "--rcpt",
        "r1@example.net",
        "--rcpt",
        "r2@example.net",
    ];
    let s = scan(conf.path(), &envelope, &msg);
    assert_eq!(s["R_SPF_ALLOW"]["options"][0], "pass.sluice.test", "{s}");
    assert!(s["R_DKIM_ALLOW"].is_object(), "{s}");
    assert!(s["DMARC_POLICY_ALLOW"].is_object(), "{s}");
    assert!(s["ARC_NA"].is_object(), "{s}");
    // A failing SPF sender from the same address.
    let fail = [&envelope[..4], &["--from", "b@fail.sluice.test"]].concat();
    assert!(scan(conf.path(), &fail, &msg)["R_SPF_FAIL"].is_object());
    // An authenticated user: SPF, DKIM and DMARC skip the message; ARC still checks it.
    let authed = [&envelope[..], &["--user", "alice"]].concat();
    let s = scan(conf.path(), &authed, &msg);
    assert!(
        s["R_SPF_ALLOW"].is_null() && s["R_DKIM_ALLOW"].is_null(),
        "{s}"
    );
    assert!(s["ARC_NA"].is_object(), "{s}");
    // No envelope: no check runs.
    let s = scan(conf.path(), &[], &msg);
    let auth = s.as_object().unwrap().keys().filter(|k| {
        ["R_SPF_", "R_DKIM_", "DMARC_", "ARC_"]
            .iter()
            .any(|p| k.starts_with(p))
    });
    assert_eq!(auth.count(), 0, "{s}");
}
