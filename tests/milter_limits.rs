//! Limits that keep the milter serving under abuse: oversized replies
//! still carry the verdict, idle sessions give way to new ones at the
//! session cap, sessions that make no progress are ended, and SIGTERM
//! answers every connection already waiting.
mod common;

use common::Daemon;
use sluice_proto::milter::client::{Envelope, MtaClient};
use sluice_proto::milter::optneg::OptNeg;
use sluice_proto::milter::Reply;

const POSTFIX_OFFER: OptNeg = OptNeg {
    version: 6,
    actions: 0x1ff,
    protocol: 0x1f_ffff,
};

/// A rule that echoes every attachment name as an option, weighted to
/// reject on its own.
const ECHO_NAMES: &str = "rspamd_config.ATTACH_NAME = { score = 20.0, callback = function(task)\n\
  for _, p in ipairs(task:get_parts()) do\n\
    local f = p:get_filename()\n\
    if f then task:insert_result('ATTACH_NAME', 1.0, f) end\n\
  end\n\
end }\n";

fn with_attachment(name: &str) -> Vec<u8> {
    format!(
        "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: files\r\n\
Date: Sun, 22 Nov 2026 05:00:24 +0000\r\nMessage-ID: <att@example.org>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n\
--BB\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--BB\r\n\
Content-Type: application/octet-stream\r\n\
Content-Disposition: attachment; filename=\"{name}\"\r\n\r\nAAAA\r\n--BB--\r\n"
    )
    .into_bytes()
}

fn envelope() -> Envelope<'static> {
    Envelope {
        from: "alice@example.org",
        rcpts: &["bob@example.net"],
        queue_id: Some("4BIG"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_attachment_name_still_gets_its_reject() {
    let d = Daemon::start_with_files(&[("../rspamd.local.lua", ECHO_NAMES)]);
    let name = format!("{}.pdf", "n".repeat(1_100_000));
    let mut c = MtaClient::connect_tcp(d.addr).await.unwrap();
    c.negotiate(POSTFIX_OFFER).await.unwrap();
    let r = c
        .send_message(&envelope(), &with_attachment(&name))
        .await
        .expect("the verdict arrives, the session is not cut");
    let Reply::ReplyCode(text) = &r.terminal else {
        panic!("wanted the reject, got {:?}", r.terminal);
    };
    assert!(
        text.starts_with(b"554 5.7.1"),
        "{:?}",
        String::from_utf8_lossy(text)
    );
    let line = d.wait_log("scanned");
    assert!(line.contains("ATTACH_NAME"), "{line}");
    assert!(line.contains("action=\"reject\""), "{line}");
    // The session goes on: a second message on the same connection.
    let r = c
        .send_message(&envelope(), &with_attachment("a.pdf"))
        .await
        .unwrap();
    assert!(
        matches!(r.terminal, Reply::ReplyCode(_)),
        "{:?}",
        r.terminal
    );
    c.quit().await.unwrap();
}
