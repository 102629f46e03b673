//! The tags Rspamd's HTML parser knows and the content-model flags it gives
//! each: they decide which elements are blocks (a line break around them),
//! table cells (a space), head-only (never shown) or empty (no content).

pub const CM_EMPTY: u32 = 1 << 0;
pub const CM_HTML: u32 = 1 << 1;
pub const CM_HEAD: u32 = 1 << 2;
pub const CM_BLOCK: u32 = 1 << 3;
pub const CM_INLINE: u32 = 1 << 4;
pub const CM_LIST: u32 = 1 << 5;
pub const CM_DEFLIST: u32 = 1 << 6;
pub const CM_TABLE: u32 = 1 << 7;
pub const CM_ROWGRP: u32 = 1 << 8;
pub const CM_ROW: u32 = 1 << 9;
pub const CM_FIELD: u32 = 1 << 10;
pub const CM_RAW: u32 = 1 << 11;
pub const CM_PARAM: u32 = 1 << 12;
pub const CM_OPT: u32 = 1 << 13;
pub const CM_IMG: u32 = 1 << 14;
pub const CM_NO_INDENT: u32 = 1 << 15;
pub const CM_OMITST: u32 = 1 << 16;
pub const CM_UNIQUE: u32 = 1 << 17;
pub const FL_XML: u32 = 1 << 18;
pub const FL_CLOSED: u32 = 1 << 19;
pub const FL_BROKEN: u32 = 1 << 20;
pub const FL_IGNORE: u32 = 1 << 21;
pub const FL_BLOCK: u32 = 1 << 22;
pub const FL_HREF: u32 = 1 << 23;
pub const FL_COMMENT: u32 = 1 << 24;
pub const FL_VIRTUAL: u32 = 1 << 25;

/// A tag's identity: closing tags pair with openings of the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TagId {
    /// Not named (yet): markup declarations, fresh closing tags.
    #[default]
    None,
    /// A tag of [`KNOWN`], by its name.
    Known(&'static str),
    /// Any other name, by a hash of it.
    Other(u64),
    /// A name that does not start as one.
    Broken,
}

impl TagId {
    pub fn is(&self, name: &str) -> bool {
        matches!(self, TagId::Known(n) if *n == name)
    }
}

/// Known tags and their flags, sorted by name.
const KNOWN: &[(&str, u32)] = &[
    ("a", FL_HREF),
    ("abbr", CM_INLINE),
    ("acronym", CM_INLINE),
    ("address", CM_BLOCK),
    ("applet", CM_IMG | CM_INLINE | CM_PARAM),
    ("area", CM_BLOCK | CM_EMPTY | FL_HREF),
    ("b", CM_INLINE | FL_BLOCK),
    ("base", CM_HEAD | CM_EMPTY),
    ("basefont", CM_INLINE | CM_EMPTY),
    ("bdo", CM_INLINE),
    ("big", CM_INLINE),
    ("blockquote", CM_BLOCK),
    ("body", CM_HTML | CM_OPT | CM_OMITST | CM_UNIQUE | FL_BLOCK),
    ("br", CM_INLINE | CM_EMPTY),
    ("button", CM_INLINE | FL_BLOCK),
    ("caption", CM_TABLE),
    ("center", CM_BLOCK),
    ("cite", CM_INLINE),
    ("code", CM_INLINE),
    ("col", CM_TABLE | CM_EMPTY),
    ("colgroup", CM_TABLE | CM_OPT),
    ("dd", CM_DEFLIST | CM_OPT | CM_NO_INDENT),
    ("del", CM_INLINE | CM_BLOCK),
    ("dfn", CM_INLINE),
    ("dir", CM_BLOCK),
    ("div", CM_BLOCK | FL_BLOCK),
    ("dl", CM_BLOCK | FL_BLOCK),
    ("dt", CM_DEFLIST | CM_OPT | CM_NO_INDENT),
    ("em", CM_INLINE),
    ("fieldset", CM_BLOCK),
    ("font", FL_BLOCK),
    ("form", CM_BLOCK | FL_HREF),
    ("frame", CM_EMPTY | FL_HREF),
    ("frameset", CM_HTML),
    ("h1", CM_BLOCK),
    ("h2", CM_BLOCK),
    ("h3", CM_BLOCK),
    ("h4", CM_BLOCK),
    ("h5", CM_BLOCK),
    ("h6", CM_BLOCK),
    ("head", CM_HTML | CM_OPT | CM_OMITST | CM_UNIQUE),
    ("hr", CM_BLOCK | CM_EMPTY),
    ("html", CM_HTML | CM_OPT | CM_OMITST | CM_UNIQUE),
    ("i", CM_INLINE),
    ("iframe", FL_HREF),
    ("img", CM_INLINE | CM_IMG | CM_EMPTY),
    ("input", CM_INLINE | CM_IMG | CM_EMPTY),
    ("ins", CM_INLINE | CM_BLOCK),
    ("isindex", CM_BLOCK | CM_EMPTY),
    ("kbd", CM_INLINE),
    ("label", CM_INLINE),
    ("legend", CM_INLINE),
    ("li", CM_LIST | CM_OPT | CM_NO_INDENT | FL_BLOCK),
    ("link", CM_EMPTY | FL_HREF),
    ("listing", CM_BLOCK),
    ("map", CM_INLINE | FL_HREF),
    ("menu", CM_BLOCK),
    ("meta", CM_HEAD | CM_INLINE | CM_EMPTY),
    ("nextid", CM_HEAD | CM_EMPTY),
    ("noframes", CM_BLOCK),
    ("noscript", CM_BLOCK | CM_INLINE | CM_RAW),
    ("object", CM_HEAD | CM_IMG | CM_INLINE | CM_PARAM),
    ("ol", CM_BLOCK | FL_BLOCK),
    ("optgroup", CM_FIELD | CM_OPT),
    ("option", CM_FIELD | CM_OPT),
    ("p", CM_BLOCK | CM_OPT | FL_BLOCK),
    ("param", CM_INLINE | CM_EMPTY),
    ("plaintext", CM_BLOCK),
    ("pre", CM_BLOCK),
    ("q", CM_INLINE),
    ("rb", CM_INLINE),
    ("rbc", CM_INLINE),
    ("rp", CM_INLINE),
    ("rt", CM_INLINE),
    ("rtc", CM_INLINE),
    ("ruby", CM_INLINE),
    ("s", CM_INLINE),
    ("samp", CM_INLINE),
    ("script", CM_HEAD | CM_RAW),
    ("select", CM_INLINE | CM_FIELD),
    ("small", CM_INLINE),
    ("span", CM_NO_INDENT | FL_BLOCK),
    ("strike", CM_INLINE),
    ("strong", CM_INLINE),
    ("style", CM_HEAD | CM_RAW),
    ("sub", CM_INLINE),
    ("sup", CM_INLINE),
    ("table", CM_BLOCK | FL_BLOCK),
    ("tbody", CM_TABLE | CM_ROWGRP | CM_OPT | FL_BLOCK),
    ("td", CM_ROW | CM_OPT | CM_NO_INDENT | FL_BLOCK),
    ("textarea", CM_INLINE | CM_FIELD),
    ("tfoot", CM_TABLE | CM_ROWGRP | CM_OPT),
    ("th", CM_ROW | CM_OPT | CM_NO_INDENT | FL_BLOCK),
    ("thead", CM_TABLE | CM_ROWGRP | CM_OPT),
    ("title", CM_HEAD | CM_UNIQUE),
    ("tr", CM_TABLE | CM_OPT | FL_BLOCK),
    ("tt", CM_INLINE),
    ("u", CM_INLINE),
    ("ul", CM_BLOCK | FL_BLOCK),
    ("var", CM_INLINE),
    ("xmp", CM_BLOCK),
];

/// The id and flags of a tag named `name` (lowercase).
pub fn lookup(name: &[u8]) -> (TagId, u32) {
    let Ok(s) = std::str::from_utf8(name) else {
        return (TagId::Other(hash(name)), 0);
    };
    match KNOWN.binary_search_by(|(n, _)| (*n).cmp(s)) {
        Ok(i) => (TagId::Known(KNOWN[i].0), KNOWN[i].1),
        Err(_) => (TagId::Other(hash(name)), 0),
    }
}

fn hash(name: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_tags_are_sorted() {
        assert!(super::KNOWN.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
