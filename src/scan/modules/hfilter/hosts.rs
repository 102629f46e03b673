//! The shapes of host names hfilter classes: names of end-user access
//! networks (dial-up, DSL, cable, mobile pools), HELO names no mail server
//! of a provider uses, address literals, and Rspamd's idea of a fully
//! qualified name.
//!
//! The classes are Rspamd's, so that a HELO or reverse name gets the same
//! `HFILTER_HELO_n` / `HFILTER_HOSTNAME_n` symbol from both; they are
//! written here as words and the places where a word has to sit in a name.
use std::sync::OnceLock;

use regex::{RegexSet, RegexSetBuilder};

/// Where an access-network word has to sit in a name to count.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// After a number, joined or after one separator: `12-dsl`, `12dsl`.
    AfterNumber,
    /// After a number and exactly one separator: `12-dsl`.
    AfterNumberSep,
    /// After a digit, joined or after one separator: `2dsl`, `2.dsl`.
    AfterDigit,
    /// A whole label or a dash-separated piece: `.dsl.`, `-dsl.`.
    Piece,
    /// Before a digit, after one separator: `dsl-1`.
    BeforeDigit,
    /// Before a digit, joined or after one separator: `dsl1`, `dsl-1`.
    BeforeDigitJoined,
}

impl Place {
    fn pattern(self, word: &str) -> String {
        match self {
            Place::AfterNumber => format!("[-.0-9][0-9][.-]?{word}"),
            Place::AfterNumberSep => format!("[-.0-9][0-9][.-]{word}"),
            Place::AfterDigit => format!("[0-9][.-]?{word}"),
            Place::Piece => format!("[.-]{word}[.-]"),
            Place::BeforeDigit => format!("{word}[.-][0-9]"),
            Place::BeforeDigitJoined => format!("{word}[.-]?[0-9]"),
        }
    }
}

use Place::{AfterDigit, AfterNumber, AfterNumberSep, BeforeDigit, BeforeDigitJoined, Piece};

/// The places most words are looked for in.
const USUAL: &[Place] = &[AfterNumber, Piece, BeforeDigit];

/// Words of access-network host names (regex fragments), how surely each
/// marks an end-user connection (1 = faintly, 5 = surely), and where.
/// `[ax|]?` is Rspamd's optional `a`/`x` before `dsl` (the `|` included,
/// as Rspamd writes the class).
const WORDS: &[(&str, u8, &[Place])] = &[
    ("nat", 5, USUAL),
    ("homeuser", 5, USUAL),
    ("dynamic", 5, USUAL),
    ("catv", 5, USUAL),
    ("comcast", 5, USUAL),
    ("ppp", 5, USUAL),
    ("dial-?up", 5, USUAL),
    ("cablemodem", 5, USUAL),
    ("pptp", 5, USUAL),
    ("pppoe", 5, &[AfterNumber, BeforeDigit]),
    ("bredband", 5, &[AfterNumber, Piece]),
    ("broadband", 5, &[AfterNumberSep, Piece, BeforeDigit]),
    ("gprs", 5, &[AfterNumberSep, Piece, BeforeDigit]),
    ("cdma", 5, &[AfterNumberSep, Piece, BeforeDigit]),
    ("modem", 5, &[AfterNumberSep, Piece, BeforeDigit]),
    ("dynip", 5, &[AfterNumberSep, BeforeDigit]),
    ("dyn", 5, &[AfterNumberSep]),
    ("brodband", 5, &[BeforeDigit]),
    ("wifi", 5, &[AfterDigit, Piece, BeforeDigit]),
    ("broad", 5, &[AfterDigit, Piece, BeforeDigit]),
    ("dhcp", 5, &[AfterDigit, Piece, BeforeDigit]),
    (
        "[ax|]?dsl-dynamic",
        5,
        &[AfterNumber, Piece, BeforeDigitJoined],
    ),
    (
        "[ax|]?dsl-line",
        4,
        &[AfterNumber, Piece, BeforeDigitJoined],
    ),
    ("[ax|]?dsl", 4, &[AfterNumber, Piece, BeforeDigitJoined]),
    ("pool", 4, USUAL),
    ("in-?addr", 4, USUAL),
    ("fibertel", 4, USUAL),
    ("fbx", 4, &[AfterDigit, Piece, BeforeDigit]),
    ("unused-addr", 3, USUAL),
    ("kabel", 3, &[AfterDigit, Piece, BeforeDigit]),
    ("cable", 3, &[AfterNumberSep, Piece, BeforeDigit]),
    ("host", 2, USUAL),
    ("peer", 1, USUAL),
    ("user", 1, USUAL),
    ("customers?", 1, USUAL),
    ("clients?", 1, &[Piece]),
];

/// Access-network shapes that are not a word in one of the places above.
const SHAPES: &[(&str, u8)] = &[
    // Client pools numbered with several digits.
    ("clients?[.-][0-9]{2,}", 5),
    ("[-.0-9][0-9]{3,}[.-]?clients?", 5),
    ("dyn[.-][0-9][-.0-9]", 5),
    ("[-.0-9][.-]pppoe[.-]", 5),
    ("[-.0-9][.-]dynip[.-]", 5),
];

struct Classes {
    set: RegexSet,
    weights: Vec<u8>,
}

fn access_classes() -> &'static Classes {
    static CLASSES: OnceLock<Classes> = OnceLock::new();
    CLASSES.get_or_init(|| {
        let mut patterns = Vec::new();
        let mut weights = Vec::new();
        for (word, weight, places) in WORDS {
            for place in *places {
                patterns.push(place.pattern(word));
                weights.push(*weight);
            }
        }
        for (shape, weight) in SHAPES {
            patterns.push((*shape).to_string());
            weights.push(*weight);
        }
        let set = RegexSetBuilder::new(&patterns)
            .case_insensitive(true)
            .build()
            .expect("static host patterns compile");
        Classes { set, weights }
    })
}

/// How surely `host` names an end-user access connection: the heaviest
/// class it falls in, 0 when none.
pub fn access_weight(host: &str) -> u8 {
    let c = access_classes();
    c.set
        .matches(host)
        .iter()
        .map(|i| c.weights[i])
        .max()
        .unwrap_or(0)
}

/// HELO names no provider's mail server announces, all of the surest
/// class: a single label (`COMPUTER`), or a home router's default name.
///
/// Rspamd's list also has a pattern for private suffixes (`.lan`,
/// `.local`, ...) that is written without its closing delimiter and so
/// never matches; names with those suffixes are not classed here either.
pub fn helo_weight(helo: &str) -> u8 {
    let lower = helo.to_ascii_lowercase();
    let router = lower
        .strip_suffix(".lan")
        .map(|name| name.strip_prefix("dsl").unwrap_or(name))
        .is_some_and(|name| name == "device" || name == "speedtouch");
    if (!helo.is_empty() && !helo.contains('.')) || router {
        5
    } else {
        0
    }
}

fn bad_ip_set() -> &'static RegexSet {
    static SET: OnceLock<RegexSet> = OnceLock::new();
    SET.get_or_init(|| {
        RegexSetBuilder::new([
            // Broadcast of a net written with one-digit octets.
            r"^[0-9]\.[0-9]\.[0-9]\.255$",
            // "This host", private, loopback and link-local nets.
            r"^(0|10|127)\.",
            r"^169\.254\.",
            r"^192\.168\.",
            r"^172\.(1[6-9]|2[0-9]|3[01])\.",
            // Shared address space, as far as Rspamd's patterns reach
            // (its pattern for 100.120-127 asks for one digit too many).
            r"^100\.(6[4-9]|[7-9][0-9]|1[01][0-9])\.",
            // Special-purpose and documentation nets.
            r"^192\.0\.[02]\.",
            r"^192\.88\.99\.",
            r"^198\.51\.100\.",
            r"^203\.0\.113\.",
            // IPv6 loopback, documentation, unique-local, site- and link-local.
            r"^::1$",
            r"^2001:db8::",
            r"^fc00::",
            r"^fe[cdf][0-9a-f]:",
            r"^fe[89ab][0-9a-f]::",
        ])
        .case_insensitive(true)
        .build()
        .expect("static address patterns compile")
    })
}

/// A HELO (brackets removed) that starts like an address of a private,
/// loopback, link-local or documentation net. The test is on the text,
/// as Rspamd's: `10.mail.example` counts too.
pub fn is_bad_ip(helo: &str) -> bool {
    bad_ip_set().is_match(helo)
}

/// A HELO (brackets removed) that is an address: four numbers joined by
/// `.`, `-` or `x`, or hex digits and a colon (IPv6). Case-sensitive, as
/// Rspamd's test is.
pub fn is_bare_ip(helo: &str) -> bool {
    let numbers: Vec<&str> = helo.split(['.', '-', 'x']).collect();
    let v4 = numbers.len() == 4
        && numbers
            .iter()
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let v6 = helo.split_once(':').is_some_and(|(head, _)| {
        !head.is_empty()
            && head
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    v4 || v6
}

/// Rspamd's fully-qualified test: 4 to 253 characters, labels of letters,
/// digits and hyphens (none starting or ending with one) followed by a
/// last label of at least two such characters, optionally a final dot.
/// Unlike the shared `util::is_fqdn`, a numeric last label passes and an
/// underscore fails.
pub fn is_fqdn(host: &str) -> bool {
    if !(4..=253).contains(&host.len()) {
        return false;
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    let Some((labels, last)) = name.rsplit_once('.') else {
        return false;
    };
    let chars_ok = |l: &str| l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len()) && chars_ok(l) && !l.starts_with('-') && !l.ends_with('-')
    };
    (2..=63).contains(&last.len()) && chars_ok(last) && labels.split('.').all(label_ok)
}
