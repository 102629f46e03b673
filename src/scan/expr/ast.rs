//! The syntax tree of Rspamd's rule expressions.
//!
//! Every node evaluates to a number, as in Rspamd: atoms give 1 or 0,
//! `+` adds, comparisons and logic give 1 or 0. The leaf type is generic so
//! the same tree shape serves the parsed form (atoms as written) and the
//! compiled form (indexes into the regex bank).

/// An expression over leaves of type `L`.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr<L> {
    Leaf(L),
    Not(Box<Expr<L>>),
    And(Vec<Expr<L>>),
    Or(Vec<Expr<L>>),
    Sum(Vec<Expr<L>>),
    Cmp(Box<Expr<L>>, CmpOp, f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
}

impl CmpOp {
    pub fn apply(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Eq => a == b,
        }
    }
}

impl<L> Expr<L> {
    /// Rebuilds the tree with each leaf converted; stops at the first error.
    pub fn try_map<M, E>(self, f: &mut impl FnMut(L) -> Result<M, E>) -> Result<Expr<M>, E> {
        Ok(match self {
            Expr::Leaf(l) => Expr::Leaf(f(l)?),
            Expr::Not(e) => Expr::Not(Box::new(e.try_map(f)?)),
            Expr::And(v) => Expr::And(map_all(v, f)?),
            Expr::Or(v) => Expr::Or(map_all(v, f)?),
            Expr::Sum(v) => Expr::Sum(map_all(v, f)?),
            Expr::Cmp(e, op, n) => Expr::Cmp(Box::new(e.try_map(f)?), op, n),
        })
    }

    /// Evaluates with `leaf` giving each leaf's value; `&` and `|` stop early.
    pub fn eval(&self, leaf: &impl Fn(&L) -> f64) -> f64 {
        match self {
            Expr::Leaf(l) => leaf(l),
            Expr::Not(e) => truth(e.eval(leaf) == 0.0),
            Expr::And(v) => truth(v.iter().all(|e| e.eval(leaf) != 0.0)),
            Expr::Or(v) => truth(v.iter().any(|e| e.eval(leaf) != 0.0)),
            Expr::Sum(v) => v.iter().map(|e| e.eval(leaf)).sum(),
            Expr::Cmp(e, op, n) => truth(op.apply(e.eval(leaf), *n)),
        }
    }
}

fn map_all<L, M, E>(
    v: Vec<Expr<L>>,
    f: &mut impl FnMut(L) -> Result<M, E>,
) -> Result<Vec<Expr<M>>, E> {
    v.into_iter().map(|e| e.try_map(f)).collect()
}

fn truth(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// What a regexp atom is matched against (Rspamd's regexp types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchKind {
    /// Decoded values of one message header (`H`, `{header}`).
    Header,
    /// Raw, undecoded values of one message header (`X`, `{raw_header}`).
    RawHeader,
    /// Decoded values of one header of the MIME parts (`B`, `{mime_header}`).
    MimeHeader,
    /// The whole raw header block (`R`, `{all_header}`).
    AllHeader,
    /// Decoded text of each text part, HTML as text (`P`, `{mime}`).
    Mime,
    /// Undecoded body of each text part (`Q`, `{raw_mime}`).
    RawMime,
    /// The full raw message (`M`, `{body}`, `{message}`).
    Body,
    /// Each URL found in the text (`U`, `{url}`).
    Url,
    /// Each e-mail address found in the text (`{email}`).
    Email,
    /// SpamAssassin-style bodies (`C`, `D`, `{sa_body}`, `{sa_raw_body}`):
    /// Subject plus text with lines joined; raw keeps the HTML markup.
    SaBody,
    SaRawBody,
    /// Each word of the text parts, lower-cased (`{words}`).
    Words,
    /// Values of a selector-lite expression (`from:domain=/re/{selector}`).
    Selector,
}

impl MatchKind {
    /// Rspamd's one-letter type flags.
    pub fn from_letter(c: char) -> Option<MatchKind> {
        Some(match c {
            'H' => MatchKind::Header,
            'X' => MatchKind::RawHeader,
            'B' => MatchKind::MimeHeader,
            'R' => MatchKind::AllHeader,
            'P' => MatchKind::Mime,
            'Q' => MatchKind::RawMime,
            'M' => MatchKind::Body,
            'U' => MatchKind::Url,
            'C' => MatchKind::SaBody,
            'D' => MatchKind::SaRawBody,
            _ => return None,
        })
    }

    /// Rspamd's long type names, written `{name}`.
    pub fn from_name(s: &str) -> Option<MatchKind> {
        Some(match s {
            "header" => MatchKind::Header,
            "raw_header" | "rawheader" => MatchKind::RawHeader,
            "mime_header" | "mimeheader" => MatchKind::MimeHeader,
            "all_header" | "allheader" => MatchKind::AllHeader,
            "mime" | "part" => MatchKind::Mime,
            "raw_mime" | "rawmime" | "raw_part" => MatchKind::RawMime,
            "body" | "message" => MatchKind::Body,
            "url" => MatchKind::Url,
            "email" => MatchKind::Email,
            "sa_body" => MatchKind::SaBody,
            "sa_raw_body" => MatchKind::SaRawBody,
            "words" | "raw_words" | "stem_words" => MatchKind::Words,
            "selector" => MatchKind::Selector,
            _ => return None,
        })
    }

    /// Kinds that apply to one named header.
    pub fn needs_header(self) -> bool {
        matches!(
            self,
            MatchKind::Header | MatchKind::RawHeader | MatchKind::MimeHeader | MatchKind::Selector
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::Header => "header",
            MatchKind::RawHeader => "raw_header",
            MatchKind::MimeHeader => "mime_header",
            MatchKind::AllHeader => "all_header",
            MatchKind::Mime => "mime",
            MatchKind::RawMime => "raw_mime",
            MatchKind::Body => "body",
            MatchKind::Url => "url",
            MatchKind::Email => "email",
            MatchKind::SaBody => "sa_body",
            MatchKind::SaRawBody => "sa_raw_body",
            MatchKind::Words => "words",
            MatchKind::Selector => "selector",
        }
    }
}

/// Flags of one regexp (`i m s x u O r`); `u`, `O` and `r` change nothing
/// for Rust's engine, but are accepted because Rspamd rules use them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ReFlags {
    pub caseless: bool,
    pub multiline: bool,
    pub dotall: bool,
    pub extended: bool,
    pub raw: bool,
}

/// `Header-Name=/re/flags` or `/re/flags`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegexpAtom {
    pub header: Option<String>,
    pub pattern: String,
    pub flags: ReFlags,
    pub kind: MatchKind,
}

/// Built-in functions (Rspamd's internal functions we implement; see
/// `docs/rules.md` and [`super::functions`] for their meaning).
#[derive(Debug, Clone, PartialEq)]
pub enum Function {
    /// `header_exists(Name)` / `raw_header_exists(Name)`.
    HeaderExists(String),
    HasOnlyHtmlPart,
    IsHtmlOnly,
    IsEmptyBody,
    HasFakeHtml,
    /// `compare_parts_distance(N)`: the plain and HTML alternatives differ
    /// by at least N percent of their words.
    ComparePartsDistance(f64),
    IsRecipientsSorted,
    /// `compare_recipients_distance(F)`: at least this share of recipients
    /// look alike (same domain and local-part prefix).
    CompareRecipientsDistance(f64),
    /// `has_content_part(type[, subtype])`.
    HasContentPart(String, Option<String>),
    /// `has_content_part_len(type, min[, max])` in decoded bytes.
    HasContentPartLen(String, usize, Option<usize>),
    ContentTypeIsType(String),
    ContentTypeIsSubtype(String),
    HasHtmlTag(String),
    /// `check_smtp_data(item[, value])`: item is from, rcpt, helo, user,
    /// hostname or ip; value is a literal or `/regex/`.
    CheckSmtpData(String, Option<ArgMatch>),
    CompareTransferEncoding(String),
}

/// A function argument that is a literal or a `/regex/flags`.
#[derive(Debug, Clone)]
pub enum ArgMatch {
    Literal(String),
    Regex(regex::Regex),
}

impl ArgMatch {
    pub fn parse(s: &str) -> Result<ArgMatch, String> {
        match s.strip_prefix('/').and_then(|r| r.rsplit_once('/')) {
            Some((re, flags)) => {
                let pat = if flags.contains('i') {
                    format!("(?i){re}")
                } else {
                    re.to_string()
                };
                regex::Regex::new(&pat)
                    .map(ArgMatch::Regex)
                    .map_err(|e| format!("bad regex argument `{s}`: {e}"))
            }
            None => Ok(ArgMatch::Literal(s.to_string())),
        }
    }

    pub fn matches(&self, v: &str) -> bool {
        match self {
            ArgMatch::Literal(l) => l.eq_ignore_ascii_case(v),
            ArgMatch::Regex(r) => r.is_match(v),
        }
    }
}

impl PartialEq for ArgMatch {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ArgMatch::Literal(a), ArgMatch::Literal(b)) => a == b,
            (ArgMatch::Regex(a), ArgMatch::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

/// A leaf as written in the rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Atom {
    Regexp(RegexpAtom),
    Function(Function),
}
