//! Errors of the UCL layer. Every syntax error names `file:line:column` and quotes the text it
//! stumbled on, because an admin fixing a config needs both without opening a debugger.

use std::fmt;

/// Where something sits in a config source: the file name as the parser saw it, 1-based line and
/// column (columns count characters, not bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A UCL source could not be turned into a tree.
#[derive(Debug, thiserror::Error)]
pub enum UclError {
    /// The text breaks the grammar; `near` is the offending text (or `end of file`).
    #[error("{at}: {message} near `{near}`")]
    Syntax {
        at: Location,
        message: String,
        near: String,
    },
    /// An `.include` without `try=true` named something that cannot be read.
    #[error("{at}: cannot include `{path}`: {reason}")]
    Include {
        at: Location,
        path: String,
        reason: String,
    },
    /// The top-level file itself could not be read.
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl UclError {
    /// The location the error points at, if it has one.
    pub fn location(&self) -> Option<&Location> {
        match self {
            UclError::Syntax { at, .. } | UclError::Include { at, .. } => Some(at),
            UclError::Read { .. } => None,
        }
    }
}

/// The text to quote in an error: the rest of the line at the error position, shortened.
pub(crate) fn snippet(rest: &str) -> String {
    let line = rest.lines().next().unwrap_or("");
    if rest.is_empty() {
        return "end of file".to_string();
    }
    let mut out: String = line.chars().take(40).collect();
    if line.chars().count() > 40 {
        out.push('…');
    }
    out
}
