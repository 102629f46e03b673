//! Errors of loading Lua rules. Runtime failures of a callback are not
//! errors of the scan: they are logged and cost only that symbol.
use std::path::PathBuf;

/// Why the Lua rules could not be loaded; each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum LuaLoadError {
    #[error("lua file `{path}`: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("lua directory `{path}`: {source}")]
    ReadDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The script does not compile, or its top level raised an error
    /// (a bad `register_symbol` call, a runtime error, a blown budget).
    #[error("lua script `{script}`: {reason}")]
    Script { script: String, reason: String },
    #[error("lua: setting up the interpreter failed: {0}")]
    Setup(String),
    #[error("lua: `{key}` must be {expected}")]
    Config { key: String, expected: &'static str },
}
