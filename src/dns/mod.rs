//! DNS: one asynchronous resolver shared by every check that needs DNS (SPF, DKIM, DMARC, ARC,
//! later RBLs), so that they share one cache, one set of nameservers and one set of counters.
//!
//! Layout: [`settings`] reads Rspamd's `options.dns` section; [`resolver`] wraps
//! `hickory-resolver` with typed lookups and typed errors; [`budget`] is the per-message deadline
//! all lookups of one message share; [`metrics`] counts what the resolver did as plain data;
//! [`upstream`] counts the queries that really leave for a nameserver (what tells a cache hit
//! from a miss). Nothing here knows about messages or symbols: the checks above map
//! [`DnsError`] to their own results.

pub mod budget;
pub mod error;
pub mod metrics;
pub mod resolver;
pub mod settings;
pub mod upstream;

pub use budget::Budget;
pub use error::{DnsError, DnsSettingsError};
pub use metrics::{DnsMetrics, DnsMetricsSnapshot, FailureKind};
pub use resolver::{Mx, Resolver};
pub use settings::DnsSettings;
