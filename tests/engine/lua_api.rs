//! The Lua API beyond headers and envelope (`tests/rules/lua/api_more.lua`):
//! MIME parts, words and languages, e-mails, `set_pre_result`,
//! `get_settings`, `add_composite`, `set_metric_symbol`, `config['regexp']`
//! and the added `rspamd_util` / `lua_util` helpers.
use serde_json::{json, Value};
use sluice::message::Envelope;
use sluice::scan::Pipeline;
use sluice::verdict::{Action, Verdict};

const MESSAGE: &str = "From: Alice <alice@example.org>\n\
To: bob@example.net\n\
Subject: Your invoice\n\
Message-ID: <api-more@example.org>\n\
MIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=\"b1\"\n\
\n\
--b1\n\
Content-Type: text/plain; charset=utf-8\n\
\n\
Hello Bob, this is the invoice that you asked for. Write to Sales@Shop.Example.co.uk\n\
--b1\n\
Content-Type: text/plain; charset=utf-8\n\
Content-Transfer-Encoding: 8bit\n\
\n\
Привет, вот ваш счёт за этот месяц\n\
--b1\n\
Content-Type: application/pdf; name=\"invoice.pdf\"\n\
Content-Disposition: attachment; filename=\"invoice.pdf\"\n\
Content-Transfer-Encoding: base64\n\
\n\
JVBERi0xLjQK\n\
--b1--\n";

fn tree() -> Value {
    json!({
        "lua": [format!("{}/tests/rules/lua/api_more.lua", env!("CARGO_MANIFEST_DIR"))],
        "symbols": { "LUA_OVERRIDDEN": { "weight": 0.5 } },
    })
}

fn scan_with(extra_headers: &str) -> Verdict {
    let p = Pipeline::from_config(&tree()).expect("api_more.lua loads");
    let raw = format!("{extra_headers}{MESSAGE}");
    p.scan(&Envelope::default(), raw.as_bytes())
}

fn find<'v>(v: &'v Verdict, name: &str) -> Option<&'v sluice::verdict::Symbol> {
    v.symbols.iter().find(|s| s.name == name)
}

fn options(v: &Verdict, name: &str) -> Vec<String> {
    let names: Vec<&str> = v.symbols.iter().map(|s| s.name.as_str()).collect();
    find(v, name)
        .unwrap_or_else(|| panic!("{name} missing from {names:?}"))
        .options
        .clone()
}

fn score(v: &Verdict, name: &str) -> f64 {
    find(v, name)
        .unwrap_or_else(|| panic!("{name} missing"))
        .score
}

#[test]
fn mime_parts_have_type_filename_size_and_flags() {
    let v = scan_with("");
    let parts = options(&v, "LUA_MIME");
    // Sizes are decoded bytes: the line break before a boundary belongs to
    // the boundary. The container's length is its raw body.
    assert!(
        parts[0].starts_with("multipart/mixed:nil:") && parts[0].ends_with(":false:true:false:nil"),
        "{parts:?}"
    );
    assert_eq!(
        parts[1..],
        [
            "text/plain:nil:84:false:false:true:nil",
            "text/plain:nil:61:false:false:true:8bit",
            "application/pdf:invoice.pdf:9:true:false:false:base64",
        ]
    );
}

#[test]
fn text_parts_have_words_and_a_language() {
    let v = scan_with("");
    assert_eq!(
        options(&v, "LUA_WORDS"),
        [
            "part1=en:17:hello:Hello:true:17",
            "part2=ru:7:привет:Привет:true:7"
        ]
    );
}

#[test]
fn text_parts_have_stats_and_word_counts() {
    let v = scan_with("");
    // Letters, capitals, spaces, non-ASCII characters, lines, bytes.
    assert_eq!(
        options(&v, "LUA_STATS"),
        ["part1=17:66:6:12:0:1:84", "part2=7:27:1:6:27:1:61"]
    );
}

#[test]
fn emails_are_objects_with_user_host_and_tld() {
    let v = scan_with("");
    assert_eq!(
        options(&v, "LUA_EMAILS"),
        ["sales@shop.example.co.uk:co.uk:sales@shop.example.co.uk"]
    );
    assert_eq!(options(&v, "LUA_SETTINGS"), ["settings=nil"]);
}

#[test]
fn a_prefilter_pre_result_forces_the_action_and_skips_normal_rules() {
    let v = scan_with("X-Force: reject\n");
    assert_eq!(v.action, Action::Reject);
    assert_eq!(v.passthrough_module.as_deref(), Some("lua_test"));
    assert_eq!(v.smtp_message.as_deref(), Some("forced by lua"));
    assert!(find(&v, "LUA_FORCE").is_some());
    assert!(
        find(&v, "LUA_AFTER_FORCE").is_none(),
        "normal rules skipped"
    );
    assert!(
        find(&v, "LUA_POST_FORCE").is_some(),
        "postfilters still run"
    );

    let v = scan_with("X-Force: add header\n");
    assert_eq!(v.action, Action::AddHeader);

    // An unknown action fails the callback: nothing is forced.
    let v = scan_with("X-Force: bogus\n");
    assert_eq!(v.passthrough_module, None);
    assert!(find(&v, "LUA_FORCE").is_none());
    assert!(find(&v, "LUA_AFTER_FORCE").is_some());

    let v = scan_with("");
    assert_eq!(v.passthrough_module, None);
    assert!(find(&v, "LUA_AFTER_FORCE").is_some());
}

#[test]
fn composites_weights_and_regexp_rules_from_lua() {
    let v = scan_with("");
    assert_eq!(score(&v, "LUA_COMP"), 3.5);
    assert!(
        find(&v, "LUA_A").is_none() && find(&v, "LUA_B").is_none(),
        "remove_all"
    );
    assert_eq!(score(&v, "LUA_RE"), 2.0);
    assert_eq!(score(&v, "LUA_RE_WEIGHT"), 4.0, "set_metric_symbol");
    assert_eq!(score(&v, "LUA_OVERRIDDEN"), 0.5, "the config file wins");
    let p = Pipeline::from_config(&tree()).unwrap();
    let info = |n: &str| p.symbols().into_iter().find(|s| s.name == n).unwrap();
    assert_eq!(
        info("LUA_RE").description.as_deref(),
        Some("regexp from lua")
    );
    assert_eq!(
        info("LUA_COMP").description.as_deref(),
        Some("composite from lua")
    );
}

#[test]
fn util_and_lua_util_helpers() {
    let v = scan_with("");
    assert_eq!(
        options(&v, "LUA_UTIL_MORE"),
        [
            "b64=c2x1aWNl:sluice",
            "lev=3",
            "upper=true:false",
            "utf8=5:àb",
            "tld=example.com",
            "addr=2:Bob B:example.com:x@y.org",
            "nkeys=2:2",
            "deep=true:true",
            "tpl=hi bob, 3x",
        ]
    );
}

#[test]
fn config_side_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for (code, want) in [
        (
            "config['regexp']['X'] = { re = function() end }",
            "`re` must be a string",
        ),
        ("rspamd_config:add_composite('C', 42)", "expression"),
        ("rspamd_config:set_metric_symbol('S', 'high')", "score"),
    ] {
        let f = dir.path().join("bad.lua");
        std::fs::write(&f, code).unwrap();
        let err = Pipeline::from_config(&json!({ "lua": f.to_str().unwrap() })).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("bad.lua:1:") && text.contains(want),
            "{code}: {text}"
        );
    }
}
