//! One milter connection driven like Postfix's smtpd: O, D+C, D+H, then per
//! message M, R, T, L..., N, B..., E and an A after the verdict; at the end
//! A and Q. The message part is `MtaClient::send_message`.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_proto::milter::{
    ClientError, Command, Connect, Envelope, Family, MtaClient, OptNeg, Reply,
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::classify::{final_kind, modification_kind};
use super::corpus::Message;
use super::tally::Tally;

/// Longest wait for one message's verdict. Postfix gives up after its
/// content timeout (300 s); a load tool should notice a stuck milter sooner.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(60);

/// The shared job list: message `i` of the run is `corpus[i % len]`.
pub struct Jobs<'a> {
    pub corpus: &'a [Message],
    pub total: usize,
    pub next: AtomicUsize,
}

impl Jobs<'_> {
    /// Claims the next message, or None when the run is complete.
    pub fn claim(&self) -> Option<(usize, &Message)> {
        if self.done() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < self.total).then(|| (i, &self.corpus[i % self.corpus.len()]))
    }

    /// True once every message has been claimed.
    pub fn done(&self) -> bool {
        self.next.load(Ordering::Relaxed) >= self.total
    }
}

/// Why a session ended early; the message in flight (if any) is lost.
pub struct SessionError {
    pub in_flight: bool,
    pub error: String,
}

fn err(in_flight: bool) -> impl Fn(ClientError) -> SessionError {
    move |e| SessionError {
        in_flight,
        error: e.to_string(),
    }
}

/// Opens the session (negotiation, connect, helo). Refusal at connect or
/// HELO is an error for a load tool: no message could be measured.
pub async fn open<S>(client: &mut MtaClient<S>) -> Result<(), SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    client
        .negotiate(OptNeg::postfix())
        .await
        .map_err(err(false))?;
    let connect_macros = [
        ("j", "mx.bench.test"),
        ("{daemon_name}", "mx.bench.test"),
        ("{daemon_addr}", "127.0.0.1"),
        ("v", "sluice-bench"),
        ("_", "client.bench.test [127.0.0.1]"),
    ];
    client
        .macros(b'C', &connect_macros)
        .await
        .map_err(err(false))?;
    let connect = Connect {
        hostname: Bytes::from_static(b"client.bench.test"),
        family: Family::Inet4,
        port: 54321,
        address: Bytes::from_static(b"127.0.0.1"),
    };
    expect_continue(client.command(Command::Connect(connect)).await, "connect")?;
    client.macros(b'H', &[]).await.map_err(err(false))?;
    let helo = Command::Helo(Bytes::from_static(b"client.bench.test"));
    expect_continue(client.command(helo).await, "helo")
}

fn expect_continue(
    r: Result<Option<sluice_proto::milter::Response>, ClientError>,
    what: &str,
) -> Result<(), SessionError> {
    match r.map_err(err(false))? {
        None => Ok(()),
        Some(resp) if resp.terminal == Reply::Continue => Ok(()),
        Some(resp) => Err(SessionError {
            in_flight: false,
            error: format!("milter answered {:?} to {what}", resp.terminal),
        }),
    }
}

/// Sends up to `max` messages over an open session, tallying each answer.
/// Returns how many messages were claimed (answered or lost).
pub async fn run_messages<S>(
    client: &mut MtaClient<S>,
    jobs: &Jobs<'_>,
    max: usize,
    tally: &mut Tally,
) -> Result<usize, SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut claimed = 0;
    while claimed < max {
        let Some((i, msg)) = jobs.claim() else { break };
        claimed += 1;
        let queue_id = format!("B{i:09X}");
        client
            .macros(
                b'M',
                &[
                    ("{mail_addr}", msg.envelope.from.as_str()),
                    ("{mail_mailer}", "smtp"),
                ],
            )
            .await
            .map_err(err(true))?;
        let rcpts = [msg.envelope.rcpt.as_str()];
        let envelope = Envelope {
            from: &msg.envelope.from,
            rcpts: &rcpts,
            queue_id: Some(&queue_id),
        };
        let started = Instant::now();
        let resp = tokio::time::timeout(MESSAGE_TIMEOUT, client.send_message(&envelope, &msg.raw))
            .await
            .map_err(|_| SessionError {
                in_flight: true,
                error: format!(
                    "{}: no verdict within {MESSAGE_TIMEOUT:?}",
                    msg.path.display()
                ),
            })?
            .map_err(|e| SessionError {
                in_flight: true,
                error: format!("{}: {e}", msg.path.display()),
            })?;
        let latency = started.elapsed();
        for m in &resp.modifications {
            tally.modification(modification_kind(m));
        }
        tally.progress += u64::from(resp.progress);
        tally.answered(latency, final_kind(&resp.terminal, &resp.modifications));
        client.abort().await.map_err(err(false))?;
    }
    Ok(claimed)
}
