//! Test peers for forward mode: tiny Rspamd-protocol scanners (hyper servers
//! on port 0) that can be killed and restarted on the same port, and a
//! sluice daemon started with an admin's `local.d` files.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use sluice_proto::milter::client::{Envelope, MtaClient, Response as MilterResponse};
use sluice_proto::milter::optneg::OptNeg;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// What a fake scanner saw in one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub headers: BTreeMap<String, Vec<String>>,
    pub body: Bytes,
}

/// A fake `/checkv2` scanner that always answers `action` with one symbol
/// named after it (`SCANNER_<tag>`), so a verdict shows who scanned it.
pub struct FakeScanner {
    pub addr: SocketAddr,
    pub tag: String,
    action: String,
    score: f64,
    pub hits: Arc<AtomicUsize>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl FakeScanner {
    pub async fn start(tag: &str, action: &str, score: f64) -> FakeScanner {
        let mut s = FakeScanner {
            addr: "127.0.0.1:0".parse().unwrap(),
            tag: tag.into(),
            action: action.into(),
            score,
            hits: Arc::new(AtomicUsize::new(0)),
            seen: Arc::new(Mutex::new(Vec::new())),
            server: None,
        };
        s.restart().await;
        s
    }

    /// Stops accepting and drops every open connection (a crashed scanner).
    pub fn kill(&mut self) {
        if let Some(h) = self.server.take() {
            h.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr).await.expect("bind scanner");
        self.addr = listener.local_addr().unwrap();
        let reply = Arc::new(self.reply_json());
        let (hits, seen) = (self.hits.clone(), self.seen.clone());
        self.server = Some(tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (reply, hits, seen) = (reply.clone(), hits.clone(), seen.clone());
                conns.spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let (reply, hits, seen) = (reply.clone(), hits.clone(), seen.clone());
                        async move {
                            let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
                            for (n, v) in req.headers() {
                                headers
                                    .entry(n.as_str().to_string())
                                    .or_default()
                                    .push(v.to_str().unwrap_or("").to_string());
                            }
                            let body = req.into_body().collect().await?.to_bytes();
                            seen.lock().unwrap().push(Seen { headers, body });
                            hits.fetch_add(1, Ordering::SeqCst);
                            let resp = Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(reply.as_ref().clone())))
                                .unwrap();
                            Ok::<_, hyper::Error>(resp)
                        }
                    });
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        }));
    }

    fn reply_json(&self) -> String {
        format!(
            r#"{{"is_skipped":false,"score":{score},"required_score":15.0,"action":"{action}",
"symbols":{{"SCANNER_{tag}":{{"name":"SCANNER_{tag}","score":{score},"metric_score":1.0}}}},
"messages":{{}},"message-id":"m@x","time_real":0.001,
"milter":{{"add_headers":{{"X-Scanned-By":{{"value":"{tag}","order":-1}}}},"remove_headers":{{"X-Spam":0}}}}}}"#,
            score = self.score,
            action = self.action,
            tag = self.tag
        )
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn hosts_element(&self) -> String {
        format!("127.0.0.1:{}", self.addr.port())
    }
}

impl Drop for FakeScanner {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The test daemon shared with the other integration tests.
pub use super::daemon::Daemon as Sluice;

pub const POSTFIX_OFFER: OptNeg = OptNeg {
    version: 6,
    actions: 0x1ff,
    protocol: 0x1f_ffff,
};

pub fn message(n: usize) -> Vec<u8> {
    format!(
        "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: note {n}\r\n\
Date: Sun, 22 Nov 2026 05:00:24 +0000\r\nMessage-ID: <{n}@example.org>\r\n\r\nHello {n}\r\n"
    )
    .into_bytes()
}

/// Sends `count` messages over one milter connection, each with queue id
/// `Q<n>`; returns the responses in order.
pub async fn send_many(addr: SocketAddr, first: usize, count: usize) -> Vec<MilterResponse> {
    let mut c = MtaClient::connect_tcp(addr).await.unwrap();
    c.negotiate(POSTFIX_OFFER).await.unwrap();
    let mut out = Vec::new();
    for n in first..first + count {
        let qid = format!("Q{n}");
        let env = Envelope {
            from: "alice@example.org",
            rcpts: &["bob@example.net"],
            queue_id: Some(&qid),
        };
        out.push(c.send_message(&env, &message(n)).await.unwrap());
    }
    c.quit().await.unwrap();
    out
}

/// The `X-Scanned-By` value a response added: which scanner answered.
pub fn scanned_by(r: &MilterResponse) -> Option<String> {
    use sluice_proto::milter::Reply;
    r.modifications.iter().find_map(|m| match m {
        Reply::AddHeader { name, value } if name.as_ref() == b"X-Scanned-By" => {
            Some(String::from_utf8_lossy(value).trim().to_string())
        }
        _ => None,
    })
}
