//! Query strings: `a=b&c=d` with percent escapes and `+` as space, the way
//! Rspamd reads scan parameters and the controller's `password`.

/// The decoded `(name, value)` pairs, in order; a name without `=` has an
/// empty value.
pub fn pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (decode(k), decode(v))
    })
}

/// The first value of `name` (case-insensitive).
pub fn get(query: Option<&str>, name: &str) -> Option<String> {
    pairs(query?)
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// Percent-decoding; malformed escapes are kept as they are.
fn decode(s: &str) -> String {
    String::from_utf8_lossy(&unescape(s, true)).into_owned()
}

/// A URL path's bytes with percent escapes decoded (`+` stays `+`).
pub fn decode_path(s: &str) -> Vec<u8> {
    unescape(s, false)
}

fn unescape(s: &str, plus_is_space: bool) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let escaped = match b.get(i..i + 3) {
            Some([b'%', hi, lo]) => hex(*hi).zip(hex(*lo)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match (escaped, b[i]) {
            (Some(v), _) => {
                out.push(v);
                i += 3;
                continue;
            }
            (None, b'+') if plus_is_space => out.push(b' '),
            (None, c) => out.push(c),
        }
        i += 1;
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_plus() {
        let v: Vec<_> = pairs("a=1%202&b=x+y&flag&c=%zz&d=%4&e=%C3%A9%").collect();
        assert_eq!(
            v,
            vec![
                ("a".into(), "1 2".into()),
                ("b".into(), "x y".into()),
                ("flag".into(), String::new()),
                ("c".into(), "%zz".into()),
                ("d".into(), "%4".into()),
                ("e".into(), "é%".into()),
            ]
        );
        assert_eq!(
            get(Some("x=1&Password=s%3Dcret"), "password").as_deref(),
            Some("s=cret")
        );
        assert_eq!(get(None, "password"), None);
    }
}
