use bytes::Bytes;

use super::*;
use crate::message::parsed::Parsed;

fn hashes_of(raw: String, policy: &HashPolicy) -> Vec<FuzzyHash> {
    let parsed = Parsed::parse(&crate::message::parser(), Bytes::from(raw));
    message_hashes(parsed.view(), policy)
}

fn long_text(changed: Option<usize>) -> String {
    (0..120)
        .map(|i| {
            if Some(i) == changed {
                "zebra".to_string()
            } else {
                format!("campaign{} offer", i % 37)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn plain(subject: &str, body: &str) -> String {
    format!("From: a@b.example\r\nSubject: {subject}\r\n\r\n{body}\r\n")
}

#[test]
fn a_long_text_gets_shingles_and_a_changed_word_keeps_most() {
    let p = HashPolicy::default();
    let a = hashes_of(plain("s", &long_text(None)), &p);
    let b = hashes_of(plain("other subject", &long_text(Some(60))), &p);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].kind, HashKind::Text);
    let (sa, sb) = (a[0].shingles.unwrap(), b[0].shingles.unwrap());
    assert_ne!(a[0].digest, b[0].digest);
    assert!(super::super::shingles::similarity(&sa, &sb) > 0.7);
    // The subject is not part of a long text's hash.
    let c = hashes_of(plain("third", &long_text(None)), &p);
    assert_eq!(a, c);
}

#[test]
fn a_short_text_gets_a_direct_digest_of_text_and_subject() {
    let p = HashPolicy::default();
    let body = "short but long enough text ".repeat(12);
    let a = hashes_of(plain("one", &body), &p);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].kind, HashKind::ShortText);
    assert!(a[0].shingles.is_none());
    let parsed = Parsed::parse(&crate::message::parser(), Bytes::from(plain("one", &body)));
    let stripped = super::super::words::stripped_content(&parsed.view().text_parts[0].text, false);
    let expect = keyed_blake2b(&p.keys.hash_key, [stripped.as_bytes(), b"one".as_slice()]);
    assert_eq!(a[0].digest, expect);
    assert_ne!(hashes_of(plain("two", &body), &p)[0].digest, expect);
    // Too short for min_bytes (1024 over a multiplier of 4): nothing.
    assert!(hashes_of(plain("x", "tiny"), &p).is_empty());
}

#[test]
fn attachments_follow_mime_types_and_min_bytes() {
    let data = vec![b'x'; 3000];
    let msg = |ct: &str, len: usize| {
        format!(
            "From: a@b.example\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n\
             --B\r\nContent-Type: text/plain\r\n\r\nhi\r\n\
             --B\r\nContent-Type: {ct}\r\nContent-Disposition: attachment; filename=\"f.bin\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--B--\r\n",
            data_encoding::BASE64.encode(&data[..len])
        )
    };
    let p = HashPolicy::default();
    let h = hashes_of(msg("application/octet-stream", 3000), &p);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].kind, HashKind::Binary);
    assert_eq!(h[0].digest, part_digest(&data));
    assert!(hashes_of(msg("application/octet-stream", 500), &p).is_empty());
    assert!(hashes_of(msg("audio/x-wav", 3000), &p).is_empty());
    let all = HashPolicy {
        mime_types: Some(globs(&["*"]).unwrap()),
        ..HashPolicy::default()
    };
    assert_eq!(hashes_of(msg("audio/x-wav", 3000), &all).len(), 1);
}

#[test]
fn fuzzy_keys_change_text_digests_but_not_attachment_digests() {
    let p = HashPolicy::default();
    let q = HashPolicy {
        keys: RuleKeys::new(Some("site"), None),
        ..HashPolicy::default()
    };
    let a = hashes_of(plain("s", &long_text(None)), &p);
    let b = hashes_of(plain("s", &long_text(None)), &q);
    assert_ne!(a[0].digest, b[0].digest);
    assert_eq!(a[0].shingles, b[0].shingles);
}

#[test]
fn a_plain_part_of_markup_is_hashed_as_html() {
    let p = HashPolicy::default();
    let markup = format!("<html><body><p>{}</p></body></html>", long_text(None));
    let html =
        format!("From: a@b.example\r\nSubject: s\r\nContent-Type: text/html\r\n\r\n{markup}\r\n");
    let as_html = hashes_of(html, &p);
    let as_plain = hashes_of(plain("s", &markup), &p);
    assert_eq!(as_html.len(), 1);
    assert_eq!(as_plain, as_html);
    // The tags are not words: the same words as plain text hash alike.
    assert_eq!(as_plain, hashes_of(plain("s", &long_text(None)), &p));
}

fn words_of(raw: Vec<u8>) -> Vec<Vec<String>> {
    let parsed = Parsed::parse(&crate::message::parser(), Bytes::from(raw));
    message_words(parsed.view())
        .into_iter()
        .map(|part| {
            part.into_iter()
                .map(|w| String::from_utf8_lossy(&w).into_owned())
                .collect()
        })
        .collect()
}

fn with_body(headers: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = format!("From: a@b.example\r\nSubject: s\r\n{headers}\r\n").into_bytes();
    raw.extend_from_slice(body);
    raw
}

#[test]
fn an_undeclared_8bit_text_with_ascii_samples_is_read_as_bytes() {
    // Longer than three samples, its 8-bit byte outside them: Rspamd
    // leaves it unconverted and reads its words as bytes.
    let mut body = b"Plain words here\r\nNext line\r\n".repeat(30);
    body.extend_from_slice(b"caf\xe9 au lait\r\n");
    body.extend_from_slice(&b"Plain words here\r\nNext line\r\n".repeat(30));
    let words = words_of(with_body("Content-Type: text/plain\r\n", &body));
    assert_eq!(words.len(), 1);
    // The first letter of the text and of each line is stepped over, the
    // 8-bit byte is part of its word.
    assert_eq!(words[0][..4], ["lain", "words", "here", "ext"]);
    assert!(words[0].contains(&"af\u{fffd}".to_string()));
    // Not stemmed.
    assert!(words[0].contains(&"words".to_string()));
}

#[test]
fn a_short_undeclared_8bit_text_is_converted() {
    let words = words_of(with_body(
        "Content-Type: text/plain\r\n",
        b"un caf\xe9 tr\xe8s bon\r\n",
    ));
    assert_eq!(words, [["un", "café", "très", "bon"]]);
}

#[test]
fn iso_8859_1_reads_0x80_to_0x9f_as_controls() {
    // windows-1252 would make a quote of 0x92 and one word of "dont".
    let words = words_of(with_body(
        "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n",
        b"don\x92t stop\r\n",
    ));
    assert_eq!(words, [["don", "t", "stop"]]);
    let qp = words_of(with_body(
        "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n",
        b"don=92t stop\r\n",
    ));
    assert_eq!(qp, words);
}

#[test]
fn a_delivery_report_is_a_text_part() {
    let raw = "From: a@b.example\r\nSubject: s\r\n\
        Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
        --B\r\nContent-Type: text/plain\r\n\r\nYour message was delayed.\r\n\
        --B\r\nContent-Type: message/delivery-status\r\n\r\n\
        Reporting-MTA: dns; mx.example\r\n\r\nAction: delayed\r\n\
        --B--\r\n";
    let words = words_of(raw.as_bytes().to_vec());
    assert_eq!(words.len(), 2);
    assert_eq!(words[1][1..3], ["mta", "dns"]);
}

#[test]
fn utf8_declared_ascii_is_read_as_utf8() {
    // The parser reads an ASCII declaration as windows-1252 ("cafÃ©").
    let words = words_of(with_body(
        "Content-Type: text/plain; charset=us-ascii\r\n",
        "un café\r\n".as_bytes(),
    ));
    assert_eq!(words, [["un", "café"]]);
}

#[test]
fn a_base64_body_without_a_closing_boundary_is_decoded() {
    // The multipart's closing boundary is missing: the parser gives up on
    // decoding the body and keeps it as it is; Rspamd decodes it.
    let encoded =
        data_encoding::BASE64.encode(b"<html><body><p>hello base64 world</p></body></html>");
    let raw = format!(
        "From: a@b.example\r\nSubject: s\r\n\
         Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n\
         --B\r\nContent-Type: text/html; charset=iso-8859-1\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n\r\n{encoded}\r\n"
    );
    let words = words_of(raw.into_bytes());
    assert_eq!(words, [["hello", "base64", "world"]]);
}

#[test]
fn a_digest_entry_without_a_content_type_is_text_with_its_headers() {
    let raw = "From: a@b.example\r\nContent-Type: multipart/digest; boundary=1\r\n\r\n\
        --1\r\n\r\nFrom: x <x@y.example>\r\nSubject: my opinion\r\n\r\nThis is it\r\n\
        --1--\r\n";
    let words = words_of(raw.as_bytes().to_vec());
    assert_eq!(words.len(), 1);
    assert_eq!(words[0][..1], ["from"]);
    assert!(words[0].contains(&"subject".to_string()));
}

#[test]
fn a_part_with_one_sibling_keeps_bare_host_names_as_words() {
    let text = "visit shop.com or www.shop.org today";
    let single = words_of(plain("s", text).into_bytes());
    assert_eq!(single, [["visit", "or", "today"]]);
    let mixed = |parts: &str| {
        format!(
            "From: a@b.example\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n\
             --B\r\nContent-Type: text/plain\r\n\r\n{text}\r\n{parts}--B--\r\n"
        )
        .into_bytes()
    };
    let attachment = "--B\r\nContent-Type: application/pdf\r\n\
                      Content-Disposition: attachment; filename=\"a.pdf\"\r\n\r\nx\r\n";
    // Two children: Rspamd's strict finding, which needs a scheme or `www.`.
    assert_eq!(
        words_of(mixed(attachment)),
        [["visit", "shop", "com", "or", "today"]]
    );
    // Three: bare names are URLs again.
    let words = words_of(mixed(&attachment.repeat(2)));
    assert_eq!(words, [["visit", "or", "today"]]);
}
