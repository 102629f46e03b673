//! Helpers shared by the codec tests: escaped-byte assertions and the
//! transcript fixture reader.
#![allow(dead_code)]

use sluice_proto::milter::escape;

/// Asserts byte equality, printing both sides escaped so a mismatch in a
/// NUL or a length byte is visible.
#[track_caller]
pub fn assert_bytes(actual: &[u8], expected: &[u8], what: &str) {
    assert!(
        actual == expected,
        "{what}: bytes differ\n  actual:   {}\n  expected: {}",
        escape(actual),
        escape(expected)
    );
}

/// One captured frame.
#[derive(Debug)]
pub struct Frame {
    pub from_mta: bool,
    pub len: u32,
    pub code: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The frame exactly as it was on the wire.
    pub fn wire(&self) -> Vec<u8> {
        let mut out = self.len.to_be_bytes().to_vec();
        out.push(self.code);
        out.extend_from_slice(&self.payload);
        out
    }
}

/// Reads a transcript fixture (format documented in its header).
pub fn read_transcript(text: &str) -> Vec<Frame> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Frame {
    let mut it = line.splitn(4, ' ');
    let dir = it.next().expect("direction");
    let len = it.next().expect("length").parse().expect("numeric length");
    let code = it.next().expect("code").as_bytes()[0];
    let payload = unescape(it.next().unwrap_or(""));
    Frame {
        from_mta: dir == "MTA",
        len,
        code,
        payload,
    }
}

fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let (byte, used) = match b[i + 1] {
            b'0' => (0, 2),
            b'r' => (b'\r', 2),
            b'n' => (b'\n', 2),
            b't' => (b'\t', 2),
            b'\\' => (b'\\', 2),
            b'x' => {
                let hex = std::str::from_utf8(&b[i + 2..i + 4]).expect("hex");
                (u8::from_str_radix(hex, 16).expect("hex byte"), 4)
            }
            other => panic!("bad escape \\{}", other as char),
        };
        out.push(byte);
        i += used;
    }
    out
}
