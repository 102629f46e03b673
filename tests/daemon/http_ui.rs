//! The controller's web pages on a real `sluice run`: the dashboard
//! compiled into the binary, or `static_dir`'s files (Rspamd's WebUI from
//! Debian's package among them), with the path kept inside the directory.
use crate::support::http as http_support;

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};

use http_support::*;

const GUARDED: &str =
    "password = \"reader\";\nenable_password = \"admin\";\nsecure_ip = \"192.0.2.1\";\n";

/// A request line sent as is (clients would normalise `..` away).
fn raw_get(addr: SocketAddr, target: &str) -> Response {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    read_response(&mut BufReader::new(s))
}

#[test]
fn embedded_dashboard_without_static_dir() {
    let s = Sluice::start(&[("override.d/worker-controller.inc", GUARDED)]);
    let c = s.controller;
    // Pages need no password (the page asks for it); the API still does.
    let page = get(c, "/", &[]);
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.text().contains("<script src=\"sluice-ui.js\">"));
    let js = get(c, "/sluice-ui.js", &[]);
    assert_eq!(js.status, 200);
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(js.text().contains("saveactions"));
    assert_eq!(get(c, "/sluice-ui.css", &[]).status, 200);
    assert_eq!(get(c, "/stat", &[]).status, 401);
    assert_eq!(get(c, "/js/main.js", &[]).status, 404);
    assert_eq!(post(c, "/", &[], b"x").status, 404);
    // No fuzzy_check rule is shipped: a clear refusal behind the enable password.
    assert_eq!(post(c, "/fuzzyadd", &[], b"x").status, 401);
    let r = post(c, "/fuzzyadd", &[("Password", "admin")], b"x");
    assert_eq!(r.status, 500);
    assert!(r.json()["error"].as_str().unwrap().contains("fuzzy"));
}

fn www() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let www = d.path().join("www");
    std::fs::create_dir_all(www.join("js")).unwrap();
    std::fs::write(www.join("index.html"), "<html>mine</html>").unwrap();
    std::fs::write(www.join("js/app.js"), "var a;").unwrap();
    std::fs::write(www.join("logo.png"), b"\x89PNG").unwrap();
    std::fs::write(d.path().join("secret.txt"), "secret").unwrap();
    d
}

#[test]
fn static_dir_serves_files_inside_it_only() {
    let d = www();
    let conf = format!("static_dir = \"{}\";\n", d.path().join("www").display());
    let s = Sluice::start(&[("local.d/worker-controller.inc", conf.as_str())]);
    let c = s.controller;
    let page = get(c, "/", &[]);
    assert_eq!(
        (page.status, page.text().as_str()),
        (200, "<html>mine</html>")
    );
    let js = get(c, "/js/app.js", &[]);
    assert_eq!(js.text(), "var a;");
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        get(c, "/logo.png", &[]).header("content-type"),
        Some("image/png")
    );
    // The dashboard is not there any more; the commands still are.
    assert_eq!(get(c, "/sluice-ui.js", &[]).status, 404);
    assert_eq!(get(c, "/stat", &[]).status, 200);
    for target in [
        "/../secret.txt",
        "/js/../../secret.txt",
        "/%2e%2e/secret.txt",
    ] {
        let r = raw_get(c, target);
        assert_eq!(r.status, 403, "{target}");
        assert!(!r.text().contains("secret\n") && r.text() != "secret");
    }
    assert_eq!(raw_get(c, "/index.html%00").status, 400);
}

/// Debian's `rspamd` package (the test command installs it) ships the
/// WebUI that `static_dir = "${WWWDIR}"` names in Rspamd's own
/// worker-controller.inc.
#[test]
fn rspamd_webui_from_debian_is_served() {
    let www = std::path::Path::new("/usr/share/rspamd/www");
    assert!(
        www.join("index.html").is_file(),
        "Rspamd's WebUI is missing: apt-get install rspamd"
    );
    let s = Sluice::start(&[(
        "local.d/worker-controller.inc",
        "static_dir = \"${WWWDIR}\";\n",
    )]);
    let page = get(s.controller, "/", &[]);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("Rspamd"), "not Rspamd's index.html");
    let main = get(s.controller, "/js/main.js", &[]);
    assert_eq!(main.status, 200);
    assert_eq!(
        main.body,
        std::fs::read(www.join("js/main.js")).unwrap(),
        "served unchanged"
    );
}
