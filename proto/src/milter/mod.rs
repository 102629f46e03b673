//! The milter protocol, version 6. See `milter-protocol.md` in the project's
//! reference material for what Postfix and Sendmail really send.
pub mod client;
pub mod command;
pub mod frame;
pub mod macros;
pub mod optneg;
pub mod reply;
