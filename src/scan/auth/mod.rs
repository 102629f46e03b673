//! The authentication checks (SPF, DKIM, DMARC, ARC): the scan's asynchronous phase, run before
//! the CPU pipeline. Their lookups go through the shared resolver ([`crate::dns`]); all lookups
//! of one message run concurrently under one DNS budget; their results become [`Hit`]s that the
//! pipeline scores as any other symbol (composites, actions and settings see them).
//!
//! Layout: [`settings`] reads the modules' sections; [`spf`], [`dkim`], [`dmarc`], [`arc`] each
//! turn mail-auth's result into Rspamd's symbols and options; [`phase`] runs them for one
//! message; [`spf_record`] reads the raw SPF record for what mail-auth skips; [`symbols`] holds their names, groups and Rspamd's default weights; [`results`]
//! writes the `Authentication-Results` header from the verdict.

pub mod arc;
pub mod dkim;
mod dkim_key;
pub mod dmarc;
pub mod hit;
pub mod hosts;
pub mod phase;
pub mod results;
pub mod settings;
pub mod spf;
pub mod spf_record;
pub mod symbols;

pub use hit::Hit;
pub use phase::{AuthChecks, AuthOutcome};
pub use settings::AuthSettings;
