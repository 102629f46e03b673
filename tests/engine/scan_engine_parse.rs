//! Hostile input to the engine's parsers and matchers: typed errors or
//! results, never a panic.
use proptest::prelude::*;
use sluice::scan::expr::{parse, symbolic::parse_symbolic};
use sluice::scan::multimap::map::{MapKind, MapSource, Matcher};
use sluice::scan::multimap::selector::Selector;

const PIECES: &[&str] = &[
    "A",
    "g:",
    "g+:",
    "g-:",
    "~",
    "-",
    "^",
    "[",
    "]",
    ",",
    "/",
    "(",
    ")",
    "&",
    "|",
    "!",
    "+",
    ">=",
    "1",
    " ",
    "or",
    "and",
    "not",
    "Subject=",
    "/x/i",
    "{",
    "}",
    "header_exists(",
    "\u{e9}",
    "'",
    "\"",
    ":",
    ".",
    "from",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn expression_parsers_never_panic(s in soup(), raw in ".{0,40}") {
        let _ = parse_symbolic(&s);
        let _ = parse(&s);
        let _ = parse_symbolic(&raw);
        let _ = parse(&raw);
        let _ = Selector::parse(&s);
    }

    #[test]
    fn map_lines_never_panic(lines in prop::collection::vec(".{0,30}", 0..8), key in ".{0,20}") {
        for kind in [MapKind::Plain, MapKind::Cidr, MapKind::Regexp, MapKind::Glob] {
            let (m, _) = Matcher::build(kind, &lines);
            let _ = m.lookup(&key);
        }
        let _ = MapSource::parse(&key);
    }
}
