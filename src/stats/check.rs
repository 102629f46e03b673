//! What `sluice configtest` opens of the Bayes store, without changing it
//! and alongside a running daemon.
//!
//! Redis: the address is parsed as the daemon parses it, without
//! connecting. Embedded: redb (the version sluice uses) takes an exclusive
//! `flock` on every open, read-only ones included, and an open may write
//! (recovery of a file a writer left dirty); so the file is not opened as a
//! database while the daemon holds it. Instead it must be readable and start
//! with redb's header magic. A store out of reach does not stop the daemon
//! (it retries, scanning without Bayes meanwhile), so here it is a warning.
use std::io::Read;
use std::path::Path;

use super::store::{self, RedisStore};
use super::{Backend, StatsConfig, StatsError};

/// Warnings about the configured store; an error for what stops `run` too.
pub fn check(cfg: Option<&StatsConfig>) -> Result<Vec<String>, StatsError> {
    let Some(cfg) = cfg.filter(|c| c.enabled) else {
        return Ok(Vec::new());
    };
    match &cfg.backend {
        Backend::Redis(r) => {
            RedisStore::new((**r).clone())?;
            Ok(Vec::new())
        }
        Backend::Embedded { path } => Ok(embedded(path)
            .err()
            .map(|e| format!("bayes: store {}: {e}", path.display()))
            .into_iter()
            .collect()),
    }
}

/// A file that is not there yet is fine (`run` creates it); one that is
/// must be readable and, unless empty, a redb file.
fn embedded(path: &Path) -> Result<(), String> {
    if !path.exists() {
        return Ok(());
    }
    let mut head = Vec::with_capacity(store::REDB_MAGIC.len());
    std::fs::File::open(path)
        .and_then(|f| {
            f.take(store::REDB_MAGIC.len() as u64)
                .read_to_end(&mut head)
        })
        .map_err(|e| e.to_string())?;
    if head.is_empty() || head == store::REDB_MAGIC {
        Ok(())
    } else {
        Err("not a redb file (its header does not start with redb's magic bytes)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::store::EmbeddedStore;

    fn embedded_cfg(path: &Path) -> StatsConfig {
        let tree = serde_json::json!({"classifier": {"bayes": {"path": path}}});
        StatsConfig::from_tree(&tree).unwrap().unwrap()
    }

    #[test]
    fn a_store_held_open_passes_and_a_foreign_file_warns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bayes.redb");
        let cfg = embedded_cfg(&path);
        assert!(
            check(Some(&cfg)).unwrap().is_empty(),
            "absent: run creates it"
        );
        // As a running daemon does: the store open, its file locked.
        let held = EmbeddedStore::open(&path).unwrap();
        assert!(
            EmbeddedStore::open(&path).is_err(),
            "redb refuses a second open of a held file"
        );
        assert!(check(Some(&cfg)).unwrap().is_empty());
        drop(held);
        std::fs::write(&path, b"SQLite format 3\0").unwrap();
        let w = check(Some(&cfg)).unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("not a redb file"), "{}", w[0]);
        let dir_not_file = embedded_cfg(dir.path());
        let w = check(Some(&dir_not_file)).unwrap();
        assert_eq!(w.len(), 1, "a directory cannot be read: {w:?}");
    }
}
