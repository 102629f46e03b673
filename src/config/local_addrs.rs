//! `options.local_addrs`: the networks whose mail counts as local (Rspamd's `is_local`), for
//! every module that skips or treats local mail apart (the auth checks, hfilter, signing).

use ipnet::IpNet;
use serde_json::Value;

use super::value::{self, Expected};

/// Rspamd's default `local_addrs`, plus loopback, which its `is_local` always counts.
pub const DEFAULTS: [&str; 8] = [
    "127.0.0.0/8",
    "::1/128",
    "192.168.0.0/16",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "fd00::/8",
    "169.254.0.0/16",
    "fe80::/10",
];

/// The defaults, parsed.
pub fn defaults() -> Vec<IpNet> {
    DEFAULTS.iter().filter_map(|n| value::network(n)).collect()
}

/// `options.local_addrs` when set, else the defaults.
pub fn read(options: Option<&Value>) -> Result<Vec<IpNet>, Expected> {
    match options.and_then(|o| o.get("local_addrs")) {
        Some(v) => value::networks(v),
        None => Ok(defaults()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn set_replaces_the_defaults_and_bad_nets_are_errors() {
        assert_eq!(read(None).unwrap().len(), DEFAULTS.len());
        let set = json!({ "local_addrs": "198.51.100.0/24, 2001:db8::1" });
        let nets = read(Some(&set)).unwrap();
        assert_eq!(nets.len(), 2);
        assert!(nets[1].contains(&"2001:db8::1".parse::<std::net::IpAddr>().unwrap()));
        assert!(read(Some(&json!({ "local_addrs": ["not a net"] }))).is_err());
    }
}
