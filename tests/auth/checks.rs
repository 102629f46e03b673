//! The SPF, DKIM, DMARC and ARC checks against nsd on loopback (the auth records of
//! `integration/dns/sluice.test.zone`): each result's symbol, DKIM's per-signature options,
//! DMARC's alignment and organizational-domain fallback, malformed records, DNS failures and
//! the per-message budget, and the symbols scored by the pipeline. Messages are signed here
//! with mail-auth's signer and the zone's test key.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use serde_json::json;
use sluice::message::Envelope;
use sluice::scan::auth::{AuthChecks, AuthSettings, Hit};
use sluice::scan::{LocalScanner, Pipeline, ScanRequest, Scanner};
use sluice::verdict::{Action, Placement};

use super::dns_server::{resolver, resolver_for, start_nsd, Nsd, Silent};

/// The private half of `ed._domainkey.sign.sluice.test` (a test key, nothing else).
const SEED: [u8; 32] = [0x5a; 32];
const PUBLIC: [u8; 32] = [
    0x0d, 0x75, 0x50, 0x75, 0x4e, 0x08, 0x00, 0xa5, 0xd2, 0x37, 0xee, 0xf5, 0x82, 0x60, 0x35, 0x76,
    0x6b, 0x9b, 0x3e, 0x5a, 0x15, 0x86, 0x8a, 0x94, 0x0a, 0xb2, 0x89, 0x95, 0x87, 0x88, 0xe3, 0xb0,
];

const OUTSIDE: &str = "192.0.2.1";

fn checks(nsd: &Nsd, tree: serde_json::Value) -> AuthChecks {
    let settings = AuthSettings::from_tree(&tree).unwrap();
    AuthChecks::new(
        Arc::new(resolver_for(nsd)),
        settings,
        Duration::from_secs(5),
    )
    .unwrap()
}

fn envelope(ip: &str, from: &str, helo: &str) -> Envelope {
    Envelope {
        client_ip: Some(ip.parse::<IpAddr>().unwrap()),
        helo: Some(helo.into()),
        from: Some(from.into()),
        ..Envelope::default()
    }
}

pub(super) fn message(from: &str) -> String {
    format!(
        "From: Sender <{from}>\r\nTo: rcpt@example.net\r\nSubject: auth test\r\n\
         Message-ID: <1@sluice.test>\r\n\r\nHello there.\r\n"
    )
}

pub(super) fn signed(msg: &str, selector: &str) -> String {
    let key = Ed25519Key::from_seed_and_public_key(&SEED, &PUBLIC).unwrap();
    let sig = DkimSigner::from_key(key)
        .domain("sign.sluice.test")
        .selector(selector)
        .headers(["From", "To", "Subject"])
        .sign(msg.as_bytes())
        .unwrap();
    format!("{}{msg}", sig.to_header())
}

/// `msg` with one ARC set sealed by the zone's test key (as a relay of the site would).
fn sealed(msg: &str) -> String {
    let parsed = mail_auth::AuthenticatedMessage::parse(msg.as_bytes()).unwrap();
    let results = mail_auth::AuthenticationResults::new("relay.sluice.test");
    let none = mail_auth::ArcOutput::default();
    let key = Ed25519Key::from_seed_and_public_key(&SEED, &PUBLIC).unwrap();
    let set = mail_auth::arc::ArcSealer::from_key(key)
        .domain("sign.sluice.test")
        .selector("ed")
        .headers(["From", "To", "Subject"])
        .seal(&parsed, &results, &none)
        .unwrap();
    format!("{}{msg}", set.to_header())
}

fn find<'a>(hits: &'a [Hit], symbol: &str) -> Option<&'a Hit> {
    hits.iter().find(|h| h.symbol == symbol)
}

fn symbols(hits: &[Hit]) -> Vec<&'static str> {
    hits.iter().map(|h| h.symbol).collect()
}

#[tokio::test]
async fn spf_results_map_to_their_symbols() {
    let nsd = start_nsd().await;
    let c = checks(&nsd, json!({}));
    let cases = [
        ("a@pass.sluice.test", "R_SPF_ALLOW"),
        ("a@fail.sluice.test", "R_SPF_FAIL"),
        ("a@soft.sluice.test", "R_SPF_SOFTFAIL"),
        ("a@neutral.sluice.test", "R_SPF_NEUTRAL"),
        ("a@bad.sluice.test", "R_SPF_PERMFAIL"),
        ("a@nospf.sluice.test", "R_SPF_NA"),
        ("a@missing.sluice.test", "R_SPF_NA"),
        ("a@broken.test", "R_SPF_DNSFAIL"),
    ];
    for (from, want) in cases {
        let out = c
            .run(
                &envelope(OUTSIDE, from, "mx.example"),
                message(from).as_bytes(),
            )
            .await;
        let spf: Vec<_> = out
            .hits
            .iter()
            .filter(|h| h.symbol.starts_with("R_SPF"))
            .collect();
        assert_eq!(spf.len(), 1, "{from}: {:?}", out.hits);
        assert_eq!(spf[0].symbol, want, "{from}: {:?}", out.hits);
    }
}

#[tokio::test]
async fn the_null_sender_is_checked_by_helo_and_local_or_authenticated_mail_is_not() {
    let nsd = start_nsd().await;
    let c = checks(&nsd, json!({}));
    let msg = message("a@pass.sluice.test");
    let out = c
        .run(
            &envelope("192.0.2.7", "", "helo.sluice.test"),
            msg.as_bytes(),
        )
        .await;
    assert!(find(&out.hits, "R_SPF_ALLOW").is_some(), "{:?}", out.hits);
    let out = c
        .run(
            &envelope("192.0.2.8", "", "helo.sluice.test"),
            msg.as_bytes(),
        )
        .await;
    assert!(find(&out.hits, "R_SPF_FAIL").is_some(), "{:?}", out.hits);
    // Local clients and authenticated users: no SPF, DKIM or DMARC symbol (ARC, as in
    // Rspamd, checks every message).
    let local = envelope("10.0.0.5", "a@fail.sluice.test", "mx");
    assert_eq!(
        symbols(&c.run(&local, msg.as_bytes()).await.hits),
        ["ARC_NA"]
    );
    let mut authed = envelope(OUTSIDE, "a@fail.sluice.test", "mx");
    authed.user = Some("alice".into());
    assert_eq!(
        symbols(&c.run(&authed, msg.as_bytes()).await.hits),
        ["ARC_NA"]
    );
    // Unless the module asks for them.
    let c = checks(&nsd, json!({"spf": {"check_local": true}}));
    let out = c.run(&local, msg.as_bytes()).await;
    assert_eq!(symbols(&out.hits), vec!["R_SPF_FAIL", "ARC_NA"]);
}

#[tokio::test]
async fn dkim_reports_each_signature_and_dmarc_aligns_on_it() {
    let nsd = start_nsd().await;
    let c = checks(&nsd, json!({}));
    let from = "a@sign.sluice.test";
    let env = envelope(OUTSIDE, "bounce@pass.sluice.test", "mx.example");
    let good = signed(&message(from), "ed");
    let out = c.run(&env, good.as_bytes()).await;
    let allow = find(&out.hits, "R_DKIM_ALLOW").expect("DKIM allow");
    assert_eq!(allow.options, vec!["sign.sluice.test:s=ed"]);
    let trace = find(&out.hits, "DKIM_TRACE").unwrap();
    assert_eq!(trace.options, vec!["sign.sluice.test:+"]);
    // adkim=s and the signature's d= is the From domain: aligned, DMARC passes.
    let dmarc = find(&out.hits, "DMARC_POLICY_ALLOW").expect("DMARC allow");
    assert_eq!(dmarc.options, vec!["sign.sluice.test", "reject"]);
    assert_eq!(find(&out.hits, "ARC_NA").map(|h| h.symbol), Some("ARC_NA"));

    // The body changed after signing: the signature is rejected; SPF fails for sign.sluice.test
    // (-all), so DMARC's reject policy applies.
    let tampered = good.replace("Hello there.", "Hello there!");
    let env = envelope(OUTSIDE, "bounce@sign.sluice.test", "mx.example");
    let out = c.run(&env, tampered.as_bytes()).await;
    let reject = find(&out.hits, "R_DKIM_REJECT").expect("DKIM reject");
    assert_eq!(reject.options, vec!["sign.sluice.test:s=ed"]);
    assert!(
        find(&out.hits, "DMARC_POLICY_REJECT").is_some(),
        "{:?}",
        out.hits
    );
    assert_eq!(out.least_action, None, "actions are off by default");

    // A revoked key (empty p=) is a permanent failure; no signature at all is R_DKIM_NA.
    let revoked = signed(&message(from), "gone");
    let out = c.run(&env, revoked.as_bytes()).await;
    assert!(
        find(&out.hits, "R_DKIM_PERMFAIL").is_some(),
        "{:?}",
        out.hits
    );
    let out = c.run(&env, message(from).as_bytes()).await;
    assert!(find(&out.hits, "R_DKIM_NA").is_some(), "{:?}", out.hits);
}

/// Signed by dkimpy (relaxed/relaxed, the zone's `ed` key); the body ends in a line of
/// spaces and a blank line, which relaxed canonicalization drops.
const DKIMPY_TRAILING_SPACES: &str = "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n \
     d=sign.sluice.test; i=@sign.sluice.test; q=dns/txt; s=ed;\r\n t=1796620185; h=from : to : subject;\r\n \
     bh=1w23YHqDCu6gP8Ft309HEaSKZBfRQQmgDik0vag2wdQ=;\r\n \
     b=ZaVAVWgPL7o/XIvmqDW3cjkaOzFAcHYOaufsk3hiDKTq3vpPJ1iLe+xkWbUDFUoQoFgru\r\n \
     GJ5OkCpBclukVRpCw==\r\nFrom: Sender <a@sign.sluice.test>\r\nTo: rcpt@example.net\r\n\
     Subject: auth test\r\nMessage-ID: <1@sluice.test>\r\n\r\nHello there.\r\n    \r\n\r\n";

#[tokio::test]
async fn a_relaxed_body_ending_in_whitespace_lines_verifies_as_dkimpy_signed_it() {
    let nsd = start_nsd().await;
    let c = checks(&nsd, json!({}));
    let env = envelope(OUTSIDE, "bounce@pass.sluice.test", "mx.example");
    let out = c.run(&env, DKIMPY_TRAILING_SPACES.as_bytes()).await;
    let allow = find(&out.hits, "R_DKIM_ALLOW").unwrap_or_else(|| panic!("{:?}", out.hits));
    assert_eq!(allow.options, vec!["sign.sluice.test:s=ed"]);
    assert!(find(&out.hits, "R_DKIM_REJECT").is_none(), "{:?}", out.hits);

    let tampered = DKIMPY_TRAILING_SPACES.replace("Hello there.", "Hello there!");
    let out = c.run(&env, tampered.as_bytes()).await;
    let reject = find(&out.hits, "R_DKIM_REJECT").unwrap_or_else(|| panic!("{:?}", out.hits));
    assert_eq!(reject.options, vec!["sign.sluice.test:s=ed"]);
    assert!(find(&out.hits, "R_DKIM_ALLOW").is_none(), "{:?}", out.hits);
}

#[tokio::test]
async fn an_arc_chain_is_allowed_and_a_broken_one_rejected() {
    let nsd = start_nsd().await;
    let c = checks(&nsd, json!({}));
    let env = envelope(OUTSIDE, "b@pass.sluice.test", "mx");
    let msg = sealed(&message("a@example.org"));
    let out = c.run(&env, msg.as_bytes()).await;
    let allow = find(&out.hits, "ARC_ALLOW").unwrap_or_else(|| panic!("{:?}", out.hits));
    assert_eq!(allow.options, vec!["sign.sluice.test:s=ed:i=1"]);
    let tampered = msg.replace("Hello there.", "Hello there!");
    let out = c.run(&env, tampered.as_bytes()).await;
    assert!(find(&out.hits, "ARC_REJECT").is_some(), "{:?}", out.hits);
    // A seal without its message signature and results: the structure is invalid.
    let mut dropping = false;
    let seal_only: String = msg
        .split_inclusive("\r\n")
        .filter(|l| {
            // A folded line belongs to the header above it.
            if !l.starts_with([' ', '\t']) {
                dropping = l.starts_with("ARC-Message-Signature:")
                    || l.starts_with("ARC-Authentication-Results:");
            }
            !dropping
        })
        .collect();
    assert!(seal_only.contains("ARC-Seal:") && !seal_only.contains("ARC-Message"));
    let out = c.run(&env, seal_only.as_bytes()).await;
    assert!(find(&out.hits, "ARC_INVALID").is_some(), "{:?}", out.hits);
}

#[tokio::test]
async fn malformed_dkim_headers_and_keys_are_permanent_failures() {
    let nsd = start_nsd().await;
    let c = checks(&nsd, json!({}));
    let env = envelope(OUTSIDE, "bounce@sign.sluice.test", "mx.example");
    let bad_key = signed(&message("a@sign.sluice.test"), "badkey");
    let out = c.run(&env, bad_key.as_bytes()).await;
    let permfail = find(&out.hits, "R_DKIM_PERMFAIL").expect("permfail");
    assert_eq!(permfail.options, vec!["sign.sluice.test:s=badkey"]);
    let garbage = format!(
        "DKIM-Signature: v=1; a=rsa-sha256; d=sign.sluice.test; this is not a tag list\r\n{}",
        message("a@sign.sluice.test")
    );
    let out = c.run(&env, garbage.as_bytes()).await;
    assert!(
        find(&out.hits, "R_DKIM_PERMFAIL").is_some(),
        "{:?}",
        out.hits
    );
    assert!(find(&out.hits, "R_DKIM_NA").is_none(), "{:?}", out.hits);
}

#[tokio::test]
async fn dmarc_policies_fallback_bad_records_and_forced_actions() {
    let nsd = start_nsd().await;
    let c = checks(&nsd, json!({"dmarc": {"actions": {"reject": "reject"}}}));
    let run = |from: &'static str, mail_from: &'static str| {
        let env = envelope(OUTSIDE, mail_from, "mx.example");
        let msg = message(from);
        let c = &c;
        async move { c.run(&env, msg.as_bytes()).await }
    };
    // aspf=s: SPF passed for pass.sluice.test, not the From domain fail.sluice.test.
    let out = run("a@fail.sluice.test", "b@pass.sluice.test").await;
    let hit = find(&out.hits, "DMARC_POLICY_REJECT").expect("reject");
    assert!(
        hit.options[0].contains("SPF not aligned (strict)"),
        "{hit:?}"
    );
    assert_eq!(out.least_action, Some(Action::Reject));
    // No record of its own: the organizational domain's sp=quarantine applies.
    let out = run("a@soft.sluice.test", "b@soft.sluice.test").await;
    let hit = find(&out.hits, "DMARC_POLICY_QUARANTINE").expect("quarantine");
    assert_eq!(hit.options[1], "quarantine");
    // The organizational domain itself: p=none fails softly.
    let out = run("a@sluice.test", "b@soft.sluice.test").await;
    assert!(
        find(&out.hits, "DMARC_POLICY_SOFTFAIL").is_some(),
        "{:?}",
        out.hits
    );
    // A record that does not parse; a From domain outside every zone; no From at all.
    let out = run("a@bad.sluice.test", "b@bad.sluice.test").await;
    assert!(
        find(&out.hits, "DMARC_BAD_POLICY").is_some(),
        "{:?}",
        out.hits
    );
    let out = run("a@broken.test", "b@pass.sluice.test").await;
    assert!(find(&out.hits, "DMARC_DNSFAIL").is_some(), "{:?}", out.hits);
    let env = envelope(OUTSIDE, "b@pass.sluice.test", "mx");
    let out = c.run(&env, b"Subject: no from\r\n\r\nbody\r\n").await;
    let na = find(&out.hits, "DMARC_NA").expect("na");
    assert_eq!(na.options, vec!["No From header"]);
}

#[tokio::test]
async fn a_silent_nameserver_ends_every_check_with_its_dns_failure_within_the_budget() {
    let silent = Silent::start();
    let r = resolver(&json!({
        "nameserver": [silent.addr.to_string()], "timeout": "2s", "retransmits": 3,
    }));
    let c = AuthChecks::new(
        Arc::new(r),
        AuthSettings::from_tree(&json!({})).unwrap(),
        Duration::from_millis(600),
    )
    .unwrap();
    let msg = signed(&message("a@sign.sluice.test"), "ed");
    let started = Instant::now();
    let out = c
        .run(
            &envelope(OUTSIDE, "b@pass.sluice.test", "mx"),
            msg.as_bytes(),
        )
        .await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let got = symbols(&out.hits);
    for want in ["R_SPF_DNSFAIL", "R_DKIM_TEMPFAIL", "DMARC_DNSFAIL"] {
        assert!(got.contains(&want), "{want} missing: {got:?}");
    }
    assert!(
        silent.received() > 0,
        "the checks did not ask the nameserver"
    );
}

#[tokio::test]
async fn a_warm_cache_answers_a_repeated_message_without_queries() {
    let nsd = start_nsd().await;
    let c = checks(&nsd, json!({}));
    let env = envelope(OUTSIDE, "b@pass.sluice.test", "mx");
    let msg = signed(&message("a@sign.sluice.test"), "ed");
    let first = c.run(&env, msg.as_bytes()).await;
    let before = c.resolver().metrics().snapshot();
    let rounds = 50u32;
    let started = Instant::now();
    for _ in 0..rounds {
        assert_eq!(c.run(&env, msg.as_bytes()).await, first);
    }
    let after = c.resolver().metrics().snapshot();
    assert_eq!(after.queries, before.queries, "{after:?}");
    assert!(after.cache_hits > before.cache_hits);
    // What the phase costs per message on a warm cache (debug build; printed, not asserted).
    eprintln!(
        "auth phase, warm cache: {:?} per message, {} lookups per message",
        started.elapsed() / rounds,
        (after.lookups - before.lookups) / u64::from(rounds)
    );
}

#[tokio::test]
async fn the_pipeline_scores_the_auth_symbols_with_rspamd_weights() {
    let nsd = start_nsd().await;
    let auth = Arc::new(checks(&nsd, json!({})));
    let pipeline = Arc::new(Pipeline::from_config(&json!({})).unwrap());
    let scanner = LocalScanner::new(pipeline).with_auth(Some(auth));
    let req = Arc::new(ScanRequest {
        envelope: envelope(OUTSIDE, "b@pass.sluice.test", "mx"),
        message: signed(&message("a@sign.sluice.test"), "ed").into(),
        options: Default::default(),
        placement: Placement::Inline,
    });
    let v = scanner.scan(req).await.unwrap();
    let score = |name: &str| {
        v.symbols
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} missing: {:?}", v.symbols))
            .score
    };
    assert!((score("R_SPF_ALLOW") + 0.2).abs() < 1e-9);
    assert!((score("R_DKIM_ALLOW") + 0.2).abs() < 1e-9);
    assert!((score("DMARC_POLICY_ALLOW") + 0.5).abs() < 1e-9);
    assert!(score("ARC_NA").abs() < 1e-9);
}
