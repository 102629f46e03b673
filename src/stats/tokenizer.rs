//! Rspamd-style tokens: normalized words of the text parts and a few header
//! fields, paired by OSB (orthogonal sparse bigrams, window 5) and hashed to
//! 64 bits.
//!
//! The hash is xxh3-64 with a fixed seed: it is stable across runs, builds
//! and machines (tokens are stored, so a per-process random key like std's
//! `SipHash` would make every stored count unreachable after a restart), and
//! it is several times faster than keyed SipHash on short words, which
//! matters because a message yields hundreds of words. Hash flooding is not
//! a concern: an attacker who collides tokens only moves one message's score.
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::message::domain::listed_domain;
use crate::message::extract::host_of;
use crate::message::MessageView;

/// OSB window: each word is paired with the 4 words before it.
pub const WINDOW: usize = 5;
/// Words shorter than this (in chars) are noise: articles, initials, digits.
const MIN_WORD_CHARS: usize = 2;
/// Longer "words" are base64 remnants or hashes; Rspamd caps words likewise.
const MAX_WORD_CHARS: usize = 40;
/// Bounds the cost of one message: past this many words the rest of a huge
/// mail adds little evidence.
pub const MAX_WORDS: usize = 1000;

/// Seeds separate the token namespaces so that "free" in a Subject and
/// "free" in the body are different evidence.
const SEED_BODY: u64 = 0x5155_4943_455f_4231;
const SEED_SUBJECT: u64 = 0x5155_4943_455f_5331;
const SEED_META: u64 = 0x5155_4943_455f_4d31;
const SEED_PAIR: u64 = 0x5155_4943_455f_5031;
const SEED_HEADER: u64 = 0x5155_4943_455f_4831;

/// Headers whose words are evidence of who sent the mail and with what:
/// the same sender and software recur across a sender's messages, so these
/// tell a regular newsletter from spam that reads alike. Date, Subject (it
/// has its own namespace) and the message's own identifiers are left out:
/// they vary per message and would only add rare tokens.
const WORD_HEADERS: [&str; 13] = [
    "from",
    "reply-to",
    "return-path",
    "sender",
    "errors-to",
    "to",
    "x-mailer",
    "user-agent",
    "x-mimeole",
    "content-type",
    "list-id",
    "organization",
    "precedence",
];
/// `Received` headers read per message. The relays nearest us are shared by
/// all mail and drop out as evidence by themselves; the bound is on cost.
const MAX_RECEIVED: usize = 8;

/// One token: its hash and the OSB distance it came from (1..=4; 0 for a
/// single-word meta token). The distance selects the token's weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token {
    pub hash: u64,
    pub distance: u8,
}

/// Tokenizes a parsed message. The result is sorted by hash and
/// deduplicated, so a word repeated 50 times is one piece of evidence and
/// store lookups walk keys in order.
pub fn tokenize(view: &MessageView<'_>) -> Vec<Token> {
    let mut words: Vec<u64> = Vec::with_capacity(256);
    for part in &view.text_parts {
        push_words(&mut words, &part.text, SEED_BODY);
        if words.len() >= MAX_WORDS {
            break;
        }
    }
    words.truncate(MAX_WORDS);
    let mut tokens = osb(&words);
    let mut subject = Vec::new();
    if let Some(s) = view.subject() {
        push_words(&mut subject, s, SEED_SUBJECT);
    }
    tokens.extend(osb(&subject));
    tokens.extend(meta_tokens(view));
    header_tokens(view, &mut tokens);
    super::token_sort::sort_dedup(&mut tokens);
    tokens
}

/// Splits text into normalized word hashes: lowercased, URLs reduced to
/// their host, e-mail addresses to their domain, punctuation dropped.
pub fn push_words(out: &mut Vec<u64>, text: &str, seed: u64) {
    let mut buf = String::with_capacity(32);
    for raw in text.split_whitespace() {
        if out.len() >= MAX_WORDS {
            return;
        }
        let (dot_or_colon, at) = raw.bytes().fold((false, false), |(d, a), b| {
            (d || b == b'.' || b == b':', a || b == b'@')
        });
        // A URL has `://` or `www.`, an address `@`: most words have neither, and the
        // two parsers' trimming was a visible share of the tokenizer's time.
        if let Some(host) = dot_or_colon.then(|| url_host(raw)).flatten() {
            out.push(hash_word(&format!("url:{host}"), seed));
            continue;
        }
        if let Some(domain) = at.then(|| email_domain(raw)).flatten() {
            out.push(hash_word(&format!("email:{domain}"), seed));
            continue;
        }
        if raw.is_ascii() {
            push_ascii_pieces(out, raw.as_bytes(), seed);
            continue;
        }
        for piece in raw.split(|c: char| !c.is_alphanumeric() && c != '\'') {
            normalize(piece, &mut buf);
            let n = buf.chars().count();
            if (MIN_WORD_CHARS..=MAX_WORD_CHARS).contains(&n) {
                out.push(hash_word(&buf, seed));
            }
        }
    }
}

/// The pieces of an ASCII word, as the general path cuts, trims, lower-cases and counts
/// them (for ASCII, alphanumeric, lower case and a char are the byte's), on the stack:
/// most words of most mail are ASCII, and the general path's per-char case mapping was
/// most of the tokenizer's time.
fn push_ascii_pieces(out: &mut Vec<u64>, raw: &[u8], seed: u64) {
    let mut buf = [0u8; MAX_WORD_CHARS];
    for piece in raw.split(|b| !b.is_ascii_alphanumeric() && *b != b'\'') {
        let start = piece
            .iter()
            .position(|b| *b != b'\'')
            .unwrap_or(piece.len());
        let end = piece
            .iter()
            .rposition(|b| *b != b'\'')
            .map_or(start, |i| i + 1);
        let word = &piece[start..end];
        if !(MIN_WORD_CHARS..=MAX_WORD_CHARS).contains(&word.len()) {
            continue;
        }
        let lower = &mut buf[..word.len()];
        lower.copy_from_slice(word);
        lower.make_ascii_lowercase();
        out.push(xxh3_64_with_seed(lower, seed));
    }
}

fn normalize(piece: &str, buf: &mut String) {
    buf.clear();
    for c in piece.trim_matches('\'').chars() {
        buf.extend(c.to_lowercase());
    }
}

fn hash_word(w: &str, seed: u64) -> u64 {
    xxh3_64_with_seed(w.as_bytes(), seed)
}

/// `http://Host.Example/path` -> `host.example`, read by the URL rules
/// ([`host_of`]).
fn url_host(word: &str) -> Option<String> {
    let word = word.trim_matches(|c: char| "<>()\"'".contains(c));
    let word = word.trim_start_matches('[');
    // `[http://x.example/]`, but not the bracket of `http://[2001:db8::1]`.
    let word = if word.contains('[') {
        word
    } else {
        word.trim_end_matches(']')
    };
    ["http://", "https://", "www."]
        .iter()
        .any(|p| strip_prefix_ci(word, p).is_some())
        .then(|| host_of(word))?
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// `<Bob@Mail.Example>,` -> `mail.example`.
fn email_domain(word: &str) -> Option<String> {
    let w = word.trim_matches(|c: char| !c.is_alphanumeric());
    let (local, domain) = w.rsplit_once('@')?;
    let ok = !local.is_empty() && domain.contains('.') && !domain.contains('@');
    ok.then(|| domain.to_lowercase())
}

/// Orthogonal sparse bigrams: every word paired with each of the
/// `WINDOW - 1` words before it, the distance mixed into the hash so that
/// "buy ... now" at distance 1 and at distance 3 are different tokens.
pub fn osb(words: &[u64]) -> Vec<Token> {
    let mut out = Vec::with_capacity(words.len() * (WINDOW - 1));
    for (i, &cur) in words.iter().enumerate() {
        for d in 1..WINDOW {
            let Some(&prev) = i.checked_sub(d).and_then(|j| words.get(j)) else {
                break;
            };
            out.push(Token {
                hash: pair_hash(prev, cur, d as u8),
                distance: d as u8,
            });
        }
    }
    if words.len() == 1 {
        out.push(Token {
            hash: words[0],
            distance: 1,
        });
    }
    out
}

fn pair_hash(a: u64, b: u64, d: u8) -> u64 {
    let mut buf = [0u8; 17];
    buf[..8].copy_from_slice(&a.to_le_bytes());
    buf[8..16].copy_from_slice(&b.to_le_bytes());
    buf[16] = d;
    xxh3_64_with_seed(&buf, SEED_PAIR)
}

/// Header tokens, each a single word in its header's own namespace: the
/// names of the top-level headers present (the mailer's fingerprint), the
/// words of [`WORD_HEADERS`], and the host domains (last two labels) named in
/// `Received`. Without them a legitimate commercial newsletter is judged by
/// its sales text alone and a short spam has too few words for a verdict.
fn header_tokens(view: &MessageView<'_>, out: &mut Vec<Token>) {
    let mut words = Vec::new();
    let mut name_buf = [0u8; 64];
    let mut received = 0;
    for h in &view.headers {
        let Some(name) = lower_ascii(h.name, &mut name_buf) else {
            continue;
        };
        let ns = xxh3_64_with_seed(name, SEED_HEADER);
        out.push(single(ns));
        words.clear();
        if name == b"received" {
            received += 1;
            if received <= MAX_RECEIVED {
                received_domains(&h.value, ns, &mut words);
            }
        } else if WORD_HEADERS.iter().any(|w| w.as_bytes() == name) {
            push_words(&mut words, &h.value, ns);
        }
        out.extend(words.iter().map(|&w| single(w)));
    }
}

/// A one-word token, weighted like the closest OSB pair.
fn single(hash: u64) -> Token {
    Token { hash, distance: 1 }
}

/// `name` lower-cased into `buf`; `None` for names longer than `buf`
/// (no real header name is).
fn lower_ascii<'b>(name: &str, buf: &'b mut [u8; 64]) -> Option<&'b [u8]> {
    let out = buf.get_mut(..name.len())?;
    out.copy_from_slice(name.as_bytes());
    out.make_ascii_lowercase();
    Some(out)
}

/// `from mail5.globalscape.com ([64.243.65.164]) by dogma.slashnull.org`
/// -> hashes of `globalscape.com`, `slashnull.org`: the host names'
/// registrable domains, so that one sender's many relays are one piece of
/// evidence. Lower-cased on the stack: no allocation per word.
fn received_domains(value: &str, seed: u64, out: &mut Vec<u64>) {
    let mut buf = [0u8; 64];
    for w in value.split_whitespace() {
        let w = w.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        let Some(domain) = relay_domain(w) else {
            continue;
        };
        if let Some(lower) = lower_ascii(domain, &mut buf) {
            out.push(xxh3_64_with_seed(lower, seed));
        }
    }
}

/// `a.b.Example.CO.UK` -> `Example.CO.UK` (the Public Suffix List's
/// registrable domain), if it has two labels or more and all are letters
/// or `-` (an IP address or a version number is no host name).
fn relay_domain(host: &str) -> Option<&str> {
    let alpha = |l: &str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-');
    let (_, tld) = host.rsplit_once('.')?;
    if tld.len() < 2 || !alpha(tld) {
        return None;
    }
    listed_domain(host).filter(|d| d.split('.').all(alpha))
}

/// Header evidence that words miss: the sender's domain, the mailer, the
/// MIME shape. Weighted like the closest OSB pair.
fn meta_tokens(view: &MessageView<'_>) -> Vec<Token> {
    let mut metas: Vec<String> = Vec::new();
    if let Some(from) = view.header("From") {
        if let Some(d) = from.value.split_whitespace().find_map(email_domain) {
            metas.push(format!("from-domain:{d}"));
        }
    }
    for name in ["X-Mailer", "User-Agent"] {
        if let Some(h) = view.header(name) {
            let first: String = h
                .value
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            metas.push(format!("mailer:{}", first.to_lowercase()));
        }
    }
    let html = view.text_parts.iter().filter(|p| p.html.is_some()).count();
    metas.push(format!("parts:{}:{html}", view.text_parts.len().min(5)));
    metas
        .iter()
        .map(|m| Token {
            hash: hash_word(m, SEED_META),
            distance: 1,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<u64> {
        let mut out = Vec::new();
        push_words(&mut out, text, SEED_BODY);
        out
    }

    #[test]
    fn words_are_case_folded_and_stripped_of_punctuation() {
        assert_eq!(words("Hello, WORLD!"), words("hello world"));
        assert_eq!(words("a b c").len(), 0, "single letters are dropped");
    }

    #[test]
    fn urls_reduce_to_host_and_emails_to_domain() {
        assert_eq!(
            words("see https://Shop.Example/x?y=1"),
            words("see http://shop.example/")
        );
        assert_eq!(
            words("mail bob@Mail.Example"),
            words("mail eve@mail.example")
        );
        assert_ne!(words("mail bob@mail.example"), words("mail mail example"));
    }

    #[test]
    fn osb_pairs_each_word_with_four_predecessors() {
        let w = words("one two three four five six");
        let toks = osb(&w);
        // 1 + 2 + 3 + 4 + 4 pairs for words 2..6
        assert_eq!(toks.len(), 14);
        assert!(toks.iter().all(|t| (1..WINDOW as u8).contains(&t.distance)));
    }

    #[test]
    fn distance_and_order_change_the_token() {
        let ab = osb(&words("alpha beta"));
        let ba = osb(&words("beta alpha"));
        assert_ne!(ab[0].hash, ba[0].hash);
        let far = osb(&words("alpha xx yy beta"));
        assert!(far.iter().all(|t| t.hash != ab[0].hash));
    }

    fn view_tokens(raw: &[u8]) -> Vec<Token> {
        let msg = mail_parser::MessageParser::new().parse(raw);
        tokenize(&MessageView::new(raw, msg.as_ref()))
    }

    #[test]
    fn sender_headers_and_relays_add_tokens() {
        let body = b"Subject: hi\r\n\r\nthe same body text for both\r\n";
        let with = [
            &b"From: News <news@shop.example>\r\nReceived: from mx1.relay.example by mx.local.test\r\nX-Mailer: Mailer 1.0\r\n"[..],
            &body[..],
        ]
        .concat();
        let bare = view_tokens(body);
        let full = view_tokens(&with);
        assert!(
            full.len() > bare.len() + 5,
            "{} vs {}",
            full.len(),
            bare.len()
        );
        // The relay's domain, not each host, is the token: a sibling host
        // of the same domain adds nothing new.
        let sibling = String::from_utf8(with.clone())
            .unwrap()
            .replace("mx1.relay.example", "mx2.relay.example");
        assert_eq!(view_tokens(sibling.as_bytes()), full);
        let other = String::from_utf8(with)
            .unwrap()
            .replace("mx1.relay.example", "mx1.other.example");
        assert_ne!(view_tokens(other.as_bytes()), full);
    }

    #[test]
    fn url_words_become_their_host() {
        assert_eq!(
            url_host("<HTTP://Host.Example/x>").as_deref(),
            Some("host.example")
        );
        assert_eq!(url_host("[www.x.org]").as_deref(), Some("www.x.org"));
        assert_eq!(
            url_host("http://[2001:db8::1]/").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            url_host("(http://[2001:db8::1])").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(url_host("ftp://x.example/"), None);
        assert_eq!(url_host("example.com"), None);
    }

    #[test]
    fn received_hosts_reduce_to_their_domain() {
        assert_eq!(relay_domain("mx1.Relay.Example"), Some("Relay.Example"));
        assert_eq!(relay_domain("relay.example"), Some("relay.example"));
        assert_eq!(relay_domain("mx.Shop.Example.CO.UK"), Some("Example.CO.UK"));
        assert_eq!(relay_domain("mx.a.github.io"), Some("a.github.io"));
        assert_eq!(relay_domain("localhost"), None);
        assert_eq!(relay_domain("co.uk"), None);
        assert_eq!(relay_domain("64.243.65.164"), None);
        assert_eq!(relay_domain("8.11.6"), None);
    }

    #[test]
    fn word_count_is_bounded() {
        let long = "word ".repeat(MAX_WORDS * 3);
        assert_eq!(words(&long).len(), MAX_WORDS);
    }

    /// The ASCII path gives every word the general path gives it.
    #[test]
    fn ascii_words_hash_as_the_general_path_hashes_them() {
        let general = |text: &str| {
            let mut out = Vec::new();
            let mut buf = String::new();
            for raw in text.split_whitespace() {
                for piece in raw.split(|c: char| !c.is_alphanumeric() && c != '\'') {
                    normalize(piece, &mut buf);
                    let n = buf.chars().count();
                    if (MIN_WORD_CHARS..=MAX_WORD_CHARS).contains(&n) {
                        out.push(hash_word(&buf, SEED_BODY));
                    }
                }
            }
            out
        };
        let text = "Don't 'quoted' ''x'' it's O'Neil's A1B2 x-y_z a.b,c;d 'a' '' ' \
            ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmno \
            tab\there (paren) [bracket] 42 007 MiXeD-CaSe";
        let mut fast = Vec::new();
        for raw in text.split_whitespace() {
            push_ascii_pieces(&mut fast, raw.as_bytes(), SEED_BODY);
        }
        assert_eq!(fast, general(text));
        assert_eq!(
            fast.len(),
            14,
            "the 41-letter word and the one-letter pieces are dropped"
        );
        assert_eq!(words("Don't STOP"), words("don't stop"));
    }
}
