//! `sluice learn`: messages from directories (Maildirs included), mbox
//! files or single files, learned one by one with a progress bar.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Class, LearnOutcome, Stats, StatsError};
use crate::message::Envelope;

/// One message to learn: where it came from and its bytes.
#[derive(Debug, Clone)]
pub struct Item {
    pub origin: String,
    pub class: Class,
    pub raw: Vec<u8>,
}

/// What a learn run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub learned: u64,
    pub moved: u64,
    pub already: u64,
    pub failed: u64,
    pub elapsed: Duration,
}

impl Summary {
    pub fn total(&self) -> u64 {
        self.learned + self.moved + self.already + self.failed
    }

    pub fn per_second(&self) -> f64 {
        self.total() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} messages in {:.2}s ({:.0} msg/s): {} learned, {} moved to the other class, {} already learned, {} failed",
            self.total(),
            self.elapsed.as_secs_f64(),
            self.per_second(),
            self.learned,
            self.moved,
            self.already,
            self.failed
        )
    }
}

/// Reads every message under `paths` as `class`.
pub fn collect(paths: &[PathBuf], class: Class) -> Result<Vec<Item>, StatsError> {
    let mut out = Vec::new();
    for p in paths {
        collect_path(p, class, &mut out)?;
    }
    Ok(out)
}

fn input_err(path: &Path, e: impl std::fmt::Display) -> StatsError {
    StatsError::Input {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

fn collect_path(path: &Path, class: Class, out: &mut Vec<Item>) -> Result<(), StatsError> {
    let meta = std::fs::metadata(path).map_err(|e| input_err(path, e))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| input_err(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            // A Maildir's tmp/ holds deliveries in progress.
            .filter(|p| {
                p.file_name()
                    .is_none_or(|n| n != "tmp" && !n.to_string_lossy().starts_with('.'))
            })
            .collect();
        entries.sort();
        for e in entries {
            collect_path(&e, class, out)?;
        }
        return Ok(());
    }
    let raw = std::fs::read(path).map_err(|e| input_err(path, e))?;
    if raw.starts_with(b"From ") {
        for (i, m) in split_mbox(&raw).into_iter().enumerate() {
            out.push(Item {
                origin: format!("{}#{}", path.display(), i + 1),
                class,
                raw: m,
            });
        }
    } else if !raw.is_empty() {
        out.push(Item {
            origin: path.display().to_string(),
            class,
            raw,
        });
    }
    Ok(())
}

/// Splits an mbox at `From ` separator lines (after a blank line or at the
/// start) and undoes mboxrd quoting (`>From ` -> `From `).
pub fn split_mbox(raw: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur: Option<Vec<u8>> = None;
    let mut prev_blank = true;
    for line in raw.split_inclusive(|&b| b == b'\n') {
        if prev_blank && line.starts_with(b"From ") {
            if let Some(m) = cur.take() {
                out.push(m);
            }
            cur = Some(Vec::new());
            prev_blank = false;
            continue;
        }
        prev_blank = line == b"\n" || line == b"\r\n";
        if let Some(m) = cur.as_mut() {
            let quoted = line.iter().position(|&b| b != b'>').filter(|&n| n > 0);
            match quoted {
                Some(n) if line[n..].starts_with(b"From ") => m.extend_from_slice(&line[1..]),
                _ => m.extend_from_slice(line),
            }
        }
    }
    out.extend(cur);
    // The blank line that precedes each separator belongs to the mbox.
    for m in &mut out {
        if m.ends_with(b"\n\n") {
            m.pop();
        }
    }
    out
}

/// Learns `items` in order with an optional progress bar (messages/s,
/// ETA). A message that cannot be learned is counted and reported, and the
/// run goes on; a store error ends it.
pub fn learn_items(stats: &Stats, items: &[Item], progress: bool) -> Result<Summary, StatsError> {
    let env = Envelope::default();
    stats.bulk(true)?;
    let sum = learn_each(items, progress, |item| {
        stats.learn(item.class, &env, &item.raw).map(Some)
    })?;
    stats.bulk(false)?;
    stats.sync()?;
    Ok(sum)
}

/// The learn loop with its progress bar, whatever learns: `learn` answers
/// an outcome, `None` for a message refused (counted as failed, the run
/// goes on), or an error that ends the run.
pub fn learn_each<E>(
    items: &[Item],
    progress: bool,
    mut learn: impl FnMut(&Item) -> Result<Option<LearnOutcome>, E>,
) -> Result<Summary, E> {
    let bar = crate::progress::bar(items.len() as u64, progress);
    let start = Instant::now();
    let mut sum = Summary::default();
    for item in items {
        match learn(item) {
            Ok(Some(LearnOutcome::Learned)) => sum.learned += 1,
            Ok(Some(LearnOutcome::Moved { .. })) => sum.moved += 1,
            Ok(Some(LearnOutcome::AlreadyLearned)) => sum.already += 1,
            Ok(None) => sum.failed += 1,
            Err(e) => {
                bar.abandon();
                return Err(e);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    sum.elapsed = start.elapsed();
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbox_splits_and_unquotes() {
        let mbox = b"From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\n>From here\nbody\n\nFrom c@d Mon Jan  1 00:00:00 2024\nSubject: two\n\nx\n";
        let msgs = split_mbox(mbox);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0], b"Subject: one\n\nFrom here\nbody\n".to_vec());
        assert_eq!(msgs[1], b"Subject: two\n\nx\n".to_vec());
    }

    #[test]
    fn maildir_tmp_is_skipped_and_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
            std::fs::write(dir.path().join(sub).join("m1"), b"Subject: x\n\nbody\n").unwrap();
        }
        let items = collect(&[dir.path().to_path_buf()], Class::Ham).unwrap();
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(|i| !i.origin.contains("/tmp/m1")));
    }

    #[test]
    fn missing_path_is_a_typed_error() {
        let e = collect(&[PathBuf::from("/nonexistent/x")], Class::Spam).unwrap_err();
        assert!(matches!(e, StatsError::Input { .. }), "{e}");
    }
}
