//! Forward mode over TLS: an `https://` upstream with a private CA is used
//! with rustls, and an untrusted one fails into the configured tempfail.
use crate::support::forward as forward_support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;
use forward_support::{scanned_by, send_many, Sluice};
use http_body_util::Full;
use hyper::service::service_fn;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sluice_proto::milter::Reply;
use tokio::net::TcpListener;

/// A self-signed certificate for `localhost`, made with the openssl CLI.
fn self_signed(dir: &Path) {
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .expect("openssl is installed (test.sh installs it)");
    assert!(status.status.success(), "{status:?}");
}

/// A TLS scanner answering `no action` with `X-Scanned-By: TLS`.
async fn tls_scanner(dir: &Path) -> u16 {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("cert.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("key.pem")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = service_fn(|_req| async {
                    let body = r#"{"action":"no action","score":0.5,"required_score":15,
                        "symbols":{},"milter":{"add_headers":{"X-Scanned-By":"TLS"}}}"#;
                    Ok::<_, hyper::Error>(hyper::Response::new(Full::new(Bytes::from(body))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstream_with_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    self_signed(dir.path());
    let port = tls_scanner(dir.path()).await;
    let conf = format!(
        "upstream \"scan\" {{ default = yes; hosts = \"https://localhost:{port}\"; ssl_ca = \"{}\"; }}\n",
        dir.path().join("cert.pem").display()
    );
    let s = Sluice::start_with_files(&[("worker-proxy.inc", &conf)]);
    for r in send_many(s.addr, 0, 3).await {
        assert_eq!(r.terminal, Reply::Accept);
        assert_eq!(scanned_by(&r).as_deref(), Some("TLS"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificate_is_a_failed_upstream() {
    let dir = tempfile::tempdir().unwrap();
    self_signed(dir.path());
    let port = tls_scanner(dir.path()).await;
    let other = tempfile::tempdir().unwrap();
    self_signed(other.path());
    let conf = format!(
        "upstream \"scan\" {{ default = yes; hosts = \"localhost:{port}\"; ssl = yes; ssl_ca = \"{}\"; }}\n",
        other.path().join("cert.pem").display()
    );
    let s = Sluice::start_with_files(&[("worker-proxy.inc", &conf)]);
    let r = &send_many(s.addr, 0, 1).await[0];
    let Reply::ReplyCode(text) = &r.terminal else {
        panic!("{:?}", r.terminal);
    };
    let text = String::from_utf8_lossy(text);
    assert!(
        text.starts_with("451 4.7.1") && text.contains("TLS"),
        "{text}"
    );
}
