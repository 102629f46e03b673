use super::blocks::{Node, Parser};
use super::selectors::{selectors, Selector};
use super::tokens::{prepare, Tok, Tokenizer};
use super::*;
use crate::scan::fuzzy::html::block::{Display, Visibility};

fn tokens(s: &str) -> Vec<Tok<'_>> {
    let mut t = Tokenizer::new(s.as_bytes());
    let mut out = Vec::new();
    loop {
        match t.next_token() {
            Tok::Eof => return out,
            Tok::Ws => {}
            tok => out.push(tok),
        }
    }
}

fn vis(style: &str) -> Visibility {
    let mut b = style_block(style);
    b.compute_visibility();
    b.visibility
}

fn sels(prelude: &str) -> Vec<Selector> {
    let input = prepare(format!("{prelude} {{ color: red }}").as_bytes());
    let rules = Parser::new(&input).stylesheet();
    let at = rules[0]
        .iter()
        .position(|n| matches!(n, Node::Simple(_)))
        .unwrap();
    selectors(&rules[0][..at])
}

#[test]
fn tokens_follow_rspamds_reading() {
    assert_eq!(
        tokens("#abc #a{ -moz-x 2em 50% <!--"),
        [
            Tok::Hash(b"abc"),
            Tok::Delim(b'#'),
            Tok::Ident(b"a"),
            Tok::OCurly,
            Tok::Delim(b'-'),
            Tok::Ident(b"moz-x"),
            Tok::Number {
                value: 32.0,
                percent: false
            },
            Tok::Number {
                value: 50.0,
                percent: true
            },
            Tok::Cdo,
            Tok::Delim(b'-'),
        ]
    );
    // An unknown unit is left as an identifier after the number.
    assert_eq!(
        tokens("3vw rgb(1,2)"),
        [
            Tok::Number {
                value: 3.0,
                percent: false
            },
            Tok::Ident(b"vw"),
            Tok::Function(b"rgb"),
            Tok::OParen,
            Tok::Number {
                value: 1.0,
                percent: false
            },
            Tok::Comma,
            Tok::Number {
                value: 2.0,
                percent: false
            },
            Tok::CParen,
        ]
    );
    // An unterminated comment leaves its last byte.
    assert_eq!(
        tokens("a /* never closed x"),
        [Tok::Ident(b"a"), Tok::Ident(b"x")]
    );
}

#[test]
fn only_simple_selectors_apply() {
    assert_eq!(sels("p"), [Selector::Tag("p")]);
    assert_eq!(
        sels(".Promo, #Top, *"),
        [
            Selector::Class(b"promo".to_vec()),
            Selector::Id(b"top".to_vec()),
            Selector::All
        ]
    );
    assert!(sels("div.c6").is_empty());
    assert!(sels("p a").is_empty());
    assert!(sels("a:hover").is_empty());
    // A comma after a compound one applies its first part.
    assert_eq!(
        sels("div p, span"),
        [Selector::Tag("div"), Selector::Tag("span")]
    );
    // An unknown tag spoils the rest of the list.
    assert!(sels("blink, p").is_empty());
}

#[test]
fn declarations_read_as_rspamd_reads_them() {
    assert_eq!(vis("display:none"), Visibility::Invisible);
    assert_eq!(vis("DISPLAY: None"), Visibility::Invisible);
    assert_eq!(vis("visibility: hidden"), Visibility::Invisible);
    assert_eq!(vis("font-size: 0px"), Visibility::Invisible);
    assert_eq!(vis("font-size: 0.5pt"), Visibility::Invisible);
    // The shorthand's sizes all count: `0/0` hides.
    assert_eq!(vis("font: 0/0 a"), Visibility::Invisible);
    assert_eq!(vis("font: 12px/1.5 arial"), Visibility::Visible);
    assert_eq!(vis("color:#ffffff"), Visibility::Transparent);
    assert_eq!(vis("color: transparent"), Visibility::Transparent);
    assert_eq!(vis("color: rgba(0,0,0,0)"), Visibility::Transparent);
    assert_eq!(vis("color: hsl(0, 0%, 100%)"), Visibility::Visible);
    assert_eq!(
        vis("color: white; background-color: #fefefe"),
        Visibility::Transparent
    );
    assert_eq!(
        vis("color: rgb(0,0,0); background: #000 url(x)"),
        Visibility::Transparent
    );
    assert_eq!(vis("color: red"), Visibility::Visible);
    assert_eq!(vis("font-family: Arial"), Visibility::Visible);
    // The first of a repeated property counts.
    assert_eq!(vis("color: red; color: white"), Visibility::Visible);
    assert_eq!(vis("color: white; color: red"), Visibility::Transparent);
    // A value Rspamd does not know sets nothing.
    assert_eq!(style_block("display: inherit").display_mask, 0);
    assert_eq!(
        style_block("display: inline-block").display,
        Display::Inline
    );
    // An empty declaration swallows the next one.
    assert_eq!(vis("color: red;; display: none"), Visibility::Visible);
    assert_eq!(vis("color: red; display: none"), Visibility::Invisible);
}

#[test]
fn rules_merge_per_selector_and_shared_blocks_see_merges() {
    let mut s = Sheet::default();
    assert!(s.add(b"h1, h2 { color: red } h1 { display: none } .x { font-size: 0 }"));
    s.finish();
    let hidden = |b: Option<Block>| {
        let mut b = b.expect("a block");
        b.compute_visibility();
        b.visibility == Visibility::Invisible
    };
    assert!(hidden(s.block_for("h1", None, None)));
    // h2 shares h1's first block, which the second rule merged into.
    assert!(hidden(s.block_for("h2", None, None)));
    assert!(hidden(s.block_for("p", None, Some("y x"))));
    assert!(s.block_for("p", None, Some("y")).is_none());
    let mut empty = Sheet::default();
    assert!(!empty.add(b"/* nothing */"));
}

#[test]
fn hostile_stylesheets_cost_bounded_work() {
    let mut s = Sheet::default();
    // Nesting past the limit ends the parse; the rules before it count.
    let deep = format!(".a {{ display: none }} p {}", "{".repeat(200_000));
    assert!(s.add(deep.as_bytes()));
    let many = ".c { color: red } ".repeat(50_000) + &"x".repeat(100_000);
    assert!(s.add(many.as_bytes()));
    s.add(format!("/*{}", "*".repeat(100_000)).as_bytes());
    s.add(format!("p {{ color: {} }}", "red ".repeat(100_000)).as_bytes());
    // A big block merged into by many rules, and a big block merged
    // through many selectors: each merge costs what it brings.
    s.add("p { color: red } ".repeat(20_000).as_bytes());
    let sels = vec!["p"; 20_000].join(",");
    s.add(format!("{sels} {{ color: {} }}", "blue ".repeat(20_000)).as_bytes());
    s.finish();
    let mut b = s.block_for("b", None, Some("a")).expect("the rule before");
    b.compute_visibility();
    assert_eq!(b.visibility, Visibility::Invisible);
}
