//! Table tests of the rule expression parser: accepted forms with their
//! tree, and rejected forms with where and why.
use sluice::scan::expr::{
    parse, Atom, CmpOp, Expr, ExprError, Function, MatchKind, ReFlags, RegexpAtom,
};

fn re(header: Option<&str>, pattern: &str, kind: MatchKind, flags: ReFlags) -> Expr<Atom> {
    Expr::Leaf(Atom::Regexp(RegexpAtom {
        header: header.map(str::to_string),
        pattern: pattern.into(),
        flags,
        kind,
    }))
}

fn plain() -> ReFlags {
    ReFlags::default()
}

fn exists(h: &str) -> Expr<Atom> {
    Expr::Leaf(Atom::Function(Function::HeaderExists(h.into())))
}

#[test]
fn accepted_expressions() {
    let i = ReFlags {
        caseless: true,
        ..plain()
    };
    let table: Vec<(&str, Expr<Atom>)> = vec![
        (
            "Subject=/hello/",
            re(Some("Subject"), "hello", MatchKind::Header, plain()),
        ),
        (
            "Subject=/hel\\/lo/i",
            re(Some("Subject"), "hel/lo", MatchKind::Header, i),
        ),
        (
            "From=/x\\.y/X",
            re(Some("From"), "x\\.y", MatchKind::RawHeader, plain()),
        ),
        (
            "Content-Type=/html/B",
            re(Some("Content-Type"), "html", MatchKind::MimeHeader, plain()),
        ),
        ("/a b/P", re(None, "a b", MatchKind::Mime, plain())),
        ("/x/Q", re(None, "x", MatchKind::RawMime, plain())),
        ("/x/M", re(None, "x", MatchKind::Body, plain())),
        ("/x/R", re(None, "x", MatchKind::AllHeader, plain())),
        ("/x/U", re(None, "x", MatchKind::Url, plain())),
        ("/x/i{url}", re(None, "x", MatchKind::Url, i)),
        ("/x/{email}", re(None, "x", MatchKind::Email, plain())),
        (
            "X-Foo=/x/{raw_header}",
            re(Some("X-Foo"), "x", MatchKind::RawHeader, plain()),
        ),
        (
            "/x/imsxuOrP",
            re(
                None,
                "x",
                MatchKind::Mime,
                ReFlags {
                    caseless: true,
                    multiline: true,
                    dotall: true,
                    extended: true,
                    raw: true,
                },
            ),
        ),
        ("header_exists(Message-ID)", exists("Message-ID")),
        ("header_exists('Date')", exists("Date")),
        ("header_exists( \"To\" )", exists("To")),
        (
            "has_only_html_part()",
            Expr::Leaf(Atom::Function(Function::HasOnlyHtmlPart)),
        ),
        ("!header_exists(A)", Expr::Not(Box::new(exists("A")))),
        ("not header_exists(A)", Expr::Not(Box::new(exists("A")))),
        (
            "header_exists(A) & header_exists(B)",
            Expr::And(vec![exists("A"), exists("B")]),
        ),
        (
            "header_exists(A) && header_exists(B) and header_exists(C)",
            Expr::And(vec![exists("A"), exists("B"), exists("C")]),
        ),
        (
            "header_exists(A) | header_exists(B) || header_exists(C) or header_exists(D)",
            Expr::Or(vec![exists("A"), exists("B"), exists("C"), exists("D")]),
        ),
        // AND binds tighter than OR.
        (
            "header_exists(A) | header_exists(B) & header_exists(C)",
            Expr::Or(vec![exists("A"), Expr::And(vec![exists("B"), exists("C")])]),
        ),
        (
            "(header_exists(A) | header_exists(B)) & header_exists(C)",
            Expr::And(vec![Expr::Or(vec![exists("A"), exists("B")]), exists("C")]),
        ),
        (
            "(header_exists(A) + header_exists(B) + header_exists(C)) > 1",
            Expr::Cmp(
                Box::new(Expr::Sum(vec![exists("A"), exists("B"), exists("C")])),
                CmpOp::Gt,
                1.0,
            ),
        ),
        // PLUS binds tighter than COMPARE, COMPARE tighter than AND.
        (
            "header_exists(A) + header_exists(B) >= 2 & header_exists(C)",
            Expr::And(vec![
                Expr::Cmp(
                    Box::new(Expr::Sum(vec![exists("A"), exists("B")])),
                    CmpOp::Ge,
                    2.0,
                ),
                exists("C"),
            ]),
        ),
        (
            "!header_exists(A) + header_exists(B) < 1.5",
            Expr::Cmp(
                Box::new(Expr::Sum(vec![
                    Expr::Not(Box::new(exists("A"))),
                    exists("B"),
                ])),
                CmpOp::Lt,
                1.5,
            ),
        ),
        (
            "  Subject=/a/  |/b/P  ",
            Expr::Or(vec![
                re(Some("Subject"), "a", MatchKind::Header, plain()),
                re(None, "b", MatchKind::Mime, plain()),
            ]),
        ),
    ];
    for (src, want) in table {
        assert_eq!(parse(src), Ok(want), "{src}");
    }
}

#[test]
fn rejected_expressions() {
    let table: &[(&str, usize, &str)] = &[
        ("", 0, "expected an atom"),
        ("/x/", 0, "needs a type flag"),
        ("/x/Z", 0, "unknown regexp flag `Z`"),
        ("/x/{words2}", 0, "unknown regexp type"),
        ("Subject=/x", 9, "not closed"),
        ("Subject=/x/U", 0, "does not take a header name"),
        ("/x/H", 0, "needs a header name"),
        ("header_exists()", 0, "takes 1 argument"),
        ("frobnicate(x)", 0, "unknown function `frobnicate`"),
        ("header_exists(A) &", 18, "expected an atom"),
        ("(header_exists(A)", 17, "expected `)`"),
        ("header_exists(A) header_exists(B)", 17, "trailing"),
        ("header_exists(A) > x", 17, "trailing"),
    ];
    for (src, offset, why) in table {
        match parse(src) {
            Err(ExprError::Syntax {
                offset: got,
                reason,
                expr,
            }) => {
                assert_eq!(expr, *src);
                assert!(
                    reason.contains(why),
                    "{src}: reason {reason:?} lacks {why:?}"
                );
                assert_eq!(got, *offset, "{src}: offset ({reason})");
            }
            Ok(e) => panic!("{src}: accepted as {e:?}"),
        }
    }
}

#[test]
fn evaluation_follows_rspamd_arithmetic() {
    let e = parse("(header_exists(A) + header_exists(B) + header_exists(C)) > 1").unwrap();
    let with = |present: &'static [&'static str]| {
        move |a: &Atom| match a {
            Atom::Function(Function::HeaderExists(h)) => {
                f64::from(u8::from(present.contains(&h.as_str())))
            }
            _ => 0.0,
        }
    };
    assert_eq!(e.eval(&with(&["A"])), 0.0);
    assert_eq!(e.eval(&with(&["A", "C"])), 1.0);
    let n = parse("!header_exists(A) & header_exists(B)").unwrap();
    assert_eq!(n.eval(&with(&["B"])), 1.0);
    assert_eq!(n.eval(&with(&["A", "B"])), 0.0);
}
