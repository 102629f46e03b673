//! DNS: one asynchronous resolver shared by every check that needs DNS (SPF, DKIM, DMARC, ARC,
//! later RBLs), so that they share one cache, one set of nameservers and one set of counters.
//!
//! Layout: `config::dns` reads Rspamd's `options.dns` section; [`resolver`] builds one
//! `mail_auth::MessageAuthenticator` (its hickory resolver serves every lookup) and adds typed
//! lookups with typed errors; [`cache`] is the bounded cache every lookup goes through (a miss
//! there is a query); [`budget`] is the per-message deadline all lookups of one message share;
//! [`metrics`] counts what the resolver did as plain data and renders it for `/metrics`. Nothing here knows about messages or symbols: the checks above map
//! [`DnsError`] to their own results.

pub mod budget;
pub mod cache;
pub mod error;
pub mod metrics;
pub mod resolver;

pub use budget::Budget;
pub use error::DnsError;
pub use metrics::{DnsMetrics, DnsMetricsSnapshot, FailureKind};
pub use resolver::{Mx, Resolver};
