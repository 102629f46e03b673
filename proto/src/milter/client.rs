//! The MTA role: drives a milter the way Postfix's `milter8.c` does.
//!
//! Used by tests and by `sluice bench milter`. It
//! honours what was negotiated (events suppressed by `NO_*` are not sent,
//! events made reply-less by `NR_*` are not waited for) and is strict about
//! replies the way an MTA is: a modification outside end-of-message, or one
//! whose action was not granted, is an error.
use std::net::SocketAddr;
use std::path::Path;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio_util::codec::Framed;

use super::command::{code, Command};
use super::frame::{FrameCodec, FrameError, Packet};
use super::macros::MacroPacket;
use super::optneg::{protocol, OptNeg, OptNegReply};
use super::reply::{Reply, ReplyError};
use super::split::{body_chunks, split_message};

/// One message's envelope for [`MtaClient::send_message`].
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    /// Sender address, with or without `<>`; empty means the null sender.
    pub from: &'a str,
    /// Recipient addresses, with or without `<>`.
    pub rcpts: &'a [&'a str],
    /// When set, sent as macro `i` before T, L, N, B and E, as Postfix does.
    pub queue_id: Option<&'a str>,
}

/// Everything the milter answered to one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Modification and quarantine packets, in arrival order.
    pub modifications: Vec<Reply>,
    /// How many `p` packets arrived before the verdict.
    pub progress: u32,
    /// The reply that ended the wait.
    pub terminal: Reply,
}

/// Why talking to the milter failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The byte stream could not be framed.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A packet from the milter is not a valid reply.
    #[error(transparent)]
    Reply(#[from] ReplyError),
    /// The milter closed the connection while a reply was due.
    #[error("milter closed the connection while a reply was due")]
    Closed,
    /// A valid reply at a point where an MTA would not accept it.
    #[error("unexpected milter reply '{}' to {command}: {why}", reply.escape_ascii())]
    Unexpected {
        command: &'static str,
        reply: u8,
        why: &'static str,
    },
    /// The transport failed outside framing (connect, shutdown).
    #[error("milter connection I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// An MTA-side milter connection.
pub struct MtaClient<S> {
    framed: Framed<S, FrameCodec>,
    negotiated: Option<OptNegReply>,
}

impl MtaClient<TcpStream> {
    /// Connects to a milter listening on TCP.
    pub async fn connect_tcp(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(MtaClient::new(stream))
    }
}

impl MtaClient<UnixStream> {
    /// Connects to a milter listening on a Unix socket.
    pub async fn connect_unix(path: &Path) -> std::io::Result<Self> {
        Ok(MtaClient::new(UnixStream::connect(path).await?))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> MtaClient<S> {
    /// Wraps an already connected stream.
    pub fn new(stream: S) -> Self {
        MtaClient {
            framed: Framed::new(stream, FrameCodec::default()),
            negotiated: None,
        }
    }

    /// The milter's answer to option negotiation, once made.
    pub fn negotiated(&self) -> Option<&OptNegReply> {
        self.negotiated.as_ref()
    }

    /// Sends `O` and reads the milter's `O`; remembers it for later commands.
    pub async fn negotiate(&mut self, offer: OptNeg) -> Result<OptNegReply, ClientError> {
        self.send(Command::OptNeg(offer).to_packet()).await?;
        match self.read_reply().await? {
            Reply::OptNeg(reply) => {
                check_negotiation(&offer, &reply)?;
                self.negotiated = Some(reply.clone());
                Ok(reply)
            }
            other => Err(unexpected(
                "SMFIC_OPTNEG",
                &other,
                "only O answers option negotiation",
            )),
        }
    }

    /// Sends a `D` packet (never answered).
    pub async fn macros(&mut self, stage: u8, pairs: &[(&str, &str)]) -> Result<(), ClientError> {
        let packet = Command::Macro(MacroPacket::new(stage, pairs)).to_packet();
        self.send(packet).await
    }

    /// Sends one command. Returns None if the command never gets a reply (D A
    /// Q K) or the negotiated NR_* flag makes it reply-less; does not send it
    /// at all (returns None) if a negotiated NO_* flag suppresses it.
    /// Otherwise reads until a terminal reply; progress packets are counted.
    pub async fn command(&mut self, cmd: Command) -> Result<Option<Response>, ClientError> {
        let code = cmd.code();
        let flags = self.negotiated.as_ref().map_or(0, |n| n.protocol);
        let (no, nr) = event_flags(code);
        if flags & no != 0 {
            return Ok(None);
        }
        let name = cmd.name();
        self.send(cmd.to_packet()).await?;
        if never_answered(code) || flags & nr != 0 {
            return Ok(None);
        }
        let response = self.read_response(name, code == code::BODYEOB).await?;
        if let Reply::OptNeg(reply) = &response.terminal {
            self.negotiated = Some(reply.clone());
        }
        Ok(Some(response))
    }

    /// Whole message: M (with `<brackets>`), R per rcpt, T, one L per header
    /// (split from `raw` the way Postfix does: value after the colon, exactly
    /// one leading SPACE stripped unless HDR_LEADSPC was negotiated, folded
    /// lines joined with a bare LF), N, body in B chunks of <= 65535 bytes
    /// with CRLF line endings (bare LF converted), then E. Stops early and
    /// returns the terminal reply of any step that answers anything other
    /// than Continue.
    pub async fn send_message(
        &mut self,
        msg: &Envelope<'_>,
        raw: &[u8],
    ) -> Result<Response, ClientError> {
        let leadspc = self.protocol() & protocol::HDR_LEADSPC != 0;
        let split = split_message(raw, leadspc);
        let mail = Command::Mail(vec![bracket(msg.from)]);
        if let Some(stop) = self.step(mail).await? {
            return Ok(stop);
        }
        for rcpt in msg.rcpts {
            if let Some(stop) = self.step(Command::Rcpt(vec![bracket(rcpt)])).await? {
                return Ok(stop);
            }
        }
        self.queue_macro(b'T', msg).await?;
        if let Some(stop) = self.step(Command::Data).await? {
            return Ok(stop);
        }
        for (name, value) in split.headers {
            self.queue_macro(b'L', msg).await?;
            match self.step(Command::Header { name, value }).await? {
                Some(r) if r.terminal == Reply::Skip => break,
                Some(stop) => return Ok(stop),
                None => {}
            }
        }
        self.queue_macro(b'N', msg).await?;
        if let Some(stop) = self.step(Command::EndOfHeaders).await? {
            return Ok(stop);
        }
        for chunk in body_chunks(&split.body) {
            self.queue_macro(b'B', msg).await?;
            match self.step(Command::Body(chunk)).await? {
                Some(r) if r.terminal == Reply::Skip => break,
                Some(stop) => return Ok(stop),
                None => {}
            }
        }
        self.queue_macro(b'E', msg).await?;
        self.command(Command::EndOfMessage(Bytes::new()))
            .await?
            .ok_or(ClientError::Closed)
    }

    /// Sends `A`: forget the current message (never answered).
    pub async fn abort(&mut self) -> Result<(), ClientError> {
        self.send(Command::Abort.to_packet()).await
    }

    /// Sends `Q` and closes the connection.
    pub async fn quit(mut self) -> Result<(), ClientError> {
        self.send(Command::Quit.to_packet()).await?;
        self.framed.get_mut().shutdown().await?;
        Ok(())
    }

    /// Writes one raw packet (tests that need to misbehave).
    pub async fn send(&mut self, packet: Packet) -> Result<(), ClientError> {
        self.framed.send(packet).await.map_err(ClientError::from)
    }

    /// Reads and parses one packet from the milter.
    pub async fn read_reply(&mut self) -> Result<Reply, ClientError> {
        match self.framed.next().await {
            Some(packet) => Ok(Reply::parse(&packet?)?),
            None => Err(ClientError::Closed),
        }
    }

    /// Sends a command; `Some` when the message must stop here.
    async fn step(&mut self, cmd: Command) -> Result<Option<Response>, ClientError> {
        Ok(self
            .command(cmd)
            .await?
            .filter(|r| r.terminal != Reply::Continue))
    }

    /// Postfix sends the EOH/EOM macro list (`i`) before every such event.
    async fn queue_macro(&mut self, stage: u8, msg: &Envelope<'_>) -> Result<(), ClientError> {
        match msg.queue_id {
            Some(id) => self.macros(stage, &[("i", id)]).await,
            None => Ok(()),
        }
    }

    fn protocol(&self) -> u32 {
        self.negotiated.as_ref().map_or(0, |n| n.protocol)
    }

    fn actions(&self) -> u32 {
        self.negotiated.as_ref().map_or(0, |n| n.actions)
    }

    /// Reads intermediate packets until a terminal reply.
    async fn read_response(
        &mut self,
        command: &'static str,
        at_eom: bool,
    ) -> Result<Response, ClientError> {
        let mut modifications = Vec::new();
        let mut progress = 0;
        loop {
            let reply = self.read_reply().await?;
            if reply.is_terminal() {
                return Ok(Response {
                    modifications,
                    progress,
                    terminal: reply,
                });
            }
            match reply {
                Reply::Progress => progress += 1,
                // Postfix accepts quarantine at any reply point.
                Reply::Quarantine(_) => modifications.push(reply),
                _ if !at_eom => {
                    return Err(unexpected(command, &reply, "modification outside EOM"))
                }
                _ => modifications.push(reply),
            }
            let last = modifications.last().map_or(0, Reply::required_action);
            if last & !self.actions() != 0 {
                let reply = modifications.pop().map_or(0, |r| r.code());
                return Err(ClientError::Unexpected {
                    command,
                    reply,
                    why: "action not granted in negotiation",
                });
            }
        }
    }
}

/// The `(NO_*, NR_*)` flags of an event; `(0, 0)` when it has none.
fn event_flags(code: u8) -> (u32, u32) {
    match code {
        code::CONNECT => (protocol::NO_CONNECT, protocol::NR_CONN),
        code::HELO => (protocol::NO_HELO, protocol::NR_HELO),
        code::MAIL => (protocol::NO_MAIL, protocol::NR_MAIL),
        code::RCPT => (protocol::NO_RCPT, protocol::NR_RCPT),
        code::DATA => (protocol::NO_DATA, protocol::NR_DATA),
        code::HEADER => (protocol::NO_HDRS, protocol::NR_HDR),
        code::EOH => (protocol::NO_EOH, protocol::NR_EOH),
        code::BODY => (protocol::NO_BODY, protocol::NR_BODY),
        code::UNKNOWN => (protocol::NO_UNKNOWN, protocol::NR_UNKN),
        _ => (0, 0),
    }
}

/// `D`, `A`, `Q` and `K` are never answered.
fn never_answered(code: u8) -> bool {
    matches!(code, code::MACRO | code::ABORT | code::QUIT | code::QUIT_NC)
}

/// Postfix and sendmail refuse a milter asking for more than offered.
fn check_negotiation(offer: &OptNeg, reply: &OptNegReply) -> Result<(), ClientError> {
    let why = if reply.version > offer.version {
        "milter version above the MTA's"
    } else if reply.actions & !offer.actions != 0 {
        "milter requested actions the MTA did not offer"
    } else {
        return Ok(());
    };
    Err(ClientError::Unexpected {
        command: "SMFIC_OPTNEG",
        reply: b'O',
        why,
    })
}

fn unexpected(command: &'static str, reply: &Reply, why: &'static str) -> ClientError {
    ClientError::Unexpected {
        command,
        reply: reply.code(),
        why,
    }
}

/// `a@b` -> `<a@b>`, `` -> `<>`; already bracketed addresses unchanged.
fn bracket(addr: &str) -> Bytes {
    if addr.starts_with('<') && addr.ends_with('>') {
        Bytes::copy_from_slice(addr.as_bytes())
    } else {
        Bytes::from(format!("<{addr}>"))
    }
}
