//! The bulk-learn journal: learned messages are appended here (one write
//! each, checksummed) and applied to the database in batches.
//!
//! Why: token hashes are spread uniformly over the B-tree, so committing
//! one message rewrites hundreds of pages; a batch of messages rewrites
//! each page once. The journal keeps the per-message guarantee: a process
//! killed mid-run replays the journal on the next open and loses at most
//! the record being written, which its checksum rejects.
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::xxh3_64;

use super::api::Class;

const MAGIC: &[u8; 4] = b"SLJ1";
/// Bounds a record: a message yields a few thousand tokens at most.
const MAX_PAYLOAD: usize = 1 << 24;

/// One learned message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub user: u64,
    pub digest: u128,
    pub class: Class,
    pub tokens: Vec<u64>,
}

impl Record {
    fn encode(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(41 + self.tokens.len() * 8);
        p.extend_from_slice(&self.seq.to_le_bytes());
        p.extend_from_slice(&self.user.to_le_bytes());
        p.extend_from_slice(&self.digest.to_le_bytes());
        p.push(self.class.code());
        p.extend_from_slice(&(self.tokens.len() as u32).to_le_bytes());
        for t in &self.tokens {
            p.extend_from_slice(&t.to_le_bytes());
        }
        let mut out = Vec::with_capacity(p.len() + 16);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(&xxh3_64(&p).to_le_bytes());
        out.extend_from_slice(&p);
        out
    }

    fn decode(p: &[u8]) -> Option<Record> {
        let u64_at = |i: usize| -> Option<u64> {
            Some(u64::from_le_bytes(p.get(i..i + 8)?.try_into().ok()?))
        };
        let seq = u64_at(0)?;
        let user = u64_at(8)?;
        let digest = u128::from_le_bytes(p.get(16..32)?.try_into().ok()?);
        let class = Class::from_code(*p.get(32)?)?;
        let n = u32::from_le_bytes(p.get(33..37)?.try_into().ok()?) as usize;
        if p.len() != 37 + n * 8 {
            return None;
        }
        let tokens = (0..n)
            .map(|i| u64_at(37 + i * 8))
            .collect::<Option<Vec<_>>>()?;
        Some(Record {
            seq,
            user,
            digest,
            class,
            tokens,
        })
    }
}

/// The open journal file.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
}

impl Journal {
    pub fn path_for(db: &Path) -> PathBuf {
        let mut p = db.as_os_str().to_owned();
        p.push(".journal");
        PathBuf::from(p)
    }

    pub fn open(path: PathBuf) -> std::io::Result<Journal> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Journal { file, path })
    }

    /// One `write` per record, so a kill leaves whole records plus at most
    /// one torn tail.
    pub fn append(&mut self, r: &Record) -> std::io::Result<()> {
        self.file.write_all(&r.encode())
    }

    /// Empties the journal once its records are committed.
    pub fn clear(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Every intact record, in order; reading stops at the first torn or
/// foreign one (the message that was in flight).
pub fn read(path: &Path) -> std::io::Result<Vec<Record>> {
    let mut buf = Vec::new();
    match File::open(path) {
        Ok(mut f) => f.read_to_end(&mut buf)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    let mut rest = &buf[..];
    while rest.len() >= 16 && &rest[..4] == MAGIC {
        let len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let sum = u64::from_le_bytes(rest[8..16].try_into().unwrap_or_default());
        let Some(payload) = rest.get(16..16 + len).filter(|_| len <= MAX_PAYLOAD) else {
            break;
        };
        if xxh3_64(payload) != sum {
            break;
        }
        let Some(r) = Record::decode(payload) else {
            break;
        };
        out.push(r);
        rest = &rest[16 + len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: u64) -> Record {
        Record {
            seq,
            user: 7,
            digest: u128::MAX - seq as u128,
            class: Class::Ham,
            tokens: vec![1, 2, u64::MAX],
        }
    }

    #[test]
    fn records_round_trip_and_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let mut j = Journal::open(path.clone()).unwrap();
        j.append(&rec(1)).unwrap();
        j.append(&rec(2)).unwrap();
        let torn = rec(3).encode();
        j.file.write_all(&torn[..torn.len() - 3]).unwrap();
        assert_eq!(read(&path).unwrap(), vec![rec(1), rec(2)]);
        j.clear().unwrap();
        assert!(read(&path).unwrap().is_empty());
    }

    #[test]
    fn corrupt_record_stops_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let mut bytes = rec(1).encode();
        let mut second = rec(2).encode();
        let last = second.len() - 1;
        second[last] ^= 0xff;
        bytes.extend(second);
        bytes.extend(rec(3).encode());
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(read(&path).unwrap(), vec![rec(1)]);
    }
}
