//! Lua rules in a real `sluice run`: loaded from `$LOCAL_CONFDIR`, and
//! reloaded on SIGHUP while mail keeps flowing; a broken script on reload
//! keeps the running rules.
use crate::support::http as http_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use http_support::*;

fn version_rule(tag: &str) -> String {
    format!("rspamd_config.LUA_VERSION = {{ score = 0.5, callback = function(task)\n  return true, '{tag}'\nend }}\n")
}

/// The LUA_VERSION option of a /checkv2 reply, and the reply's status.
fn scan_version(s: &Sluice) -> (u16, Option<String>) {
    let r = post(s.http, "/checkv2", &[], &ham_message());
    let j = r.json();
    let opt = j["symbols"]["LUA_VERSION"]["options"][0]
        .as_str()
        .map(str::to_string);
    (r.status, opt)
}

#[test]
fn scripts_reload_while_mail_flows() {
    let v1 = version_rule("v1");
    let s = Sluice::start(&[
        ("rspamd.local.lua", v1.as_str()),
        (
            "lua.local.d/dir.lua",
            "rspamd_config.LUA_FROM_DIR = function() return true end\n",
        ),
    ]);
    let first = post(s.http, "/checkv2", &[], &ham_message()).json();
    assert_eq!(
        first["symbols"]["LUA_VERSION"]["options"][0], "v1",
        "{first}"
    );
    assert!(first["symbols"].get("LUA_FROM_DIR").is_some(), "{first}");

    let s = Arc::new(Mutex::new(s));
    let stop = Arc::new(AtomicBool::new(false));
    let http = s.lock().unwrap().http;
    let flow = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let r = post(http, "/checkv2", &[], &ham_message());
                let opt = r.json()["symbols"]["LUA_VERSION"]["options"][0]
                    .as_str()
                    .map(str::to_string);
                seen.push((r.status, opt));
            }
            seen
        })
    };
    let path = s.lock().unwrap().path("rspamd.local.lua");
    std::fs::write(&path, version_rule("v2")).unwrap();
    s.lock().unwrap().hup();
    s.lock().unwrap().wait_log("configuration reloaded");
    let after = scan_version(&s.lock().unwrap());
    assert_eq!(after, (200, Some("v2".to_string())));
    stop.store(true, Ordering::Relaxed);
    let seen = flow.join().unwrap();
    assert!(!seen.is_empty());
    for (status, opt) in &seen {
        assert_eq!(*status, 200);
        assert!(
            matches!(opt.as_deref(), Some("v1") | Some("v2")),
            "every scan during the reload runs one version fully: {opt:?}"
        );
    }

    // A script that no longer loads: reload refused, v2 keeps running.
    std::fs::write(&path, "rspamd_config.LUA_VERSION = function(\n").unwrap();
    let mut s = s.lock().unwrap();
    s.hup();
    let line = s.wait_log("reload failed");
    assert!(line.contains("rspamd.local.lua"), "{line}");
    assert_eq!(scan_version(&s), (200, Some("v2".to_string())));
}
