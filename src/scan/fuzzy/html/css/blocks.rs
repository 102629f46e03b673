//! Tokens grouped as Rspamd 3.4's CSS parser groups them: rules of
//! components, `{}`/`()`/`[]` blocks and functions, white space dropped.
//! Nesting deeper than Rspamd's limit ends the parse: the rule being read
//! is dropped, the rules before it are kept. The recursion is bounded by
//! that limit and each token is read once, so the work is linear.
use super::tokens::{Tok, Tokenizer};

/// Rspamd's nesting limit for its consumers.
const MAX_NESTING: u32 = 20;

#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    Component(Tok<'a>),
    Function(&'a [u8], Vec<Tok<'a>>),
    Simple(Vec<Node<'a>>),
}

pub struct Parser<'a> {
    tokens: Tokenizer<'a>,
    backlog: Option<Tok<'a>>,
    eof: bool,
    depth: u32,
}

impl<'a> Parser<'a> {
    pub fn new(input: &'a [u8]) -> Parser<'a> {
        Parser {
            tokens: Tokenizer::new(input),
            backlog: None,
            eof: false,
            depth: 0,
        }
    }

    fn next(&mut self) -> Tok<'a> {
        self.backlog
            .take()
            .unwrap_or_else(|| self.tokens.next_token())
    }

    /// Enters a consumer; false past the nesting limit (never left then:
    /// the parse is over).
    fn enter(&mut self) -> bool {
        self.depth += 1;
        self.depth <= MAX_NESTING
    }

    /// A stylesheet: its rules (qualified and at-rules), each as the nodes
    /// of its prelude and block.
    pub fn stylesheet(mut self) -> Vec<Vec<Node<'a>>> {
        let mut rules = Vec::new();
        let mut ok = true;
        while !self.eof && ok {
            match self.next() {
                Tok::Ws => {}
                Tok::Eof => self.eof = true,
                t => {
                    let at = matches!(t, Tok::AtKeyword(_));
                    self.backlog = Some(t);
                    ok = self.rule(&mut rules, at);
                }
            }
        }
        rules
    }

    /// A style attribute's declarations.
    pub fn declarations(mut self) -> Vec<Node<'a>> {
        let mut block = Vec::new();
        self.simple(&mut block, Tok::Eof, true);
        block
    }

    fn rule(&mut self, top: &mut Vec<Vec<Node<'a>>>, at: bool) -> bool {
        if !self.enter() {
            return false;
        }
        let mut block = Vec::new();
        let (mut ok, mut more) = (true, true);
        while ok && more && !self.eof {
            match self.next() {
                Tok::Eof => self.eof = true,
                Tok::Cdo | Tok::Cdc | Tok::Ws => {}
                Tok::OCurly => {
                    ok = self.simple(&mut block, Tok::CCurly, false);
                    more = false;
                }
                Tok::Semicolon if at => more = false,
                t => {
                    self.backlog = Some(t);
                    ok = self.component(&mut block);
                }
            }
        }
        if ok {
            top.push(block);
        }
        self.depth -= 1;
        ok
    }

    /// Up to `end`: into `top` itself (`inline`) or into a new block
    /// appended to it.
    fn simple(&mut self, top: &mut Vec<Node<'a>>, end: Tok<'a>, inline: bool) -> bool {
        if !inline && !self.enter() {
            return false;
        }
        let mut own = Vec::new();
        let mut ok = true;
        while ok && !self.eof {
            let t = self.next();
            if t == end {
                break;
            }
            match t {
                Tok::Eof => self.eof = true,
                Tok::Ws => {}
                t => {
                    self.backlog = Some(t);
                    ok = self.component(if inline { &mut *top } else { &mut own });
                }
            }
        }
        if !inline {
            if ok {
                top.push(Node::Simple(own));
            }
            self.depth -= 1;
        }
        ok
    }

    fn component(&mut self, top: &mut Vec<Node<'a>>) -> bool {
        if !self.enter() {
            return false;
        }
        let (mut ok, mut node) = (true, None);
        while ok && node.is_none() && !self.eof {
            let t = self.next();
            let end = match t {
                Tok::OCurly => Some(Tok::CCurly),
                Tok::OParen => Some(Tok::CParen),
                Tok::OSquare => Some(Tok::CSquare),
                _ => None,
            };
            if let Some(end) = end {
                let mut inner = Vec::new();
                ok = self.simple(&mut inner, end, true);
                node = Some(Node::Simple(inner));
                continue;
            }
            match t {
                Tok::Eof => self.eof = true,
                Tok::Ws => {}
                Tok::Function(name) => {
                    let mut args = Vec::new();
                    ok = self.function(&mut args);
                    node = Some(Node::Function(name, args));
                }
                t => node = Some(Node::Component(t)),
            }
        }
        if let (true, Some(n)) = (ok, node) {
            top.push(n);
        }
        self.depth -= 1;
        ok
    }

    fn function(&mut self, args: &mut Vec<Tok<'a>>) -> bool {
        if !self.enter() {
            return false;
        }
        loop {
            match self.next() {
                Tok::Eof => {
                    self.eof = true;
                    break;
                }
                Tok::CParen => break,
                Tok::Ws | Tok::Comma | Tok::Delim(_) | Tok::OParen => {}
                t => args.push(t),
            }
        }
        self.depth -= 1;
        true
    }
}
