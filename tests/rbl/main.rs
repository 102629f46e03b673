//! The DNS lists and hfilter's host lookups against nsd on loopback, serving a zone written
//! here: every check kind, return codes and bits, hashed addresses, a whitelisting list, a
//! list that refuses, a list behind a nameserver that never answers, and the symbols scored
//! by the pipeline with the shipped weights' form.

#[path = "../support/mod.rs"]
mod support;

mod nsd;

use std::net::{IpAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sluice::message::Envelope;
use sluice::scan::auth::hosts::HostChecks;
use sluice::scan::auth::{AuthChecks, AuthSettings};
use sluice::scan::rbl::facts::Facts;
use sluice::scan::rbl::plan::{Stage, Whitelisted};
use sluice::scan::rbl::settings::RblSettings;
use sluice::scan::rbl::{ListHit, RblChecks};
use sluice::scan::{LocalScanner, Pipeline, ScanRequest, Scanner};
use sluice::verdict::Placement;

use nsd::resolver;

const ORIGIN: &str = "lists.test";

/// 192.0.2.2: SBL; 192.0.2.3: XBL and PBL; 192.0.2.9: SBL but whitelisted (DNSWL MED);
/// 198.51.100.7 (a Received hop): SBL. Domains: bad.example in the bit list (BLACK|GREY) and
/// the domain list; an md5-hashed address list; a list answering Spamhaus's refusal code.
const RECORDS: &str = "\
2.2.0.192.zen IN A 127.0.0.2
3.2.0.192.zen IN A 127.0.0.4
3.2.0.192.zen IN A 127.0.0.10
9.2.0.192.zen IN A 127.0.0.2
7.100.51.198.zen IN A 127.0.0.2
9.2.0.192.wl IN A 127.0.10.2
bad.example.multi IN A 127.0.0.6
bad.example.dbl IN A 127.0.1.2
helo.bad.example.dbl IN A 127.0.1.2
44b92ac89c0d901b0d5af8bc9b6295da.ebl IN A 127.0.0.2
*.refused IN A 127.255.255.254
good IN A 192.0.2.80
badmx IN MX 10 nowhere.lists.test.
";

fn lists() -> Value {
    json!({
        "default_exclude_users": true,
        "rbls": {
            "spamhaus": {
                "rbl": "zen.lists.test", "symbol": "SPAMHAUS", "checks": ["from", "received"],
                "symbols_prefixes": {"from": "RBL", "received": "RECEIVED"},
                "returncodes": {
                    "SPAMHAUS_SBL": "127.0.0.2",
                    "SPAMHAUS_XBL": ["127.0.0.4", "127.0.0.5"],
                    "SPAMHAUS_PBL": "127.0.0.%d+0",
                },
            },
            "dnswl": {
                "rbl": "wl.lists.test", "symbol": "RCVD_IN_DNSWL", "checks": ["from"],
                "is_whitelist": true, "whitelist_exception": ["RCVD_IN_DNSWL_NONE"],
                "returncodes": {"RCVD_IN_DNSWL_NONE": "127.0.%d+.0", "RCVD_IN_DNSWL_MED": "127.0.%d+.2"},
            },
            "uribl": {
                "rbl": "multi.lists.test", "checks": ["urls", "emails"], "ignore_defaults": true,
                "emails_domainonly": true,
                "returnbits": {"URIBL_BLOCKED": 1, "URIBL_BLACK": 2, "URIBL_GREY": 4},
            },
            "dbl": {
                "rbl": "dbl.lists.test", "checks": ["helo", "rdns", "replyto", "dkim"],
                "ignore_defaults": true, "emails_domainonly": true, "dkim_domainonly": true,
                "returncodes": {"DBL_SPAM": "127.0.1.2"},
            },
            "ebl": {
                "rbl": "ebl.lists.test", "checks": ["replyto"], "ignore_defaults": true,
                "hash": "md5", "returncodes": {"MSBL_EBL": "127.0.0.2"},
            },
            "refusing": {
                "rbl": "refused.lists.test", "symbol": "REFUSING", "checks": ["from"],
                "returncodes": {"REFUSING_SBL": "127.0.0.2"},
            },
        }
    })
}

fn envelope(ip: &str) -> Envelope {
    Envelope {
        client_ip: Some(ip.parse::<IpAddr>().unwrap()),
        client_name: Some("host.lists.test".into()),
        helo: Some("helo.bad.example".into()),
        from: Some("sender@good.lists.test".into()),
        ..Envelope::default()
    }
}

fn message() -> String {
    "Received: from relay (relay.example [198.51.100.7]) by mx.example with ESMTP id 1; Mon\r\n\
     From: Sender <sender@good.lists.test>\r\nReply-To: spammer@bad.example\r\n\
     To: rcpt@example.net\r\nSubject: lists\r\nMessage-ID: <1@good.lists.test>\r\n\r\n\
     Visit http://www.bad.example/offer and http://fine.example/ now.\r\n"
        .to_string()
}

fn rbl(resolver: sluice::dns::Resolver) -> RblChecks {
    let settings = RblSettings::from_section(Some(&lists())).unwrap();
    RblChecks::new(Arc::new(resolver), settings).unwrap()
}

async fn both_stages(checks: &RblChecks, facts: &Facts) -> Vec<ListHit> {
    let budget = sluice::dns::Budget::new(Duration::from_secs(5));
    let white = checks
        .stage(facts, &Whitelisted::new(), Stage::White, budget)
        .await;
    let rest = checks
        .stage(facts, &white.whitelisted, Stage::Rest, budget)
        .await;
    white.hits.into_iter().chain(rest.hits).collect()
}

fn options<'a>(hits: &'a [ListHit], symbol: &str) -> Option<&'a [String]> {
    hits.iter()
        .find(|h| h.symbol == symbol)
        .map(|h| h.options.as_slice())
}

fn facts(ip: &str) -> Facts {
    let mut f = sluice::scan::rbl::facts::read(&envelope(ip), message().as_bytes());
    f.dkim = vec!["mail.bad.example".into()];
    f
}

#[tokio::test]
async fn every_check_kind_against_the_zone() {
    let nsd = nsd::start(ORIGIN, RECORDS).await;
    let checks = rbl(resolver(nsd.addr, "2s"));
    let hits = both_stages(&checks, &facts("192.0.2.2")).await;
    let names: Vec<&str> = hits.iter().map(|h| h.symbol.as_str()).collect();
    // from and received, with the rule's prefixes and Rspamd's `element:label` options.
    assert_eq!(
        options(&hits, "RBL_SPAMHAUS_SBL"),
        Some(&["192.0.2.2:from".to_string()][..])
    );
    assert_eq!(
        options(&hits, "RECEIVED_SPAMHAUS_SBL"),
        Some(&["198.51.100.7:received".to_string()][..])
    );
    // Bits: 127.0.0.6 is BLACK and GREY, never BLOCKED; URLs and body addresses by domain.
    assert_eq!(
        options(&hits, "URIBL_BLACK"),
        Some(&["bad.example:url".to_string()][..])
    );
    assert!(
        names.contains(&"URIBL_GREY") && !names.contains(&"URIBL_BLOCKED"),
        "{names:?}"
    );
    // HELO as it is; Reply-To by its registrable domain; DKIM's registrable domain.
    let dbl = options(&hits, "DBL_SPAM").unwrap();
    for want in [
        "helo.bad.example:helo",
        "bad.example:replyto",
        "bad.example:dkim",
    ] {
        assert!(dbl.contains(&want.to_string()), "{want} not in {dbl:?}");
    }
    // The Reply-To address hashed (md5, hex), reported as the plain address.
    assert_eq!(
        options(&hits, "MSBL_EBL"),
        Some(&["spammer@bad.example:replyto".to_string()][..])
    );
    // The refusing list: never a symbol, the list unhealthy.
    assert!(
        !names.iter().any(|n| n.starts_with("REFUSING")),
        "{names:?}"
    );
    let refusing = checks
        .health()
        .iter()
        .find(|h| h.name == "refusing")
        .unwrap();
    let snap = refusing.snapshot();
    assert!(!snap.healthy && snap.refused == 1, "{snap:?}");
    let zen = checks
        .health()
        .iter()
        .find(|h| h.name == "spamhaus")
        .unwrap()
        .snapshot();
    assert!(
        zen.healthy && zen.listed == 2 && zen.failures == 0,
        "{zen:?}"
    );
}

#[tokio::test]
async fn codes_patterns_unknown_answers_and_whitelisting() {
    let nsd = nsd::start(ORIGIN, RECORDS).await;
    let checks = rbl(resolver(nsd.addr, "2s"));
    // Two answers: XBL, and PBL by the pattern 127.0.0.%d+0.
    let hits = both_stages(&checks, &facts("192.0.2.3")).await;
    assert!(options(&hits, "RBL_SPAMHAUS_XBL").is_some(), "{hits:?}");
    assert!(options(&hits, "RBL_SPAMHAUS_PBL").is_some(), "{hits:?}");
    assert!(options(&hits, "RBL_SPAMHAUS_SBL").is_none(), "{hits:?}");
    // DNSWL vouches for 192.0.2.9: the blocklist is not asked about it.
    let hits = both_stages(&checks, &facts("192.0.2.9")).await;
    assert_eq!(
        options(&hits, "RCVD_IN_DNSWL_MED"),
        Some(&["192.0.2.9:from".to_string()][..])
    );
    assert!(options(&hits, "RBL_SPAMHAUS_SBL").is_none(), "{hits:?}");
    // A private client: the IP lists (exclude_local by default) ask nothing; the URL list,
    // which ignores the defaults, still does.
    let hits = both_stages(&checks, &facts("10.0.0.5")).await;
    assert!(
        options(&hits, "RECEIVED_SPAMHAUS_SBL").is_none(),
        "{hits:?}"
    );
    assert!(options(&hits, "URIBL_BLACK").is_some(), "{hits:?}");
}

#[tokio::test]
async fn a_list_that_never_answers_gives_nothing_within_the_budget() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let checks = rbl(resolver(silent.local_addr().unwrap(), "300ms"));
    let started = Instant::now();
    let budget = sluice::dns::Budget::new(Duration::from_secs(1));
    let out = checks
        .stage(
            &facts("192.0.2.2"),
            &Whitelisted::new(),
            Stage::Rest,
            budget,
        )
        .await;
    assert!(out.hits.is_empty(), "{:?}", out.hits);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let zen = checks
        .health()
        .iter()
        .find(|h| h.name == "spamhaus")
        .unwrap()
        .snapshot();
    assert!(zen.failures >= 1 && zen.healthy, "{zen:?}");
}

#[tokio::test]
async fn the_pipeline_scores_list_and_host_symbols() {
    let nsd = nsd::start(ORIGIN, RECORDS).await;
    let tree = json!({
        "rbl": lists(),
        "spf": {"enabled": false}, "dkim": {"enabled": false},
        "dmarc": {"enabled": false}, "arc": {"enabled": false},
        "group": {"rbl": {"symbols": {"RBL_SPAMHAUS_SBL": {"weight": 4.0}}}},
    });
    let resolver = Arc::new(resolver(nsd.addr, "2s"));
    let settings = RblSettings::from_section(tree.get("rbl")).unwrap();
    let lists = RblChecks::new(Arc::clone(&resolver), settings);
    let hosts = HostChecks::from_section(None).unwrap();
    let auth = AuthChecks::with_lists(
        resolver,
        AuthSettings::from_tree(&tree).unwrap(),
        Duration::from_secs(5),
        lists,
        hosts,
    )
    .unwrap();
    let pipeline = Arc::new(Pipeline::from_config(&tree).unwrap());
    let scanner = LocalScanner::new(pipeline).with_auth(Some(Arc::new(auth)));
    let mut env = envelope("192.0.2.2");
    env.helo = Some("nohost.lists.test".into());
    env.from = Some("sender@badmx.lists.test".into());
    let req = Arc::new(ScanRequest {
        envelope: env,
        message: message().into_bytes().into(),
        options: Default::default(),
        placement: Placement::Inline,
    });
    let v = scanner.scan(req).await.unwrap();
    let sym = |name: &str| {
        v.symbols
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} missing: {:?}", v.symbols))
    };
    assert!((sym("RBL_SPAMHAUS_SBL").score - 4.0).abs() < 1e-9);
    assert_eq!(
        sym("RBL_SPAMHAUS_SBL").options,
        vec!["192.0.2.2:from".to_string()]
    );
    // hfilter: a HELO name without any record, a sender domain whose MX has no address.
    assert!((sym("HFILTER_HELO_NORES_A_OR_MX").score - 0.3).abs() < 1e-9);
    assert!((sym("HFILTER_HELO_IP_A").score - 1.0).abs() < 1e-9);
    assert_eq!(
        sym("HFILTER_FROMHOST_NORESOLVE_MX").options,
        vec!["nowhere.lists.test".to_string()]
    );
    assert!(!v
        .symbols
        .iter()
        .any(|s| s.name == "HFILTER_FROMHOST_NORES_A_OR_MX"));
}

/// A PDF whose only link sits in a FlateDecode'd object stream, as modern writers store it.
fn pdf_with_packed_link(uri: &str) -> Vec<u8> {
    let link = format!("<< /Type /Annot /Subtype /Link /A << /S /URI /URI ({uri}) >> >>");
    let header = "4 0 ";
    let packed =
        miniz_oxide::deflate::compress_to_vec_zlib(format!("{header}{link}").as_bytes(), 6);
    let mut pdf = b"%PDF-1.5\n".to_vec();
    pdf.extend_from_slice(b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
    pdf.extend_from_slice(b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n");
    pdf.extend_from_slice(b"3 0 obj\n<< /Type /Page /Parent 2 0 R /Annots [4 0 R] >>\nendobj\n");
    let dict = format!(
        "5 0 obj\n<< /Type /ObjStm /N 1 /First {} /Length {} /Filter /FlateDecode >>\nstream\n",
        header.len(),
        packed.len()
    );
    pdf.extend_from_slice(dict.as_bytes());
    pdf.extend_from_slice(&packed);
    pdf.extend_from_slice(b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n");
    pdf
}

/// Links in PDF attachments are content URLs: a `content_urls` list is asked about them, a
/// `urls` list is not, whether the pipeline scans in place or on the scan pool (both on the
/// parse the lists read).
#[tokio::test]
async fn pdf_links_are_asked_of_content_url_lists_only() {
    let records = "pdflink.co.uk.content IN A 127.0.0.2\npdflink.co.uk.text IN A 127.0.0.2\n";
    let nsd = nsd::start(ORIGIN, records).await;
    let tree = json!({
        "rbl": {"rbls": {
            "content": {"rbl": "content.lists.test", "urls": false, "content_urls": true,
                "ignore_defaults": true, "returncodes": {"CONTENT_LISTED": "127.0.0.2"}},
            "text": {"rbl": "text.lists.test", "checks": ["urls"], "ignore_defaults": true,
                "returncodes": {"TEXT_LISTED": "127.0.0.2"}},
        }},
        "spf": {"enabled": false}, "dkim": {"enabled": false},
        "dmarc": {"enabled": false}, "arc": {"enabled": false},
    });
    let resolver = Arc::new(resolver(nsd.addr, "2s"));
    let settings = RblSettings::from_section(tree.get("rbl")).unwrap();
    let lists = RblChecks::new(Arc::clone(&resolver), settings);
    let auth = AuthChecks::with_lists(
        resolver,
        AuthSettings::from_tree(&tree).unwrap(),
        Duration::from_secs(5),
        lists,
        None,
    )
    .unwrap();
    let pipeline = Arc::new(Pipeline::from_config(&tree).unwrap());
    let scanner = LocalScanner::new(pipeline).with_auth(Some(Arc::new(auth)));
    let pdf = pdf_with_packed_link("http://www.pdflink.co.uk/offer");
    let b64 = data_encoding::BASE64_MIME.encode(&pdf);
    let msg = format!(
        "From: Sender <sender@good.lists.test>\r\nTo: rcpt@example.net\r\nSubject: pdf\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n\
         --b1\r\nContent-Type: application/pdf; name=\"offer.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"offer.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--b1--\r\n"
    );
    for placement in [Placement::Inline, Placement::Pool] {
        let req = Arc::new(ScanRequest {
            envelope: envelope("192.0.2.200"),
            message: msg.clone().into_bytes().into(),
            options: Default::default(),
            placement,
        });
        let v = scanner.scan(req).await.unwrap();
        let listed = v.symbols.iter().find(|s| s.name == "CONTENT_LISTED");
        assert_eq!(
            listed.map(|s| s.options.clone()),
            Some(vec!["pdflink.co.uk:url".to_string()]),
            "{placement:?}: {:?}",
            v.symbols
        );
        assert!(
            !v.symbols.iter().any(|s| s.name == "TEXT_LISTED"),
            "{placement:?}: the text URL list saw the PDF link: {:?}",
            v.symbols
        );
    }
}
