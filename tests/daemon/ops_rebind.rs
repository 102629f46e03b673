//! SIGHUP rebinding: listeners whose address changed in the config files
//! are opened and retired, unchanged ones keep their socket, a listener
//! that cannot be bound keeps the whole running configuration, and
//! `/metrics` counts the reloads by result.
use crate::support::ops as ops_support;

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use ops_support::{gtube_message, ham_message, reply_text, OpsDaemon, POSTFIX_OFFER};
use sluice_proto::milter::client::{Envelope, MtaClient, Response};
use sluice_proto::milter::{Command, Reply};
use tokio::io::{AsyncRead, AsyncWrite};

const ENV: Envelope<'static> = Envelope {
    from: "a@example.org",
    rcpts: &["b@example.net"],
    queue_id: Some("4REBIND"),
};

/// The milter on an unchanged TCP port 0 plus one unix socket; the scan
/// listener on one unix socket. The controller stays on the command line.
fn listen_conf(dir: &Path, milter_sock: &str, http_sock: &str) -> [(String, String); 2] {
    let d = dir.display();
    [
        (
            "worker-proxy.inc".into(),
            format!("bind_socket = [\"inet:127.0.0.1:0\", \"unix:{d}/{milter_sock}\"];\n"),
        ),
        (
            "worker-normal.inc".into(),
            format!("bind_socket = \"unix:{d}/{http_sock}\";\n"),
        ),
    ]
}

fn rewrite(d: &OpsDaemon, milter_sock: &str, http_sock: &str) {
    for (name, text) in listen_conf(d.dir.path(), milter_sock, http_sock) {
        std::fs::write(d.local_d().join(name), text).unwrap();
    }
}

fn start() -> OpsDaemon {
    let files = listen_conf(Path::new("$DIR"), "a.sock", "http-a.sock");
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    OpsDaemon::start_listening(&files, None, &["--controller", "127.0.0.1:0"])
}

/// Negotiates and starts a message (MAIL FROM), as Postfix does before the
/// body is there.
async fn begin<S: AsyncRead + AsyncWrite + Unpin>(mut c: MtaClient<S>) -> MtaClient<S> {
    c.negotiate(POSTFIX_OFFER).await.unwrap();
    let r = c
        .command(Command::Mail(vec!["<a@example.org>".into()]))
        .await;
    assert!(
        matches!(r, Ok(None)) || matches!(r, Ok(Some(ref x)) if x.terminal == Reply::Continue),
        "{r:?}"
    );
    c
}

/// Ends a begun message: the reply and a clean quit.
async fn finish<S: AsyncRead + AsyncWrite + Unpin>(mut c: MtaClient<S>, raw: &[u8]) -> Response {
    let r = c.send_message(&ENV, raw).await.unwrap();
    c.quit().await.unwrap();
    r
}

async fn unix_message(path: &Path, raw: &[u8]) -> Response {
    let c = MtaClient::connect_unix(path).await.unwrap();
    let c = begin(c).await;
    finish(c, raw).await
}

async fn tcp_message(addr: &str, raw: &[u8]) -> Response {
    let c = MtaClient::connect_tcp(addr.parse().unwrap()).await.unwrap();
    let c = begin(c).await;
    finish(c, raw).await
}

fn assert_spam(r: &Response) {
    assert!(reply_text(&r.terminal).starts_with("554"), "{r:?}");
}

/// Waits until connecting to `path` fails: the retired listener closes
/// its socket as soon as its accept loop sees the retirement.
fn wait_refused(path: &Path) {
    let start = Instant::now();
    while std::os::unix::net::UnixStream::connect(path).is_ok() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{} still accepts",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn http_ping(path: &Path) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    s.write_all(b"GET /ping HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn metrics(d: &OpsDaemon) -> String {
    sluice::status::get(&d.controller, "/metrics", None).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_rebinds_changed_listeners_and_keeps_the_rest() {
    let d = start();
    let dir = d.dir.path().to_path_buf();
    let tcp = d.milter.clone();
    assert_spam(&unix_message(&dir.join("a.sock"), &gtube_message()).await);
    assert!(http_ping(&dir.join("http-a.sock")).contains("pong"));
    let before = metrics(&d);
    assert_eq!(
        metric(&before, "sluice_config_last_reload_success"),
        Some(1.0)
    );

    // Messages in flight on the listener that stays and on the one that goes.
    let on_tcp = begin(MtaClient::connect_tcp(tcp.parse().unwrap()).await.unwrap()).await;
    let on_a = begin(MtaClient::connect_unix(&dir.join("a.sock")).await.unwrap()).await;

    rewrite(&d, "b.sock", "http-b.sock");
    d.signal("HUP");
    assert!(d.next_notify().starts_with("RELOADING=1"));
    let ready = d.next_notify();
    assert!(ready.starts_with("READY=1"), "{ready}; log: {}", d.log());
    assert!(
        ready.contains(&format!("inet:{tcp}")),
        "the unchanged listener keeps its port: {ready}"
    );
    assert!(
        ready.contains("b.sock") && !ready.contains("a.sock"),
        "{ready}"
    );
    d.wait_log("configuration reloaded", 1);

    wait_refused(&dir.join("a.sock"));
    wait_refused(&dir.join("http-a.sock"));
    assert_spam(&unix_message(&dir.join("b.sock"), &gtube_message()).await);
    assert!(http_ping(&dir.join("http-b.sock")).contains("pong"));
    assert_spam(&tcp_message(&tcp, &gtube_message()).await);
    // The sessions begun before the reload finish on their sockets.
    assert_eq!(finish(on_tcp, &ham_message()).await.terminal, Reply::Accept);
    assert_spam(&finish(on_a, &gtube_message()).await);

    let after = metrics(&d);
    let ok = "sluice_config_reloads_total{result=\"ok\"}";
    let err = "sluice_config_reloads_total{result=\"error\"}";
    assert_eq!(metric(&after, ok), Some(1.0), "{after}");
    assert_eq!(metric(&after, err), Some(0.0), "{after}");
    assert_eq!(
        metric(&after, "sluice_config_last_reload_success"),
        Some(1.0)
    );

    // An address that cannot be bound: nothing changes, the log says why.
    rewrite(&d, "missing/c.sock", "http-b.sock");
    d.signal("HUP");
    assert!(d.next_notify().starts_with("RELOADING=1"));
    // READY follows the log line and the metrics update.
    assert!(d.next_notify().starts_with("READY=1"));
    let log = d.wait_log("reload failed, keeping the running configuration", 1);
    assert!(log.contains("missing/c.sock"), "the reason names it: {log}");
    assert_spam(&unix_message(&dir.join("b.sock"), &gtube_message()).await);
    assert!(http_ping(&dir.join("http-b.sock")).contains("pong"));
    let failed = metrics(&d);
    assert_eq!(metric(&failed, ok), Some(1.0), "{failed}");
    assert_eq!(metric(&failed, err), Some(1.0), "{failed}");
    assert_eq!(
        metric(&failed, "sluice_config_last_reload_success"),
        Some(0.0)
    );
    let stamp = "sluice_config_last_reload_timestamp_seconds";
    assert!(metric(&failed, stamp).unwrap() >= metric(&before, stamp).unwrap());
    assert!(metric(&before, stamp).unwrap() > 1.7e9, "{before}");
}
