//! The byte classes Rspamd's text URL finder decides by. They are not the
//! RFC's: a quote or `<` may continue a host, a backslash may be in an
//! address, every byte of a multi-byte character may be in a host.

/// A byte that may be in a host name.
pub fn domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'%' | b'-' | b'.' | b'\\' | b'^' | b'_') || b >= 0x80
}

/// A byte a host name keeps reading over when it is not a host byte.
pub fn url_safe(b: u8) -> bool {
    domain(b) || matches!(b, b'"' | b'<' | b'>' | b'`' | b'{' | b'|' | b'}' | b'~')
}

/// A byte the user part of a bare address may hold.
pub fn mail_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'"'
                | b'#'
                | b'$'
                | b'%'
                | b'\''
                | b'*'
                | b'+'
                | b','
                | b'-'
                | b'.'
                | b'/'
                | b'\\'
                | b'^'
                | b'_'
                | b'{'
                | b'|'
                | b'}'
                | b'~'
        )
}

/// Blank bytes (a path ends at one).
pub fn blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Opening brackets and a quote: a URL may follow one.
pub fn opens(b: u8) -> bool {
    matches!(b, b'(' | b'{' | b'[' | b'<' | b'\'')
}

/// Closing brackets and a quote: a URL ends at one.
pub fn closes(b: u8) -> bool {
    matches!(b, b')' | b'}' | b']' | b'>' | b'\'')
}

/// What a host may start with.
pub fn host_start(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'[' | b'%' | b'_') || b >= 0x80
}

/// After a bare host name's suffix: where the name may end.
pub fn ends_name(b: u8) -> bool {
    blank(b) || matches!(b, b'/' | b'?' | b':') || closes(b)
}
