//! A row as Rspamd's `history_redis` stores it: compact JSON, as one zstd frame when
//! `compress` is on (what Rspamd's `zstd_compress` writes and `zstd_decompress` reads).
use super::super::Row;

/// The first bytes of every zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// zstd's default level, as Rspamd compresses with it.
const LEVEL: i32 = 3;

/// A row's stored bytes.
pub fn encode(row: &Row, compress: bool) -> Vec<u8> {
    // A Row is plain data: serialising it cannot fail.
    let json = serde_json::to_vec(row).unwrap_or_default();
    if !compress {
        return json;
    }
    zstd::bulk::compress(&json, LEVEL).unwrap_or(json)
}

/// A stored row (compressed or not, ours or Rspamd's); `None` for one that does not
/// read, which the reader leaves out as Rspamd's does.
pub fn decode(bytes: &[u8]) -> Option<Row> {
    if bytes.starts_with(&ZSTD_MAGIC) {
        let json = zstd::stream::decode_all(bytes).ok()?;
        serde_json::from_slice(&json).ok()
    } else {
        serde_json::from_slice(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        Row {
            message_id: "m@x".into(),
            subject: "hello".into(),
            score: 3.5,
            unix_time: 1_700_000_000,
            ..Row::default()
        }
    }

    #[test]
    fn round_trips_both_ways() {
        let z = encode(&row(), true);
        assert!(z.starts_with(&ZSTD_MAGIC));
        assert_eq!(decode(&z), Some(row()));
        let plain = encode(&row(), false);
        assert_eq!(plain.first(), Some(&b'{'));
        assert_eq!(decode(&plain), Some(row()));
        assert_eq!(decode(b"\x28\xb5\x2f\xfdjunk"), None);
        assert_eq!(decode(b"not json"), None);
    }

    /// A row as Rspamd 3.4 writes it (extra fields, some of ours missing) still reads.
    #[test]
    fn reads_rspamd_rows() {
        let rspamd = br#"{"is_skipped":false,"score":1.2,"required_score":15,"action":"no action",
            "thresholds":{"reject":15},"symbols":{"R_SPF_ALLOW":{"score":-0.2,"metric_score":-0.2}},
            "time_real":0.01,"message-id":"r@x","sender_smtp":"a@b","sender_mime":"a@b",
            "rcpt_smtp":["c@d"],"rcpt_mime":["c@d"],"user":"unknown","unix_time":1700000001,
            "subject":"s","size":100,"ip":"192.0.2.1"}"#;
        let z = zstd::bulk::compress(rspamd, 1).unwrap();
        let r = decode(&z).unwrap();
        assert_eq!(r.message_id, "r@x");
        assert_eq!(r.unix_time, 1_700_000_001);
        assert!(r.symbols.get("R_SPF_ALLOW").is_some());
    }
}
