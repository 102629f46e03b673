//! `rspamd_util`: the documented helper subset (see `docs/lua-api.md`).
//! String helpers work on bytes where Rspamd's do, so rules get the same
//! answers for non-UTF-8 input.
use std::time::{SystemTime, UNIX_EPOCH};

use mlua::{Lua, MultiValue, Table, Value};

use super::ceiling::unmetered;
use super::task::tld_of;

pub fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("get_time", lua.create_function(|_, ()| Ok(unix_now()))?)?;
    t.set(
        "strequal_caseless",
        lua.create_function(|_, (a, b): (mlua::String, mlua::String)| {
            Ok(a.as_bytes().eq_ignore_ascii_case(&b.as_bytes()))
        })?,
    )?;
    t.set(
        "is_valid_utf8",
        lua.create_function(|_, s: mlua::String| Ok(std::str::from_utf8(&s.as_bytes()).is_ok()))?,
    )?;
    t.set(
        "strlen_utf8",
        lua.create_function(|_, s: mlua::String| Ok(s.to_string_lossy().chars().count()))?,
    )?;
    t.set(
        "lower_utf8",
        lua.create_function(|_, s: mlua::String| Ok(s.to_string_lossy().to_lowercase()))?,
    )?;
    t.set(
        "is_uppercase",
        lua.create_function(|_, s: mlua::String| Ok(is_uppercase(&s.to_string_lossy())))?,
    )?;
    t.set(
        "levenshtein_distance",
        lua.create_function(|_, (a, b): (mlua::String, mlua::String)| {
            Ok(levenshtein(&a.to_string_lossy(), &b.to_string_lossy()))
        })?,
    )?;
    t.set(
        "encode_base64",
        lua.create_function(|_, s: mlua::String| Ok(encode_base64(&s.as_bytes())))?,
    )?;
    t.set(
        "decode_base64",
        lua.create_function(|lua, s: mlua::String| {
            match mail_parser::decoders::base64::base64_decode(&s.as_bytes()) {
                Some(b) => Ok(Value::String(lua.create_string(b)?)),
                None => Ok(Value::Nil),
            }
        })?,
    )?;
    t.set(
        "get_tld",
        lua.create_function(|lua, host: String| {
            let tld = tld_of(&host.to_ascii_lowercase());
            unmetered(lua, || lua.create_string(tld))
        })?,
    )?;
    t.set(
        "_parse_mail_address",
        lua.create_function(|lua, s: String| unmetered(lua, || parse_mail_address(lua, &s)))?,
    )?;
    Ok(t)
}

/// Has letters, and none of them is lower-case.
fn is_uppercase(s: &str) -> bool {
    let mut letters = s.chars().filter(|c| c.is_alphabetic()).peekable();
    letters.peek().is_some() && letters.all(|c| !c.is_lowercase())
}

/// Edit distance by characters; inputs past 1024 characters are cut there
/// (the table is quadratic).
fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(1024).collect();
    let b: Vec<char> = b.chars().take(1024).collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = (diag + usize::from(ca != cb)).min(up + 1).min(row[j] + 1);
            diag = up;
        }
    }
    row[b.len()]
}

fn encode_base64(b: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &x)| n | u32::from(x) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `rspamd_util.parse_mail_address`: `addr, user, domain, name` for each
/// address of a header value, as one [`super::task::AddressBlob`]; the
/// prelude packs them into tables.
fn parse_mail_address(lua: &Lua, s: &str) -> mlua::Result<MultiValue> {
    let mut out = super::task::AddressBlob::default();
    for piece in s.split(',') {
        let (name, addr) = match (piece.find('<'), piece.rfind('>')) {
            (Some(a), Some(b)) if a < b => (&piece[..a], &piece[a + 1..b]),
            _ => ("", piece.trim()),
        };
        let addr = addr.trim();
        if !addr.contains('@') {
            continue;
        }
        let name = name.trim().trim_matches('"').trim();
        out.push(addr, name);
    }
    out.into_values(lua)
}

pub(super) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(encode_base64(b""), "");
        assert_eq!(encode_base64(b"f"), "Zg==");
        assert_eq!(encode_base64(b"fo"), "Zm8=");
        assert_eq!(encode_base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert!(is_uppercase("FREE MONEY!"));
        assert!(!is_uppercase("Free"));
        assert!(!is_uppercase("123"));
    }
}
