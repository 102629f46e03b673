//! Lua rules end to end through the pipeline: every API function
//! (`tests/rules/lua/api.lua`), run-time faults that must cost only their
//! own symbol (`faults.lua`), load-time errors naming file and line, and the
//! `lua_local` directory and file.
use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use sluice::message::Envelope;
use sluice::scan::{Pipeline, ScanConfigError};
use sluice::verdict::Verdict;

fn rule_file(name: &str) -> String {
    format!("{}/tests/rules/lua/{name}", env!("CARGO_MANIFEST_DIR"))
}

const MESSAGE: &str =
    "Received: from a.example.org by mx.example.net; Mon, 1 Jun 2026 10:00:00 +0000\n\
Received: from b.example.org by a.example.org; Mon, 1 Jun 2026 09:59:00 +0000\n\
From: Alice <Alice@Example.org>\n\
To: bob@example.net, Carol <carol@example.com>\n\
Subject: Cheap   pills today\n\
Message-ID: <id.7@example.org>\n\
MIME-Version: 1.0\n\
Content-Type: multipart/alternative; boundary=\"b1\"\n\
\n\
--b1\n\
Content-Type: text/plain\n\
\n\
hello world, see https://www.shop.example.co/deals/today?x=1\n\
--b1\n\
Content-Type: text/html\n\
\n\
<p>hello world</p>\n\
--b1--\n";

fn envelope() -> Envelope {
    Envelope {
        client_ip: Some("127.0.0.2".parse().unwrap()),
        client_name: Some("client.example.org".into()),
        helo: Some("helo.example.org".into()),
        from: Some("bounce@example.org".into()),
        rcpts: vec!["bob@example.net".into()],
        queue_id: Some("4QUEUE".into()),
        user: Some("alice".into()),
        mta_name: None,
    }
}

fn pipeline(tree: &Value) -> Pipeline {
    Pipeline::from_config(tree).expect("lua test config compiles")
}

fn scan(tree: &Value) -> Verdict {
    pipeline(tree).scan(&envelope(), MESSAGE.as_bytes())
}

fn options(v: &Verdict, name: &str) -> Vec<String> {
    let s = v.symbols.iter().find(|s| s.name == name);
    s.unwrap_or_else(|| panic!("{name} missing from {:?}", names(v)))
        .options
        .clone()
}

fn names(v: &Verdict) -> Vec<&str> {
    v.symbols.iter().map(|s| s.name.as_str()).collect()
}

fn score(v: &Verdict, name: &str) -> f64 {
    v.symbols.iter().find(|s| s.name == name).unwrap().score
}

fn api_tree() -> Value {
    json!({ "lua": [rule_file("api.lua")], "group": { "luatest": { "max_score": 100 } } })
}

#[test]
fn header_methods() {
    let v = scan(&api_tree());
    assert_eq!(
        options(&v, "LUA_HEADERS"),
        [
            "subject=Cheap   pills today",
            "header=Cheap   pills today",
            "missing=nil",
            "count=2",
            "full=2:from b.example.org by a.example.org; Mon, 1 Jun 2026 09:59:00 +0000",
            "fullname=Received",
            "raw=true",
            "msgid=id.7@example.org",
        ]
    );
    assert_eq!(score(&v, "LUA_HEADERS"), 1.5);
    let p = pipeline(&api_tree());
    let info = p
        .symbols()
        .into_iter()
        .find(|s| s.name == "LUA_HEADERS")
        .unwrap();
    assert_eq!(info.description.as_deref(), Some("header methods"));
    assert_eq!(info.group.as_deref(), Some("luatest"));
}

#[test]
fn envelope_methods() {
    let v = scan(&api_tree());
    assert_eq!(
        options(&v, "LUA_ENVELOPE"),
        [
            "ip=127.0.0.2",
            "helo=helo.example.org",
            "hostname=client.example.org",
            "user=alice",
            "qid=4QUEUE",
            "from_smtp=bounce@example.org",
            "from_mime=alice@example.org",
            "from_domain=example.org",
            "rcpt_smtp=1:bob",
            "rcpt_mime=2:carol@example.com",
            "names=Alice:Carol:",
        ]
    );
}

#[test]
fn parts_urls_and_size() {
    let v = scan(&api_tree());
    assert_eq!(
        options(&v, "LUA_PARTS"),
        ["n=2", "part1=false:true", "part2=true:true"]
    );
    assert_eq!(
        options(&v, "LUA_URLS"),
        [
            "host=www.shop.example.co",
            "tld=example.co",
            "path=deals/today",
            "size=true"
        ]
    );
}

#[test]
fn regexp_library() {
    let v = scan(&api_tree());
    assert_eq!(
        options(&v, "LUA_REGEXP"),
        [
            "cached=true",
            "search=Cheap   pills",
            "bad=nil",
            "nomatch=false"
        ]
    );
    assert_eq!(score(&v, "LUA_REGEXP"), 2.0);
}

#[test]
fn insert_result_weights_options_and_ordering() {
    let v = scan(&api_tree());
    // virtual symbol: weight 2 x multiplier 0.5, two options
    assert_eq!(score(&v, "LUA_VIRTUAL"), 1.0);
    assert_eq!(options(&v, "LUA_VIRTUAL"), ["a", "b"]);
    assert!(!names(&v).contains(&"LUA_UNKNOWN"));
    assert!(
        !names(&v).contains(&"LUA_INSERT"),
        "callback type inserts nothing itself"
    );
    assert!(!names(&v).contains(&"LUA_NEVER"));
    assert_eq!(score(&v, "LUA_WEIGHT"), 1.0);
    assert_eq!(options(&v, "LUA_WEIGHT"), ["dynamic"]);
    assert_eq!(options(&v, "LUA_PRE"), ["first=true"]);
    assert_eq!(
        options(&v, "LUA_POST"),
        [
            "has=true",
            "hasnot=false",
            "score=true",
            "required=15",
            "sym=1:a,b"
        ]
    );
}

#[test]
fn helper_libraries() {
    let v = scan(&api_tree());
    assert_eq!(
        options(&v, "LUA_LIBS"),
        [
            "slog=x-y-x-%",
            "split=a|b|c",
            "trim=t",
            "starts=true",
            "time=true",
            "caseless=true"
        ]
    );
}

#[test]
fn sandbox_hides_files_processes_and_debug() {
    let v = scan(&api_tree());
    assert_eq!(
        options(&v, "LUA_SANDBOX"),
        [
            "io=nil",
            "execute=nil",
            "load=nil",
            "loadstring=nil",
            "dofile=nil",
            "debug=nil",
            "package=nil",
            "require_c=false",
            "jit=nil",
            "ostime=function"
        ]
    );
}

/// Captures this thread's log lines.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn with_log<T>(f: impl FnOnce() -> T) -> (T, String) {
    let buf = Captured::default();
    let writer = buf.clone();
    let sub = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let out = tracing::subscriber::with_default(sub, f);
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    (out, text)
}

fn faults_tree() -> Value {
    json!({
        "lua": [rule_file("faults.lua")],
        "lua_limits": { "memory": "16m", "instructions": 1_000_000 },
    })
}

#[test]
fn failing_callbacks_lose_only_their_symbol() {
    let p = pipeline(&faults_tree());
    let (v, log) = with_log(|| p.scan(&envelope(), MESSAGE.as_bytes()));
    assert_eq!(names(&v), ["LUA_STILL_RUNS"], "log:\n{log}");
    assert_eq!(options(&v, "LUA_STILL_RUNS"), ["ok"]);
    let script = rule_file("faults.lua");
    for (sym, line, what) in [
        ("LUA_RAISES", 6, "deliberate failure"),
        ("LUA_LOOPS", 15, "instruction budget of 1000000 exceeded"),
        ("LUA_BAD_METHOD", 37, "no_such_method"),
    ] {
        let want = format!("lua symbol {sym} ({script}) failed");
        let entry = log.lines().find(|l| l.contains(&want));
        let entry = entry.unwrap_or_else(|| panic!("no log for {sym}:\n{log}"));
        assert!(entry.contains(&format!("faults.lua:{line}:")), "{entry}");
        assert!(entry.contains(what), "{entry}");
    }
    assert!(log.contains("LUA_HUGE_STRING"), "{log}");
    assert!(log.contains("LUA_MEMORY_BOMB"), "{log}");
    // The state stays usable: a second message scans the same way.
    let again = p.scan(&envelope(), MESSAGE.as_bytes());
    assert_eq!(names(&again), ["LUA_STILL_RUNS"]);
}

#[test]
fn memory_ceiling_stops_a_bomb_before_the_instruction_budget() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bomb.lua");
    std::fs::write(
        &f,
        "rspamd_config.BOMB = function()\n  local t = {}\n  for i = 1, 1e8 do t[i] = i end\n  return true\nend\nrspamd_config.FINE = function() return true end\n",
    )
    .unwrap();
    let tree = json!({
        "lua": f.to_str().unwrap(),
        "lua_limits": { "memory": "4m", "instructions": 2_000_000_000u64 },
    });
    let p = pipeline(&tree);
    let (v, log) = with_log(|| p.scan(&envelope(), MESSAGE.as_bytes()));
    assert_eq!(names(&v), ["FINE"]);
    assert!(
        log.contains("lua symbol BOMB") && log.contains("memory"),
        "{log}"
    );
}

fn load_error(code: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("broken.lua");
    std::fs::write(&f, code).unwrap();
    match Pipeline::from_config(&json!({ "lua": f.to_str().unwrap() })) {
        Err(e @ ScanConfigError::Lua(_)) => e.to_string(),
        other => panic!("expected a lua load error, got {other:?}"),
    }
}

#[test]
fn load_errors_name_the_file_and_line() {
    let e = load_error("rspamd_config.X = function(task)\n  return true\n");
    assert!(
        e.contains("broken.lua") && e.contains("'end' expected"),
        "{e}"
    );
    let e = load_error("\n\nrspamd_config:register_symbol{ name = 'NOCB', score = 1 }\n");
    assert!(e.contains("broken.lua:3:") && e.contains("callback"), "{e}");
    let e = load_error(
        "rspamd_config:register_symbol{ name = 'T', type = 'weird', callback = print }\n",
    );
    assert!(e.contains("unknown type"), "{e}");
    let e = load_error("rspamd_config.A = function() end\nrspamd_config.A = function() end\n");
    assert!(e.contains("broken.lua:2:") && e.contains("twice"), "{e}");
    let e = load_error("while true do end\n");
    assert!(e.contains("broken.lua:1:") && e.contains("budget"), "{e}");
    let e = load_error("local f = io.open('/etc/passwd')\n");
    assert!(e.contains("broken.lua:1:") && e.contains("io"), "{e}");
    let e = load_error("require 'socket'\n");
    assert!(e.contains("not available"), "{e}");
    let missing = Pipeline::from_config(&json!({ "lua": "/nonexistent/x.lua" })).unwrap_err();
    assert!(
        missing.to_string().contains("/nonexistent/x.lua"),
        "{missing}"
    );
}

#[test]
fn local_dir_and_rspamd_local_lua_are_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("lua.local.d");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(
        d.join("b.lua"),
        "rspamd_config.FROM_DIR_B = function() return true end\n",
    )
    .unwrap();
    std::fs::write(
        d.join("a.lua"),
        "rspamd_config.FROM_DIR_A = function() return true end\n",
    )
    .unwrap();
    std::fs::write(d.join("ignored.txt"), "this is not lua(").unwrap();
    let f = dir.path().join("rspamd.local.lua");
    std::fs::write(
        &f,
        "rspamd_config.FROM_FILE = { callback = function() return true end, score = 3 }\n",
    )
    .unwrap();
    let tree = json!({ "lua_local": { "file": f.to_str().unwrap(), "dir": d.to_str().unwrap() } });
    let p = pipeline(&tree);
    let order: Vec<String> = p
        .symbols()
        .into_iter()
        .map(|s| s.name)
        // Built-in symbols are registered too; only the Lua ones matter here.
        .filter(|n| !built_in(n))
        .collect();
    assert_eq!(order, ["FROM_FILE", "FROM_DIR_A", "FROM_DIR_B"]);
    let v = p.scan(&envelope(), MESSAGE.as_bytes());
    assert_eq!(names(&v), ["FROM_FILE", "FROM_DIR_A", "FROM_DIR_B"]);
    assert_eq!(v.score, 3.0);
    // Both are optional: missing paths load nothing.
    let none = json!({ "lua_local": { "file": "/nonexistent/r.lua", "dir": "/nonexistent/d" } });
    assert!(pipeline(&none).symbols().iter().all(|s| built_in(&s.name)));
}

/// A symbol the pipeline registers whatever the Lua: GTUBE, Bayes, the auth checks' and
/// hfilter's DNS checks'.
fn built_in(name: &str) -> bool {
    let auth = sluice::scan::auth::symbols::SYMBOLS.iter();
    ["GTUBE", "BAYES_SPAM", "BAYES_HAM", "REPLY"].contains(&name)
        || auth
            .chain(sluice::scan::auth::hosts::SYMBOLS)
            .any(|s| s.0 == name)
}

#[test]
fn each_thread_and_each_reload_gets_its_own_state() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("counter.lua");
    let src = |tag: &str| {
        format!("local n = 0\nrspamd_config.COUNT = function() n = n + 1; return true, '{tag}' .. n end\n")
    };
    std::fs::write(&f, src("v1-")).unwrap();
    let tree = json!({ "lua": f.to_str().unwrap() });
    let p1 = Arc::new(pipeline(&tree));
    assert_eq!(
        options(&p1.scan(&envelope(), MESSAGE.as_bytes()), "COUNT"),
        ["v1-1"]
    );
    assert_eq!(
        options(&p1.scan(&envelope(), MESSAGE.as_bytes()), "COUNT"),
        ["v1-2"]
    );
    let other = Arc::clone(&p1);
    let on_thread =
        std::thread::spawn(move || options(&other.scan(&envelope(), MESSAGE.as_bytes()), "COUNT"));
    assert_eq!(on_thread.join().unwrap(), ["v1-1"]);
    std::fs::write(&f, src("v2-")).unwrap();
    let p2 = pipeline(&tree);
    assert_eq!(
        options(&p2.scan(&envelope(), MESSAGE.as_bytes()), "COUNT"),
        ["v2-1"]
    );
}
