//! The shipped Lua rule set (`conf/lua/*.lua`): loaded by default, each rule
//! fires on the trait it looks for and not on plain mail, the prefilter
//! refuses disguised executables, `lua_rules { enabled = false; }` turns the
//! set off, and `sluice scan` over a sample of the shared corpus shows the
//! rules separating spam from ham without a single Lua failure.
use crate::common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use sluice::message::Envelope;
use sluice::scan::Pipeline;
use sluice::verdict::{Action, Verdict};

/// Every symbol the shipped Lua files register.
const SHIPPED: [&str; 10] = [
    "FROM_NAME_OTHER_DOMAIN",
    "SUBJ_MIXED_SCRIPT",
    "SUBJ_HAS_RCPT_NAME",
    "RCPT_MANY_VISIBLE",
    "URL_PUNYCODE",
    "SHORT_TEXT_WITH_URL",
    "ATTACH_ONLY_NO_TEXT",
    "ATTACH_NAME_HIDDEN_EXT",
    "BODY_SHOUTING",
    "ATTACH_EXEC_DISGUISED",
];

const PLAIN_BODY: &str = "Hi Bob,\n\nthe minutes of Tuesday's meeting are below. We agreed to \
move the release to next week and to review the open tickets on Friday.\n\nSee you, Alice\n";

/// A message with `headers` (each ending in a newline) on top of a plain
/// person-to-person note, or with `body` instead of the note.
fn message(headers: &str, body: Option<&str>) -> String {
    format!(
        "From: Alice <alice@example.org>\nDate: Sun, 22 Nov 2026 10:00:00 +0000\n\
Message-ID: <shipped@example.org>\nMIME-Version: 1.0\n{headers}\n{}",
        body.unwrap_or(PLAIN_BODY)
    )
}

fn attachment(name: &str, text: &str) -> String {
    message(
        "To: bob@example.net\nSubject: the file\nContent-Type: multipart/mixed; boundary=\"b\"\n",
        Some(&format!(
            "--b\nContent-Type: text/plain\n\n{text}\n--b\nContent-Type: application/octet-stream\n\
Content-Disposition: attachment; filename=\"{name}\"\nContent-Transfer-Encoding: base64\n\n\
TVqQAAMAAAAEAAAA\n--b--\n"
        )),
    )
}

fn scan(p: &Pipeline, raw: &str) -> Verdict {
    let env = Envelope {
        rcpts: vec!["bob@example.net".into()],
        ..Envelope::default()
    };
    p.scan(&env, raw.as_bytes())
}

fn lua_symbols(v: &Verdict) -> BTreeSet<String> {
    v.symbols
        .iter()
        .filter(|s| SHIPPED.contains(&s.name.as_str()))
        .map(|s| s.name.clone())
        .collect()
}

fn fires(p: &Pipeline, raw: &str, sym: &str) -> bool {
    lua_symbols(&scan(p, raw)).contains(sym)
}

#[test]
fn shipped_rules_load_by_default_in_their_group() {
    let p = common::shipped_pipeline();
    let symbols = p.symbols();
    for name in SHIPPED {
        let info = symbols.iter().find(|s| s.name == name);
        let info = info.unwrap_or_else(|| panic!("{name} not registered"));
        assert_eq!(info.group.as_deref(), Some("lua"), "{name}");
        assert!(info.description.is_some(), "{name}");
    }
}

#[test]
fn plain_mail_triggers_no_shipped_rule() {
    let p = common::shipped_pipeline();
    let v = scan(
        &p,
        &message("To: bob@example.net\nSubject: minutes\n", None),
    );
    assert_eq!(lua_symbols(&v), BTreeSet::new(), "{}", v.symbol_list());
}

#[test]
fn header_rules_fire_on_their_trait() {
    let p = common::shipped_pipeline();
    let impersonation = message("To: bob@example.net\nSubject: minutes\n", None).replace(
        "From: Alice <alice@example.org>",
        "From: \"PayPal.com Service\" <alice@example.org>",
    );
    assert!(fires(&p, &impersonation, "FROM_NAME_OTHER_DOMAIN"));
    let same_site = impersonation.replace("PayPal.com", "Example.org");
    assert!(!fires(&p, &same_site, "FROM_NAME_OTHER_DOMAIN"));

    let homoglyph =
        "To: bob@example.net\nSubject: =?utf-8?b?VmVyaWZ5IHlvdXIgUNCweXBhbCBhY2NvdW50?=\n";
    assert!(fires(&p, &message(homoglyph, None), "SUBJ_MIXED_SCRIPT"));
    let russian = "To: bob@example.net\nSubject: =?utf-8?b?0J/RgNC40LLQtdGCLCBXaW5kb3dz?=\n";
    assert!(!fires(&p, &message(russian, None), "SUBJ_MIXED_SCRIPT"));

    let personal = "To: bob.smith@example.net\nSubject: bob.smith, your account is waiting\n";
    let v = scan(&p, &message(personal, None));
    assert!(
        !lua_symbols(&v).contains("SUBJ_HAS_RCPT_NAME"),
        "envelope is bob"
    );
    let env = Envelope {
        rcpts: vec!["bob.smith@example.net".into()],
        ..Envelope::default()
    };
    let v = p.scan(&env, message(personal, None).as_bytes());
    assert!(lua_symbols(&v).contains("SUBJ_HAS_RCPT_NAME"));
    let list = format!("List-Id: <smith.example.net>\n{personal}");
    let v = p.scan(&env, message(&list, None).as_bytes());
    assert!(!lua_symbols(&v).contains("SUBJ_HAS_RCPT_NAME"), "lists");

    let many: Vec<String> = (0..16).map(|i| format!("u{i}@example.net")).collect();
    let to = format!("To: {}\nSubject: minutes\n", many.join(", "));
    assert!(fires(&p, &message(&to, None), "RCPT_MANY_VISIBLE"));
}

#[test]
fn url_and_part_rules_fire_on_their_trait() {
    let p = common::shipped_pipeline();
    let head = "To: bob@example.net\nSubject: hi\n";
    let link_only = message(head, Some("Look: http://promo.example.com/x\n"));
    assert!(fires(&p, &link_only, "SHORT_TEXT_WITH_URL"));
    let with_text = message(
        head,
        Some(&format!("{PLAIN_BODY}Agenda: http://wiki.example.org/m\n")),
    );
    assert!(!fires(&p, &with_text, "SHORT_TEXT_WITH_URL"));
    let puny = format!("{PLAIN_BODY}Login at http://xn--pypal-4ve.com/login\n");
    assert!(fires(&p, &message(head, Some(&puny)), "URL_PUNYCODE"));

    let shout = "DEAR FRIEND, THIS IS THE OFFER OF A LIFETIME AND YOU MUST ACT NOW \
BEFORE IT IS TOO LATE FOR YOU AND YOUR FAMILY TO PROFIT FROM IT!\n";
    assert!(fires(&p, &message(head, Some(shout)), "BODY_SHOUTING"));

    assert!(fires(
        &p,
        &attachment("report.ods", ""),
        "ATTACH_ONLY_NO_TEXT"
    ));
    assert!(!fires(
        &p,
        &attachment("report.ods", PLAIN_BODY),
        "ATTACH_ONLY_NO_TEXT"
    ));
    let padded = attachment("report.txt          .ods", PLAIN_BODY);
    assert!(fires(&p, &padded, "ATTACH_NAME_HIDDEN_EXT"));
    let rtlo = attachment("invoice\u{202e}fdp.ods", PLAIN_BODY);
    assert!(fires(&p, &rtlo, "ATTACH_NAME_HIDDEN_EXT"));
}

#[test]
fn the_prefilter_refuses_disguised_executables() {
    let p = common::shipped_pipeline();
    let v = scan(&p, &attachment("Invoice.PDF.exe", PLAIN_BODY));
    assert_eq!(v.action, Action::Reject, "{}", v.symbol_list());
    assert_eq!(v.passthrough_module.as_deref(), Some("sluice_lua"));
    assert!(lua_symbols(&v).contains("ATTACH_EXEC_DISGUISED"));
    let plain_exe = scan(&p, &attachment("setup.exe", PLAIN_BODY));
    assert_eq!(plain_exe.passthrough_module, None);
    assert!(!lua_symbols(&plain_exe).contains("ATTACH_EXEC_DISGUISED"));
}

#[test]
fn lua_rules_can_be_turned_off() {
    let mut tree = common::shipped_tree();
    tree["lua_rules"]["enabled"] = serde_json::Value::Bool(false);
    let p = Pipeline::from_config(&tree).unwrap();
    assert!(p
        .symbols()
        .iter()
        .all(|s| !SHIPPED.contains(&s.name.as_str())));
    let v = scan(&p, &attachment("Invoice.PDF.exe", PLAIN_BODY));
    assert_eq!(v.passthrough_module, None);
}

/// Every `step`-th file of a corpus folder.
fn sample(folder: &str, step: usize) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(common::corpus_dir().join(folder))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files.into_iter().step_by(step).collect()
}

/// `sluice scan` over `files`: how many were scanned, how many got at
/// least one shipped Lua symbol, and stderr.
fn scan_cli(files: &[PathBuf]) -> (usize, usize, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("scan")
        .args(files)
        .env("SLUICE_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut scanned = 0;
    let mut hit = 0;
    for report in text.split("Results for file: ").skip(1) {
        scanned += 1;
        let any = report.lines().any(|l| {
            l.strip_prefix("Symbol: ")
                .and_then(|s| s.split(' ').next())
                .is_some_and(|name| SHIPPED.contains(&name))
        });
        hit += usize::from(any);
    }
    (
        scanned,
        hit,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn corpus_sample_spam_trips_the_rules_far_more_than_ham() {
    let (ham, spam) = (sample("ham", 5), sample("spam", 5));
    let (ham_scanned, ham_hit, ham_err) = scan_cli(&ham);
    let (spam_scanned, spam_hit, spam_err) = scan_cli(&spam);
    assert_eq!((ham_scanned, spam_scanned), (ham.len(), spam.len()));
    for err in [&ham_err, &spam_err] {
        assert!(!err.contains("lua"), "a Lua rule failed or warned: {err}");
    }
    println!("shipped Lua rules hit {ham_hit}/{ham_scanned} ham, {spam_hit}/{spam_scanned} spam");
    assert!(ham_hit * 100 < ham_scanned * 3, "ham hit: {ham_hit}");
    assert!(spam_hit >= 3 * ham_hit.max(2), "spam hit: {spam_hit}");
}
