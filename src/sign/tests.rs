//! Signing rules, keys, and signatures checked by an independent verifier
//! (dkimpy, `tests/support/dkim_verify.py`) against the test keys in
//! `tests/keys/`.
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::json;

use super::select::{choose, esld, expand, Facts, KeyChoice, Skip};
use super::settings::{Module, SignSettings};
use super::*;

fn keys_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys")
}

/// The TXT record text of a zone snippet as the keygen prints it.
fn record(name: &str) -> String {
    let zone = std::fs::read_to_string(keys_dir().join(format!("{name}.txt"))).unwrap();
    zone.split('"').skip(1).step_by(2).collect()
}

/// Runs dkimpy over `message`; `records` are (selector, key file stem).
fn verifies(mode: &str, message: &[u8], records: &[(&str, &str)]) -> bool {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/dkim_verify.py");
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(script).arg(mode);
    for (selector, stem) in records {
        cmd.arg(format!(
            "{selector}._domainkey.example.com={}",
            record(stem)
        ));
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("python3-dkim is installed (test.sh installs it)");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), message).unwrap();
    child.wait().unwrap().success()
}

fn settings(extra: serde_json::Value) -> SignSettings {
    let mut section = json!({});
    section
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    SignSettings::from_tree(&json!({ "dkim_signing": section }), Module::DkimSigning)
        .unwrap()
        .unwrap()
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

const MSG: &str = "From: Alice <alice@example.com>\r\nTo: bob@example.org\r\n\
Subject: hello\r\nDate: Mon, 07 Dec 2026 00:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n\
\r\nHello Bob,\r\n\r\nsee you.\r\n";

fn signer_for(selector: &str, extra: serde_json::Value) -> Signer {
    let mut section = json!({
        "path": format!("{}/$selector.key", keys_dir().display()),
        "selector": selector,
    });
    section
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    Signer::from_tree(&json!({ "dkim_signing": section }))
        .unwrap()
        .unwrap()
}

fn authed() -> Envelope {
    Envelope {
        client_ip: ip("203.0.113.5"),
        from: Some("alice@example.com".into()),
        rcpts: vec!["bob@example.org".into()],
        user: Some("alice@example.com".into()),
        ..Envelope::default()
    }
}

/// The message as the MTA delivers it: signatures inserted at the top.
fn delivered(v: &Verdict, message: &str) -> Vec<u8> {
    let mut out = String::new();
    for h in v.milter.add_headers.iter().rev() {
        out.push_str(&format!(
            "{}: {}\r\n",
            h.name,
            h.value.replace('\n', "\r\n")
        ));
    }
    for sig in v.dkim_signatures.iter().rev() {
        out.push_str(&format!(
            "DKIM-Signature: {}\r\n",
            sig.replace('\n', "\r\n")
        ));
    }
    out.push_str(message);
    out.into_bytes()
}

#[test]
fn every_key_form_loads() {
    use mail_auth::common::crypto::SigningKey as _;
    for (file, rsa) in [
        ("rsa2048.key", true),
        ("rsa1024-pkcs1.key", true),
        ("ed25519.key", false),
        ("ed25519-rspamd.key", false),
    ] {
        let k = key::load(&keys_dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            matches!(
                k.algorithm(),
                mail_auth::common::crypto::Algorithm::RsaSha256
            ),
            rsa,
            "{file}"
        );
    }
    let bad = key::parse(
        Path::new("x"),
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    assert!(matches!(bad, Err(KeyError::Parse { .. })));
    assert!(matches!(
        key::parse(Path::new("x"), b"garbage"),
        Err(KeyError::Parse { .. })
    ));
    assert!(matches!(
        key::load(Path::new("/nonexistent/k")),
        Err(KeyError::Read { .. })
    ));
}

#[test]
fn signatures_of_each_key_type_verify_independently() {
    for (selector, stem) in [
        ("rsa2048", "rsa2048"),
        ("rsa1024-pkcs1", "rsa1024-pkcs1"),
        ("ed25519", "ed25519"),
        ("ed25519-rspamd", "ed25519-rspamd"),
    ] {
        // The record names follow the key file names here.
        let s = signer_for(selector, json!({}));
        let mut v = Verdict::empty(15.0);
        s.apply(&authed(), MSG.as_bytes(), &mut v);
        assert_eq!(v.dkim_signatures.len(), 1, "{selector}");
        let sig = &v.dkim_signatures[0];
        assert!(
            sig.contains("d=example.com") && sig.contains(&format!("s={selector}")),
            "{sig}"
        );
        assert!(!sig.contains('\r'), "milter folding: {sig}");
        assert_eq!(v.symbols[0].name, DKIM_SIGNED);
        assert_eq!(
            v.symbols[0].options,
            vec![format!("example.com:s={selector}")]
        );
        let out = delivered(&v, MSG);
        assert!(
            verifies("dkim", &out, &[(selector, stem)]),
            "{selector}: {}",
            String::from_utf8_lossy(&out)
        );
        // The same signature over a changed body must fail: the check can fail.
        let tampered = String::from_utf8(out)
            .unwrap()
            .replace("see you", "see them");
        assert!(
            !verifies("dkim", tampered.as_bytes(), &[(selector, stem)]),
            "{selector}"
        );
    }
}

#[test]
fn lf_messages_and_oversigned_headers_verify() {
    let s = signer_for("rsa2048", json!({}));
    let lf = MSG.replace("\r\n", "\n");
    let mut v = Verdict::empty(15.0);
    s.apply(&authed(), lf.as_bytes(), &mut v);
    let sig = v.dkim_signatures[0].clone();
    // From, To and Subject oversigned; Reply-To absent but (o): once.
    let h = sig
        .split("h=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .replace(['\n', '\t', ' '], "");
    let names: Vec<&str> = h.split(':').collect();
    for (name, n) in [
        ("from", 2),
        ("to", 2),
        ("subject", 2),
        ("reply-to", 1),
        ("date", 2),
        ("sender", 0),
    ] {
        assert_eq!(
            names
                .iter()
                .filter(|x| x.eq_ignore_ascii_case(name))
                .count(),
            n,
            "{name} in {h}"
        );
    }
    // Signed as LF, delivered as CRLF: the same canonical form.
    let out = delivered(&v, MSG);
    assert!(verifies("dkim", &out, &[("rsa2048", "rsa2048")]));
    // A second From: added later breaks the oversigned signature.
    let added = String::from_utf8(out)
        .unwrap()
        .replace("To: bob", "From: mallory@evil.test\r\nTo: bob");
    assert!(!verifies(
        "dkim",
        added.as_bytes(),
        &[("rsa2048", "rsa2048")]
    ));
}

#[test]
fn rejected_mail_and_ineligible_mail_are_not_signed() {
    let s = signer_for("rsa2048", json!({}));
    for action in [Action::Reject, Action::SoftReject, Action::Discard] {
        let mut v = Verdict::empty(15.0);
        v.action = action.clone();
        s.apply(&authed(), MSG.as_bytes(), &mut v);
        assert!(v.dkim_signatures.is_empty(), "{action:?}");
    }
    let mut v = Verdict::empty(15.0);
    v.action = Action::AddHeader;
    s.apply(&authed(), MSG.as_bytes(), &mut v);
    assert_eq!(v.dkim_signatures.len(), 1);
    // Inbound from a remote, unauthenticated client: not signed.
    let inbound = Envelope {
        user: None,
        ..authed()
    };
    let mut v = Verdict::empty(15.0);
    s.apply(&inbound, MSG.as_bytes(), &mut v);
    assert!(v.dkim_signatures.is_empty() && v.symbols.is_empty());
    // A domain without a key file: no signature, the scan goes on.
    let other = MSG.replace("alice@example.com", "alice@example.net");
    let env = Envelope {
        from: Some("alice@example.net".into()),
        user: Some("alice@example.net".into()),
        ..authed()
    };
    let s = Signer::from_tree(&json!({"dkim_signing": {"path": "/nonexistent/$domain.key"}}))
        .unwrap()
        .unwrap();
    let mut v = Verdict::empty(15.0);
    s.apply(&env, other.as_bytes(), &mut v);
    assert!(v.dkim_signatures.is_empty());
}

fn facts<'a>(
    from: &'a [String],
    user: Option<&'a str>,
    ip_s: &str,
    env_from: &'a str,
) -> Facts<'a> {
    Facts {
        user,
        client_ip: ip(ip_s),
        env_from: Some(env_from),
        first_rcpt: Some("rcpt@example.org"),
        header_from: from,
    }
}

#[test]
fn who_is_signed() {
    let s = settings(json!({}));
    let from = vec!["a@example.com".to_string()];
    // Authenticated: yes; local address: yes; remote unauthenticated: no.
    assert!(choose(
        &s,
        &facts(&from, Some("a@example.com"), "203.0.113.1", "a@example.com")
    )
    .is_ok());
    for local in ["127.0.0.1", "::1", "192.168.1.2", "10.1.2.3"] {
        assert!(
            choose(&s, &facts(&from, None, local, "a@example.com")).is_ok(),
            "{local}"
        );
    }
    assert_eq!(
        choose(&s, &facts(&from, None, "203.0.113.1", "a@example.com")),
        Err(Skip::NotEligible)
    );
    let inbound = settings(json!({"sign_inbound": true}));
    assert!(choose(
        &inbound,
        &facts(&from, None, "203.0.113.1", "a@example.com")
    )
    .is_ok());
    let no_local = settings(json!({"sign_local": false, "sign_authenticated": false}));
    assert_eq!(
        choose(
            &no_local,
            &facts(&from, Some("a@example.com"), "127.0.0.1", "a@example.com")
        ),
        Err(Skip::NotEligible)
    );
    // options.local_addrs replaces the default list.
    let tree = json!({"dkim_signing": {}, "options": {"local_addrs": ["198.51.100.0/24"]}});
    let custom = SignSettings::from_tree(&tree, Module::DkimSigning)
        .unwrap()
        .unwrap();
    assert!(choose(
        &custom,
        &facts(&from, None, "198.51.100.7", "a@example.com")
    )
    .is_ok());
    assert!(choose(&custom, &facts(&from, None, "192.168.1.2", "a@example.com")).is_err());
    let networks = settings(json!({"sign_local": false, "sign_networks": ["203.0.113.0/24"]}));
    assert!(choose(
        &networks,
        &facts(&from, None, "203.0.113.9", "a@example.com")
    )
    .is_ok());
}

#[test]
fn mismatch_rules() {
    let s = settings(json!({}));
    let from = vec!["a@example.com".to_string()];
    // Header and envelope domains differ.
    assert_eq!(
        choose(&s, &facts(&from, None, "127.0.0.1", "a@other.org")),
        Err(Skip::HdrFromMismatch)
    );
    let allow = settings(json!({"allow_hdrfrom_mismatch": true}));
    assert!(choose(&allow, &facts(&from, None, "127.0.0.1", "a@other.org")).is_ok());
    // The null sender is allowed by default, and then the mismatch too.
    assert!(choose(&s, &facts(&from, None, "127.0.0.1", "")).is_ok());
    let strict = settings(json!({"allow_envfrom_empty": false}));
    assert_eq!(
        choose(&strict, &facts(&from, None, "127.0.0.1", "")),
        Err(Skip::EmptyEnvFrom)
    );
    // The user's domain must be the signing domain.
    assert_eq!(
        choose(
            &s,
            &facts(&from, Some("a@other.org"), "203.0.113.1", "a@example.com")
        ),
        Err(Skip::UserMismatch)
    );
    assert_eq!(
        choose(
            &s,
            &facts(&from, Some("alice"), "203.0.113.1", "a@example.com")
        ),
        Err(Skip::UserMismatch)
    );
    let any_user = settings(json!({"allow_username_mismatch": true}));
    assert!(choose(
        &any_user,
        &facts(&from, Some("alice"), "203.0.113.1", "a@example.com")
    )
    .is_ok());
    // Several From addresses.
    let two = vec!["a@example.com".to_string(), "b@example.com".to_string()];
    assert_eq!(
        choose(&s, &facts(&two, None, "127.0.0.1", "a@example.com")),
        Err(Skip::MultipleFrom)
    );
    let multi = settings(json!({"allow_hdrfrom_multiple": true}));
    assert!(choose(&multi, &facts(&two, None, "127.0.0.1", "a@example.com")).is_ok());
}

#[test]
fn domain_selector_and_path() {
    let from = vec!["a@mail.example.co.uk".to_string()];
    let f = facts(&from, None, "127.0.0.1", "bounce@lists.example.co.uk");
    // use_esld: the organizational domain from the Public Suffix List.
    let s = settings(json!({"path": "/k/$domain.$selector.key"}));
    let c = choose(&s, &f).unwrap();
    assert_eq!(c.domain, "example.co.uk");
    assert_eq!(
        c.keys,
        vec![KeyChoice {
            selector: "dkim".into(),
            path: "/k/example.co.uk.dkim.key".into()
        }]
    );
    assert_eq!(esld("a.b.example.com"), "example.com");
    assert_eq!(esld("x.github.io"), "x.github.io");
    // Without it the header domain as is, and then the envelope must match exactly.
    let exact = settings(json!({"use_esld": false, "allow_hdrfrom_mismatch": true}));
    assert_eq!(choose(&exact, &f).unwrap().domain, "mail.example.co.uk");
    let envelope = settings(
        json!({"use_domain": "envelope", "use_esld": false, "allow_hdrfrom_mismatch": true}),
    );
    assert_eq!(choose(&envelope, &f).unwrap().domain, "lists.example.co.uk");
    let fixed = settings(json!({"use_domain": "signer.example", "allow_hdrfrom_mismatch": true}));
    assert_eq!(choose(&fixed, &f).unwrap().domain, "signer.example");
    // Per-domain selectors and paths; the default fills what they leave out.
    let per = settings(json!({
        "path": "/k/$domain.$selector.key",
        "domain": {"example.co.uk": {"selectors": [
            {"selector": "one", "path": "/x/one.key"}, {"selector": "two"}]}}
    }));
    let keys = choose(&per, &f).unwrap().keys;
    assert_eq!(keys[0].path, "/x/one.key");
    assert_eq!(
        (keys[1].selector.as_str(), keys[1].path.as_str()),
        ("two", "/k/example.co.uk.two.key")
    );
    // Maps, and no fallback for domains they do not name.
    let dir = tempfile::tempdir().unwrap();
    let sel = dir.path().join("selectors.map");
    std::fs::write(&sel, "# domain selector\nexample.co.uk   2026\n").unwrap();
    let mapped = settings(json!({"selector_map": sel.to_str().unwrap(), "try_fallback": false}));
    assert_eq!(choose(&mapped, &f).unwrap().keys[0].selector, "2026");
    let other = vec!["a@example.net".to_string()];
    assert_eq!(
        choose(&mapped, &facts(&other, None, "127.0.0.1", "a@example.net")),
        Err(Skip::Unconfigured)
    );
    assert_eq!(
        expand("${domain}/$selector", "d.example", "s"),
        "d.example/s"
    );
}

#[test]
fn bad_sections_are_typed_errors() {
    let bad = |section: serde_json::Value| {
        Signer::from_tree(&json!({ "dkim_signing": section })).unwrap_err()
    };
    assert!(bad(json!({"use_domain": "nowhere"}))
        .to_string()
        .contains("use_domain"));
    assert!(bad(json!({"sign_local": "maybe"}))
        .to_string()
        .contains("sign_local"));
    assert!(bad(json!({"selector_map": "/nonexistent/map"}))
        .to_string()
        .contains("selector_map"));
    assert!(bad(json!({"sign_networks": ["300.1.1.1/8"]}))
        .to_string()
        .contains("sign_networks"));
    assert!(
        Signer::from_tree(&json!({"dkim_signing": {"enabled": false}}))
            .unwrap()
            .is_none()
    );
    assert!(Signer::from_tree(&json!({})).unwrap().is_none());
}

#[test]
fn header_list_follows_rspamds_marks() {
    let present: Vec<&[u8]> = vec![b"From", b"Subject", b"Date"];
    assert_eq!(
        dkim::header_list(
            "(o)from:(x)sender:(o)reply-to:(x)date:subject:list-id",
            &present
        ),
        vec!["from", "from", "reply-to", "date", "date", "subject"]
    );
}

#[test]
fn arc_seal_verifies_independently() {
    let s = Signer::from_tree(&json!({"arc": {
        "path": format!("{}/$selector.key", keys_dir().display()),
        "selector": "rsa2048",
        "sign_inbound": true,
        "use_domain": "recipient",
    }}))
    .unwrap()
    .unwrap();
    let env = Envelope {
        client_ip: ip("203.0.113.5"),
        from: Some("someone@sender.test".into()),
        rcpts: vec!["list@example.com".into()],
        ..Envelope::default()
    };
    let msg = MSG.replace("alice@example.com", "someone@sender.test");
    let mut v = Verdict::empty(15.0);
    s.apply(&env, msg.as_bytes(), &mut v);
    let names: Vec<&str> = v
        .milter
        .add_headers
        .iter()
        .map(|h| h.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "ARC-Authentication-Results",
            "ARC-Message-Signature",
            "ARC-Seal"
        ]
    );
    assert!(v.milter.add_headers.iter().all(|h| h.order == 0));
    assert_eq!(
        v.symbols[0].options,
        vec!["example.com:s=rsa2048:i=1".to_string()]
    );
    let out = delivered(&v, &msg);
    assert!(
        verifies("arc", &out, &[("rsa2048", "rsa2048")]),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let tampered = String::from_utf8(out.clone())
        .unwrap()
        .replace("Subject: hello", "Subject: hullo");
    assert!(!verifies(
        "arc",
        tampered.as_bytes(),
        &[("rsa2048", "rsa2048")]
    ));
    // A message that has a chain the checks did not validate is left alone.
    let mut again = Verdict::empty(15.0);
    s.apply(&env, &out, &mut again);
    assert!(again.milter.add_headers.is_empty());
}

/// A verdict whose auth phase found `arc` (an ARC_* symbol).
fn checked(arc: &str) -> Verdict {
    let mut v = Verdict::empty(15.0);
    v.symbols.push(crate::verdict::Symbol {
        name: arc.into(),
        score: 0.0,
        metric_score: 0.0,
        description: None,
        options: Vec::new(),
    });
    v
}

#[test]
fn a_validated_chain_is_sealed_as_the_next_instance() {
    let s = Signer::from_tree(&json!({"arc": {
        "path": format!("{}/$selector.key", keys_dir().display()),
        "selector": "rsa2048",
        "sign_inbound": true,
        "use_domain": "recipient",
    }}))
    .unwrap()
    .unwrap();
    let env = Envelope {
        client_ip: ip("203.0.113.5"),
        from: Some("someone@sender.test".into()),
        rcpts: vec!["list@example.com".into()],
        ..Envelope::default()
    };
    let msg = MSG.replace("alice@example.com", "someone@sender.test");
    let mut first = Verdict::empty(15.0);
    s.apply(&env, msg.as_bytes(), &mut first);
    let once = String::from_utf8(delivered(&first, &msg)).unwrap();
    let keys = [("rsa2048", "rsa2048")];

    // The chain validated (ARC_ALLOW): instance 2, cv=pass; dkimpy passes the whole chain.
    let mut v = checked("ARC_ALLOW");
    s.apply(&env, once.as_bytes(), &mut v);
    let seal = seal_of(&v);
    assert!(seal.contains("i=2") && seal.contains("cv=pass"), "{seal}");
    assert_eq!(
        v.symbols
            .iter()
            .find(|x| x.name == ARC_SIGNED)
            .unwrap()
            .options,
        ["example.com:s=rsa2048:i=2"]
    );
    let twice = delivered(&v, &once);
    assert!(
        verifies("arc", &twice, &keys),
        "{}",
        String::from_utf8_lossy(&twice)
    );

    // It did not (ARC_REJECT): instance 2 says cv=fail, and the chain fails for dkimpy.
    let mut v = checked("ARC_REJECT");
    s.apply(&env, once.as_bytes(), &mut v);
    let seal = seal_of(&v);
    assert!(seal.contains("i=2") && seal.contains("cv=fail"), "{seal}");
    let failed = delivered(&v, &once);
    assert!(!verifies("arc", &failed, &keys));
    // A chain sealed cv=fail is not sealed again, and a broken chain is not sealed.
    let mut v = checked("ARC_REJECT");
    s.apply(&env, &failed, &mut v);
    assert!(v.milter.add_headers.is_empty());
    let mut v = checked("ARC_INVALID");
    s.apply(&env, once.as_bytes(), &mut v);
    assert!(v.milter.add_headers.is_empty());
}

fn seal_of(v: &Verdict) -> String {
    v.milter
        .add_headers
        .iter()
        .find(|h| h.name == "ARC-Seal")
        .map(|h| h.value.clone())
        .expect("an ARC-Seal")
}

#[test]
fn generated_keys_sign_and_their_records_verify() {
    let dir = tempfile::tempdir().unwrap();
    for (stem, ty, bits) in [
        ("gen-rsa", keygen::KeyType::Rsa, 1024),
        ("gen-ed", keygen::KeyType::Ed25519, 0),
    ] {
        let g = keygen::generate(ty, bits).unwrap();
        let path = dir.path().join(format!("{stem}.key"));
        keygen::write_private(&path, &g.private_pem).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(
            dir.path().join(format!("{stem}.txt")),
            keygen::txt_record(stem, &g),
        )
        .unwrap();
        let s = Signer::from_tree(&json!({"dkim_signing": {
            "path": format!("{}/$selector.key", dir.path().display()), "selector": stem}}))
        .unwrap()
        .unwrap();
        let mut v = Verdict::empty(15.0);
        s.apply(&authed(), MSG.as_bytes(), &mut v);
        let zone = std::fs::read_to_string(dir.path().join(format!("{stem}.txt"))).unwrap();
        let rec: String = zone.split('"').skip(1).step_by(2).collect();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/dkim_verify.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg("dkim")
            .arg(format!("{stem}._domainkey.example.com={rec}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), &delivered(&v, MSG)).unwrap();
        assert!(child.wait().unwrap().success(), "{stem}");
    }
    assert!(matches!(
        keygen::generate(keygen::KeyType::Rsa, 512),
        Err(keygen::KeygenError::Bits(512))
    ));
    assert_eq!(keygen::base64(b"ab"), "YWI=");
}

#[test]
fn a_rewritten_subject_is_what_gets_signed() {
    let s = signer_for("rsa2048", json!({}));
    let mut v = Verdict::empty(15.0);
    v.action = crate::verdict::Action::RewriteSubject;
    v.subject = Some("*** SPAM *** hello".into());
    s.apply(&authed(), MSG.as_bytes(), &mut v);
    assert_eq!(v.dkim_signatures.len(), 1);
    // What leaves: the MTA changed the Subject as the milter asked.
    let leaving = MSG.replace("Subject: hello", "Subject: *** SPAM *** hello");
    let out = delivered(&v, &leaving);
    assert!(
        verifies("dkim", &out, &[("rsa2048", "rsa2048")]),
        "{}",
        String::from_utf8_lossy(&out)
    );
}
