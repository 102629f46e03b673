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
    let stripped = stripped_content(&parsed.view().text_parts[0].text, false);
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
