//! Shared pieces of the packet layouts: C strings, big-endian integers, and
//! a nom error type that names the field that was missing.
//!
//! Parsers work on the complete payload (framing already cut it out), so the
//! `complete` combinators are right: running out of bytes means malformed,
//! not "wait for more".
use bytes::{BufMut, Bytes, BytesMut};
use nom::bytes::complete::{tag, take_till};
use nom::error::{ErrorKind, ParseError};
use nom::sequence::terminated;
use nom::IResult;

/// Names the field a parser failed on, for the typed errors above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Missing(pub &'static str);

impl<I> ParseError<I> for Missing {
    fn from_error_kind(_: I, _: ErrorKind) -> Self {
        Missing("malformed field")
    }

    fn append(_: I, _: ErrorKind, other: Self) -> Self {
        other
    }
}

/// Result of a field parser over a payload slice.
pub(crate) type Res<'a, T> = IResult<&'a [u8], T, Missing>;

/// Wraps a plain nom parser so that its failure reports `what`.
pub(crate) fn field<'a, O>(
    what: &'static str,
    mut parser: impl FnMut(&'a [u8]) -> IResult<&'a [u8], O>,
) -> impl FnMut(&'a [u8]) -> Res<'a, O> {
    move |input| parser(input).map_err(|e| e.map(|_| Missing(what)))
}

/// `bytes NUL`: the bytes before the first NUL; the NUL is consumed.
pub(crate) fn cstr(input: &[u8]) -> IResult<&[u8], &[u8]> {
    terminated(take_till(|b| b == 0), tag(&[0u8][..]))(input)
}

/// Splits an argv payload (`s NUL s NUL ...`, last one NUL-terminated too).
pub(crate) fn argv(input: &[u8]) -> Result<Vec<&[u8]>, Missing> {
    if input.is_empty() {
        return Err(Missing("argv is empty"));
    }
    if input.last() != Some(&0) {
        return Err(Missing("argv not NUL-terminated"));
    }
    Ok(input[..input.len() - 1].split(|&b| b == 0).collect())
}

/// Runs a field parser to completion over `payload`, ignoring trailing bytes.
pub(crate) fn run<'a, T>(
    payload: &'a [u8],
    mut parser: impl FnMut(&'a [u8]) -> Res<'a, T>,
) -> Result<T, &'static str> {
    match parser(payload) {
        Ok((_, value)) => Ok(value),
        Err(nom::Err::Error(Missing(w)) | nom::Err::Failure(Missing(w))) => Err(w),
        Err(nom::Err::Incomplete(_)) => Err("incomplete field"),
    }
}

/// Appends `s NUL`.
pub(crate) fn put_cstr(buf: &mut BytesMut, s: &[u8]) {
    buf.reserve(s.len() + 1);
    buf.put_slice(s);
    buf.put_u8(0);
}

/// Encodes `s NUL` for each item.
pub(crate) fn cstrs<'a>(items: impl IntoIterator<Item = &'a Bytes>) -> Bytes {
    let mut buf = BytesMut::new();
    for item in items {
        put_cstr(&mut buf, item);
    }
    buf.freeze()
}

/// Renders bytes as an escaped ASCII string for error messages and test
/// failures (`b"a\0b"` -> `a\x00b`).
pub fn escape(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cstr_splits_at_first_nul() {
        assert_eq!(cstr(b"ab\0cd\0"), Ok((&b"cd\0"[..], &b"ab"[..])));
        assert!(cstr(b"ab").is_err());
    }

    #[test]
    fn argv_requires_final_nul() {
        assert_eq!(argv(b"a\0\0b\0"), Ok(vec![&b"a"[..], &b""[..], &b"b"[..]]));
        assert_eq!(argv(b"a"), Err(Missing("argv not NUL-terminated")));
        assert_eq!(argv(b""), Err(Missing("argv is empty")));
    }
}
