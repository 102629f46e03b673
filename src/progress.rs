//! Progress for the command-line jobs that can run for a while (`learn`,
//! `eval-bayes`, `scan` of many files, `bench milter`): a bar on stderr when
//! stderr is a terminal, nothing otherwise, so pipes, logs and scripts see
//! only the job's own output.
use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `len` steps, drawn on stderr when `wanted` and stderr is a
/// terminal; a hidden bar (every call a no-op) otherwise.
pub fn bar(len: u64, wanted: bool) -> ProgressBar {
    if !wanted || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} ETA {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unwanted_bar_is_hidden() {
        assert!(bar(10, false).is_hidden());
    }
}
