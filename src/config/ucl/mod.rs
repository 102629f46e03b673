//! A UCL parser covering what Rspamd configs use, so an admin's `local.d` and `override.d`
//! files carry over unchanged. The result is a `serde_json::Value` (key order preserved) that
//! each subsystem deserializes its own section from, plus a table of where every key was
//! defined, for warnings that point at a file and line.
//!
//! One deliberate difference from libucl: when the same key holds objects twice at the same
//! priority (`group "a" {}` then `group "b" {}`), the objects are merged instead of forming an
//! implicit array. Rspamd's C code walks such arrays as if they were one object; serde cannot,
//! and merging gives the same meaning. Repeated scalars and arrays still form implicit arrays.

mod error;
mod lexer;
mod macros;
mod parser;
mod scalar;
mod source;
mod tree;
mod vars;

use std::collections::BTreeMap;

pub use error::{Location, UclError};
pub use source::{DiskSource, Source};
pub use vars::Vars;

use parser::{Chunk, Parser};
use tree::{Duplicate, Node, Obj};

/// A parsed configuration: the merged tree, where each key was (last) defined, and
/// non-fatal remarks about the sources (unsupported include parameters and the like).
#[derive(Debug, Clone)]
pub struct Document {
    pub value: serde_json::Value,
    /// Dotted key path (`milter.bind_socket`, `worker.proxy.count`) to its definition.
    pub positions: BTreeMap<String, Location>,
    pub warnings: Vec<String>,
}

/// Parses the file `path` read through `source`, with `vars` for `$NAME` expansion.
pub fn parse_file(source: &dyn Source, vars: Vars, path: &str) -> Result<Document, UclError> {
    let text = match source.read(path) {
        Ok(Some(text)) => text,
        Ok(None) => {
            return Err(UclError::Read {
                path: path.to_string(),
                source: std::io::ErrorKind::NotFound.into(),
            })
        }
        Err(source) => {
            return Err(UclError::Read {
                path: path.to_string(),
                source,
            })
        }
    };
    parse_text(source, vars, path, &text)
}

/// Parses `text` as if it were the file `name` (relative includes resolve next to it).
pub fn parse_text(
    source: &dyn Source,
    vars: Vars,
    name: &str,
    text: &str,
) -> Result<Document, UclError> {
    let mut parser = Parser {
        source,
        vars,
        positions: BTreeMap::new(),
        warnings: Vec::new(),
        include_depth: 0,
    };
    let mut root = Obj::default();
    let mut chunk = Chunk::new(name, text, 0, Duplicate::Append);
    parser.parse_chunk(&mut chunk, &mut root, &mut Vec::new())?;
    Ok(Document {
        value: Node::Object(root).into_json(),
        positions: parser.positions,
        warnings: parser.warnings,
    })
}

/// Parses a string with no variables; includes resolve on disk. Handy for tests and tools.
pub fn parse_str(text: &str) -> Result<serde_json::Value, UclError> {
    parse_text(&DiskSource, Vars::default(), "<string>", text).map(|d| d.value)
}

/// Types `text` as an unquoted UCL atom would be (`"50mb"` → 52428800, `"yes"` → true), so
/// settings read from quoted strings accept the same suffixes as bare values.
pub fn type_atom(text: &str) -> serde_json::Value {
    scalar::type_atom(text.trim()).into_json()
}
