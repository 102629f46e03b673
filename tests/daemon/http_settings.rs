//! `Settings` and `Settings-ID` on the scan listener of a real `sluice
//! run`: threshold overrides, disabled symbols and groups, profiles from
//! `local.d/settings.conf`, and what happens with unusable settings.
use crate::support::http as http_support;

use http_support::*;
use serde_json::Value;

/// No Message-ID and no Date: MISSING_MID (2.5) + MISSING_DATE (1.0) +
/// small ones = 4.5, a greylist with Rspamd's default thresholds.
const NO_MID: &[u8] =
    b"From: a@example.org\r\nTo: b@example.net\r\nSubject: lunch\r\n\r\nSee you at noon.\r\n";

const FILES: &[(&str, &str)] = &[
    (
        "local.d/groups.conf",
        "group \"headers\" { symbols { MISSING_MID { weight = 2.5; } MISSING_DATE { weight = 1.0; } } }\n",
    ),
    (
        "local.d/settings.conf",
        "strict { apply { actions { reject = 4; } } }\nquiet { id = \"no-headers\"; apply { groups_disabled = [\"headers\"]; } }\n",
    ),
];

fn scan(s: &Sluice, headers: &[(&str, &str)]) -> Value {
    let r = post(s.http, "/checkv2", headers, NO_MID);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn has(v: &Value, sym: &str) -> bool {
    v["symbols"].get(sym).is_some()
}

#[test]
fn inline_settings_change_thresholds_and_symbols() {
    let s = Sluice::start(FILES);
    let plain = scan(&s, &[]);
    assert_eq!(plain["action"], "greylist", "{plain}");
    assert!(has(&plain, "MISSING_MID"));
    let base = plain["score"].as_f64().unwrap();

    let v = scan(
        &s,
        &[(
            "Settings",
            r#"{"actions":{"greylist":null,"add header":4}}"#,
        )],
    );
    assert_eq!(v["action"], "add header", "{v}");
    assert_eq!(v["thresholds"]["add header"], 4.0);
    assert!(v["thresholds"].get("greylist").is_none(), "{v}");

    let v = scan(
        &s,
        &[("Settings", r#"{"symbols_disabled":["MISSING_MID"]}"#)],
    );
    assert!(!has(&v, "MISSING_MID"), "{v}");
    assert!(has(&v, "MISSING_DATE"));
    assert!(
        (v["score"].as_f64().unwrap() - (base - 2.5)).abs() < 1e-9,
        "{v}"
    );
    assert_eq!(v["action"], "no action");

    let v = scan(
        &s,
        &[("Settings", r#"{"apply":{"groups_disabled":["headers"]}}"#)],
    );
    assert!(!has(&v, "MISSING_MID") && !has(&v, "MISSING_DATE"), "{v}");
    // The shipped headers group holds more (NO_RECEIVED_AND_NO_DATE): the
    // score is what the remaining symbols add up to.
    let rest: f64 = v["symbols"]
        .as_object()
        .unwrap()
        .values()
        .map(|x| x["score"].as_f64().unwrap())
        .sum();
    assert!(v["score"].as_f64().unwrap() <= base - 3.5, "{v}");
    assert!((v["score"].as_f64().unwrap() - rest).abs() < 1e-9, "{v}");

    let v = scan(
        &s,
        &[("Settings", r#"{"symbols_enabled":["MISSING_DATE"]}"#)],
    );
    let names: Vec<&String> = v["symbols"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["MISSING_DATE"], "{v}");
}

#[test]
fn settings_id_selects_a_profile() {
    let mut s = Sluice::start(FILES);
    let v = scan(&s, &[("Settings-ID", "strict")]);
    assert_eq!(v["action"], "reject", "{v}");
    assert_eq!(v["required_score"], 4.0);
    let v = scan(&s, &[("Settings-ID", "no-headers")]);
    assert!(!has(&v, "MISSING_MID"), "the profile's `id` names it: {v}");
    // Inline settings win over the ID, as in Rspamd.
    let v = scan(
        &s,
        &[
            ("Settings-ID", "strict"),
            ("Settings", r#"{"actions":{"reject":50}}"#),
        ],
    );
    assert_eq!(v["action"], "greylist", "{v}");

    let v = scan(&s, &[("Settings-ID", "nope")]);
    assert_eq!(
        v["action"], "greylist",
        "an unknown ID scans with the defaults"
    );
    s.wait_log("unknown Settings-ID \"nope\"");
    let v = scan(&s, &[("Settings", "{not json")]);
    assert_eq!(v["action"], "greylist");
    s.wait_log("Settings is not a JSON object");
}

#[test]
fn a_broken_profile_fails_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("local.d")).unwrap();
    std::fs::write(
        dir.path().join("local.d/settings.conf"),
        "bad { apply { actions { reject = \"high\"; } } }\n",
    )
    .unwrap();
    let out = std::process::Command::new(crate::support::sluice_bin())
        .args(["configtest", "--var"])
        .arg(format!("LOCAL_CONFDIR={}", dir.path().display()))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("settings.bad.actions.reject"), "{text}");
}
