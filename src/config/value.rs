//! Reading typed settings out of the JSON tree. Values may arrive typed (`timeout = 120s` is a
//! number of seconds) or as strings (`timeout = "120s"`); both are accepted, as in Rspamd.

use std::time::Duration;

use serde_json::Value;

use super::ucl;

/// What a value should have been, for the error message.
pub type Expected = &'static str;

/// Re-types a string as an unquoted UCL atom would be (`"50mb"` → 52428800).
fn retype(v: &Value) -> Value {
    match v {
        Value::String(s) => ucl::type_atom(s),
        other => other.clone(),
    }
}

pub fn duration(v: &Value) -> Result<Duration, Expected> {
    const WANT: Expected = "a duration (seconds, or a number with ms/s/min/h/d suffix)";
    match retype(v).as_f64() {
        Some(secs) if (0.0..1e12).contains(&secs) => Ok(Duration::from_secs_f64(secs)),
        _ => Err(WANT),
    }
}

pub fn size(v: &Value) -> Result<usize, Expected> {
    const WANT: Expected = "a size (bytes, or a number with k/kb/m/mb/g/gb suffix)";
    let typed = retype(v);
    if let Some(n) = typed.as_u64() {
        return usize::try_from(n).map_err(|_| WANT);
    }
    match typed.as_f64() {
        Some(f) if (0.0..usize::MAX as f64).contains(&f) => Ok(f as usize),
        _ => Err(WANT),
    }
}

pub fn boolean(v: &Value) -> Result<bool, Expected> {
    retype(v)
        .as_bool()
        .ok_or("a boolean (yes/no, true/false, on/off)")
}

pub fn string(v: &Value) -> Result<String, Expected> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err("a string"),
    }
}

/// A string or an array of strings (an implicit array from a repeated key included).
pub fn strings(v: &Value) -> Result<Vec<String>, Expected> {
    match v {
        Value::Array(items) => items.iter().map(string).collect(),
        other => string(other).map(|s| vec![s]),
    }
}

/// `#[serde(default = "crate::config::value::yes")]`: a switch that is on unless the config
/// says otherwise (`enabled`, Rspamd's default for its sections).
pub fn yes() -> bool {
    true
}

/// `10.0.0.0/8`, or a bare address (a net of one).
pub fn network(s: &str) -> Option<ipnet::IpNet> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// A list of networks: an array, or one string with the nets separated by commas or spaces.
pub fn networks(v: &Value) -> Result<Vec<ipnet::IpNet>, Expected> {
    const WANT: Expected = "a list of CIDR nets or addresses";
    let listed = strings(v).map_err(|_| WANT)?;
    listed
        .iter()
        .flat_map(|s| s.split([',', ' ']).filter(|p| !p.is_empty()))
        .map(|n| network(n).ok_or(WANT))
        .collect()
}
