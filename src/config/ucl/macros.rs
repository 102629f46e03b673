//! The `.include` and `.priority` macros. `.include(try=true; priority=1; duplicate=merge)` is
//! the whole of Rspamd's `local.d`/`override.d` mechanism, so its semantics follow UCL's.

use super::error::UclError;
use super::lexer;
use super::parser::{Chunk, Parser};
use super::scalar::type_atom;
use super::source::{glob_match, has_glob, split_dir};
use super::tree::{Duplicate, Node, Obj};

/// Includes nested deeper than this are taken for a loop.
const MAX_INCLUDE_DEPTH: usize = 16;
/// UCL priorities are 4 bits.
const MAX_PRIORITY: u8 = 15;

/// The parameters in `.include(…)`.
#[derive(Debug, Clone)]
struct IncludeParams {
    try_: bool,
    glob: bool,
    priority: Option<u8>,
    duplicate: Duplicate,
}

impl Parser<'_> {
    /// `.name(params) argument` at the current position.
    pub(super) fn parse_macro(
        &mut self,
        c: &mut Chunk<'_>,
        obj: &mut Obj,
        path: &mut Vec<String>,
    ) -> Result<(), UclError> {
        let at = c.rest;
        c.bump();
        let name = c.lex(lexer::bare_key, "expected a macro name after `.`")?;
        c.lex(lexer::inline_trivia, "")?;
        let params = if c.peek() == Some('(') {
            c.bump();
            self.macro_params(c)?
        } else {
            Vec::new()
        };
        c.lex(lexer::inline_trivia, "")?;
        let arg_at = c.rest;
        let arg = match c.peek() {
            Some('"') => c.lex(lexer::dquoted, "")?,
            Some('\'') => c.lex(lexer::squoted, "")?,
            _ => c
                .lex(lexer::atom, "expected the macro argument")?
                .to_string(),
        };
        match name {
            "include" | "try_include" => {
                let mut p = self.include_params(c, at, &params)?;
                p.try_ |= name == "try_include";
                self.include(c, arg_at, &arg, &p, obj, path)
            }
            "priority" => {
                c.priority = parse_priority(c, arg_at, &arg)?;
                Ok(())
            }
            other => Err(c.error(at, format!("unknown macro `.{other}`"))),
        }
    }

    /// `key=value` pairs separated by `,` or `;`, up to `)`; values keep their text.
    fn macro_params(
        &mut self,
        c: &mut Chunk<'_>,
    ) -> Result<Vec<(String, String, usize)>, UclError> {
        let mut params = Vec::new();
        loop {
            c.skip()?;
            match c.peek() {
                Some(')') => {
                    c.bump();
                    return Ok(params);
                }
                Some(',' | ';') => c.bump(),
                None => return Err(c.error(c.rest, "unexpected end of file, expected `)`")),
                Some(_) => {
                    let at = c.text.len() - c.rest.len();
                    let key = c.lex(lexer::key, "expected a macro parameter")?;
                    c.skip()?;
                    if !matches!(c.peek(), Some('=' | ':')) {
                        return Err(
                            c.error(c.rest, format!("expected `=` after parameter `{key}`"))
                        );
                    }
                    c.bump();
                    c.skip()?;
                    let value = match c.peek() {
                        Some('"') => c.lex(lexer::dquoted, "")?,
                        Some('\'') => c.lex(lexer::squoted, "")?,
                        _ => c.lex(param_atom, "expected a parameter value")?.to_string(),
                    };
                    params.push((key, value, at));
                }
            }
        }
    }

    fn include_params(
        &mut self,
        c: &Chunk<'_>,
        at: &str,
        params: &[(String, String, usize)],
    ) -> Result<IncludeParams, UclError> {
        let mut p = IncludeParams {
            try_: false,
            glob: false,
            priority: None,
            duplicate: Duplicate::Append,
        };
        for (key, value, offset) in params {
            let here = &c.text[*offset..];
            match key.as_str() {
                "try" => p.try_ = parse_bool(c, here, key, value)?,
                "glob" => p.glob = parse_bool(c, here, key, value)?,
                "priority" => p.priority = Some(parse_priority(c, here, value)?),
                "duplicate" => p.duplicate = parse_duplicate(c, here, value)?,
                other => self.warnings.push(format!(
                    "{}: .include parameter `{other}` is not supported, ignored",
                    c.location(at)
                )),
            }
        }
        Ok(p)
    }

    /// Parses every file the include names into `obj`.
    fn include(
        &mut self,
        c: &Chunk<'_>,
        at: &str,
        raw: &str,
        p: &IncludeParams,
        obj: &mut Obj,
        path: &mut Vec<String>,
    ) -> Result<(), UclError> {
        let target = self.vars.expand(raw);
        let target = if target.starts_with('/') || target.starts_with('<') {
            target
        } else {
            format!("{}/{target}", c.dir())
        };
        let files = if p.glob || has_glob(&target) {
            self.glob(c, at, &target, p)?
        } else {
            vec![target]
        };
        for file in files {
            let text = match self.source.read(&file) {
                Ok(Some(text)) => text,
                Ok(None) if p.try_ => continue,
                Ok(None) => return Err(self.include_error(c, at, &file, "file not found")),
                Err(e) if p.try_ => {
                    self.warnings
                        .push(format!("{}: skipped `{file}`: {e}", c.location(at)));
                    continue;
                }
                Err(e) => return Err(self.include_error(c, at, &file, &e.to_string())),
            };
            if self.include_depth >= MAX_INCLUDE_DEPTH {
                let why = format!("includes nested deeper than {MAX_INCLUDE_DEPTH} (a loop?)");
                return Err(self.include_error(c, at, &file, &why));
            }
            let priority = p.priority.unwrap_or(c.priority);
            let mut chunk = Chunk::new(&file, &text, priority, p.duplicate);
            // Nesting counts across files, so includes cannot stack deep recursion.
            chunk.nesting = c.nesting;
            self.include_depth += 1;
            let parsed = self.parse_chunk(&mut chunk, obj, path);
            self.include_depth -= 1;
            parsed?;
        }
        Ok(())
    }

    /// Files matching the last path component, sorted so layering is deterministic.
    fn glob(
        &mut self,
        c: &Chunk<'_>,
        at: &str,
        target: &str,
        p: &IncludeParams,
    ) -> Result<Vec<String>, UclError> {
        let (dir, pattern) = split_dir(target);
        if has_glob(dir) {
            return Err(self.include_error(
                c,
                at,
                target,
                "wildcards are only allowed in the file name",
            ));
        }
        let names = self
            .source
            .list(dir)
            .map_err(|e| self.include_error(c, at, target, &e.to_string()))?;
        let mut files: Vec<String> = names
            .into_iter()
            .filter(|n| glob_match(pattern, n))
            .map(|n| format!("{}/{n}", dir.trim_end_matches('/')))
            .collect();
        files.sort();
        if files.is_empty() && !p.try_ {
            return Err(self.include_error(c, at, target, "no file matches"));
        }
        Ok(files)
    }

    fn include_error(&self, c: &Chunk<'_>, at: &str, path: &str, reason: &str) -> UclError {
        UclError::Include {
            at: c.location(at),
            path: path.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// A parameter value without quotes: up to a separator, `)` or blank.
fn param_atom(i: &str) -> lexer::Lex<'_, &str> {
    nom::bytes::complete::take_while1(|ch: char| {
        !matches!(ch, ',' | ';' | ')') && !ch.is_whitespace()
    })(i)
}

fn parse_bool(c: &Chunk<'_>, at: &str, key: &str, value: &str) -> Result<bool, UclError> {
    match type_atom(value) {
        Node::Bool(b) => Ok(b),
        _ => Err(c.error(
            at,
            format!("parameter `{key}` needs a boolean, got `{value}`"),
        )),
    }
}

fn parse_priority(c: &Chunk<'_>, at: &str, value: &str) -> Result<u8, UclError> {
    match type_atom(value) {
        Node::Int(n) if (0..=i64::from(MAX_PRIORITY)).contains(&n) => Ok(n as u8),
        _ => Err(c.error(
            at,
            format!("priority must be an integer from 0 to {MAX_PRIORITY}, got `{value}`"),
        )),
    }
}

fn parse_duplicate(c: &Chunk<'_>, at: &str, value: &str) -> Result<Duplicate, UclError> {
    match value {
        "append" => Ok(Duplicate::Append),
        "merge" => Ok(Duplicate::Merge),
        "rewrite" | "replace" => Ok(Duplicate::Rewrite),
        "error" => Ok(Duplicate::Error),
        _ => Err(c.error(
            at,
            format!("duplicate must be append, merge, replace, rewrite or error, got `{value}`"),
        )),
    }
}
