//! The whitelist module on a real `sluice run` pointed at nsd: the shipped WHITELIST_DKIM rule
//! with the admin's `local.d/maps.d/dkim_whitelist.inc.local` lists `sluice.test`; a message
//! validly signed by `sign.sluice.test` gets WHITELIST_DKIM with Rspamd's weight, the same
//! message with its body changed gets BLACKLIST_DKIM (the domain is listed `both`), and a
//! domain not listed gets neither.

use crate::support::http::{post, Sluice};

use super::checks::{message, signed};
use super::dns_server::{start_nsd, Nsd};

fn start(nsd: &Nsd, map: &str) -> Sluice {
    let options = format!(
        "dns {{ nameserver = [\"{}\"]; timeout = 2s; retransmits = 1; }}\n",
        nsd.addr
    );
    Sluice::start(&[
        ("local.d/options.inc", options.as_str()),
        ("local.d/maps.d/dkim_whitelist.inc.local", map),
    ])
}

fn scan(s: &Sluice, msg: &str) -> serde_json::Value {
    let headers = [
        ("IP", "192.0.2.1"),
        ("From", "<a@sign.sluice.test>"),
        ("Helo", "mx.example.net"),
    ];
    let r = post(s.http, "/checkv2", &headers, msg.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listed_domain_is_whitelisted_only_with_a_valid_signature() {
    let nsd = start_nsd().await;
    let s = start(
        &nsd,
        "# the test zone's signing domain\nsluice.test both:1\n",
    );
    let good = signed(&message("a@sign.sluice.test"), "ed");
    let j = scan(&s, &good);
    let wl = &j["symbols"]["WHITELIST_DKIM"];
    assert!(j["symbols"]["R_DKIM_ALLOW"].is_object(), "{j}");
    assert_eq!(wl["score"].as_f64(), Some(-1.0), "{j}");
    assert_eq!(wl["options"][0], "sluice.test:d:+", "{j}");
    assert!(j["symbols"]["BLACKLIST_DKIM"].is_null(), "{j}");

    let broken = good.replace("Hello there.", "Hello there, changed.");
    let j = scan(&s, &broken);
    assert!(j["symbols"]["R_DKIM_REJECT"].is_object(), "{j}");
    assert!(j["symbols"]["WHITELIST_DKIM"].is_null(), "{j}");
    let bl = &j["symbols"]["BLACKLIST_DKIM"];
    assert_eq!(bl["score"].as_f64(), Some(1.0), "{j}");
    assert_eq!(bl["options"][0], "sluice.test:d:-", "{j}");
    drop(s);

    // Listed only as a whitelist entry: a broken signature loses the whitelisting, no more.
    let s = start(&nsd, "sluice.test\n");
    let j = scan(&s, &broken);
    assert!(j["symbols"]["WHITELIST_DKIM"].is_null(), "{j}");
    assert!(j["symbols"]["BLACKLIST_DKIM"].is_null(), "{j}");
    assert!(scan(&s, &good)["symbols"]["WHITELIST_DKIM"].is_object());
    drop(s);

    // Not listed: the valid signature alone whitelists nothing.
    let s = start(&nsd, "example.org\n");
    let j = scan(&s, &good);
    assert!(j["symbols"]["R_DKIM_ALLOW"].is_object(), "{j}");
    assert!(j["symbols"]["WHITELIST_DKIM"].is_null(), "{j}");
}
