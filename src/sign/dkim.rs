//! One DKIM signature: the `h=` list from Rspamd's `sign_headers` syntax
//! and the message's headers, then mail-auth's signer (relaxed/relaxed, as
//! Rspamd signs).
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner};

use super::error::SignError;
use super::key::SharedKey;

/// The names for mail-auth's `headers()`, from a `sign_headers` spec.
///
/// mail-auth signs every instance of a listed name that is present and
/// appends a listed name that is absent once (signed as empty). A name
/// listed twice is therefore present instances plus one empty: Rspamd's
/// oversigning. So `(o)name` is listed twice when present (once when
/// absent), `(x)name` twice when present and not at all when absent, and a
/// plain name once when present.
pub fn header_list(spec: &str, present: &[&[u8]]) -> Vec<String> {
    let has = |name: &str| {
        present
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name.as_bytes()))
    };
    let mut out = Vec::new();
    for item in spec.split(':').map(str::trim).filter(|s| !s.is_empty()) {
        let (mode, name) = match item.get(..3) {
            Some(m @ ("(o)" | "(x)")) => (m, &item[3..]),
            _ => ("", item),
        };
        let name = name.to_ascii_lowercase();
        let times = match (mode, has(&name)) {
            ("(o)", true) | ("(x)", true) => 2,
            ("(o)", false) | ("", true) => 1,
            _ => 0,
        };
        for _ in 0..times {
            out.push(name.clone());
        }
    }
    out
}

/// The signature's header value (without the name), folded with `\n\t`
/// as milter header values are.
pub fn sign(
    key: SharedKey,
    domain: &str,
    selector: &str,
    headers: Vec<String>,
    message: &[u8],
) -> Result<String, SignError> {
    let signature = DkimSigner::from_key(key)
        .domain(domain)
        .selector(selector)
        .headers(headers)
        .header_canonicalization(Canonicalization::Relaxed)
        .body_canonicalization(Canonicalization::Relaxed)
        .sign(message)
        .map_err(|e| SignError::Crypto(e.to_string()))?;
    Ok(header_value(&signature.to_header(), "DKIM-Signature:"))
}

/// A written header (`Name: value\r\n`, folded with `\r\n\t`) as a milter
/// header value: name and final line end dropped, folds with bare `\n`.
pub fn header_value(written: &str, name: &str) -> String {
    let value = written.strip_prefix(name).unwrap_or(written);
    value
        .trim_start_matches(' ')
        .trim_end_matches(['\r', '\n'])
        .replace("\r\n", "\n")
}
