//! Session policy with scanners we control: progress keepalives, failures,
//! timeouts, fail-open, oversize handling, reply-less events and per-message
//! isolation. Raw frames over an in-memory stream, so every byte the session
//! sends is checked.
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice::milter::session::{run_session, SessionContext, SessionEnd};
use sluice::milter::{OversizeAction, SessionSettings};
use sluice::scan::{ScanError, ScanRequest, Scanner};
use sluice::verdict::{Action, Verdict};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::watch;

type ScanFuture = Pin<Box<dyn Future<Output = Result<Verdict, ScanError>> + Send>>;

/// A scanner that waits, then answers with a fixed action (or fails), and
/// records every request it saw.
struct Fake {
    delay: Duration,
    action: Option<Action>,
    seen: Arc<Mutex<Vec<Arc<ScanRequest>>>>,
}

impl Scanner for Fake {
    fn scan(&self, req: Arc<ScanRequest>) -> ScanFuture {
        self.seen.lock().unwrap().push(req);
        let delay = self.delay;
        let action = self.action.clone();
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            let action = action.ok_or_else(|| ScanError::TaskFailed {
                reason: "rules exploded".into(),
            })?;
            let mut v = Verdict::empty(15.0);
            v.action = action;
            Ok(v)
        })
    }
}

struct Mta {
    io: DuplexStream,
    session: tokio::task::JoinHandle<SessionEnd>,
    seen: Arc<Mutex<Vec<Arc<ScanRequest>>>>,
    _stop: watch::Sender<bool>,
}

const ALL_PROTOCOL: u32 = 0x1f_ffff;

impl Mta {
    fn start(settings: SessionSettings, delay: Duration, action: Option<Action>) -> Mta {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let scanner = Fake {
            delay,
            action,
            seen: seen.clone(),
        };
        let ctx = Arc::new(SessionContext {
            settings,
            scanner: Arc::new(scanner),
        });
        let (client, server) = tokio::io::duplex(1 << 20);
        let (stop, rx) = watch::channel(false);
        let session = tokio::spawn(run_session(server, "test".into(), ctx, rx));
        Mta {
            io: client,
            session,
            seen,
            _stop: stop,
        }
    }

    async fn send(&mut self, code: u8, payload: &[u8]) {
        let mut v = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
        v.push(code);
        v.extend_from_slice(payload);
        self.io.write_all(&v).await.unwrap();
    }

    async fn recv(&mut self) -> (u8, Vec<u8>) {
        let read = async {
            let mut len = [0u8; 4];
            self.io.read_exact(&mut len).await?;
            let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
            self.io.read_exact(&mut buf).await?;
            Ok::<_, std::io::Error>((buf[0], buf[1..].to_vec()))
        };
        tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("a reply within 5s")
            .expect("a whole packet")
    }

    async fn negotiate(&mut self, protocol: u32) -> u32 {
        let mut p = 6u32.to_be_bytes().to_vec();
        p.extend_from_slice(&0x1ffu32.to_be_bytes());
        p.extend_from_slice(&protocol.to_be_bytes());
        self.send(b'O', &p).await;
        let (code, payload) = self.recv().await;
        assert_eq!(code, b'O');
        u32::from_be_bytes(payload[8..12].try_into().unwrap())
    }

    /// Sends envelope and headers with every reply-less flag granted.
    async fn message_head(&mut self, rcpt: &str) {
        self.send(b'C', b"client.example\x004\x01\x02192.0.2.1\0")
            .await;
        self.send(b'H', b"helo.example\0").await;
        self.send(b'D', b"Mi\0QID1\0").await;
        self.send(b'M', b"<a@example.org>\0SIZE=10\0").await;
        self.send(b'R', format!("<{rcpt}>\0").as_bytes()).await;
        self.send(b'L', b"Subject\0 hello\0").await;
        self.send(b'N', b"").await;
    }
}

fn settings() -> SessionSettings {
    SessionSettings {
        progress_interval: Duration::from_millis(40),
        ..SessionSettings::default()
    }
}

fn reply_text(payload: &[u8]) -> String {
    String::from_utf8_lossy(payload.strip_suffix(b"\0").unwrap_or(payload)).into_owned()
}

#[tokio::test]
async fn a_slow_scan_sends_progress_then_the_verdict() {
    let mut mta = Mta::start(
        settings(),
        Duration::from_millis(300),
        Some(Action::NoAction),
    );
    mta.negotiate(ALL_PROTOCOL).await;
    mta.message_head("b@example.net").await;
    mta.send(b'B', b"hello\r\n").await;
    mta.send(b'E', b"").await;
    let mut progress = 0;
    let last = loop {
        let (code, _) = mta.recv().await;
        if code != b'p' {
            break code;
        }
        progress += 1;
    };
    assert!(progress >= 3, "only {progress} progress packets");
    assert_eq!(last, b'a');
}

#[tokio::test]
async fn a_failed_scan_is_a_tempfail_with_the_reason() {
    let mut mta = Mta::start(settings(), Duration::ZERO, None);
    mta.negotiate(ALL_PROTOCOL).await;
    mta.message_head("b@example.net").await;
    mta.send(b'E', b"").await;
    let (code, payload) = mta.recv().await;
    assert_eq!(code, b'y');
    let text = reply_text(&payload);
    assert!(text.starts_with("451 4.7.1 "), "{text}");
    assert!(text.contains("rules exploded"), "{text}");
}

#[tokio::test]
async fn a_scan_past_its_deadline_is_answered() {
    let s = SessionSettings {
        scan_timeout: Duration::from_millis(100),
        ..settings()
    };
    let mut mta = Mta::start(s, Duration::from_secs(30), Some(Action::NoAction));
    mta.negotiate(ALL_PROTOCOL).await;
    mta.message_head("b@example.net").await;
    mta.send(b'E', b"").await;
    let (mut code, mut payload) = mta.recv().await;
    while code == b'p' {
        (code, payload) = mta.recv().await;
    }
    assert_eq!(code, b'y');
    assert!(reply_text(&payload).contains("timed out"));
}

#[tokio::test]
async fn fail_open_accepts_with_a_header() {
    let s = SessionSettings {
        fail_open: true,
        ..settings()
    };
    let mut mta = Mta::start(s, Duration::ZERO, None);
    mta.negotiate(ALL_PROTOCOL).await;
    mta.message_head("b@example.net").await;
    mta.send(b'E', b"").await;
    let (code, payload) = mta.recv().await;
    assert_eq!(code, b'h');
    assert_eq!(payload, b"X-Spam-Status\0 Unknown\0");
    assert_eq!(mta.recv().await.0, b'a');
}

#[tokio::test]
async fn oversize_reject_answers_at_the_body_chunk() {
    let s = SessionSettings {
        max_message: 64,
        oversize_action: OversizeAction::Reject,
        early_oversize: true,
        ..settings()
    };
    let mut mta = Mta::start(s, Duration::ZERO, Some(Action::NoAction));
    mta.negotiate(ALL_PROTOCOL).await;
    mta.message_head("b@example.net").await;
    mta.send(b'B', &[b'x'; 100]).await;
    let (code, payload) = mta.recv().await;
    assert_eq!(code, b'y');
    assert!(reply_text(&payload).starts_with("552 5.3.4 "));
    assert!(
        mta.seen.lock().unwrap().is_empty(),
        "an oversize message is not scanned"
    );
}

#[tokio::test]
async fn oversize_accept_skips_the_body_and_accepts_unscanned() {
    let s = SessionSettings {
        max_message: 64,
        early_oversize: true,
        ..settings()
    };
    let mut mta = Mta::start(s, Duration::ZERO, Some(Action::Reject));
    mta.negotiate(ALL_PROTOCOL).await;
    mta.message_head("b@example.net").await;
    mta.send(b'B', &[b'x'; 100]).await;
    assert_eq!(mta.recv().await.0, b's');
    mta.send(b'E', b"").await;
    assert_eq!(mta.recv().await.0, b'a');
    assert!(mta.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn by_default_body_chunks_go_unanswered_and_oversize_waits_for_end_of_message() {
    let s = SessionSettings {
        max_message: 64,
        oversize_action: OversizeAction::Reject,
        ..settings()
    };
    let mut mta = Mta::start(s, Duration::ZERO, Some(Action::NoAction));
    let granted = mta.negotiate(ALL_PROTOCOL).await;
    assert_ne!(granted & 0x0008_0000, 0, "SMFIP_NR_BODY asked for");
    mta.message_head("b@example.net").await;
    // Two chunks, the first already past max_message: neither is answered,
    // so the next thing read is the reply to end of message.
    mta.send(b'B', &[b'x'; 100]).await;
    mta.send(b'B', &[b'y'; 100]).await;
    mta.send(b'E', b"").await;
    let (code, payload) = mta.recv().await;
    assert_eq!(code, b'y');
    assert!(reply_text(&payload).starts_with("552 5.3.4 "));
    assert!(mta.seen.lock().unwrap().is_empty(), "not scanned");
    // The session goes on: a small message after it is scanned.
    mta.message_head("b@example.net").await;
    mta.send(b'B', b"small\r\n").await;
    mta.send(b'E', b"").await;
    assert_eq!(mta.recv().await.0, b'a');
    assert_eq!(mta.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn without_no_reply_flags_every_event_is_answered() {
    let mut mta = Mta::start(settings(), Duration::ZERO, Some(Action::NoAction));
    // Offer no NR_* and no HDR_LEADSPC: a version-2 style MTA.
    let granted = mta.negotiate(0x3f).await;
    assert_eq!(granted & 0x000f_f080, 0, "no reply-less flag granted");
    for (code, payload) in [
        (b'C', &b"h\0U"[..]),
        (b'H', b"helo\0"),
        (b'M', b"<a@b>\0"),
        (b'R', b"<c@d>\0"),
        (b'L', b"Subject\0hi\0"),
        (b'N', b""),
        (b'B', b"body\r\n"),
    ] {
        mta.send(code, payload).await;
        assert_eq!(mta.recv().await.0, b'c', "reply to {}", code as char);
    }
    mta.send(b'E', b"").await;
    assert_eq!(mta.recv().await.0, b'a');
    let seen = mta.seen.lock().unwrap();
    assert!(
        seen[0].message.starts_with(b"Subject: hi\r\n\r\nbody"),
        "one space put back"
    );
}

#[tokio::test]
async fn abort_isolates_messages_on_one_connection() {
    let mut mta = Mta::start(settings(), Duration::ZERO, Some(Action::NoAction));
    mta.negotiate(ALL_PROTOCOL).await;
    mta.message_head("first@example.net").await;
    mta.send(b'A', b"").await;
    mta.send(b'A', b"").await;
    mta.send(b'M', b"<a@example.org>\0").await;
    mta.send(b'R', b"<second@example.net>\0").await;
    mta.send(b'L', b"Subject\0 two\0").await;
    mta.send(b'E', b"").await;
    assert_eq!(mta.recv().await.0, b'a');
    mta.send(b'A', b"").await;
    mta.send(b'Q', b"").await;
    assert_eq!(mta.session.await.unwrap(), SessionEnd::Quit);
    let seen = mta.seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let env = &seen[0].envelope;
    assert_eq!(env.rcpts, vec!["second@example.net".to_string()]);
    assert_eq!(
        env.queue_id, None,
        "queue id of the aborted message dropped"
    );
    assert_eq!(
        env.helo.as_deref(),
        Some("helo.example"),
        "connection data kept"
    );
    assert_eq!(env.client_ip, Some("192.0.2.1".parse().unwrap()));
    assert_eq!(&seen[0].message[..], b"Subject: two\r\n\r\n");
}

#[tokio::test]
async fn header_bytes_are_kept_exactly_with_leading_space() {
    let mut mta = Mta::start(settings(), Duration::ZERO, Some(Action::NoAction));
    mta.negotiate(ALL_PROTOCOL).await;
    mta.send(b'M', b"<a@example.org>\0").await;
    mta.send(b'L', b"X-Lead\0   three\0").await;
    mta.send(b'L', b"X-Folded\0 first\n\tsecond\0").await;
    mta.send(b'L', b"X-Tab\0\ttabbed\0").await;
    mta.send(b'N', b"").await;
    // Body chunks are reply-less (SMFIP_NR_BODY) by default.
    mta.send(b'B', b"line\r\n").await;
    mta.send(b'E', b"tail\r\n").await;
    assert_eq!(mta.recv().await.0, b'a');
    let seen = mta.seen.lock().unwrap();
    assert_eq!(
        &seen[0].message[..],
        &b"X-Lead:   three\r\nX-Folded: first\r\n\tsecond\r\nX-Tab:\ttabbed\r\n\r\nline\r\ntail\r\n"[..]
    );
}

#[tokio::test]
async fn quit_new_connection_forgets_the_smtp_session() {
    let mut mta = Mta::start(settings(), Duration::ZERO, Some(Action::NoAction));
    mta.negotiate(ALL_PROTOCOL).await;
    mta.send(b'C', b"one\x004\x00\x19198.51.100.7\0").await;
    mta.send(b'H', b"first.example\0").await;
    mta.send(b'K', b"").await;
    mta.send(b'C', b"two\x00U").await;
    mta.send(b'M', b"<a@b>\0").await;
    mta.send(b'E', b"").await;
    assert_eq!(mta.recv().await.0, b'a');
    let seen = mta.seen.lock().unwrap();
    assert_eq!(seen[0].envelope.helo, None);
    assert_eq!(seen[0].envelope.client_ip, None);
    assert_eq!(seen[0].envelope.client_name.as_deref(), Some("two"));
}

#[tokio::test]
async fn shutdown_closes_an_idle_session() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let ctx = Arc::new(SessionContext {
        settings: settings(),
        scanner: Arc::new(Fake {
            delay: Duration::ZERO,
            action: Some(Action::NoAction),
            seen,
        }),
    });
    let (_client, server) = tokio::io::duplex(1024);
    let (stop, rx) = watch::channel(false);
    let session = tokio::spawn(run_session(server, "t".into(), ctx, rx));
    stop.send(true).unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), session).await;
    assert_eq!(end.unwrap().unwrap(), SessionEnd::Shutdown);
}
