//! The messages to replay, read once before the clock starts so that disk
//! I/O never shows up in the latency figures.
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::envelope::BenchEnvelope;
use super::BenchError;

/// One message file, raw bytes as stored, with the envelope it is sent
/// with (from its own headers).
#[derive(Debug, Clone)]
pub struct Message {
    pub path: PathBuf,
    pub raw: Bytes,
    pub envelope: BenchEnvelope,
}

/// Reads every regular file directly inside each directory (sorted by name,
/// so runs are repeatable). A path that is itself a file is taken as one
/// message, which makes single-message runs easy.
pub fn load(dirs: &[PathBuf]) -> Result<Vec<Message>, BenchError> {
    let mut out = Vec::new();
    for dir in dirs {
        for path in list(dir)? {
            let raw = std::fs::read(&path).map_err(|source| BenchError::Corpus {
                path: path.clone(),
                source,
            })?;
            out.push(Message {
                path,
                envelope: BenchEnvelope::of(&raw),
                raw: Bytes::from(raw),
            });
        }
    }
    if out.is_empty() {
        return Err(BenchError::EmptyCorpus {
            dirs: dirs.to_vec(),
        });
    }
    Ok(out)
}

fn list(dir: &Path) -> Result<Vec<PathBuf>, BenchError> {
    let err = |source| BenchError::Corpus {
        path: dir.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(dir).map_err(err)?;
    if meta.is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        if entry.file_type().map_err(err)?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_files_sorted_and_skips_subdirectories() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.eml"), b"Subject: b\n\nB\n").unwrap();
        std::fs::write(dir.path().join("a.eml"), b"Subject: a\n\nA\n").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let msgs = load(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = msgs
            .iter()
            .map(|m| m.path.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["a.eml", "b.eml"]);
        assert_eq!(&msgs[1].raw[..], b"Subject: b\n\nB\n");
    }

    #[test]
    fn a_file_argument_is_one_message() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("one.eml");
        std::fs::write(&f, b"Subject: x\n\nbody\n").unwrap();
        assert_eq!(load(&[f]).unwrap().len(), 1);
    }

    #[test]
    fn empty_and_missing_directories_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            load(&[dir.path().to_path_buf()]),
            Err(BenchError::EmptyCorpus { .. })
        ));
        let missing = dir.path().join("nope");
        assert!(matches!(load(&[missing]), Err(BenchError::Corpus { .. })));
    }
}
