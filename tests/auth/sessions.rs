//! Two milter sessions on one thread, as the daemon's session threads run them (one
//! single-threaded runtime, messages scanned in place): while one message waits for a
//! nameserver that never answers, the other session's message is answered at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use sluice::milter::control::SessionControl;
use sluice::milter::session::{run_controlled, SessionContext};
use sluice::milter::SessionSettings;
use sluice::scan::auth::{AuthChecks, AuthSettings};
use sluice::scan::{LocalScanner, Pipeline};
use sluice::verdict::Placement;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::watch;

use super::dns_server::{resolver, Silent};

const ALL_PROTOCOL: u32 = 0x1f_ffff;

struct Mta {
    io: DuplexStream,
}

impl Mta {
    fn start(ctx: &Arc<SessionContext>, stop: &watch::Receiver<bool>) -> Mta {
        let (client, server) = tokio::io::duplex(1 << 20);
        let (ctx, stop) = (Arc::clone(ctx), stop.clone());
        tokio::spawn(async move {
            let control = SessionControl::default();
            run_controlled(
                server,
                "test".into(),
                ctx,
                stop,
                &control,
                Placement::Inline,
            )
            .await
        });
        Mta { io: client }
    }

    async fn send(&mut self, code: u8, payload: &[u8]) {
        let mut v = u32::try_from(payload.len() + 1)
            .unwrap()
            .to_be_bytes()
            .to_vec();
        v.push(code);
        v.extend_from_slice(payload);
        self.io.write_all(&v).await.unwrap();
    }

    async fn recv(&mut self) -> (u8, Vec<u8>) {
        let mut len = [0u8; 4];
        self.io.read_exact(&mut len).await.unwrap();
        let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
        self.io.read_exact(&mut buf).await.unwrap();
        (buf[0], buf[1..].to_vec())
    }

    /// Negotiates, then sends one whole message from `ip`; the reply comes at end of body.
    async fn message(&mut self, ip: &str, from: &str, headers: &[(&str, &str)]) {
        let mut p = 6u32.to_be_bytes().to_vec();
        p.extend_from_slice(&0x1ffu32.to_be_bytes());
        p.extend_from_slice(&ALL_PROTOCOL.to_be_bytes());
        self.send(b'O', &p).await;
        assert_eq!(self.recv().await.0, b'O');
        self.send(
            b'C',
            format!("client.example\x004\x00\x19{ip}\0").as_bytes(),
        )
        .await;
        self.send(b'H', b"mx.example\0").await;
        self.send(b'M', format!("<{from}>\0").as_bytes()).await;
        self.send(b'R', b"<rcpt@example.net>\0").await;
        self.send(b'L', format!("From\0 <{from}>\0").as_bytes())
            .await;
        self.send(b'L', b"Subject\0 hello\0").await;
        for (name, value) in headers {
            self.send(b'L', format!("{name}\0 {value}\0").as_bytes())
                .await;
        }
        self.send(b'N', b"").await;
        self.send(b'B', b"hello\r\n").await;
        self.send(b'E', b"").await;
    }

    /// Every packet up to the final answer (accept, reject, tempfail...), progress skipped.
    async fn answer(&mut self) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        loop {
            let (code, payload) = self.recv().await;
            if code == b'p' {
                continue;
            }
            let last = matches!(code, b'a' | b'c' | b'r' | b't' | b'y' | b'd');
            out.push((code, payload));
            if last {
                return out;
            }
        }
    }
}

fn mentions(packets: &[(u8, Vec<u8>)], needle: &str) -> bool {
    packets
        .iter()
        .any(|(_, p)| String::from_utf8_lossy(p).contains(needle))
}

#[tokio::test]
async fn a_session_waiting_for_dns_does_not_hold_up_the_other_session_on_its_thread() {
    let silent = Silent::start();
    let r = resolver(&json!({
        "nameserver": [silent.addr.to_string()], "timeout": "3s", "retransmits": 0,
    }));
    let budget = Duration::from_secs(2);
    let auth = AuthChecks::new(
        Arc::new(r),
        AuthSettings::from_tree(&json!({})).unwrap(),
        budget,
    );
    let tree = json!({"milter_headers": {"routines": {"authentication-results": {
        "authserv_id": "mx.sluice.test"}}}});
    let pipeline = Arc::new(Pipeline::from_config(&tree).unwrap());
    let ctx = Arc::new(SessionContext {
        settings: SessionSettings {
            scan_timeout: Duration::from_secs(20),
            ..SessionSettings::default()
        },
        scanner: Arc::new(LocalScanner::new(pipeline).with_auth(auth.map(Arc::new))),
    });
    let (_stop, stop) = watch::channel(false);
    // The waiting one: a client outside local_addrs, its SPF lookup goes to the silent server.
    let mut waiting = Mta::start(&ctx, &stop);
    // It carries a forged result under our authserv-id (removed) and another host's (kept).
    let forged = [
        ("Authentication-Results", "other.test; spf=pass"),
        (
            "Authentication-Results",
            "mx.sluice.test; dkim=pass header.d=bank.test",
        ),
    ];
    waiting
        .message("192.0.2.1", "a@pass.sluice.test", &forged)
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The other: a local client, whose message needs no lookup.
    let mut quick = Mta::start(&ctx, &stop);
    let started = Instant::now();
    quick.message("127.0.0.1", "b@example.org", &[]).await;
    let quick_answer = quick.answer().await;
    let quick_took = started.elapsed();
    assert!(
        quick_took < Duration::from_secs(1),
        "the local message waited {quick_took:?} for the other session's DNS"
    );
    assert!(!mentions(&quick_answer, "R_SPF_"), "{quick_answer:?}");
    let waited = waiting.answer().await;
    let waiting_took = started.elapsed();
    assert!(mentions(&waited, "R_SPF_DNSFAIL"), "{waited:?}");
    // Our Authentication-Results, inserted near the top, and the forged one (the second
    // header of that name) emptied; the other host's is left alone.
    let ours = waited.iter().find(|(code, p)| {
        *code == b'i' && String::from_utf8_lossy(p).contains("Authentication-Results")
    });
    let ours = String::from_utf8_lossy(&ours.expect("an inserted header").1).into_owned();
    assert!(ours.contains("mx.sluice.test; "), "{ours}");
    assert!(ours.contains("spf=temperror"), "{ours}");
    let removed: Vec<u32> = waited
        .iter()
        .filter(|(code, p)| {
            *code == b'm' && String::from_utf8_lossy(p).contains("Authentication-Results")
        })
        .map(|(_, p)| u32::from_be_bytes(p[..4].try_into().unwrap()))
        .collect();
    assert_eq!(removed, vec![2], "{waited:?}");
    assert!(
        waiting_took < budget + Duration::from_secs(2),
        "{waiting_took:?}"
    );
    assert!(silent.received() > 0);
}
