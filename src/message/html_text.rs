//! HTML to text, exactly as `mail_parser::decoders::html::html_to_text`
//! renders it, at a fraction of its cost.
//!
//! mail-parser's loop runs its whole state machine on every byte and
//! checks each word it emits for valid UTF-8 again. Here a table tells the
//! few bytes that can change the state (`<`, `>`, `/`, `!`, `&`, `;`,
//! white space) from the rest; a run of other bytes only extends the
//! current token, so it is skipped in one step. Tokens are slices of the
//! input `&str`, so they need no second validation. Entities are still
//! decoded by mail-parser's own `add_html_token`.
//!
//! The rendering is part of the verdict (rules match the text), so this
//! must stay byte-identical to mail-parser's: the tests compare both on
//! crafted and random markup.
use mail_parser::decoders::html::add_html_token;

/// Bytes that may change the renderer's state; every other byte only
/// starts or extends a token.
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    let bytes = b"<>/!&; \t\r\n";
    while i < bytes.len() {
        t[bytes[i] as usize] = true;
        i += 1;
    }
    t
};

/// Where the renderer is: which markup it is inside.
#[derive(Default)]
struct State {
    in_tag: bool,
    in_head: bool,
    in_style: bool,
    in_script: bool,
    in_template: bool,
    in_comment: bool,
    is_tag_close: bool,
    tag_token_pos: usize,
    comment_pos: usize,
}

impl State {
    /// Inside `<style>`, `<script>` or `<template>`: text is not shown.
    fn in_code(&self) -> bool {
        self.in_style || self.in_script || self.in_template
    }

    /// Text here is shown (outside tags and hidden elements).
    fn shows_text(&self) -> bool {
        !self.in_tag && !self.in_head && !self.in_code()
    }
}

/// The current token: `start..=end` once `open`.
struct Token {
    open: bool,
    start: usize,
    end: usize,
}

/// The text rendering of `input`, identical to mail-parser's
/// `html_to_text`.
pub fn html_to_text(input: &str) -> String {
    let mut out = Renderer {
        text: input,
        result: String::with_capacity(input.len()),
        is_after_space: false,
        is_new_line: true,
    };
    let bytes = input.as_bytes();
    let mut st = State::default();
    let mut tok = Token {
        open: false,
        start: 0,
        end: 0,
    };
    let mut pos = 0;
    while pos < bytes.len() {
        if st.in_comment {
            pos = comment_byte(bytes, pos, &mut st, &mut tok);
            continue;
        }
        let ch = bytes[pos];
        if !SPECIAL[usize::from(ch)] {
            // A run of plain bytes: only the first can open a token.
            let run_end = bytes[pos..]
                .iter()
                .position(|&b| SPECIAL[usize::from(b)])
                .map_or(bytes.len(), |n| pos + n);
            extend(&mut tok, &mut st, pos);
            tok.end = run_end - 1;
            pos = run_end;
            continue;
        }
        if out.special(bytes, pos, &mut st, &mut tok) {
            extend(&mut tok, &mut st, pos);
            tok.end = pos;
        }
        pos += 1;
    }
    if st.shows_text() && tok.open {
        let add_space = out.is_after_space && !out.is_new_line;
        out.add(tok.start, tok.end + 1, add_space);
    }
    out.result
}

/// Opens a token at `pos` unless one is open (a tag's first token is its
/// name).
fn extend(tok: &mut Token, st: &mut State, pos: usize) {
    if !tok.open {
        tok.start = pos;
        tok.open = true;
        if st.in_tag {
            st.tag_token_pos += 1;
        }
    }
}

/// One byte inside `<!-- ... -->`; returns the next position. Plain
/// bytes only reset the dash count, so a run of them is one step.
fn comment_byte(bytes: &[u8], pos: usize, st: &mut State, tok: &mut Token) -> usize {
    match bytes[pos] {
        b'-' => st.comment_pos += 1,
        b'>' if st.comment_pos == 2 => {
            st.comment_pos = 0;
            st.in_comment = false;
            st.in_tag = false;
            tok.open = false;
            return pos + 1;
        }
        _ => {
            st.comment_pos = 0;
            let skip = bytes[pos + 1..]
                .iter()
                .position(|&b| b == b'-' || b == b'>')
                .unwrap_or(bytes.len() - pos - 1);
            return pos + 1 + skip;
        }
    }
    pos + 1
}

/// The output and the spacing state of the text written so far.
struct Renderer<'a> {
    text: &'a str,
    result: String,
    is_after_space: bool,
    is_new_line: bool,
}

impl Renderer<'_> {
    /// Appends a word of running text: spaced from the previous one unless
    /// it starts a line, and the line is no longer new after it.
    fn add_word(&mut self, start: usize, end: usize) {
        let add_space = self.is_after_space && !self.is_new_line;
        self.add(start, end, add_space);
        self.is_new_line = false;
    }

    /// Appends the token `text[start..end]`, after a space if asked.
    fn add(&mut self, start: usize, end: usize, add_space: bool) {
        let token = &self.text.as_bytes()[start..end];
        match self.text.get(start..end) {
            // Entities (and anything not cut at a character boundary,
            // which cannot happen: tokens end at ASCII bytes) go through
            // mail-parser's own code.
            Some(t) if !token.starts_with(b"&") => {
                if add_space {
                    self.result.push(' ');
                }
                self.result.push_str(t);
            }
            _ => add_html_token(&mut self.result, token, add_space),
        }
    }

    /// Handles a state-changing byte at `pos`; returns whether it also
    /// starts or extends a token (as a plain byte would).
    fn special(&mut self, bytes: &[u8], pos: usize, st: &mut State, tok: &mut Token) -> bool {
        match bytes[pos] {
            b'<' => {
                if st.shows_text() && tok.open {
                    self.add(tok.start, tok.end + 1, self.is_after_space);
                    self.is_after_space = false;
                }
                st.tag_token_pos = 0;
                st.in_tag = true;
                tok.open = false;
                st.is_tag_close = false;
                false
            }
            b'>' if st.in_tag => {
                if st.tag_token_pos == 1 {
                    if let Some(tag) = bytes.get(tok.start..tok.end + 1) {
                        self.tag_end(tag, st);
                    }
                }
                st.in_tag = false;
                tok.open = false;
                false
            }
            b'/' if st.in_tag => {
                if st.tag_token_pos == 0 {
                    st.is_tag_close = true;
                }
                false
            }
            b'!' if st.in_tag && st.tag_token_pos == 0 => {
                if bytes.get(pos + 1..pos + 3) == Some(b"--") {
                    st.in_comment = true;
                    return false;
                }
                true
            }
            b' ' | b'\t' | b'\r' | b'\n' => {
                if st.shows_text() {
                    if tok.open {
                        self.add_word(tok.start, tok.end + 1);
                    }
                    self.is_after_space = true;
                }
                tok.open = false;
                false
            }
            b'&' if !st.in_tag && tok.open && !st.in_head => {
                if st.in_code() {
                    return false;
                }
                self.add_word(tok.start, tok.end + 1);
                tok.open = false;
                self.is_after_space = false;
                true
            }
            b';' if !st.in_tag && tok.open && !st.in_head => {
                if st.in_code() {
                    return false;
                }
                self.add_word(tok.start, pos + 1);
                tok.open = false;
                self.is_after_space = false;
                false
            }
            _ => true,
        }
    }

    /// A tag whose only token is its name ends: line breaks and the
    /// elements whose text is hidden.
    fn tag_end(&mut self, tag: &[u8], st: &mut State) {
        if tag.eq_ignore_ascii_case(b"br") || (tag.eq_ignore_ascii_case(b"p") && st.is_tag_close) {
            self.result.push('\n');
            self.is_after_space = false;
            self.is_new_line = true;
        } else if tag.eq_ignore_ascii_case(b"head") {
            st.in_head = !st.is_tag_close;
        } else if tag.eq_ignore_ascii_case(b"style") {
            st.in_style = !st.is_tag_close;
        } else if tag.eq_ignore_ascii_case(b"script") {
            st.in_script = !st.is_tag_close;
        } else if tag.eq_ignore_ascii_case(b"template") {
            st.in_template = !st.is_tag_close;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(input: &str) {
        assert_eq!(
            html_to_text(input),
            mail_parser::decoders::html::html_to_text(input),
            "input: {input:?}"
        );
    }

    #[test]
    fn crafted_markup_renders_as_mail_parser_does() {
        for s in [
            "",
            "plain",
            "<p>Hello <b>world</b></p>",
            "a<br>b<BR/>c</p>d<p>e",
            "<html><head><title>t</title></head><body>x &amp; y &#65;&#x42; &nosuch; &;</body>",
            "<style>p{a:b}&amp;</style>after<script>if(a<b&&c;){}</script>z",
            "<template>hid</template>shown<!-- c -->x<!---->y<!-->z<!--->w-->v",
            "<! not comment>q<!x>r <a href='x'>link</a>&",
            "tail&amp",
            "  lead and trail  \r\n\t",
            "caf\u{e9} na\u{ef}ve <i>\u{65e5}\u{672c}</i>&nbsp;\u{1f600};",
            "<a\n  href=\"x\"\n>t</a>< p>u</ p></p >",
            "x;y&z;w &amp;&lt;&gt; a&b c;d",
            "<head>&amp;h;i</head>j<head/>k",
            "</br></head>l",
            "<<>>a<//b>",
            "<!--x-->y<!-- a -- b -->c<br/>d",
        ] {
            same(s);
        }
    }

    #[test]
    fn random_markup_renders_as_mail_parser_does() {
        const PIECES: &[&str] = &[
            "<", ">", "/", "!", "--", "-", "&", ";", " ", "\t", "\r\n", "\n", "a", "Zq", "br", "p",
            "head", "style", "script", "template", "amp", "#65", "#x4a", "lt", "\u{e9}",
            "\u{65e5}", "=\"", "\"",
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            let n = rng.usize(0..40);
            let s: String = (0..n).map(|_| PIECES[rng.usize(..PIECES.len())]).collect();
            same(&s);
        }
    }
}
