//! Where included files come from. The parser only asks a [`Source`]; the loader decides which
//! paths are compiled in and which live on disk, and tests can use plain temp dirs.

use std::io;

/// A read-only file system for the parser. Paths are `/`-separated strings.
pub trait Source {
    /// The text of `path`, `Ok(None)` if it does not exist.
    fn read(&self, path: &str) -> io::Result<Option<String>>;
    /// The file names (not paths) directly inside `dir`; empty if it does not exist.
    fn list(&self, dir: &str) -> io::Result<Vec<String>>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct DiskSource;

impl Source for DiskSource {
    fn read(&self, path: &str) -> io::Result<Option<String>> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        Ok(names)
    }
}

/// Does `path` hold glob metacharacters?
pub fn has_glob(path: &str) -> bool {
    path.contains(['*', '?'])
}

/// Matches a file name against a pattern of `*` (any run) and `?` (one character).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ni));
            pi += 1;
        } else if let Some((bp, bn)) = backtrack {
            pi = bp + 1;
            ni = bn + 1;
            backtrack = Some((bp, bn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Splits `dir/pattern`; the directory part must be literal.
pub fn split_dir(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(0) => ("/", &path[1..]),
        Some(n) => (&path[..n], &path[n + 1..]),
        None => (".", path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_star_and_question_mark() {
        assert!(glob_match("*.conf", "a.conf"));
        assert!(glob_match("*.conf", ".conf"));
        assert!(!glob_match("*.conf", "a.conf.bak"));
        assert!(glob_match("a?c*", "abcdef"));
        assert!(glob_match("*a*b", "xxaxxb"));
        assert!(!glob_match("a?c", "ac"));
        assert_eq!(split_dir("/etc/x/*.conf"), ("/etc/x", "*.conf"));
        assert_eq!(split_dir("*.conf"), (".", "*.conf"));
    }
}
