//! nsd on a free loopback port serving one zone the test writes.

use std::net::SocketAddr;
use std::path::Path;

use serde_json::json;
use sluice::config::dns::DnsSettings;
use sluice::dns::Resolver;

pub use crate::support::nsd::Nsd;

/// nsd serving `origin` with `records` (`$ORIGIN`, SOA and NS added here).
pub async fn start(origin: &str, records: &str) -> Nsd {
    let zone = format!(
        "$ORIGIN {origin}.\n$TTL 300\n@ IN SOA ns.{origin}. admin.{origin}. 1 3600 600 86400 60\n\
         @ IN NS ns.{origin}.\nns IN A 127.0.0.1\n{records}\n"
    );
    let zones = |dir: &Path| {
        std::fs::write(dir.join("lists.zone"), zone).unwrap();
        format!("zone:\n  name: {origin}\n  zonefile: lists.zone\n")
    };
    Nsd::start(None, zones, origin).await
}

/// A resolver as the daemon builds it, asking only `addr`.
pub fn resolver(addr: SocketAddr, timeout: &str) -> Resolver {
    let dns = json!({ "nameserver": [addr.to_string()], "timeout": timeout, "retransmits": 0 });
    Resolver::new(&DnsSettings::from_ucl(&dns).unwrap()).unwrap()
}
