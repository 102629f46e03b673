//! The UCL grammar, recursive descent over the nom tokens of [`super::lexer`]:
//!
//! ```text
//! document := '{' body '}' | body
//! body     := ( element | macro | ';' | ',' )*
//! element  := key ( ('=' | ':') value | object | array | name+ object | name )
//! value    := object | array | "…" | '…' | <<HEREDOC | atom
//! macro    := '.' name [ '(' params ')' ] argument
//! ```
//!
//! Included files are parsed straight into the object that holds the `.include`, with their
//! own priority and duplicate strategy, which is how `local.d` and `override.d` layer.

use std::collections::BTreeMap;

use super::error::{snippet, Location, UclError};
use super::lexer::{self, Lex, LexError};
use super::scalar::type_atom;
use super::source::Source;
use super::tree::{Duplicate, Node, Obj};
use super::vars::Vars;

/// Objects and arrays nested deeper than this are refused instead of exhausting the stack.
const MAX_NESTING: usize = 64;

/// One source text being parsed: a file, an embedded file or a string.
pub(super) struct Chunk<'t> {
    pub name: String,
    pub text: &'t str,
    pub rest: &'t str,
    line_starts: Vec<usize>,
    pub priority: u8,
    pub strategy: Duplicate,
    pub nesting: usize,
}

impl<'t> Chunk<'t> {
    pub fn new(name: &str, text: &'t str, priority: u8, strategy: Duplicate) -> Chunk<'t> {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(n, _)| n + 1))
            .collect();
        Chunk {
            name: name.to_string(),
            text,
            rest: text,
            line_starts,
            priority,
            strategy,
            nesting: 0,
        }
    }

    /// The directory relative includes are resolved against.
    pub fn dir(&self) -> &str {
        super::source::split_dir(&self.name).0
    }

    pub fn location(&self, at: &str) -> Location {
        let offset = self.text.len() - at.len();
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        let column = self.text[start..offset].chars().count() + 1;
        Location {
            file: self.name.clone(),
            line,
            column,
        }
    }

    pub fn error(&self, at: &str, message: impl Into<String>) -> UclError {
        UclError::Syntax {
            at: self.location(at),
            message: message.into(),
            near: snippet(at),
        }
    }

    pub fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    pub fn bump(&mut self) {
        let mut chars = self.rest.chars();
        chars.next();
        self.rest = chars.as_str();
    }

    /// Runs a token parser at the current position; a soft miss becomes `expected`.
    pub fn lex<T>(
        &mut self,
        token: impl FnOnce(&'t str) -> Lex<'t, T>,
        expected: &str,
    ) -> Result<T, UclError> {
        match token(self.rest) {
            Ok((rest, value)) => {
                self.rest = rest;
                Ok(value)
            }
            Err(nom::Err::Failure(LexError { at, msg })) => Err(self.error(at, msg)),
            Err(_) => Err(self.error(self.rest, expected)),
        }
    }

    pub fn skip(&mut self) -> Result<(), UclError> {
        self.lex(lexer::trivia, "")
    }
}

/// Parser state shared by a file and everything it includes.
pub struct Parser<'s> {
    pub(super) source: &'s dyn Source,
    pub(super) vars: Vars,
    pub(super) positions: BTreeMap<String, Location>,
    pub(super) warnings: Vec<String>,
    pub(super) include_depth: usize,
}

impl Parser<'_> {
    /// Parses a whole chunk into `obj`: a braced JSON-style document or a bare body.
    pub(super) fn parse_chunk(
        &mut self,
        c: &mut Chunk<'_>,
        obj: &mut Obj,
        path: &mut Vec<String>,
    ) -> Result<(), UclError> {
        c.skip()?;
        if c.peek() == Some('{') {
            c.bump();
            self.parse_body(c, obj, path, Some('}'))?;
            c.skip()?;
            if !c.rest.is_empty() {
                return Err(c.error(c.rest, "unexpected text after the closing brace"));
            }
            return Ok(());
        }
        self.parse_body(c, obj, path, None)
    }

    /// Elements up to `closing` (or the end of the chunk when `None`).
    fn parse_body(
        &mut self,
        c: &mut Chunk<'_>,
        obj: &mut Obj,
        path: &mut Vec<String>,
        closing: Option<char>,
    ) -> Result<(), UclError> {
        loop {
            c.skip()?;
            match c.peek() {
                None => {
                    return match closing {
                        Some(ch) => {
                            Err(c.error(c.rest, format!("unexpected end of file, expected `{ch}`")))
                        }
                        None => Ok(()),
                    }
                }
                Some(ch) if Some(ch) == closing => {
                    c.bump();
                    return Ok(());
                }
                Some('}' | ']') => return Err(c.error(c.rest, "unexpected closing bracket")),
                Some(';' | ',') => c.bump(),
                Some('.') => self.parse_macro(c, obj, path)?,
                Some(_) => self.parse_element(c, obj, path)?,
            }
        }
    }

    fn parse_element(
        &mut self,
        c: &mut Chunk<'_>,
        obj: &mut Obj,
        path: &mut Vec<String>,
    ) -> Result<(), UclError> {
        let key_at = c.rest;
        let key = c.lex(lexer::key, "expected a key")?;
        let after_key = c.rest;
        c.skip()?;
        // A bare key alone on its line is a mistake, not `key value` across lines.
        let crossed_line = after_key[..after_key.len() - c.rest.len()].contains('\n');
        path.push(key.clone());
        let parsed = match c.peek() {
            Some('=' | ':') => {
                c.bump();
                c.skip()?;
                self.parse_value(c, path)
            }
            Some('{' | '[') => self.parse_value(c, path),
            _ if crossed_line => Err(c.error(key_at, format!("missing value for key `{key}`"))),
            _ => self.parse_sections(c, path),
        };
        path.pop();
        let (node, container) = parsed?;
        let kept = obj
            .insert(key.clone(), node, c.priority, c.strategy)
            .map_err(|_| c.error(key_at, format!("duplicate key `{key}`")))?;
        if kept {
            self.record(c, path, &key, key_at);
        }
        if !container {
            self.end_of_value(c, &[';', ',', '}'])?;
        }
        Ok(())
    }

    /// After a key without `=`: `name "name2" { … }` sections, or a single value.
    fn parse_sections(
        &mut self,
        c: &mut Chunk<'_>,
        path: &mut Vec<String>,
    ) -> Result<(Node, bool), UclError> {
        let first_at = c.rest;
        let mut names = Vec::new();
        while matches!(c.peek(), Some(ch) if ch == '"' || ch == '\'' || lexer::is_key_char(ch)) {
            let at = c.rest;
            names.push((c.lex(lexer::key, "expected a section name")?, at));
            c.skip()?;
        }
        if names.is_empty() {
            return Err(c.error(c.rest, "expected `=`, `:`, `{` or a value after the key"));
        }
        if c.peek() != Some('{') {
            c.rest = first_at;
            return self.parse_value(c, path);
        }
        let depth = path.len();
        for (name, at) in &names {
            self.record(c, path, name, at);
            path.push(name.clone());
        }
        let parsed = self.parse_value(c, path);
        path.truncate(depth);
        let (mut node, _) = parsed?;
        for (name, _) in names.into_iter().rev() {
            node = Node::Object(Obj::single(name, node, c.priority));
        }
        Ok((node, true))
    }

    /// A value; the flag says whether it was an object or array (which end themselves).
    fn parse_value(
        &mut self,
        c: &mut Chunk<'_>,
        path: &mut Vec<String>,
    ) -> Result<(Node, bool), UclError> {
        let at = c.rest;
        let node = match c.peek() {
            Some('{') => return self.nested(c, at, path, Self::parse_object),
            Some('[') => return self.nested(c, at, path, Self::parse_array),
            Some('"') => Node::Str(self.vars.expand(&c.lex(lexer::dquoted, "")?)),
            Some('\'') => Node::Str(self.vars.expand(&c.lex(lexer::squoted, "")?)),
            Some('<') if lexer::is_heredoc(c.rest) => {
                Node::Str(self.vars.expand(&c.lex(lexer::heredoc, "")?))
            }
            _ => match type_atom(c.lex(lexer::atom, "expected a value")?) {
                Node::Str(s) => Node::Str(self.vars.expand(&s)),
                typed => typed,
            },
        };
        Ok((node, false))
    }

    /// Guards the nesting depth around an object or array parser.
    fn nested(
        &mut self,
        c: &mut Chunk<'_>,
        at: &str,
        path: &mut Vec<String>,
        inner: fn(&mut Self, &mut Chunk<'_>, &mut Vec<String>) -> Result<Node, UclError>,
    ) -> Result<(Node, bool), UclError> {
        if c.nesting >= MAX_NESTING {
            return Err(c.error(at, format!("nesting deeper than {MAX_NESTING} levels")));
        }
        c.nesting += 1;
        c.bump();
        let node = inner(self, c, path);
        c.nesting -= 1;
        Ok((node?, true))
    }

    fn parse_object(
        &mut self,
        c: &mut Chunk<'_>,
        path: &mut Vec<String>,
    ) -> Result<Node, UclError> {
        let mut obj = Obj::default();
        self.parse_body(c, &mut obj, path, Some('}'))?;
        Ok(Node::Object(obj))
    }

    fn parse_array(&mut self, c: &mut Chunk<'_>, path: &mut Vec<String>) -> Result<Node, UclError> {
        let mut items = Vec::new();
        loop {
            c.skip()?;
            match c.peek() {
                None => return Err(c.error(c.rest, "unexpected end of file, expected `]`")),
                Some(']') => {
                    c.bump();
                    return Ok(Node::Array(items));
                }
                Some(',' | ';') => c.bump(),
                Some(_) => {
                    let (node, container) = self.parse_value(c, path)?;
                    items.push(node);
                    if !container {
                        self.end_of_value(c, &[',', ';', ']'])?;
                    }
                }
            }
        }
    }

    /// A scalar must be followed by a separator, a newline, a comment or the end.
    fn end_of_value(&mut self, c: &mut Chunk<'_>, allowed: &[char]) -> Result<(), UclError> {
        c.lex(lexer::inline_trivia, "")?;
        match c.peek() {
            None | Some('\n') => Ok(()),
            Some(ch) if allowed.contains(&ch) => Ok(()),
            Some(_) => Err(c.error(c.rest, "unexpected text after value (missing `;`?)")),
        }
    }

    /// Remembers where `path.key` was defined, for warnings that name a file and line.
    fn record(&mut self, c: &Chunk<'_>, path: &[String], key: &str, at: &str) {
        let mut dotted = path.join(".");
        if !dotted.is_empty() {
            dotted.push('.');
        }
        dotted.push_str(key);
        self.positions.insert(dotted, c.location(at));
    }
}
