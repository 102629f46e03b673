//! The milter protocol, version 6. See `milter-protocol.md` in the project's
//! reference material for what Postfix and Sendmail really send.
//!
//! Layers: [`frame`] cuts the stream into [`Packet`]s (size cap first);
//! [`command`] and [`reply`] turn packets into typed messages and back, one
//! parser per code; [`client`] drives a milter the way Postfix does.
pub mod client;
pub mod command;
mod connect;
pub mod frame;
pub mod macros;
pub mod optneg;
pub mod reply;
mod reply_code;
pub mod split;
mod wire;

pub use client::{ClientError, Envelope, MtaClient, Response};
pub use command::{Command, CommandError, Connect, Family};
pub use frame::{FrameCodec, FrameError, Packet, DEFAULT_MAX_PAYLOAD};
pub use macros::MacroPacket;
pub use optneg::{action, protocol, stage, OptNeg, OptNegReply, VERSION};
pub use reply::{Reply, ReplyError, MAX_BODY_CHUNK};
pub use reply_code::{ReplyCodeError, MAX_LINES, MAX_LINE_LEN};
pub use wire::escape;
