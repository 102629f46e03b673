//! The UCL parser: every syntax feature against the JSON it must produce, every error message
//! with its `file:line:column`, and include/priority/duplicate semantics on temp dirs.

use serde_json::{json, Value};
use sluice::config::ucl::{self, DiskSource, UclError, Vars};

fn parse(text: &str) -> Value {
    ucl::parse_str(text).unwrap_or_else(|e| panic!("parse failed for {text:?}: {e}"))
}

fn parse_err(text: &str) -> String {
    match ucl::parse_str(text) {
        Ok(v) => panic!("expected an error for {text:?}, got {v}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn syntax_features_produce_expected_json() {
    let cases: &[(&str, &str, Value)] = &[
        (
            "nginx style",
            "a = 1; b = \"x\";",
            json!({"a": 1, "b": "x"}),
        ),
        ("colon", "a: 1\nb: two", json!({"a": 1, "b": "two"})),
        (
            "json document",
            r#"{"a": [1, 2.5, "s"], "b": {"c": null}, "d": true}"#,
            json!({"a": [1, 2.5, "s"], "b": {"c": null}, "d": true}),
        ),
        ("section", "s { k = v; }", json!({"s": {"k": "v"}})),
        ("section with =", "s = { k = v }", json!({"s": {"k": "v"}})),
        (
            "named section",
            "worker \"proxy\" { count = 1; }",
            json!({"worker": {"proxy": {"count": 1}}}),
        ),
        (
            "named sections merge",
            "upstream \"local\" { a = 1 }\nupstream \"remote\" { b = 2 }",
            json!({"upstream": {"local": {"a": 1}, "remote": {"b": 2}}}),
        ),
        (
            "bare section name",
            "worker normal { x = 1 }",
            json!({"worker": {"normal": {"x": 1}}}),
        ),
        (
            "two section names",
            "a \"b\" \"c\" { x = 1 }",
            json!({"a": {"b": {"c": {"x": 1}}}}),
        ),
        (
            "brace on next line",
            "s\n{\n x = 1\n}",
            json!({"s": {"x": 1}}),
        ),
        (
            "comments",
            "# hash\na = 1; // slashes\n/* block /* nested */ still */ b = 2 # tail",
            json!({"a": 1, "b": 2}),
        ),
        (
            "escapes",
            r#"a = "q\"\\\/\n\t\u00e9\."; b = 'it\'s \d'"#,
            json!({"a": "q\"\\/\n\té.", "b": "it's \\d"}),
        ),
        (
            "quoted key",
            "\"my key\" = 1; 'k2' = 2",
            json!({"my key": 1, "k2": 2}),
        ),
        (
            "unquoted string",
            "a = hello world;",
            json!({"a": "hello world"}),
        ),
        (
            "url atom",
            "a = http://example.org/x",
            json!({"a": "http://example.org/x"}),
        ),
        (
            "heredoc",
            "f = <<EOD\nline $x\n  two\nEOD\nb = 1",
            json!({"f": "line $x\n  two", "b": 1}),
        ),
        (
            "size suffixes",
            "a = 10k; b = 10kb; c = 2m; d = 2mb; e = 1g; f = 1gb",
            json!({"a": 10000, "b": 10240, "c": 2000000, "d": 2097152, "e": 1000000000, "f": 1073741824u64}),
        ),
        (
            "time suffixes",
            "a = 500ms; b = 8s; c = 5min; d = 2h; e = 1d; f = 1w; g = 1y",
            json!({"a": 0.5, "b": 8.0, "c": 300.0, "d": 7200.0, "e": 86400.0, "f": 604800.0, "g": 31536000.0}),
        ),
        ("hex", "a = 0x10; b = -0xff", json!({"a": 16, "b": -255})),
        (
            "floats",
            "a = 0.1; b = -2.5; c = 1e3",
            json!({"a": 0.1, "b": -2.5, "c": 1000.0}),
        ),
        (
            "booleans",
            "a = yes; b = no; c = on; d = off; e = true; f = FALSE",
            json!({"a": true, "b": false, "c": true, "d": false, "e": true, "f": false}),
        ),
        (
            "quoted is not typed",
            "a = \"yes\"; b = \"10\"",
            json!({"a": "yes", "b": "10"}),
        ),
        ("null", "a = null", json!({"a": null})),
        ("trailing comma", "a = [1, 2, 3,]", json!({"a": [1, 2, 3]})),
        (
            "multiline array",
            "a = [\n  \"x\",\n  \"y\"\n]",
            json!({"a": ["x", "y"]}),
        ),
        (
            "unquoted array atoms",
            "a = [192.168.0.0/16, fd00::/8]",
            json!({"a": ["192.168.0.0/16", "fd00::/8"]}),
        ),
        (
            "array of objects",
            "a = [{x = 1}, {y = 2}]",
            json!({"a": [{"x": 1}, {"y": 2}]}),
        ),
        (
            "implicit array",
            "a = 1; a = 2; a = 3",
            json!({"a": [1, 2, 3]}),
        ),
        ("empty object", "a {}", json!({"a": {}})),
        (
            "separators optional",
            "a = 1\nb = 2,\nc = 3;",
            json!({"a": 1, "b": 2, "c": 3}),
        ),
        (
            "key order kept",
            "z = 1; a = 2; m = 3",
            json!({"z": 1, "a": 2, "m": 3}),
        ),
        (
            ".priority",
            "a = 1\n.priority 5\na = 2\n.priority 0\na = 3",
            json!({"a": 2}),
        ),
    ];
    for (name, text, want) in cases {
        let got = parse(text);
        assert_eq!(&got, want, "case `{name}`");
        let order: Vec<&String> = got.as_object().unwrap().keys().collect();
        let want_order: Vec<&String> = want.as_object().unwrap().keys().collect();
        assert_eq!(order, want_order, "key order in case `{name}`");
    }
}

#[test]
fn variables_expand_in_strings_atoms_and_heredocs() {
    let vars = Vars::new([("DBDIR".to_string(), "/var/db".to_string())]);
    let text =
        "a = \"$DBDIR/x\"; b = ${DBDIR}/y; c = '$DBDIR'; d = <<EOD\n$DBDIR\nEOD\ne = \"$NOPE\"";
    let doc = ucl::parse_text(&DiskSource, vars, "t.conf", text).unwrap();
    assert_eq!(
        doc.value,
        json!({"a": "/var/db/x", "b": "/var/db/y", "c": "/var/db", "d": "/var/db", "e": "$NOPE"})
    );
}

#[test]
fn positions_record_every_key() {
    let text = "a = 1\nsec {\n  inner = 2\n}\nworker \"proxy\" {\n    count = 1\n}";
    let doc = ucl::parse_text(&DiskSource, Vars::default(), "pos.conf", text).unwrap();
    let at = |k: &str| doc.positions.get(k).map(ToString::to_string);
    assert_eq!(at("a").as_deref(), Some("pos.conf:1:1"));
    assert_eq!(at("sec").as_deref(), Some("pos.conf:2:1"));
    assert_eq!(at("sec.inner").as_deref(), Some("pos.conf:3:3"));
    assert_eq!(at("worker").as_deref(), Some("pos.conf:5:1"));
    assert_eq!(at("worker.proxy").as_deref(), Some("pos.conf:5:8"));
    assert_eq!(at("worker.proxy.count").as_deref(), Some("pos.conf:6:5"));
}

#[test]
fn errors_name_file_line_column_and_text() {
    let cases: &[(&str, &str)] = &[
        ("a = \"open\n", "<string>:1:5: unterminated string near `\"open`"),
        ("a = \"\\u12\"", "<string>:1:6: invalid unicode escape near `\\u12\"`"),
        ("x = 1\n/* never closed", "<string>:2:1: unterminated comment near `/* never closed`"),
        ("s {\n a = 1\n", "<string>:3:1: unexpected end of file, expected `}` near `end of file`"),
        ("a = [1, 2", "<string>:1:10: unexpected end of file, expected `]` near `end of file`"),
        ("a = 1\n}", "<string>:2:1: unexpected closing bracket near `}`"),
        ("a = ;", "<string>:1:5: expected a value near `;`"),
        ("a = \"x\" y;", "<string>:1:9: unexpected text after value (missing `;`?) near `y;`"),
        ("= 1", "<string>:1:1: expected a key near `= 1`"),
        ("a = 1\nlonely\nb = 2", "<string>:2:1: missing value for key `lonely` near `lonely`"),
        ("lonely", "<string>:1:7: expected `=`, `:`, `{` or a value after the key near `end of file`"),
        ("t = <<EOD\nno end\n", "<string>:1:5: unterminated heredoc near `<<EOD`"),
        ("t = <<EOD x\nEOD", "<string>:1:5: heredoc terminator must be followed by a newline near `<<EOD x`"),
        ("{ a = 1 } b", "<string>:1:11: unexpected text after the closing brace near `b`"),
        (".frobnicate \"x\"", "<string>:1:1: unknown macro `.frobnicate` near `.frobnicate \"x\"`"),
        (".priority 99", "<string>:1:11: priority must be an integer from 0 to 15, got `99` near `99`"),
        (
            ".include(duplicate=sideways) \"x\"",
            "<string>:1:10: duplicate must be append, merge, replace, rewrite or error, got `sideways` near `duplicate=sideways) \"x\"`",
        ),
        (".include(try=maybe) \"x\"", "<string>:1:10: parameter `try` needs a boolean, got `maybe` near `try=maybe) \"x\"`"),
        (".include \"/nonexistent/sluice-test.conf\"", "<string>:1:10: cannot include `/nonexistent/sluice-test.conf`: file not found"),
    ];
    for (text, want) in cases {
        assert_eq!(&parse_err(text), want, "input {text:?}");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let text = format!("a = {}{}", "[".repeat(200), "]".repeat(200));
    let err = parse_err(&text);
    assert!(err.contains("nesting deeper than 64 levels"), "{err}");
}

/// Writes files into a temp dir; returns the dir.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn parse_main(dir: &tempfile::TempDir) -> Result<ucl::Document, UclError> {
    let vars = Vars::new([("D".to_string(), dir.path().to_string_lossy().into_owned())]);
    let main = dir.path().join("main.conf");
    ucl::parse_file(&DiskSource, vars, &main.to_string_lossy())
}

#[test]
fn include_priority_and_duplicate_semantics() {
    let dir = tree(&[
        (
            "main.conf",
            "s {\n  a = 1; b = 1; sub { x = 1; y = 1 }; list = [1]\n\
             .include(try=true; priority=1; duplicate=merge) \"$D/merge.inc\"\n\
             .include(priority=10) \"$D/override.inc\"\n\
             .include(priority=0) \"$D/low.inc\"\n\
             .include(duplicate=rewrite) \"$D/rewrite.inc\"\n\
             .include \"same.inc\"\n}",
        ),
        ("merge.inc", "a = 2; sub { y = 2; z = 2 }; list = [2]"),
        ("override.inc", "b = 10; sub { only = 10 }"),
        ("low.inc", "a = 0; c = 0"),
        ("rewrite.inc", "c = 5"),
        ("same.inc", "d = 1; d = 2"),
    ]);
    let doc = parse_main(&dir).unwrap();
    assert_eq!(
        doc.value,
        json!({"s": {
            "a": 2,
            "b": 10,
            "sub": {"only": 10},
            "list": [1, 2],
            "c": 5,
            "d": [1, 2],
        }})
    );
    assert!(doc.positions["s.a"].file.ends_with("merge.inc"));
}

#[test]
fn include_missing_try_glob_and_errors() {
    let dir = tree(&[
        (
            "main.conf",
            ".include(try=true) \"$D/missing.conf\"\n.include(glob=true) \"$D/d/*.conf\"\n\
             .include \"$D/q/?.inc\"",
        ),
        ("d/b.conf", "order = b"),
        ("d/a.conf", "order = a"),
        ("d/skip.txt", "order = never"),
        ("q/x.inc", "q = 1"),
    ]);
    let doc = parse_main(&dir).unwrap();
    assert_eq!(doc.value, json!({"order": ["a", "b"], "q": 1}));

    let empty = tree(&[("main.conf", ".include \"$D/none/*.conf\"")]);
    let err = parse_main(&empty).unwrap_err().to_string();
    assert!(err.ends_with("none/*.conf`: no file matches"), "{err}");

    let bad = tree(&[
        ("main.conf", "a = 1\n.include \"$D/bad.inc\""),
        ("bad.inc", "\nx = \"open"),
    ]);
    let err = parse_main(&bad).unwrap_err().to_string();
    assert!(err.contains("bad.inc:2:5: unterminated string"), "{err}");

    let looped = tree(&[("main.conf", ".include \"$D/main.conf\"")]);
    let err = parse_main(&looped).unwrap_err().to_string();
    assert!(err.contains("includes nested deeper than 16"), "{err}");

    let dup = tree(&[
        ("main.conf", "a = 1\n.include(duplicate=error) \"$D/d.inc\""),
        ("d.inc", "a = 2"),
    ]);
    let err = parse_main(&dup).unwrap_err().to_string();
    assert!(err.contains("d.inc:1:1: duplicate key `a`"), "{err}");
}

#[test]
fn unsupported_include_parameters_warn() {
    let dir = tree(&[
        ("main.conf", ".include(sign=true) \"$D/x.inc\""),
        ("x.inc", "a = 1"),
    ]);
    let doc = parse_main(&dir).unwrap();
    assert_eq!(doc.value, json!({"a": 1}));
    assert_eq!(doc.warnings.len(), 1);
    assert!(
        doc.warnings[0].contains("main.conf:1:1: .include parameter `sign`"),
        "{:?}",
        doc.warnings
    );
}

proptest::proptest! {
    /// Whatever an admin (or an attacker with write access to local.d) writes, the parser
    /// answers with a tree or an error, never a panic.
    #[test]
    fn arbitrary_text_never_panics(text in "[a-z0-9 =:;,{}\\[\\]\"'\\\\#/*.<>$()\\n\\tEODu-]{0,120}") {
        let _ = ucl::parse_str(&text);
    }

    #[test]
    fn arbitrary_unicode_never_panics(text in "\\PC{0,80}") {
        let _ = ucl::parse_str(&text);
    }
}
