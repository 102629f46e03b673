//! Each case is what Rspamd 3.4 (`rspamadm mime urls` and its words)
//! finds in a one-line plain text.
use super::*;

fn urls(text: &str) -> Vec<&str> {
    find(text, false, &[])
        .into_iter()
        .map(|(s, e)| &text[s..e])
        .collect()
}

#[test]
fn bare_names_need_a_public_suffix() {
    assert_eq!(urls("visit shop.com today"), ["shop.com"]);
    assert_eq!(urls("edit sources.list now"), Vec::<&str>::new());
    assert_eq!(urls("I am Dr.Jonas de"), Vec::<&str>::new());
    // A sentence's full stop after a name is part of it.
    assert_eq!(urls("see foo.com. x"), ["foo.com."]);
    // Strict mode finds none.
    assert!(find("visit shop.com today", true, &[]).is_empty());
}

#[test]
fn a_port_after_a_bare_name_is_part_of_it() {
    assert_eq!(urls("edit Core.pm:1622 in version"), ["Core.pm:1622"]);
    assert_eq!(urls("the source - Core.pm.  :)"), ["Core.pm."]);
}

#[test]
fn a_full_stop_inside_a_suffix_rule_matches_any_character() {
    // `edu.do` is a rule: `Eduado` reads as it.
    assert_eq!(urls("I am Mr.Eduado de Mello"), ["Mr.Eduado"]);
    assert_eq!(urls("I am Mr.Eduxdo de"), ["Mr.Eduxdo"]);
    assert_eq!(urls("I am Mr.Eduad de"), Vec::<&str>::new());
    assert_eq!(urls("I am Mr.Eduaxo de"), Vec::<&str>::new());
}

#[test]
fn names_end_where_a_host_cannot_go_on() {
    assert_eq!(urls("the co.uk.Co,uk site"), ["co.uk.Co"]);
    // A quote continues a host, and a host may not end in one.
    assert_eq!(urls("see \"www.foo.com\" now"), Vec::<&str>::new());
    // A closing bracket without an opening one before a blank.
    assert_eq!(urls("see http://foo.com> now"), Vec::<&str>::new());
    assert_eq!(urls("then www.foo.com> x"), Vec::<&str>::new());
    assert_eq!(urls("see <http://foo.com> now"), ["http://foo.com"]);
}

#[test]
fn schemes_outside_the_known_ones_are_no_urls() {
    assert_eq!(urls("news://foo.com/x now"), Vec::<&str>::new());
    assert_eq!(urls("see file:///path/to x"), Vec::<&str>::new());
    assert_eq!(urls("go http://WIN!/ad.html now"), Vec::<&str>::new());
    assert_eq!(
        urls("x http://foo.com:8080/a?b=1#c y"),
        ["http://foo.com:8080/a?b=1#c"]
    );
    assert_eq!(urls("see ftp.example.com/x now"), ["ftp.example.com/x"]);
}

#[test]
fn addresses() {
    assert_eq!(urls("mail bob@example.com now"), ["bob@example.com"]);
    assert_eq!(urls("Email:edum@hkem.com. x"), ["edum@hkem.com"]);
    assert_eq!(
        urls("write mailto:bob@example.com now"),
        ["mailto:bob@example.com"]
    );
    assert_eq!(urls("a@b x"), Vec::<&str>::new());
}

#[test]
fn telephone_links_run_to_the_end_of_a_short_text() {
    assert_eq!(
        urls("call tel: +353 1 8832063 now"),
        ["tel: +353 1 8832063 now"]
    );
    assert_eq!(
        urls("call tel:+353188 now' and later lots of text here to exceed sixty-four bytes"),
        ["tel:+353188 now'"]
    );
    let long =
        "call tel: +353 1 8832063 now and later lots of text here to exceed sixty-four bytes";
    assert_eq!(urls(long), Vec::<&str>::new());
}

#[test]
fn suffix_patterns() {
    let is = |s: &str| suffix::is_suffix(s, &mut suffix::LOOKUP_BUDGET.clone());
    assert!(is("com"));
    assert!(is("co.uk"));
    assert!(is("eduado"));
    assert!(!is("list"));
    // Without budget left, nothing is looked up.
    assert!(!suffix::is_suffix("com", &mut 0));
    assert!(suffix::host_has_suffix("mr.eduado"));
    assert!(suffix::host_has_suffix("core.pm."));
    assert!(!suffix::host_has_suffix("win"));
}

#[test]
fn a_displayed_url_is_the_first_found_and_starts_the_text() {
    assert!(starts_with_url("www.shop.com today"));
    assert!(starts_with_url("shop.com"));
    assert!(starts_with_url("http://x.com/a more"));
    // Read, but its parse fails: no displayed URL.
    assert!(!starts_with_url("News.com: Top stories"));
    assert!(!starts_with_url("http://x.example/a"));
    // The first URL is not at the start.
    assert!(!starts_with_url("click http://x.com/a"));
}

#[test]
fn a_url_is_read_to_its_line_end() {
    let lines = |text: &str| -> Vec<usize> {
        let (t, breaks) = crate::scan::fuzzy::words::stripped_lines(text, false);
        find(&t, false, &breaks)
            .into_iter()
            .map(|(s, e)| t[s..e].len())
            .chain(std::iter::once(t.len()))
            .collect()
    };
    // A telephone number ends with its line, not past 64 bytes.
    let tel = "RFC Networks   tel: 01 8832063\n   fax: 01 8832041 and a long enough tail here";
    assert_eq!(lines(tel)[0], "tel: 01 8832063 ".len());
    // An address later in the text does not make a URL's host a user part.
    let (t, breaks) = crate::scan::fuzzy::words::stripped_lines(
        "User - http://counter.li.org\nwrite to bob@example.com",
        false,
    );
    let found: Vec<&str> = find(&t, false, &breaks)
        .into_iter()
        .map(|(s, e)| &t[s..e])
        .collect();
    assert_eq!(found, ["http://counter.li.org", "bob@example.com"]);
}

#[test]
fn any_text_is_read_without_panics_and_spans_are_in_bounds() {
    const PIECES: [&str; 24] = [
        "http:", "//", "www.", "ftp.", "@", "mailto:", "tel:", "file://", ".", ":", "/", "?", "#",
        "[", "]", "<", ">", "'", " ", "\n", "com", "co.uk", "é", "x1",
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..3000 {
        let mut text = String::new();
        for _ in 0..(seed % 24) {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            text.push_str(PIECES[(seed >> 33) as usize % PIECES.len()]);
        }
        let breaks: Vec<usize> = text.match_indices(' ').map(|(i, _)| i + 1).collect();
        for strict in [false, true] {
            for (s, e) in find(&text, strict, &breaks) {
                assert!(s < e && e <= text.len(), "{text:?}");
                assert!(
                    text.is_char_boundary(s) && text.is_char_boundary(e),
                    "{text:?}"
                );
            }
        }
        let _ = starts_with_url(&text);
    }
}

#[test]
fn a_text_made_to_try_every_split_has_its_work_bounded() {
    // Each name ends in `aaa` (a suffix), so every split of it is tried:
    // past the lookup budget the later names are no longer found.
    let name = "x.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaa";
    let text = format!("{name} ").repeat(5000);
    let found = find(&text, false, &[]);
    assert_eq!(found.first(), Some(&(0, name.len())));
    assert!(found.len() < 5000, "{}", found.len());
}
