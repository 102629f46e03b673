//! Rspamd's rule expression language: parse once at load, evaluate per
//! message against precomputed atom results.
//!
//! Regexp atoms are not evaluated here one by one: the pipeline matches all
//! regexps of a type in one pass ([`crate::scan::regex_bank`]) and the
//! compiled expression only looks up those results.
pub mod ast;
pub mod functions;
pub mod parse;
pub mod symbolic;

pub use ast::{ArgMatch, Atom, CmpOp, Expr, Function, MatchKind, ReFlags, RegexpAtom};
pub use parse::parse;

/// A rule expression that cannot be parsed; `offset` is in bytes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExprError {
    #[error("syntax error at byte {offset} of `{expr}`: {reason}")]
    Syntax {
        expr: String,
        offset: usize,
        reason: String,
    },
}
