//! DNS and mail authentication on loopback: the shared resolver against nsd serving
//! `integration/dns/`, the SPF, DKIM, DMARC and ARC checks on messages and envelopes, and
//! milter sessions on one thread while one of them waits for DNS. One test binary for all of
//! them (each binary links the whole crate). The whitelist module runs on a real `sluice run`.
#[path = "../support/mod.rs"]
mod support;

mod checks;
mod dns_server;
mod resolver;
mod scan_cli;
mod sessions;
mod whitelist;
