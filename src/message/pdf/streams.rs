//! Streams of PDF objects: their data decoded (FlateDecode only, without a predictor, as
//! Rspamd decodes them), and PDF 1.5 object streams (`/Type /ObjStm`) split into the objects
//! they hold, where modern PDFs keep their link annotations.

use super::syntax::Value;

/// Most bytes one stream inflates to (Rspamd's `max_extraction_size`); a stream that would
/// inflate to more is not read at all.
pub const MAX_INFLATED: usize = 512 * 1024;

/// The decoded data of a stream object: `None` when a filter is not FlateDecode, a predictor
/// is set, or the data does not inflate within [`MAX_INFLATED`]. `number` reads an indirect
/// `/Length` or `/DecodeParms`.
pub fn decoded(
    dict: &Value,
    data: &[u8],
    number: impl Fn(&Value) -> Option<f64>,
) -> Option<Vec<u8>> {
    let len = dict.get(b"Length").and_then(&number).unwrap_or(0.0);
    let len = if len > 0.0 { len as usize } else { 0 };
    let data = &data[..data.len().min(len)];
    let Some(filter) = dict.get(b"Filter") else {
        return Some(data.to_vec());
    };
    // A predictor (PNG or TIFF row filters after inflating) is not undone: not read.
    if dict
        .get(b"DecodeParms")
        .and_then(|p| p.get(b"Predictor"))
        .is_some()
    {
        return None;
    }
    let filters: Vec<&Value> = match filter {
        Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    let mut out = data.to_vec();
    for f in filters {
        if !f.is_name(b"FlateDecode") {
            return None;
        }
        out = inflate(&out)?;
    }
    Some(out)
}

/// zlib data, or raw deflate when the first byte names no deflate method (as Rspamd tells
/// them apart). A truncated stream gives what it held; a corrupt one or one over the limit
/// gives nothing.
pub fn inflate(data: &[u8]) -> Option<Vec<u8>> {
    use miniz_oxide::inflate::{self, TINFLStatus};
    if data.is_empty() {
        return Some(Vec::new());
    }
    let result = if data[0] & 0x0f == 8 {
        inflate::decompress_to_vec_zlib_with_limit(data, MAX_INFLATED)
    } else {
        inflate::decompress_to_vec_with_limit(data, MAX_INFLATED)
    };
    match result {
        Ok(out) => Some(out),
        Err(e) if e.status == TINFLStatus::FailedCannotMakeProgress => Some(e.output),
        Err(_) => None,
    }
}

/// The objects of an object stream's decoded data: the header's `number offset` pairs
/// (offsets counted from `/First`), each object running to the next one's offset.
pub fn unpack(data: &[u8], first: usize) -> Vec<&[u8]> {
    let offsets = header_offsets(data);
    let mut out = Vec::new();
    for (i, &off) in offsets.iter().enumerate() {
        let Some(start) = off.checked_add(first).filter(|&s| s < data.len()) else {
            continue;
        };
        let end = match offsets.get(i + 1) {
            Some(&next) => next.saturating_add(first),
            None => data.len(),
        };
        if end > start && end <= data.len() {
            out.push(&data[start..end]);
        }
    }
    out
}

/// The offsets of the header's number pairs (comment lines before them allowed).
fn header_offsets(data: &[u8]) -> Vec<usize> {
    let ws = |c: &u8| super::syntax::is_ws(*c);
    let mut at = data.iter().take_while(|c| ws(c)).count();
    while data.get(at) == Some(&b'%') {
        let line = data[at..]
            .iter()
            .position(|&c| c == b'\n' || c == b'\r')
            .map_or(data.len(), |p| at + p);
        let blank = data[line..].iter().take_while(|c| ws(c)).count();
        if blank == 0 {
            return Vec::new();
        }
        at = line + blank;
    }
    let mut offsets = Vec::new();
    while let Some((_, after_number)) = number(data, at) {
        let gap = data[after_number..].iter().take_while(|c| ws(c)).count();
        let Some((offset, end)) = (gap > 0)
            .then(|| number(data, after_number + gap))
            .flatten()
        else {
            break;
        };
        offsets.push(offset);
        at = end + data[end..].iter().take_while(|c| ws(c)).count();
    }
    offsets
}

fn number(data: &[u8], at: usize) -> Option<(usize, usize)> {
    let n = data[at..].iter().take_while(|c| c.is_ascii_digit()).count();
    let v = std::str::from_utf8(&data[at..at + n]).ok()?.parse().ok()?;
    Some((v, at + n))
}

#[cfg(test)]
mod tests {
    use super::super::syntax::first_value;
    use super::*;

    fn zlib(data: &[u8]) -> Vec<u8> {
        miniz_oxide::deflate::compress_to_vec_zlib(data, 6)
    }

    #[test]
    fn flate_streams_inflate_within_the_limit() {
        let data = zlib(b"hello");
        let dict = first_value(b"<< /Length 100 /Filter /FlateDecode >>").unwrap();
        assert_eq!(
            decoded(&dict, &data, |_| Some(100.0)),
            Some(b"hello".to_vec())
        );
        let raw = miniz_oxide::deflate::compress_to_vec(b"raw deflate", 6);
        assert_eq!(inflate(&raw), Some(b"raw deflate".to_vec()));
        // A bomb: 4 MiB of zeros in a few KiB.
        let bomb = zlib(&vec![0u8; 4 << 20]);
        assert!(bomb.len() < 128 << 10);
        assert_eq!(inflate(&bomb), None);
        // Truncated: what it held.
        let long = zlib(&b"0123456789".repeat(1000));
        assert!(inflate(&long[..long.len() / 2]).is_some_and(|o| !o.is_empty()));
        assert_eq!(inflate(b"\x78\x9cgarbage"), None);
    }

    #[test]
    fn unknown_filters_and_predictors_are_not_read() {
        let data = zlib(b"x");
        for d in [
            &b"<< /Length 99 /Filter /LZWDecode >>"[..],
            b"<< /Length 99 /Filter [/FlateDecode /ASCII85Decode] >>",
            b"<< /Length 99 /Filter /FlateDecode /DecodeParms << /Predictor 12 >> >>",
        ] {
            let dict = first_value(d).unwrap();
            assert_eq!(
                decoded(&dict, &data, |v| match v {
                    Value::Num(n) => Some(*n),
                    _ => None,
                }),
                None
            );
        }
        // No /Length: nothing of the data.
        let dict = first_value(b"<< >>").unwrap();
        assert_eq!(decoded(&dict, b"abc", |_| None), Some(Vec::new()));
    }

    #[test]
    fn object_streams_split_at_their_offsets() {
        let header = b"% a comment\n10 0 11 6 ";
        let data = [&header[..], b"<</A>> [1 2]"].concat();
        let objs = unpack(&data, header.len());
        assert_eq!(objs, vec![&b"<</A>>"[..], b" [1 2]"]);
        // An object running past the data, and one starting past it, are skipped.
        let data = [&b"10 0 11 99 "[..], b"<<>>"].concat();
        assert!(unpack(&data, 11).is_empty());
        assert!(unpack(b"x 1", 0).is_empty());
    }
}
