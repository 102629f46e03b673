//! TLS on the HTTP listeners (rustls): a certificate made for the test
//! with the `openssl` tool, a rustls client that trusts only it.
use crate::support::http as http_support;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use http_support::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// A self-signed P-256 certificate for 127.0.0.1 in `dir`.
fn make_cert(dir: &Path) -> (String, String) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=sluice-test"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("the openssl tool is needed for the TLS tests");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert.display().to_string(), key.display().to_string())
}

fn client(cert: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

#[test]
fn both_listeners_speak_tls_with_keep_alive() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(certs.path());
    let tls = format!("ssl_cert = \"{cert}\";\nssl_key = \"{key}\";\n");
    let mut s = Sluice::start(&[
        ("local.d/worker-normal.inc", &tls),
        ("local.d/worker-controller.inc", &tls),
    ]);
    assert!(s.wait_log("http listening on").ends_with("(TLS)"));
    let config = client(&cert);
    for (addr, path) in [(s.http, "/checkv2"), (s.controller, "/checkv2")] {
        let name = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
        let conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(addr).unwrap());
        tls.write_all(&request("POST", path, &[], &gtube_message()))
            .unwrap();
        tls.write_all(&request("GET", "/ping", &[], b"")).unwrap();
        let mut r = BufReader::new(tls);
        assert_eq!(read_response(&mut r).json()["action"], "reject");
        assert_eq!(read_response(&mut r).body, b"pong\r\n");
    }
    // Plain HTTP on a TLS listener gets no HTTP answer.
    let mut plain = TcpStream::connect(s.http).unwrap();
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    plain.write_all(&request("GET", "/ping", &[], b"")).unwrap();
    let mut got = Vec::new();
    let _ = std::io::Read::read_to_end(&mut plain, &mut got);
    assert!(!got.starts_with(b"HTTP/1.1 200"), "{got:?}");
}

#[test]
fn missing_certificate_stops_the_start_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local.d");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(
        local.join("worker-normal.inc"),
        "ssl_cert = \"/nonexistent/cert.pem\";\nssl_key = \"/nonexistent/key.pem\";\n",
    )
    .unwrap();
    let out = Command::new(crate::support::sluice_bin())
        .args([
            "run",
            "--milter",
            "inet:127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
        ])
        .args(["--controller", "127.0.0.1:0", "--var"])
        .arg(format!("LOCAL_CONFDIR={}", dir.path().display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/cert.pem"), "{err}");
}

/// `sluice status` reaches a controller behind TLS: with `https://` and the
/// certificate as its CA it prints the state; trusting only the system's store it fails
/// with a TLS error, not a hang or an HTTP error.
#[test]
fn status_reaches_a_tls_controller() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(certs.path());
    let tls = format!("ssl_cert = \"{cert}\";\nssl_key = \"{key}\";\n");
    let mut s = Sluice::start(&[("local.d/worker-controller.inc", &tls)]);
    assert!(s.wait_log("controller listening on").ends_with("(TLS)"));
    let https = format!("https://{}", s.controller);
    let status = |extra: &[&str]| {
        Command::new(crate::support::sluice_bin())
            .args(["status", "--controller", &https])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = status(&["--ca-file", &cert]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("milter sessions:"), "{text}");
    let out = status(&["--ca-file", &cert, "--json"]);
    let raw: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(raw["version"].is_string(), "{raw}");
    let out = status(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "trusted a self-signed certificate");
    assert!(err.contains("TLS"), "{err}");
    // The library client, as the daemon tests use it.
    let controller = sluice::status::Controller::new(&https, None, Some(Path::new(&cert))).unwrap();
    assert!(controller.get("/metrics").unwrap().contains("sluice_"));
}
