use super::html_text;

#[test]
fn image_alt_text_is_kept_after_the_image() {
    assert_eq!(
        html_text("<html><body>Top<img src=x.gif alt=\"Editors choice\">deals</body></html>"),
        "Top Editors choice deals"
    );
}

#[test]
fn blocks_and_table_cells_keep_words_apart() {
    assert_eq!(
        html_text("<div>one</div><div>two</div><table><tr><td>a</td><td>b</td></tr></table>"),
        "one\ntwo\na b\n"
    );
    assert_eq!(html_text("<p>x<br>y</p>"), "x\ny\n");
}

#[test]
fn text_after_the_closed_root_is_dropped() {
    assert_eq!(
        html_text("<html><body><p>kept</p></body></html>\nsponsor footer"),
        "kept\n"
    );
}

#[test]
fn head_style_script_and_comments_are_not_text() {
    let html = "<html><head><title>T</title><style>p { color: red }</style></head>\
                <body><!-- hidden comment --><script>var x = 1;</script>shown</body></html>";
    assert_eq!(html_text(html), "shown");
}

#[test]
fn entities_decode_and_spaces_fold() {
    assert_eq!(
        html_text("<b>AT&amp;T&nbsp;rocks &lt;3   &eacute;t&eacute;</b>"),
        "AT&T rocks <3 \u{e9}t\u{e9}"
    );
}

#[test]
fn hidden_and_background_coloured_text_is_left_out() {
    assert_eq!(
        html_text("<div>a<span style=\"display:none\">secret</span>b</div>"),
        "ab\n"
    );
    // Text the colour of the page is blanked, not removed.
    assert_eq!(
        html_text("<div>a <font color=\"#ffffff\">white</font> b</div>"),
        "a      b\n"
    );
    assert_eq!(html_text("<span style=\"font-size:0\">tiny</span>x"), "x");
}

#[test]
fn unbalanced_and_broken_markup_does_not_lose_text() {
    assert_eq!(
        html_text("plain start <b>bold</i> end"),
        "plain start bold end"
    );
    assert_eq!(html_text("<p>a<p>b"), "a\nb\n");
    assert_eq!(html_text("a < b > c"), "a < b > c");
}

#[test]
fn deep_nesting_and_many_tags_are_safe() {
    let deep = "<div>".repeat(20_000) + "x";
    assert!(html_text(&deep).contains('x'));
    let many = "<b>w</b>".repeat(10_000);
    assert!(html_text(&many).starts_with("www"));
}

#[test]
fn links_whose_text_is_a_url_are_recorded_where_their_text_starts() {
    let (text, links) = super::html_text_links(
        "<p>Go to <a href=\"http://x.com/a\">http://x.com/a</a> or \
         <a href=\"http://y.example/\">click here</a></p>",
    );
    assert_eq!(text, "Go to http://x.com/a or click here\n");
    assert_eq!(links, [(6, 14)]);
}

#[test]
fn stray_closing_tags_under_deep_nesting_stay_cheap() {
    // Each stray closing tag walks up the whole tree; past a budget the
    // rest is text (markup included), so the walk stays bounded.
    let html = "<div>".repeat(8_000) + "start" + &"</b>".repeat(200_000) + " tail";
    let text = html_text(&html);
    assert!(text.contains("start") && text.ends_with("</b> tail"));
}

#[test]
fn stylesheet_rules_hide_text_by_class_id_tag_and_universal() {
    let html = "<html><head><style>.Hide { display: none } #gone { font-size: 0 }\
                u { color: #fff } div.c { display: none }</style></head>\
                <body><p>a<span class=\"x HIDE\">secret</span>b</p>\
                <p id=\"Gone\">tiny</p><div class=\"c\">compound</div><u>white</u>!</body></html>";
    assert_eq!(html_text(html), "ab\ncompound\n     !");
    let all = "<style>* { visibility: hidden }</style><p>gone</p>";
    assert_eq!(html_text(all), "");
}

#[test]
fn an_elements_own_style_wins_over_the_stylesheet() {
    let html = "<style>p { display: none }</style><p style=\"display: block\">kept</p><p>gone</p>";
    assert_eq!(html_text(html), "kept\n");
}

#[test]
fn style_rules_apply_only_once_their_element_is_closed() {
    // Unclosed: Rspamd never parses it.
    assert_eq!(html_text("<p>text</p><style>p { display: none }"), "text\n");
    // Rules from a later <style> apply to the whole document.
    assert_eq!(
        html_text("<p>text</p><b>bold</b><style>b { display: none }</style>"),
        "text\n"
    );
}

#[test]
fn links_whose_text_is_a_bare_host_are_recorded_too() {
    let (text, links) = super::html_text_links(
        "<p>Visit <a href=\"http://x.example/\">Shop.Example.com</a> now, \
         <a href=\"http://y.example/\">News.com: Top</a> \
         <a href=\"http://z.example/\">see.this</a></p>",
    );
    assert_eq!(text, "Visit Shop.Example.com now, News.com: Top see.this\n");
    assert_eq!(links, [(6, 16)]);
}
