//! Loading the whole configuration: the shipped `conf/` (embedded and on disk), `local.d`
//! merge and `override.d` replace of `actions` and `milter`, `--var`, the milter settings model,
//! `configtest`/`configdump`, and Rspamd's own files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use sluice::config::{
    self, configdump, configtest, embedded, load_tree, parse_var, Config, ConfigError, ListenAddr,
    LoadOptions, MilterSettings, OversizeAction,
};

/// A `$LOCAL_CONFDIR` in a temp dir holding `files`; the options point at it.
fn local_confdir(files: &[(&str, &str)]) -> (tempfile::TempDir, LoadOptions) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let opts = LoadOptions {
        config_file: None,
        vars: vec![(
            "LOCAL_CONFDIR".into(),
            dir.path().to_string_lossy().into_owned(),
        )],
    };
    (dir, opts)
}

fn shipped_conf_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conf")
}

#[test]
fn every_embedded_file_is_the_shipped_file_and_parses() {
    let mut on_disk = Vec::new();
    collect(&shipped_conf_dir(), &mut on_disk);
    let mut names: Vec<&str> = embedded::FILES.iter().map(|(p, _)| *p).collect();
    names.sort_unstable();
    on_disk.sort();
    assert_eq!(names, on_disk, "build.rs must embed every file under conf/");
    for (rel, text) in embedded::FILES {
        let disk = std::fs::read_to_string(shipped_conf_dir().join(rel)).unwrap();
        assert_eq!(*text, disk, "{rel} is stale in the binary");
        if rel.ends_with(".lua") {
            // Lua rule files: compiled by the Lua loader (tests/lua_shipped.rs).
            continue;
        }
        let parsed = config::ucl::parse_text(
            &config::ucl::DiskSource,
            config::ucl::Vars::default(),
            rel,
            // Includes are exercised by the full load; here each file's own syntax is checked.
            &text
                .lines()
                .filter(|l| !l.trim_start().starts_with(".include"))
                .collect::<Vec<_>>()
                .join("\n"),
        );
        assert!(parsed.is_ok(), "{rel}: {}", parsed.unwrap_err());
    }
    assert!(names.contains(&"sluice.conf"));
}

fn collect(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            let rel = path.strip_prefix(shipped_conf_dir()).unwrap();
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn shipped_defaults_load_from_the_binary_and_from_disk() {
    let (_dir, embedded_opts) = local_confdir(&[]);
    let disk_opts = LoadOptions {
        config_file: Some(shipped_conf_dir().join("sluice.conf")),
        vars: embedded_opts.vars.clone(),
    };
    for opts in [&embedded_opts, &disk_opts] {
        let cfg = Config::load(opts).unwrap();
        assert_eq!(cfg.milter, MilterSettings::default(), "{opts:?}");
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
        let t = &cfg.tree;
        assert_eq!(
            t["actions"],
            json!({"reject": 15, "add_header": 6, "greylist": 4})
        );
        assert_eq!(t["options"]["gtube_patterns"], "all");
        assert_eq!(t["options"]["task_timeout"], json!(8.0));
        assert_eq!(t["options"]["max_message"], json!(50 * 1024 * 1024));
        assert_eq!(t["options"]["pidfile"], "/run/sluice/sluice.pid");
        assert!(t["regexp"].is_object() && t["symbols"].is_object() && t["group"].is_object());
        assert_eq!(t["milter"]["bind_socket"], "inet:127.0.0.1:11332");
    }
    let defaults = MilterSettings::default();
    assert_eq!(
        defaults.bind_socket,
        vec!["inet:127.0.0.1:11332".parse::<ListenAddr>().unwrap()]
    );
    assert_eq!(defaults.socket_mode, 0o660);
    assert_eq!(defaults.session.idle_timeout, Duration::from_secs(120));
    assert_eq!(defaults.max_sessions, 1024);
    let defaults = defaults.session;
    assert_eq!(defaults.command_timeout, Duration::from_secs(30));
    assert_eq!(defaults.max_packet, 1 << 20);
    assert_eq!(defaults.max_message, 50 << 20);
    assert_eq!(defaults.oversize_action, OversizeAction::Accept);
    assert_eq!(defaults.scan_timeout, Duration::from_secs(8));
    assert!(!defaults.fail_open);
    assert_eq!(defaults.progress_interval, Duration::from_secs(10));
    assert_eq!(defaults.reject_message, "Spam message rejected");
    assert_eq!(defaults.tempfail_message, "Try again later");
    assert_eq!(defaults.quarantine_message, "Spam message quarantined");
    assert_eq!(defaults.spam_header, "X-Spam");
}

#[test]
fn local_d_merges_and_override_d_replaces_actions() {
    let (_dir, opts) = local_confdir(&[
        (
            "local.d/actions.conf",
            "reject = 20;\nsubject = \"***SPAM*** %s\";",
        ),
        ("override.d/actions.conf", "add_header = 7;"),
    ]);
    let tree = load_tree(&opts).unwrap();
    assert_eq!(
        tree["actions"],
        json!({"reject": 20, "add_header": 7, "greylist": 4, "subject": "***SPAM*** %s"})
    );
    let (_dir, opts) = local_confdir(&[
        ("local.d/actions.conf", "reject = 20;"),
        ("override.d/actions.conf", "reject = 30;"),
    ]);
    assert_eq!(load_tree(&opts).unwrap()["actions"]["reject"], 30);
}

#[test]
fn local_d_merges_and_override_d_replaces_milter() {
    let (_dir, opts) = local_confdir(&[
        (
            "local.d/worker-proxy.inc",
            "bind_socket = \"/run/sluice/milter.sock mode=0666\";\ntimeout = 2min;\n\
             upstream \"local\" { hosts = \"a\"; default = yes }",
        ),
        (
            "override.d/worker-proxy.inc",
            "timeout = 30s; script = \"x\"; upstream \"remote\" { hosts = \"b\" }",
        ),
    ]);
    let cfg = Config::load(&opts).unwrap();
    assert_eq!(
        cfg.milter.bind_socket,
        vec![ListenAddr::Unix("/run/sluice/milter.sock".into())]
    );
    assert_eq!(cfg.milter.socket_mode, 0o666);
    assert_eq!(cfg.milter.session.idle_timeout, Duration::from_secs(30));
    // override.d replaced the whole `upstream` key; local.d's sub-section is gone.
    assert_eq!(
        cfg.tree["milter"]["upstream"],
        json!({"remote": {"hosts": "b"}})
    );
    assert_eq!(cfg.milter.session.reject_message, "Spam message rejected");
    // `upstream` is read by forward mode now; `script` is still ignored.
    assert!(!cfg.warnings.iter().any(|w| w.contains("milter.upstream")));
    let upstream_warning = cfg
        .warnings
        .iter()
        .find(|w| w.contains("milter.script"))
        .unwrap();
    assert!(
        upstream_warning.contains("override.d/worker-proxy.inc:1:16"),
        "{upstream_warning}"
    );
    assert!(
        upstream_warning.ends_with("not implemented yet, ignored"),
        "{upstream_warning}"
    );

    let (_dir, opts) = local_confdir(&[(
        "local.d/worker-proxy.inc",
        "bind_socket = [\"inet:127.0.0.1:0\", \"unix:/tmp/m.sock\"];\nfail_open = yes;\n\
         oversize_action = tempfail; max_message = \"10mb\"; scan_timeout = 3;\nfrobnicate = 1;",
    )]);
    let cfg = Config::load(&opts).unwrap();
    assert_eq!(cfg.milter.bind_socket.len(), 2);
    assert!(cfg.milter.session.fail_open);
    assert_eq!(cfg.milter.session.oversize_action, OversizeAction::Tempfail);
    assert_eq!(cfg.milter.session.max_message, 10 << 20);
    assert_eq!(cfg.milter.session.scan_timeout, Duration::from_secs(3));
    assert_eq!(cfg.milter.session.idle_timeout, Duration::from_secs(120));
    let unknown = cfg
        .warnings
        .iter()
        .find(|w| w.contains("frobnicate"))
        .unwrap();
    assert!(
        unknown.contains("local.d/worker-proxy.inc:4:1: milter.frobnicate: unknown key"),
        "{unknown}"
    );
}

#[test]
fn options_feed_milter_limits() {
    let (_dir, opts) = local_confdir(&[(
        "local.d/options.inc",
        "max_message = 20mb; task_timeout = 15s;",
    )]);
    let cfg = Config::load(&opts).unwrap();
    assert_eq!(cfg.milter.session.max_message, 20 << 20);
    assert_eq!(cfg.milter.session.scan_timeout, Duration::from_secs(15));
    assert_eq!(cfg.tree["options"]["gtube_patterns"], "all");
}

#[test]
fn groups_regexp_and_symbols_layer() {
    let (_dir, opts) = local_confdir(&[
        (
            "local.d/groups.conf",
            "group \"custom\" { max_score = 5; symbols { MY_SYM { weight = 2.5 } } }",
        ),
        (
            "local.d/regexp.conf",
            "MY_RE { re = \"Subject=/win/i\"; score = 3; group = \"custom\" }",
        ),
        (
            "override.d/regexp.conf",
            "OTHER_RE { re = 'From=/x/'; score = 1 }",
        ),
        (
            "local.d/symbols.conf",
            "MY_SYM { weight = 4; description = \"d\" }",
        ),
    ]);
    let tree = load_tree(&opts).unwrap();
    assert_eq!(
        tree["group"]["custom"]["symbols"]["MY_SYM"]["weight"],
        json!(2.5)
    );
    assert_eq!(tree["regexp"]["MY_RE"]["re"], "Subject=/win/i");
    assert_eq!(tree["regexp"]["OTHER_RE"]["re"], "From=/x/");
    assert_eq!(
        tree["symbols"]["MY_SYM"],
        json!({"weight": 4, "description": "d"})
    );
}

#[test]
fn vars_override_defaults() {
    let (_dir, mut opts) = local_confdir(&[]);
    opts.vars.push(parse_var("RUNDIR=/tmp/run").unwrap());
    let tree = load_tree(&opts).unwrap();
    assert_eq!(tree["options"]["pidfile"], "/tmp/run/sluice.pid");
    assert!(matches!(parse_var("NOEQUALS"), Err(ConfigError::BadVar(_))));
    assert_eq!(parse_var("A=b=c").unwrap(), ("A".into(), "b=c".into()));

    // A custom main file: its directory is $CONFDIR.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.conf"),
        "x = \"$CONFDIR\"; .include \"$CONFDIR/part.inc\"",
    )
    .unwrap();
    std::fs::write(dir.path().join("part.inc"), "y = \"$DBDIR\"").unwrap();
    let opts = LoadOptions {
        config_file: Some(dir.path().join("main.conf")),
        vars: vec![("DBDIR".into(), "/db".into())],
    };
    let tree = load_tree(&opts).unwrap();
    assert_eq!(tree, json!({"x": dir.path().to_string_lossy(), "y": "/db"}));
}

#[test]
fn bad_settings_are_typed_errors_with_location() {
    let cases: &[(&str, &str)] = &[
        (
            "timeout = \"soon\";",
            "local.d/worker-proxy.inc:1:1: milter.timeout: expected a duration",
        ),
        (
            "bind_socket = \"inet:example.org:25\";",
            "milter.bind_socket: `inet:example.org:25`: bad host",
        ),
        (
            "oversize_action = bounce;",
            "milter.oversize_action: expected one of accept, tempfail, reject",
        ),
        (
            "socket_mode = \"0999\";",
            "milter.socket_mode: expected an octal file mode",
        ),
        ("fail_open = 3;", "milter.fail_open: expected a boolean"),
        ("max_packet = -1;", "milter.max_packet: expected a size"),
    ];
    for (text, want) in cases {
        let (_dir, opts) = local_confdir(&[("local.d/worker-proxy.inc", text)]);
        let err = Config::load(&opts).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { .. }), "{err:?}");
        assert!(err.to_string().contains(want), "{text}: {err}");
    }
    let missing = LoadOptions {
        config_file: Some("/nonexistent/sluice.conf".into()),
        vars: vec![],
    };
    let err = configtest(&missing).unwrap_err().to_string();
    assert!(
        err.starts_with("cannot read `/nonexistent/sluice.conf`"),
        "{err}"
    );
}

#[test]
fn configtest_and_configdump() {
    let (_dir, opts) = local_confdir(&[("local.d/worker-proxy.inc", "count = 4;")]);
    let warnings = configtest(&opts).unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].contains("milter.count: not implemented yet"),
        "{warnings:?}"
    );

    let dump = configdump(&opts).unwrap();
    assert!(dump.contains("actions {\n    reject = 15;\n"), "{dump}");
    let reparsed: Value = config::ucl::parse_str(&dump).unwrap();
    assert_eq!(
        reparsed,
        load_tree(&opts).unwrap(),
        "the dump must parse back to the same tree"
    );
}

#[test]
fn listen_addr_table() {
    let ok: &[(&str, &str)] = &[
        ("inet:127.0.0.1:11332", "inet:127.0.0.1:11332"),
        ("inet:[::1]:11332", "inet:[::1]:11332"),
        ("inet6:[::1]:25", "inet:[::1]:25"),
        ("inet:localhost:0", "inet:127.0.0.1:0"),
        ("unix:/run/sluice.sock", "unix:/run/sluice.sock"),
        ("local:/run/s.sock", "unix:/run/s.sock"),
        ("inet:11332@127.0.0.1", "inet:127.0.0.1:11332"),
        ("inet6:11332@::1", "inet:[::1]:11332"),
        ("127.0.0.1:11332", "inet:127.0.0.1:11332"),
        ("*:11332", "inet:0.0.0.0:11332"),
        ("localhost:11332", "inet:127.0.0.1:11332"),
        ("[::1]:11332", "inet:[::1]:11332"),
        (
            "/var/run/rspamd/milter.sock",
            "unix:/var/run/rspamd/milter.sock",
        ),
        (" INET:127.0.0.1:1 ", "inet:127.0.0.1:1"),
    ];
    for (input, shown) in ok {
        let addr: ListenAddr = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(addr.to_string(), *shown, "{input}");
        assert_eq!(
            shown.parse::<ListenAddr>().unwrap(),
            addr,
            "display of {input} round-trips"
        );
    }
    let bad: &[(&str, &str)] = &[
        ("", "empty listen address"),
        ("unix:", "`unix:`: empty socket path"),
        ("inet:127.0.0.1", "`inet:127.0.0.1`: missing port"),
        ("inet:[::1]", "bad port `1]`"),
        ("localhost", "`localhost`: missing port"),
        (
            "inet:127.0.0.1:70000",
            "`inet:127.0.0.1:70000`: bad port `70000`",
        ),
        ("inet:host.example:25", "bad host `host.example`"),
        ("inet:x@127.0.0.1", "bad port `x`"),
    ];
    for (input, want) in bad {
        let err = input.parse::<ListenAddr>().unwrap_err().to_string();
        assert!(err.contains(want), "{input}: {err}");
    }
}

/// Rspamd's own shipped files must parse: admins copy from them.
#[test]
fn rspamd_shipped_files_parse() {
    for name in [
        "actions.conf",
        "options.inc",
        "worker-proxy.inc",
        "logging.inc",
    ] {
        let path = format!("/etc/rspamd/{name}");
        assert!(
            Path::new(&path).exists(),
            "{path} is missing: this test needs Rspamd's config files, run `apt-get install rspamd`"
        );
    }
    let load = |name: &str| {
        let vars = config::ucl::Vars::new([
            (
                "LOCAL_CONFDIR".to_string(),
                "/nonexistent-sluice-local".to_string(),
            ),
            ("DBDIR".to_string(), "/var/lib/rspamd".to_string()),
        ]);
        config::ucl::parse_file(
            &config::ucl::DiskSource,
            vars,
            &format!("/etc/rspamd/{name}"),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .value
    };
    let actions = load("actions.conf");
    assert_eq!(
        actions["actions"],
        json!({"reject": 15, "add_header": 6, "greylist": 4})
    );
    let options = load("options.inc");
    assert_eq!(options["task_timeout"], json!(8.0));
    assert_eq!(options["map_watch_interval"], json!(300.0));
    assert_eq!(options["dns"]["timeout"], json!(1.0));
    assert_eq!(options["local_addrs"][0], "192.168.0.0/16");
    assert_eq!(options["cache_file"], "/var/lib/rspamd/symbols.cache");
    let proxy = load("worker-proxy.inc");
    assert_eq!(
        proxy["upstream"]["local"],
        json!({"default": true, "hosts": "localhost"})
    );
    assert_eq!(proxy["timeout"], json!(120.0));
    let logging = load("logging.inc");
    assert!(logging["log_format"]
        .as_str()
        .unwrap()
        .starts_with("id: <$mid>,$if_qid{"));

    // Their proxy settings carry over into sluice unchanged, as local.d/worker-proxy.inc.
    let text = std::fs::read_to_string("/etc/rspamd/worker-proxy.inc").unwrap();
    let (_dir, opts) = local_confdir(&[("local.d/worker-proxy.inc", &text)]);
    let cfg = Config::load(&opts).unwrap();
    assert_eq!(cfg.milter.session.idle_timeout, Duration::from_secs(120));
    assert_eq!(cfg.milter.session.spam_header, "X-Spam");
    let ignored: Vec<&String> = cfg
        .warnings
        .iter()
        .filter(|w| w.contains("not implemented yet"))
        .collect();
    assert_eq!(ignored.len(), 1, "count: {:?}", cfg.warnings);
    // `upstream` and `max_retries` are forward mode's: Rspamd's packaged proxy forwards.
    let fwd = &cfg.forward;
    assert_eq!(fwd.forward_group().map(|g| g.name.as_str()), Some("local"));
    assert_eq!(fwd.max_retries, 5);
}

/// Rspamd's complete configuration (rspamd.conf and everything it includes, modules.d glob
/// included) parses, and the sections keep their shape.
#[test]
fn rspamd_complete_config_parses() {
    assert!(
        Path::new("/etc/rspamd/rspamd.conf").exists(),
        "/etc/rspamd/rspamd.conf is missing: this test needs Rspamd's config files, run `apt-get install rspamd`"
    );
    let vars = config::ucl::Vars::new([
        ("CONFDIR".to_string(), "/etc/rspamd".to_string()),
        (
            "LOCAL_CONFDIR".to_string(),
            "/nonexistent-sluice-local".to_string(),
        ),
        (
            "RULESDIR".to_string(),
            "/usr/share/rspamd/rules".to_string(),
        ),
        ("DBDIR".to_string(), "/var/lib/rspamd".to_string()),
    ]);
    let doc = config::ucl::parse_file(&config::ucl::DiskSource, vars, "/etc/rspamd/rspamd.conf")
        .unwrap_or_else(|e| panic!("{e}"));
    let tree = &doc.value;
    let workers: Vec<&String> = tree["worker"].as_object().unwrap().keys().collect();
    assert_eq!(workers, ["normal", "controller", "rspamd_proxy", "fuzzy"]);
    assert_eq!(
        tree["worker"]["rspamd_proxy"]["bind_socket"],
        "localhost:11332"
    );
    assert_eq!(tree["worker"]["rspamd_proxy"]["milter"], true);
    assert_eq!(tree["actions"]["reject"], 15);
    assert!(tree["group"]["headers"]["symbols"]["FORGED_SENDER"]["weight"].is_number());
    assert!(tree["group"].as_object().unwrap().len() > 10);
    assert!(tree["regexp"].is_object() && tree["dkim"].is_object());
    assert!(doc.positions["worker.rspamd_proxy.timeout"]
        .file
        .ends_with("worker-proxy.inc"));
}
