//! The milter side of sluice: one task per MTA connection, a state machine
//! over `sluice-proto`'s codec that assembles each message, asks a
//! [`Scanner`](crate::verdict::Scanner) at end of message and turns the
//! [`Verdict`](crate::verdict::Verdict) into replies.
//!
//! It knows nothing about how scanning is done; `scan/` knows nothing about
//! milter. `verdict/` is the only vocabulary they share.
//!
//! Stage chart (Postfix, one message; `D` macro packets precede each event):
//!
//! ```text
//! O  -> O            negotiate (negotiate.rs)
//! C H M R T          envelope; reply-less when NR_* was granted
//! L* N               headers kept byte-exact (HDR_LEADSPC)
//! B*                 body; oversize => skip / early terminal reply
//! E  -> p* mods* v   scan with progress keepalives (session.rs), respond.rs
//! A                  per-message reset; then M again, or Q / EOF
//! ```
pub mod control;
pub mod envelope;
pub mod io;
pub mod negotiate;
pub mod respond;
pub mod session;
pub mod settings;

pub use session::{run_controlled, run_session, SessionEnd};
pub use settings::{OversizeAction, SessionSettings};
