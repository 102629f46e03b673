//! The PDF link scan on well-formed, modern (object streams) and hostile PDFs.

use super::*;

/// A PDF of the given object bodies (numbered from 1), with an xref table and a trailer.
fn pdf(objs: &[Vec<u8>], trailer_extra: &str) -> Vec<u8> {
    let mut out = b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(o);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R {trailer_extra}>>\nstartxref\n{xref}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
    out
}

fn obj(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
    [dict.as_bytes(), b"\nstream\r\n", data, b"\nendstream"].concat()
}

fn link(uri: &str) -> Vec<u8> {
    obj(&format!(
        "<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] /A << /S /URI /URI ({uri}) >> >>"
    ))
}

fn basic() -> Vec<Vec<u8>> {
    vec![
        obj("<< /Type /Catalog /Pages 2 0 R >>"),
        obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>"),
        obj("<< /Type /Page /Parent 2 0 R /Annots [4 0 R 5 0 R] >>"),
        link("http://www.sluice-spamuri.co.uk/pdf"),
        link("https://other.example.org/x?y=1"),
    ]
}

/// The FlateDecode'd data of an object stream holding `bodies` (numbered from `base`), and
/// its `/First`.
fn packed(base: usize, bodies: &[Vec<u8>]) -> (Vec<u8>, usize) {
    let mut header = String::new();
    let mut body = Vec::new();
    for (i, b) in bodies.iter().enumerate() {
        header.push_str(&format!("{} {} ", base + i, body.len()));
        body.extend_from_slice(b);
        body.push(b' ');
    }
    let data = [header.as_bytes(), &body].concat();
    (
        miniz_oxide::deflate::compress_to_vec_zlib(&data, 6),
        header.len(),
    )
}

/// An object stream holding `bodies`; `length` is its `/Length` (empty: the data's).
fn object_stream(base: usize, bodies: &[Vec<u8>], length: &str) -> Vec<u8> {
    let (data, first) = packed(base, bodies);
    let length = if length.is_empty() {
        data.len().to_string()
    } else {
        length.to_string()
    };
    let n = bodies.len();
    stream(
        &format!("<< /Type /ObjStm /N {n} /First {first} /Length {length} /Filter /FlateDecode >>"),
        &data,
    )
}

#[test]
fn finds_link_actions_in_order() {
    assert_eq!(
        link_uris(&pdf(&basic(), "")),
        vec![
            "http://www.sluice-spamuri.co.uk/pdf",
            "https://other.example.org/x?y=1"
        ]
    );
}

#[test]
fn the_integration_fixture_pdf_is_read() {
    // integration/lists/zones.py's pdf_with_link, byte for byte.
    let objs = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Annots [4 0 R] >>",
        "<< /Type /Annot /Subtype /Link /Rect [0 0 100 100] /A << /S /URI /URI (http://www.sluice-spamuri.co.uk/pdf) >> >>",
    ];
    let mut out = String::from("%PDF-1.4\n");
    for (i, o) in objs.iter().enumerate() {
        out.push_str(&format!("{} 0 obj\n{o}\nendobj\n", i + 1));
    }
    out.push_str("trailer\n<< /Size 5 /Root 1 0 R >>\n%%EOF\n");
    assert_eq!(
        link_uris(out.as_bytes()),
        vec!["http://www.sluice-spamuri.co.uk/pdf"]
    );
}

#[test]
fn links_inside_flate_object_streams_are_found() {
    let mut objs = basic();
    objs.truncate(3);
    objs.push(object_stream(
        6,
        &[
            link("http://packed.example.net/a"),
            obj("<< /Type /Foo >>"),
            link("http://second.example.net/"),
        ],
        "",
    ));
    assert_eq!(
        link_uris(&pdf(&objs, "")),
        vec!["http://packed.example.net/a", "http://second.example.net/"]
    );
}

#[test]
fn an_indirect_length_is_followed() {
    let mut objs = basic();
    objs.truncate(3);
    let links = [link("http://indirect.example.net/")];
    let (data, _) = packed(6, &links);
    // /Length points at object 5, a bare number.
    let indirect = object_stream(6, &links, "5 0 R");
    objs.push(indirect);
    objs.push(obj(&data.len().to_string()));
    assert_eq!(
        link_uris(&pdf(&objs, "")),
        vec!["http://indirect.example.net/"]
    );
    // A missing length reads none of the stream, as in Rspamd.
    let mut objs = basic();
    objs.truncate(3);
    objs.push(object_stream(6, &[link("http://x.example.net/")], "9 0 R"));
    assert!(link_uris(&pdf(&objs, "")).is_empty());
}

#[test]
fn encrypted_pdfs_keep_their_object_streams_closed() {
    let mut objs = basic();
    objs.truncate(3);
    objs.push(object_stream(6, &[link("http://packed.example.net/")], ""));
    assert!(link_uris(&pdf(&objs, "/Encrypt 9 0 R ")).is_empty());
}

#[test]
fn hex_strings_names_and_nested_dictionaries() {
    let objs = vec![
        obj("<< /A << /URI <687474703a2f2f6865782e6578616d706c652e6f72672f> >> >>"),
        obj("[ << /Next << /Next << /URI (http://deep.example.org/) >> >> >> ]"),
        obj("<< /URI /not-a-string-but-read >>"),
        obj("<< /URI 5 >>"),
    ];
    assert_eq!(
        link_uris(&pdf(&objs, "")),
        vec![
            "http://hex.example.org/",
            "http://deep.example.org/",
            "not-a-string-but-read"
        ]
    );
}

#[test]
fn links_nested_too_deep_are_not_searched() {
    let mut s = String::new();
    for _ in 0..12 {
        s.push_str("<< /K ");
    }
    s.push_str("<< /URI (http://too.deep.example/) >>");
    for _ in 0..12 {
        s.push_str(" >>");
    }
    assert!(link_uris(&pdf(&[obj(&s)], "")).is_empty());
}

#[test]
fn object_headers_need_a_line_start() {
    let text = b"%PDF-1.4\nx 1 0 obj << /URI (http://a.example/) >>\nendobj\n\
                 \r\n  2 0 obj<< /URI (http://b.example/) >>\nendobj\n";
    assert_eq!(link_uris(text), vec!["http://b.example/"]);
}

/// Hostile input: every case ends, yields at most the links it holds, and never panics.
#[test]
fn hostile_pdfs_are_bounded() {
    // A decompression bomb in an object stream: skipped.
    let bomb =
        miniz_oxide::deflate::compress_to_vec_zlib(&vec![b' '; 2 * streams::MAX_INFLATED], 9);
    let dict = format!(
        "<< /Type /ObjStm /N 1 /First 0 /Length {} /Filter /FlateDecode >>",
        bomb.len()
    );
    let objs = vec![stream(&dict, &bomb), link("http://after.bomb.example/")];
    assert_eq!(
        link_uris(&pdf(&objs, "")),
        vec!["http://after.bomb.example/"]
    );

    // Many object streams, each inflating to the per-stream limit: the PDF's budget stops them.
    let full = vec![b' '; streams::MAX_INFLATED - 1];
    let full = miniz_oxide::deflate::compress_to_vec_zlib(&full, 9);
    let dict = format!(
        "<< /Type /ObjStm /N 1 /First 0 /Length {} /Filter /FlateDecode >>",
        full.len()
    );
    let mut objs: Vec<Vec<u8>> = (0..MAX_INFLATED_PDF / streams::MAX_INFLATED + 1)
        .map(|_| stream(&dict, &full))
        .collect();
    objs.push(object_stream(900, &[link("http://late.example/")], ""));
    assert!(link_uris(&pdf(&objs, "")).is_empty(), "past the budget");

    // Deep nesting, unbalanced and unterminated syntax.
    let deep = [b"<< /A ".repeat(200_000), b"(x)".to_vec()].concat();
    let objs = vec![
        deep,
        obj("<< /URI (unterminated >>"),
        obj("[[[[[[["),
        link("http://ok.example/"),
    ];
    assert_eq!(link_uris(&pdf(&objs, "")), vec!["http://ok.example/"]);

    // Far more objects than the limit: the first MAX_OBJECTS are read.
    let mut many = b"%PDF-1.4\n".to_vec();
    for i in 0..MAX_OBJECTS + 50 {
        many.extend_from_slice(
            format!("{i} 0 obj\n<< /URI (http://n{i}.example/) >>\nendobj\n").as_bytes(),
        );
    }
    let found = link_uris(&many);
    assert_eq!(found.len(), MAX_URIS);
    assert_eq!(found[0], "http://n0.example/");

    // A huge object is not read; its neighbours are.
    let huge = format!(
        "<< /Pad ({}) /URI (http://huge.example/) >>",
        "x".repeat(MAX_OBJECT_TEXT)
    );
    let objs = vec![obj(&huge), link("http://small.example/")];
    assert_eq!(link_uris(&pdf(&objs, "")), vec!["http://small.example/"]);

    // Markers without objects, truncated files, noise.
    for junk in [
        &b"obj endobj stream endstream"[..],
        b"\n1 0 obj",
        b"\n1 0 obj<< /Type /ObjStm /N 1 /First 0 /Length 99 /Filter /FlateDecode >>\nstream\n\x78\x9c",
        b"\n1 0 obj\n<< /Length 5 >>\nstream\nendstream\nendobj\n",
        b"",
    ] {
        assert!(link_uris(junk).is_empty());
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let pieces: [&[u8]; 12] = [
        b"\n1 0 obj",
        b"endobj\n",
        b"<<",
        b">>",
        b"/URI",
        b"(http://r.example/)",
        b"stream\n",
        b"\nendstream\n",
        b"[",
        b"]",
        b"/Type /ObjStm /N 1 /First 0 /Length 3 ",
        b"% c\n",
    ];
    for _ in 0..2000 {
        let mut text = Vec::new();
        for _ in 0..(seed % 30) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            text.extend_from_slice(pieces[(seed % 12) as usize]);
        }
        assert!(link_uris(&text).len() <= 1);
    }
}

#[test]
fn pdf_parts_are_known_by_type_name_or_magic() {
    assert!(is_pdf("application/pdf", None, b""));
    assert!(is_pdf("application/octet-stream", Some("pdf"), b""));
    assert!(is_pdf("application/octet-stream", None, b"\r\n%PDF-1.7\n"));
    assert!(!is_pdf("image/png", Some("png"), b"\x89PNG"));
}
