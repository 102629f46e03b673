use mail_parser::MessageParser;
use serde_json::json;

use super::*;

const PLAIN: &str = "From: a@example.org\nTo: b@example.net\nSubject: s\n\n\
Hello, this is a normal sentence of text without links.\n";

fn envelope(ip: &str, helo: &str, name: Option<&str>, from: Option<&str>) -> Envelope {
    Envelope {
        client_ip: Some(ip.parse().unwrap()),
        client_name: name.map(str::to_string),
        helo: Some(helo.to_string()),
        from: from.map(str::to_string),
        rcpts: vec!["rcpt@example.net".into()],
        ..Envelope::default()
    }
}

/// A public client with a good reverse name and sender, HELO as given.
fn with_helo(helo: &str) -> Envelope {
    envelope(
        "192.0.2.10",
        helo,
        Some("mail.example.org"),
        Some("a@example.org"),
    )
}

fn run_with(module: &Hfilter, raw: &str, env: &Envelope) -> Vec<Hit> {
    let msg = MessageParser::new().parse(raw.as_bytes());
    let view = MessageView::new(raw.as_bytes(), msg.as_ref());
    let mut out = Vec::new();
    module.check(&view, env, &mut out);
    out
}

fn run(raw: &str, env: &Envelope) -> Vec<Hit> {
    run_with(&Hfilter::default(), raw, env)
}

fn names(hits: &[Hit]) -> Vec<&'static str> {
    hits.iter().map(|h| h.symbol).collect()
}

fn find<'h>(hits: &'h [Hit], symbol: &str) -> Option<&'h Hit> {
    hits.iter().find(|h| h.symbol == symbol)
}

#[test]
fn a_clean_connection_gives_nothing() {
    assert_eq!(
        names(&run(PLAIN, &with_helo("mail.example.org"))),
        Vec::<&str>::new()
    );
}

#[test]
fn helo_address_literals() {
    let hits = run(PLAIN, &with_helo("[192.168.1.1]"));
    assert_eq!(names(&hits), ["HFILTER_HELO_BADIP"]);
    assert_eq!(hits[0].options, ["192.168.1.1", "1"]);
    for bad in [
        "127.0.0.1",
        "10.mail.example",
        "172.20.1.1",
        "100.64.0.1",
        "::1",
        "fe80::1",
    ] {
        assert_eq!(
            names(&run(PLAIN, &with_helo(bad))),
            ["HFILTER_HELO_BADIP"],
            "{bad}"
        );
    }
    // Outside the listed nets, or the 100.120-127 range Rspamd's list misses.
    for ok in ["172.32.0.1", "100.63.0.1", "100.120.0.1", "192.0.1.1"] {
        assert!(
            find(&run(PLAIN, &with_helo(ok)), "HFILTER_HELO_BADIP").is_none(),
            "{ok}"
        );
    }
    let hits = run(PLAIN, &with_helo("[8.8.8.8]"));
    assert_eq!(names(&hits), ["HFILTER_HELO_BAREIP"]);
    assert_eq!(hits[0].options, ["8.8.8.8", "1"]);
    for bare in ["1-2-3-4", "1x2x3x4", "2a00:1450::1"] {
        assert_eq!(
            names(&run(PLAIN, &with_helo(bare))),
            ["HFILTER_HELO_BAREIP"],
            "{bare}"
        );
    }
    assert_eq!(
        names(&run(PLAIN, &with_helo("1.2.3.4.example.org"))),
        Vec::<&str>::new()
    );
}

#[test]
fn helo_classes_by_weight() {
    let cases = [
        ("user-7.example.org", "HFILTER_HELO_1"),
        ("host-7.example.org", "HFILTER_HELO_2"),
        ("cable-7.example.org", "HFILTER_HELO_3"),
        ("pool-7.example.org", "HFILTER_HELO_4"),
        ("adsl7.example.org", "HFILTER_HELO_4"),
        ("1-2-3-4.dynamic.example.org", "HFILTER_HELO_5"),
        ("COMPUTER", "HFILTER_HELO_5"),
        ("speedtouch.lan", "HFILTER_HELO_5"),
        ("dsldevice.lan", "HFILTER_HELO_5"),
    ];
    for (helo, symbol) in cases {
        let hits = run(PLAIN, &with_helo(helo));
        assert_eq!(names(&hits), [symbol], "{helo}");
        assert_eq!(hits[0].options, [helo], "{helo}");
    }
    // The heaviest class wins: "host-1" (2) and "dynamic" (5).
    assert_eq!(
        names(&run(PLAIN, &with_helo("host-1.dynamic.example.org"))),
        ["HFILTER_HELO_5"]
    );
    // Words inside other words, private suffixes: no class.
    for helo in [
        "mail.hostingcompany.org",
        "users.example.org",
        "box.local",
        "mx1.example.org",
    ] {
        assert_eq!(
            names(&run(PLAIN, &with_helo(helo))),
            Vec::<&str>::new(),
            "{helo}"
        );
    }
}

#[test]
fn helo_not_fqdn_needs_a_client_address_and_no_class() {
    for helo in [
        "a_b.example.org",
        "x.y",
        "mail.example.c",
        "-mail.example.org",
    ] {
        let hits = run(PLAIN, &with_helo(helo));
        assert_eq!(names(&hits), ["HFILTER_HELO_NOT_FQDN"], "{helo}");
    }
    let hits = run(PLAIN, &with_helo("Mail.Example.C"));
    assert_eq!(hits[0].options, ["mail.example.c"]);
    let mut env = with_helo("a_b.example.org");
    env.client_ip = None;
    assert!(find(&run(PLAIN, &env), "HFILTER_HELO_NOT_FQDN").is_none());
    // Numeric last labels are fully qualified for Rspamd.
    assert_eq!(
        names(&run(PLAIN, &with_helo("mail.example.42"))),
        Vec::<&str>::new()
    );
}

#[test]
fn reverse_name_classes_and_unknown() {
    let env = envelope(
        "192.0.2.10",
        "mail.example.org",
        Some("ppp-1-2.isp.example"),
        Some("a@example.org"),
    );
    let hits = run(PLAIN, &env);
    assert_eq!(names(&hits), ["HFILTER_HOSTNAME_5"]);
    assert_eq!(hits[0].options, ["ppp-1-2.isp.example"]);
    let env = envelope(
        "192.0.2.10",
        "mail.example.org",
        None,
        Some("a@example.org"),
    );
    assert_eq!(names(&run(PLAIN, &env)), ["HFILTER_HOSTNAME_UNKNOWN"]);
    // No client at all (an offline scan): nothing to judge.
    let env = Envelope {
        from: Some("a@example.org".into()),
        ..Envelope::default()
    };
    assert_eq!(names(&run(PLAIN, &env)), Vec::<&str>::new());
}

#[test]
fn helo_and_reverse_name_report_the_heavier_class() {
    // Both weigh 5: the HELO is reported.
    let env = envelope(
        "192.0.2.10",
        "COMPUTER",
        Some("dhcp-9.isp.example"),
        Some("a@example.org"),
    );
    assert_eq!(names(&run(PLAIN, &env)), ["HFILTER_HELO_5"]);
    // HELO 2, reverse name 5: the reverse name.
    let env = envelope(
        "192.0.2.10",
        "host-1.example.org",
        Some("dhcp-9.isp.example"),
        Some("a@example.org"),
    );
    assert_eq!(names(&run(PLAIN, &env)), ["HFILTER_HOSTNAME_5"]);
}

#[test]
fn sender_domain_and_bounces() {
    let env = envelope(
        "192.0.2.10",
        "mail.example.org",
        Some("mail.example.org"),
        Some("a@Localhost"),
    );
    let hits = run(PLAIN, &env);
    assert_eq!(names(&hits), ["HFILTER_FROMHOST_NOT_FQDN"]);
    assert_eq!(hits[0].options, ["localhost"]);
    // No envelope sender: a bounce, named by its HELO.
    let mut env = with_helo("[mail.example.org]");
    env.from = None;
    let hits = run(PLAIN, &env);
    assert_eq!(names(&hits), ["HFILTER_FROM_BOUNCE"]);
    assert_eq!(hits[0].options, ["mail.example.org"]);
    // ... to several recipients.
    env.rcpts.push("other@example.net".into());
    let hits = run(PLAIN, &env);
    assert_eq!(
        names(&hits),
        ["HFILTER_FROM_BOUNCE", "HFILTER_RCPT_BOUNCEMOREONE"]
    );
    assert_eq!(hits[1].options, ["2"]);
    // postmaster@ counts as a bounce too, without the symbol.
    env.from = Some("postmaster@example.org".into());
    assert_eq!(names(&run(PLAIN, &env)), ["HFILTER_RCPT_BOUNCEMOREONE"]);
    // The null sender (`<>`) is a sender: Rspamd does not call it a bounce.
    env.from = Some(String::new());
    assert_eq!(names(&run(PLAIN, &env)), Vec::<&str>::new());
    // Without envelope recipients, the header recipients count.
    env.from = None;
    env.rcpts.clear();
    let raw = "From: a@example.org\nTo: b@example.net, c@example.net\n\nhi\n";
    assert_eq!(
        names(&run(raw, &env)),
        ["HFILTER_FROM_BOUNCE", "HFILTER_RCPT_BOUNCEMOREONE"]
    );
    // Without an envelope sender, the Return-Path header names it.
    let with_path = "Return-Path: <list@example.org>\nFrom: a@example.org\n\nhi\n";
    assert_eq!(names(&run(with_path, &env)), Vec::<&str>::new());
    let null_path = "Return-Path: <>\nFrom: a@example.org\n\nhi\n";
    assert_eq!(names(&run(null_path, &env)), Vec::<&str>::new());
    // Without a HELO (or with rspamc's), no bounce is called.
    env.helo = Some(RSPAMC_HELO.into());
    assert_eq!(names(&run(raw, &env)), Vec::<&str>::new());
}

#[test]
fn local_and_authenticated_mail_gets_link_checks_only() {
    let link = "From: a@example.org\n\nhttp://www.example.com/some/path/here\n";
    let local = envelope("10.1.2.3", "COMPUTER", None, None);
    assert_eq!(names(&run(link, &local)), ["HFILTER_URL_ONLY"]);
    let mut authed = with_helo("COMPUTER");
    authed.user = Some("alice".into());
    assert_eq!(names(&run(PLAIN, &authed)), Vec::<&str>::new());
    let module = Hfilter::from_config(
        Some(&json!({"check_authed": true})),
        Some(&json!({"check_local": true})),
    )
    .unwrap();
    assert!(find(&run_with(&module, PLAIN, &local), "HFILTER_HELO_5").is_some());
    assert!(find(&run_with(&module, PLAIN, &authed), "HFILTER_HELO_5").is_some());
}

#[test]
fn message_id_host_when_enabled() {
    let raw = "From: a@example.org\nMessage-ID: <123@mailer>\n\nhi\n";
    let env = with_helo("mail.example.org");
    assert!(find(&run(raw, &env), "HFILTER_MID_NOT_FQDN").is_none());
    let has_mid = |m: &Hfilter| m.symbols().iter().any(|s| s.name == "HFILTER_MID_NOT_FQDN");
    assert!(!has_mid(&Hfilter::default()));
    let module = Hfilter::from_config(Some(&json!({"mid_enabled": true})), None).unwrap();
    assert!(has_mid(&module));
    let hits = run_with(&module, raw, &env);
    assert_eq!(names(&hits), ["HFILTER_MID_NOT_FQDN"]);
    assert_eq!(hits[0].options, ["mailer"]);
    for fine in [
        "<1@mail.example.org>",
        "<1@box.localdomain>",
        "<no-at-sign>",
    ] {
        let raw = format!("From: a@example.org\nMessage-ID: {fine}\n\nhi\n");
        assert_eq!(
            names(&run_with(&module, &raw, &env)),
            Vec::<&str>::new(),
            "{fine}"
        );
    }
}

#[test]
fn link_only_bodies() {
    let env = with_helo("mail.example.org");
    // 37 URL bytes of 38: share 0.974, factor (share - 0.8) * 5.
    let hits = run(
        "From: a@example.org\n\nhttp://www.example.com/some/path/here\n",
        &env,
    );
    assert_eq!(names(&hits), ["HFILTER_URL_ONLY"]);
    let factor = hits[0].multiplier.unwrap();
    assert!(
        (factor - (37.0 / 38.0 - 0.8) * 5.0).abs() < 1e-9,
        "{factor}"
    );
    assert_eq!(hits[0].options, ["0.86842105263158"]);
    // Two lines: one line start after a break, so also "one line".
    let hits = run(
        "From: a@example.org\n\nhttp://www.example.com/some/path/here\nhttp://www.example.com/other\n",
        &env,
    );
    assert_eq!(names(&hits), ["HFILTER_URL_ONLY", "HFILTER_URL_ONELINE"]);
    assert_eq!(hits[1].options, ["plain:0:1"]);
    // Without the final break the share is 1 (the factor a rounding
    // below, as in Rspamd, which prints it as 1).
    let hits = run(
        "From: a@example.org\n\nhttp://www.example.com/some/path/here",
        &env,
    );
    assert!((hits[0].multiplier.unwrap() - 1.0).abs() < 1e-9);
    assert_eq!(hits[0].options, ["1"]);
    // Addresses count as links.
    assert_eq!(
        names(&run("From: a@example.org\n\nbob@example.com\n", &env)),
        ["HFILTER_URL_ONLY"]
    );
    // Text around the link, or no link: nothing.
    assert!(run(
        "From: a@example.org\n\nplease see http://www.example.com/x today\n",
        &env
    )
    .is_empty());
    assert!(run(PLAIN, &env).is_empty());
    let module = Hfilter::from_config(Some(&json!({"url_enabled": false})), None).unwrap();
    assert!(run_with(
        &module,
        "From: a@example.org\n\nhttp://www.example.com/x\n",
        &env
    )
    .is_empty());
}

#[test]
fn html_links_whose_text_is_a_url_count_twice() {
    let env = with_helo("mail.example.org");
    let shown = "From: a@example.org\nContent-Type: text/html\n\n\
<html><body><p>Some words to read here</p><a href=\"http://www.example.com/x\">http://www.example.com/x</a></body></html>\n";
    // The link text is a URL: its bytes count twice, more than the text has.
    let hits = run(shown, &env);
    assert_eq!(names(&hits), ["HFILTER_URL_ONLY", "HFILTER_URL_ONELINE"]);
    assert_eq!(hits[1].options, ["html:1:1"]);
    let hidden = "From: a@example.org\nContent-Type: text/html\n\n\
<html><body><a href=\"http://www.example.com/x\">Click here</a></body></html>\n";
    assert!(run(hidden, &env).is_empty());
    // A link around a long text that mentions an address later on.
    let long = "From: a@example.org\nContent-Type: text/html\n\n\
<html><body><a href=\"\">Write to us, we answer every letter: bob@example.com</a></body></html>\n";
    assert!(run(long, &env).is_empty());
}

#[test]
fn switches_and_bad_values() {
    let s = Settings::default();
    assert!(s.helo && s.hostname && s.from && s.rcpt && s.url && !s.mid);
    assert!(!s.check_local && !s.check_authed);
    let module = Hfilter::from_config(
        Some(&json!({"helo_enabled": false, "hostname_enabled": "no"})),
        None,
    )
    .unwrap();
    let env = envelope("192.0.2.10", "COMPUTER", None, None);
    // No HELO checks, and without the HELO no bounce either.
    assert!(run_with(&module, PLAIN, &env).is_empty());
    let e = Hfilter::from_config(Some(&json!({"rcpt_enabled": 3})), None).unwrap_err();
    assert!(e.to_string().contains("rcpt_enabled"), "{e}");
    let e = Hfilter::from_config(None, Some(&json!({"local_addrs": ["nonsense"]}))).unwrap_err();
    assert!(e.to_string().contains("local_addrs"), "{e}");
}

#[test]
fn lua_number_formatting() {
    assert_eq!(links_lua_number(1.0), "1");
    assert_eq!(links_lua_number(0.5), "0.5");
    assert_eq!(
        links_lua_number(0.850_746_268_656_716_4),
        "0.85074626865672"
    );
}

fn links_lua_number(x: f64) -> String {
    links::lua_number(x)
}
