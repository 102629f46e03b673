//! One milter connection: negotiation, the per-event state machine, the scan
//! at end of message and the replies.
//!
//! Tolerant where real MTAs are odd (an `A` outside a transaction, two `A` in
//! a row, repeated HELO, EOF instead of `Q`), strict where input is hostile:
//! anything before negotiation, a second negotiation, content without MAIL,
//! a malformed or oversize packet, or a slow sender ends the session with one
//! log line. A scan that fails or runs out of time is always answered.
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sluice_proto::milter::optneg::protocol;
use sluice_proto::milter::{Command, Packet, Reply};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

use super::control::SessionControl;
use super::envelope::{bare_address, envelope, ConnectionData, Macros, Transaction};
use super::io::{PacketIo, ReadError};
use super::negotiate::{negotiate, Negotiated};
use super::respond::{respond, smtp_reply};
use super::settings::{OversizeAction, SessionSettings};
use crate::metrics::FailReason;
use crate::verdict::format::push_2dp;
use crate::verdict::{Placement, ScanRequest, Scanner, Verdict};

/// How a session ended, for the connection counters and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// `Q` or EOF at a message boundary.
    Quit,
    /// The session was ended because of bad input or a timeout.
    Failed(FailReason, String),
    /// The daemon is shutting down.
    Shutdown,
    /// Closed between messages to make room for a new connection.
    Evicted,
}

/// Session-wide dependencies.
pub struct SessionContext {
    pub settings: SessionSettings,
    pub scanner: Arc<dyn Scanner>,
}

/// While draining: how long an idle session waits for a packet already on
/// its way (the next message of a busy MTA, or the negotiation of a
/// connection taken from the listen backlog) before it closes.
const DRAIN_PEEK: Duration = Duration::from_millis(500);
/// How long a closing session reads what the MTA still sends, so that
/// closing does not reset the connection.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// Serves one MTA connection until it ends. `peer` names it in log lines.
pub async fn run_session<S>(
    stream: S,
    peer: String,
    ctx: Arc<SessionContext>,
    shutdown: watch::Receiver<bool>,
) -> SessionEnd
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let control = Arc::new(SessionControl::default());
    run_controlled(stream, peer, ctx, shutdown, &control, Placement::Pool).await
}

/// [`run_session`] for a session the server admitted: `control` tells the
/// server when it is inside a message and lets it evict the session
/// between messages; `placement` is where the server lets its messages be
/// scanned (in place only on a thread of its own).
pub async fn run_controlled<S>(
    stream: S,
    peer: String,
    ctx: Arc<SessionContext>,
    mut shutdown: watch::Receiver<bool>,
    control: &SessionControl,
    placement: Placement,
) -> SessionEnd
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let s = &ctx.settings;
    let io = PacketIo::new(stream, s.max_packet, s.command_timeout);
    let mut session = Session::new(io, ctx.clone(), placement);
    // Set on shutdown: past it, a message in flight is answered with
    // tempfail instead of being cut off silently. A session taken from the
    // listen backlog after shutdown began is draining from its start.
    let mut grace_end = (*shutdown.borrow_and_update()).then(|| Instant::now() + s.shutdown_grace);
    let end = loop {
        let draining = grace_end.is_some();
        let (idle, limit, lifetime) = session.wait_limits(draining);
        let packet = tokio::select! {
            biased;
            r = session.io.read(idle, limit, lifetime) => r,
            _ = shutdown.changed(), if !draining => {
                grace_end = Some(Instant::now() + s.shutdown_grace);
                continue;
            }
            _ = sleep_until_some(grace_end) => break session.grace_over(&peer).await,
            _ = control.evicted() => break SessionEnd::Evicted,
        };
        let step = match packet {
            Ok(p) if p.code == b'M' && session.tx.is_none() && !control.begin_message() => {
                break SessionEnd::Evicted
            }
            Ok(packet) => session.handle(packet).await,
            Err(ReadError::Closed) if session.tx.is_none() => Err(End::Quit),
            Err(ReadError::Idle(_)) if draining && session.is_idle() => break SessionEnd::Shutdown,
            Err(e) => Err(End::Failed(FailReason::from(&e), e.to_string())),
        };
        session.after_step(control);
        if let Err(end) = step {
            break match end {
                End::Quit => SessionEnd::Quit,
                End::Failed(kind, why) => SessionEnd::Failed(kind, why),
            };
        }
    };
    match &end {
        SessionEnd::Failed(kind, why) => {
            warn!(peer = %peer, kind = kind.as_str(), reason = %why, "milter session ended")
        }
        SessionEnd::Shutdown | SessionEnd::Evicted => session.io.close(CLOSE_LINGER).await,
        SessionEnd::Quit => {}
    }
    end
}

/// Waits until `at`, or forever when there is no deadline.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Why the event loop stops.
enum End {
    Quit,
    Failed(FailReason, String),
}

type Step = Result<(), End>;

/// A protocol violation by the MTA.
fn failed(why: impl Into<String>) -> End {
    End::Failed(FailReason::Protocol, why.into())
}

/// A reply that could not be written.
fn write_failed(e: impl std::fmt::Display) -> End {
    End::Failed(FailReason::Io, format!("write failed: {e}"))
}

/// Where a session is, for its timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Negotiating,
    /// Before MAIL or between messages.
    Outside,
    InMessage,
}

struct Session<S> {
    io: PacketIo<S>,
    ctx: Arc<SessionContext>,
    placement: Placement,
    agreed: Option<Negotiated>,
    conn: ConnectionData,
    macros: Macros,
    tx: Option<Transaction>,
    /// When the current stage began: the connection (until negotiated), the
    /// stretch outside messages, or the message. Its lifetime runs from here.
    stage_since: Instant,
    stage: Stage,
    /// Messages that ended since shutdown began: a draining session takes
    /// at most the one already on its way.
    ended_while_draining: usize,
    draining: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<S> {
    fn new(io: PacketIo<S>, ctx: Arc<SessionContext>, placement: Placement) -> Self {
        Session {
            io,
            ctx,
            placement,
            agreed: None,
            conn: ConnectionData::default(),
            macros: Macros::default(),
            tx: None,
            stage_since: Instant::now(),
            stage: Stage::Negotiating,
            ended_while_draining: 0,
            draining: false,
        }
    }

    /// The wait for the next packet at this stage: idle timeout, the
    /// instant the stage's lifetime ends, and that lifetime.
    fn wait_limits(&mut self, draining: bool) -> (Duration, Instant, Duration) {
        self.draining = draining;
        let s = self.settings();
        let (idle, lifetime) = match self.stage {
            Stage::Negotiating => (s.negotiate_timeout, s.negotiate_timeout),
            Stage::Outside => (s.idle_timeout, s.idle_lifetime),
            Stage::InMessage => (s.message_timeout, s.message_lifetime),
        };
        let idle = match draining && self.is_idle() {
            true if self.ended_while_draining > 0 => Duration::ZERO,
            true => idle.min(DRAIN_PEEK),
            false => idle,
        };
        (idle, self.stage_since + lifetime, lifetime)
    }

    /// Keeps the stage clock and the shared state in step with the
    /// transaction after each packet.
    fn after_step(&mut self, control: &SessionControl) {
        let now = self.current_stage();
        if now == self.stage {
            return;
        }
        if self.stage == Stage::InMessage {
            control.end_message();
            if self.draining {
                self.ended_while_draining += 1;
            }
        }
        self.stage = now;
        self.stage_since = Instant::now();
    }

    fn current_stage(&self) -> Stage {
        match (&self.agreed, &self.tx) {
            (None, _) => Stage::Negotiating,
            (Some(_), None) => Stage::Outside,
            (Some(_), Some(_)) => Stage::InMessage,
        }
    }

    /// Between messages with nothing buffered: safe to close on shutdown.
    fn is_idle(&self) -> bool {
        self.tx.is_none() && !self.io.has_partial()
    }

    fn settings(&self) -> &SessionSettings {
        &self.ctx.settings
    }

    /// The shutdown grace ran out inside a message: tempfail it, so the MTA
    /// keeps the mail queued, and end the session.
    async fn grace_over(&mut self, peer: &str) -> SessionEnd {
        let sent = self.io.send(&Reply::Tempfail).await;
        warn!(
            peer = %peer,
            answered = sent.is_ok(),
            "shutdown grace over: message in flight answered with tempfail"
        );
        SessionEnd::Shutdown
    }

    async fn handle(&mut self, packet: Packet) -> Step {
        let cmd = Command::parse(&packet).map_err(|e| failed(format!("bad packet: {e}")))?;
        let Some(agreed) = self.agreed else {
            return match cmd {
                Command::OptNeg(offer) => self.negotiate(offer).await,
                other => Err(failed(format!("{} before negotiation", other.name()))),
            };
        };
        self.trace("command", cmd.name());
        match cmd {
            Command::OptNeg(_) => Err(failed("second option negotiation")),
            Command::Macro(m) => {
                self.macros.store(&m);
                Ok(())
            }
            Command::Connect(c) => {
                self.conn = ConnectionData::from_connect(&c);
                self.trace("command", "SMFIC_CONNECT");
                self.ack(agreed, protocol::NR_CONN).await
            }
            Command::Helo(h) => {
                self.conn.helo = Some(String::from_utf8_lossy(&h).trim().to_string());
                self.ack(agreed, protocol::NR_HELO).await
            }
            Command::Mail(args) => {
                let mut tx = Transaction::new(self.settings().max_message);
                tx.from = Some(bare_address(args.first()));
                self.tx = Some(tx);
                self.ack(agreed, protocol::NR_MAIL).await
            }
            Command::Rcpt(args) => {
                self.tx_mut("RCPT")?.rcpts.push(bare_address(args.first()));
                self.ack(agreed, protocol::NR_RCPT).await
            }
            Command::Data => self.ack(agreed, protocol::NR_DATA).await,
            Command::Unknown(_) => self.ack(agreed, protocol::NR_UNKN).await,
            Command::Header { name, value } => self.header(agreed, name, value).await,
            Command::EndOfHeaders => {
                self.tx_mut("end of headers")?.raw.end_headers();
                self.ack(agreed, protocol::NR_EOH).await
            }
            Command::Body(chunk) => self.body(agreed, &chunk).await,
            Command::EndOfMessage(chunk) => self.end_of_message(agreed, &chunk).await,
            Command::Abort => {
                self.reset_message();
                Ok(())
            }
            Command::Quit => Err(End::Quit),
            Command::QuitNewConnection => {
                self.reset_message();
                self.conn = ConnectionData::default();
                self.macros.clear_all();
                Ok(())
            }
        }
    }

    async fn negotiate(&mut self, offer: sluice_proto::milter::OptNeg) -> Step {
        if offer.version < 2 {
            return Err(failed(format!(
                "milter protocol version {} unsupported",
                offer.version
            )));
        }
        let (agreed, reply) = negotiate(&offer, self.settings().early_oversize);
        self.agreed = Some(agreed);
        self.send(&Reply::OptNeg(reply)).await
    }

    fn tx_mut(&mut self, what: &str) -> Result<&mut Transaction, End> {
        self.tx
            .as_mut()
            .ok_or_else(|| failed(format!("{what} outside a transaction (no MAIL)")))
    }

    fn reset_message(&mut self) {
        self.tx = None;
        self.macros.clear_message();
    }

    /// Answers "continue" unless the event was made reply-less.
    async fn ack(&mut self, agreed: Negotiated, nr_flag: u32) -> Step {
        if agreed.replies_to(nr_flag) {
            self.send(&Reply::Continue).await
        } else {
            Ok(())
        }
    }

    /// Per-client debugging (`logging.debug_ip`): the exchange, step by step.
    fn trace(&self, dir: &str, what: &str) {
        if crate::log::debug_client(self.conn.client_ip) {
            tracing::debug!(
                target: "debug_ip",
                ip = %display_ip(self.conn.client_ip),
                qid = %self.macros.get("i").unwrap_or("-"),
                "milter {dir} {what}"
            );
        }
    }

    async fn send(&mut self, reply: &Reply) -> Step {
        self.trace_reply(reply);
        self.io.send(reply).await.map_err(write_failed)
    }

    /// Traces a reply for a `debug_ip` client; formats nothing otherwise.
    fn trace_reply(&self, reply: &Reply) {
        if crate::log::debug_client(self.conn.client_ip) {
            let shown = format!("{reply:?}");
            self.trace("reply", shown.get(..200).unwrap_or(&shown));
        }
    }

    async fn header(&mut self, agreed: Negotiated, name: Bytes, value: Bytes) -> Step {
        let tx = self.tx_mut("header")?;
        tx.raw
            .push_header(&name, &value, agreed.leading_space_kept());
        tx.header_names.push(&name);
        self.ack(agreed, protocol::NR_HDR).await
    }

    async fn body(&mut self, agreed: Negotiated, chunk: &[u8]) -> Step {
        let tx = self.tx_mut("body")?;
        if tx.answered || tx.skipped {
            // After `s` Postfix may still have a chunk in flight.
            return self.ack(agreed, protocol::NR_BODY).await;
        }
        tx.raw.push_body(chunk);
        // Reply-less body chunks: an oversize message waits for end of message.
        if !tx.raw.is_oversize() || !agreed.replies_to(protocol::NR_BODY) {
            return self.ack(agreed, protocol::NR_BODY).await;
        }
        self.oversize_early(agreed).await
    }

    /// The message just passed `max_message`: answer now when the policy
    /// refuses it, or stop receiving the body when it will pass unscanned.
    async fn oversize_early(&mut self, agreed: Negotiated) -> Step {
        let action = self.settings().oversize_action;
        let tx = self.tx.as_mut().expect("checked by caller");
        let reply = match action {
            OversizeAction::Accept if agreed.can_skip() => {
                tx.skipped = true;
                Reply::Skip
            }
            OversizeAction::Accept => return self.ack(agreed, protocol::NR_BODY).await,
            OversizeAction::Tempfail | OversizeAction::Reject => {
                tx.answered = true;
                oversize_reply(action)
            }
        };
        if tx.answered {
            let size = tx.raw.size();
            self.log_unscanned(action, size);
        }
        self.send(&reply).await
    }

    async fn end_of_message(&mut self, agreed: Negotiated, chunk: &[u8]) -> Step {
        let mut tx = self
            .tx
            .take()
            .ok_or_else(|| failed("end of message outside a transaction (no MAIL)"))?;
        if tx.answered {
            // Already refused at a body chunk; the MTA should not be here.
            return self.finish(Reply::Tempfail).await;
        }
        if !chunk.is_empty() {
            tx.raw.push_body(chunk);
        }
        if tx.raw.is_oversize() {
            let action = self.settings().oversize_action;
            self.log_unscanned(action, tx.raw.size());
            return self.finish(oversize_reply(action)).await;
        }
        let started = Instant::now();
        let env = envelope(&self.conn, &tx, &self.macros);
        let request = Arc::new(ScanRequest {
            envelope: env,
            message: Bytes::from(tx.raw.take()),
            options: Default::default(),
            placement: self.placement,
        });
        let outcome = self.scan_with_progress(request.clone()).await?;
        if let Ok(v) = &outcome {
            crate::metrics::global().record_scan(v.action.rank(), v.scan_time);
            let row = crate::history::Row::new(&request.envelope, &request.message, v);
            crate::history::record(row);
        }
        let replies = match &outcome {
            Ok(verdict) => respond(verdict, &tx, &agreed, self.settings()).packets,
            Err(why) => self.failure_replies(&agreed, why),
        };
        log_message(&request, &outcome, started, self.conn.client_ip);
        self.queue_replies(&replies, &request)?;
        self.macros.clear_message();
        self.io.flush().await.map_err(write_failed)
    }

    /// Queues the end-of-message replies. A modification too large to frame
    /// is left out with a warning rather than costing the verdict: the last
    /// reply (the verdict) always goes out.
    fn queue_replies(&mut self, replies: &[Reply], req: &ScanRequest) -> Step {
        for reply in replies {
            self.trace_reply(reply);
            let Err(e) = self.io.queue(reply) else {
                continue;
            };
            warn!(
                qid = %req.envelope.queue_id.as_deref().unwrap_or("-"),
                error = %e,
                "milter reply left out"
            );
            if std::ptr::eq(reply, replies.last().expect("not empty")) {
                return self.io.queue(&Reply::Tempfail).map_err(|e| {
                    End::Failed(FailReason::Io, format!("encoding a reply failed: {e}"))
                });
            }
        }
        Ok(())
    }

    /// Runs the scan under its deadline, sending `p` keepalives meanwhile so
    /// that the MTA's per-read timeout does not expire. Both wait on the
    /// session's one timer (see [`PacketIo`]), armed for whichever comes
    /// first.
    async fn scan_with_progress(
        &mut self,
        request: Arc<ScanRequest>,
    ) -> Result<Result<Verdict, String>, End> {
        let interval = self.settings().progress_interval;
        let limit = self.settings().scan_timeout;
        let deadline = tokio::time::Instant::now() + limit;
        let mut next_progress = tokio::time::Instant::now() + interval;
        let scan = self.ctx.scanner.scan(request);
        tokio::pin!(scan);
        loop {
            let wake = next_progress.min(deadline);
            tokio::select! {
                biased;
                r = &mut scan => return Ok(r.map_err(|e| format!("scan failed: {e}"))),
                _ = self.io.sleep_until(wake) => {}
            }
            if wake >= deadline {
                return Ok(Err(format!("scan timed out after {limit:?}")));
            }
            self.send(&Reply::Progress).await?;
            next_progress += interval;
        }
    }

    /// The answer when no verdict could be had: tempfail with the reason, or
    /// accept with a header saying the message was not scanned.
    fn failure_replies(&self, agreed: &Negotiated, why: &str) -> Vec<Reply> {
        if !self.settings().fail_open {
            let text = format!("Service unavailable - try again later ({why})");
            return vec![smtp_reply(451, "4.7.1", &text)];
        }
        let mut out = Vec::with_capacity(2);
        if agreed.grants(sluice_proto::milter::optneg::action::ADD_HEADERS) {
            let value: &'static [u8] = if agreed.leading_space_kept() {
                b" Unknown"
            } else {
                b"Unknown"
            };
            out.push(Reply::AddHeader {
                name: Bytes::from_static(b"X-Spam-Status"),
                value: Bytes::from_static(value),
            });
        }
        out.push(Reply::Accept);
        out
    }

    async fn finish(&mut self, reply: Reply) -> Step {
        self.macros.clear_message();
        self.send(&reply).await
    }

    /// `size` is passed in: at end of message the transaction has already
    /// been taken out of the session.
    fn log_unscanned(&self, action: OversizeAction, size: usize) {
        info!(
            qid = %self.macros.get("i").unwrap_or("-"),
            ip = %display_ip(self.conn.client_ip),
            size,
            oversize_action = ?action,
            "message over max_message, not scanned"
        );
    }
}

fn oversize_reply(action: OversizeAction) -> Reply {
    match action {
        OversizeAction::Accept => Reply::Accept,
        OversizeAction::Tempfail => smtp_reply(452, "4.3.4", "Message too large to scan"),
        OversizeAction::Reject => smtp_reply(552, "5.3.4", "Message size exceeds scanner limit"),
    }
}

fn display_ip(ip: Option<IpAddr>) -> String {
    ip.map(|i| i.to_string()).unwrap_or_else(|| "-".into())
}

/// `format!("{x:.2}")` without the float formatter's cost (one log line
/// per message).
fn two_decimals(x: f64) -> String {
    let mut out = String::with_capacity(8);
    push_2dp(&mut out, x);
    out
}

/// The one log line per message.
fn log_message(
    req: &ScanRequest,
    outcome: &Result<Verdict, String>,
    started: Instant,
    ip: Option<IpAddr>,
) {
    let env = &req.envelope;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let qid = env.queue_id.as_deref().unwrap_or("-");
    let from = env.from.as_deref().unwrap_or("-");
    match outcome {
        Ok(v) => info!(
            qid = %qid,
            ip = %display_ip(ip),
            from = %from,
            rcpts = %env.rcpts.join(","),
            action = ?v.action.as_str(),
            score = %v.score_pair(),
            symbols = %v.symbol_list(),
            size = req.message.len(),
            upstream = v.upstream.as_deref().map(tracing::field::display),
            time_ms = %two_decimals(ms),
            "scanned"
        ),
        Err(why) => warn!(
            qid = %qid,
            ip = %display_ip(ip),
            from = %from,
            reason = %why,
            time_ms = %two_decimals(ms),
            "scan failed"
        ),
    }
}
