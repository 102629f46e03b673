//! A scan request's headers (and query-string parameters, which Rspamd
//! treats as headers) turned into the [`Envelope`] and the processing
//! options the server honours.
//!
//! Honoured: `From`, `Rcpt` (repeated and comma lists), `IP`, `Helo`,
//! `Hostname`, `User`, `Queue-Id`, `MTA-Name`, `Flags` (`skip`, `no_stat`,
//! `no_log`, `zstd`), `Log`, `Log-Tag`, `Compression`/`Content-Encoding`,
//! `Accept-Encoding`, and for in-process scans `Settings`, `Settings-ID`
//! (see [`crate::verdict::settings`]) and `Pass: all`. Read and logged but
//! without effect on the in-process scan, which has no modules that use
//! them: `Deliver-To`, `Raw`, `MTA-Tag`, `TLS-*`, the other flags.
//! Refused: `File`, `Path`, `Shm` (local-file inputs; never from a socket).
use std::net::IpAddr;

use hyper::header::HeaderMap;
use sluice_proto::rspamd::request::{bare_address, header as h, split_rcpts, Flag, Flags};

use crate::message::Envelope;

/// Everything the server reads from a scan request besides the body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanHeaders {
    pub envelope: Envelope,
    pub flags: Flags,
    pub deliver_to: Option<String>,
    pub settings: Option<String>,
    pub settings_id: Option<String>,
    /// `ANN-Train: spam|ham`: an explicit neural training request.
    pub ann_train: Option<crate::verdict::AnnTrain>,
    pub log_tag: Option<String>,
    /// `Log: no` or `Flags: no_log`.
    pub no_log: bool,
    /// The body is zstd-compressed (`Compression` / `Content-Encoding`).
    pub compressed: bool,
    /// The client accepts a zstd reply.
    pub accepts_zstd: bool,
    /// Header values that were unusable, for the log (`IP: nonsense`).
    pub ignored: Vec<String>,
}

/// Why a request was refused before its body was read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Only zstd exists; Rspamd answers 503 with this text.
    #[error("Invalid compression method")]
    Compression(String),
    #[error("Dictionary {0} is not supported: no zstd dictionary is loaded")]
    Dictionary(String),
    #[error("{0} input is not allowed over the network")]
    LocalInput(&'static str),
}

impl RequestError {
    /// Rspamd's status for it.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::Compression(_) | RequestError::Dictionary(_) => 503,
            RequestError::LocalInput(_) => 400,
        }
    }
}

impl ScanHeaders {
    /// Reads the headers, then the query-string parameters as more headers.
    pub fn parse(headers: &HeaderMap, query: Option<&str>) -> Result<ScanHeaders, RequestError> {
        let mut out = ScanHeaders::default();
        let pairs = headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .chain(super::query::pairs(query.unwrap_or("")));
        for (name, value) in pairs {
            out.apply(&name, value)?;
        }
        if out.flags.has(Flag::NoLog) {
            out.no_log = true;
        }
        Ok(out)
    }

    fn apply(&mut self, name: &str, value: String) -> Result<(), RequestError> {
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        let env = &mut self.envelope;
        if is(h::FROM) {
            env.from = Some(bare_address(&value));
        } else if is(h::RCPT) {
            env.rcpts.extend(split_rcpts(&value));
        } else if is(h::IP) {
            match parse_ip(&value) {
                Some(ip) => env.client_ip = Some(ip),
                None => self.ignored.push(format!("IP: {value}")),
            }
        } else if is(h::HELO) {
            env.helo = Some(value);
        } else if is(h::HOSTNAME) {
            // The milter bridge's convention: `unknown` means no verified name.
            if !value.eq_ignore_ascii_case("unknown") {
                env.client_name = Some(value);
            }
        } else if is(h::USER) {
            env.user = Some(value);
        } else if is(h::QUEUE_ID) {
            env.queue_id = Some(value);
        } else if is(h::MTA_NAME) {
            env.mta_name = Some(value);
        } else {
            self.apply_control(name, value)?;
        }
        Ok(())
    }

    fn apply_control(&mut self, name: &str, value: String) -> Result<(), RequestError> {
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if is(h::FLAGS) {
            self.flags.add_list(&value);
        } else if is(h::PASS) {
            if value.trim().eq_ignore_ascii_case("all") {
                self.flags.insert(Flag::PassAll);
            }
        } else if is(h::MILTER) {
            self.flags.insert(Flag::Milter);
        } else if is(h::PROFILE) {
            self.flags.insert(Flag::Profile);
        } else if is(h::LOG) {
            self.no_log |= value.trim().eq_ignore_ascii_case("no");
        } else if is(h::LOG_TAG) {
            self.log_tag = Some(value);
        } else if is(h::DELIVER_TO) {
            self.deliver_to = Some(bare_address(&value));
        } else if is(h::SETTINGS) {
            self.settings = Some(value);
        } else if is(h::SETTINGS_ID) {
            self.settings_id = Some(value);
        } else if is("ann-train") {
            match value.trim().to_ascii_lowercase().as_str() {
                "spam" => self.ann_train = Some(crate::verdict::AnnTrain::Spam),
                "ham" => self.ann_train = Some(crate::verdict::AnnTrain::Ham),
                _ => self.ignored.push(format!("ANN-Train: {value}")),
            }
        } else if is(h::COMPRESSION) || is("content-encoding") {
            if !value.trim().eq_ignore_ascii_case("zstd") {
                return Err(RequestError::Compression(value));
            }
            self.compressed = true;
        } else if is("accept-encoding") {
            self.accepts_zstd |= value.to_ascii_lowercase().contains("zstd");
        } else if is(h::DICTIONARY) {
            return Err(RequestError::Dictionary(value));
        } else if is(h::FILE) || is(h::PATH) {
            return Err(RequestError::LocalInput("File"));
        } else if is(h::SHM) || is("shm-offset") || is("shm-length") {
            return Err(RequestError::LocalInput("Shared memory"));
        }
        Ok(())
    }

    /// Rspamd compresses the reply when the request was compressed, when
    /// `Flags: zstd` is set, or when `Accept-Encoding` names zstd.
    pub fn compress_reply(&self) -> bool {
        self.compressed || self.accepts_zstd || self.flags.has(Flag::Zstd)
    }
}

/// An `IP` header: a bare v4 or v6 address, bracketed or not, or an
/// address with a port: Rspamd 3.4's milter proxy sends the MTA's
/// connect address that way (`IP: 127.0.0.1:54321`, observed), and
/// dropping it would skip every IP-based rule for proxied mail.
fn parse_ip(value: &str) -> Option<IpAddr> {
    let v = value.trim();
    let bare = v.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .ok()
        .or_else(|| v.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    #[test]
    fn envelope_headers_fill_the_envelope() {
        let m = headers(&[
            ("from", "<alice@example.org>"),
            ("Rcpt", "bob@example.net, \"c,d\"@example.net"),
            ("RCPT", "<e@example.net>"),
            ("IP", "[2001:db8::1]"),
            ("Helo", "mail.example.org"),
            ("Hostname", "unknown"),
            ("User", "alice"),
            ("Queue-Id", "4ABC123"),
            ("MTA-Name", "mx1"),
            ("Deliver-To", "<bob@example.net>"),
        ]);
        let s = ScanHeaders::parse(&m, None).unwrap();
        let e = &s.envelope;
        assert_eq!(e.from.as_deref(), Some("alice@example.org"));
        assert_eq!(
            e.rcpts,
            vec!["bob@example.net", "\"c,d\"@example.net", "e@example.net"]
        );
        assert_eq!(e.client_ip, Some("2001:db8::1".parse().unwrap()));
        assert_eq!(e.helo.as_deref(), Some("mail.example.org"));
        assert_eq!(e.client_name, None, "`unknown` is no name");
        assert_eq!(e.user.as_deref(), Some("alice"));
        assert_eq!(e.queue_id.as_deref(), Some("4ABC123"));
        assert_eq!(e.mta_name.as_deref(), Some("mx1"));
        assert_eq!(s.deliver_to.as_deref(), Some("bob@example.net"));
    }

    #[test]
    fn query_parameters_count_as_headers() {
        let s = ScanHeaders::parse(
            &HeaderMap::new(),
            Some("Queue-Id=Q%201&Pass=all&From=&Flags=zstd,no_log"),
        )
        .unwrap();
        assert_eq!(s.envelope.queue_id.as_deref(), Some("Q 1"));
        assert_eq!(
            s.envelope.from.as_deref(),
            Some(""),
            "empty From is the null sender"
        );
        assert!(s.flags.has(Flag::PassAll));
        assert!(s.no_log);
        assert!(s.compress_reply());
    }

    #[test]
    fn compression_and_local_inputs() {
        let s = ScanHeaders::parse(&headers(&[("Content-Encoding", "zstd")]), None).unwrap();
        assert!(s.compressed && s.compress_reply());
        let s = ScanHeaders::parse(&headers(&[("Accept-Encoding", "gzip, zstd")]), None).unwrap();
        assert!(!s.compressed && s.compress_reply());
        let e = ScanHeaders::parse(&headers(&[("Compression", "gzip")]), None).unwrap_err();
        assert_eq!(
            (e.status(), e.to_string().as_str()),
            (503, "Invalid compression method")
        );
        let e = ScanHeaders::parse(&headers(&[("File", "/etc/passwd")]), None).unwrap_err();
        assert_eq!(e.status(), 400);
        for (given, want) in [
            ("127.0.0.1:54321", "127.0.0.1"),
            ("[2001:db8::1]:25", "2001:db8::1"),
            ("[2001:db8::2]", "2001:db8::2"),
            (" 192.0.2.1 ", "192.0.2.1"),
        ] {
            let s = ScanHeaders::parse(&headers(&[("IP", given)]), None).unwrap();
            assert_eq!(s.envelope.client_ip, Some(want.parse().unwrap()), "{given}");
        }
        let s = ScanHeaders::parse(&headers(&[("IP", "not-an-ip")]), None).unwrap();
        assert_eq!(s.envelope.client_ip, None);
        assert_eq!(s.ignored, vec!["IP: not-an-ip"]);
    }
}
