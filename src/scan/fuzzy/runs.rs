//! Runs of one script's letters in a text, for the word breakers that handle
//! those scripts apart (`cjk`, `thai`).

/// Byte ranges of the maximal runs of characters `is` accepts in `text`.
pub fn runs_of(text: &str, is: impl Fn(char) -> bool) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (is(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push((s, text.len()));
    }
    runs
}
