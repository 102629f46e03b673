//! What Rspamd's HTML parser knows of an element's rendering: display,
//! colours and font size, from its `style`, `color`, `bgcolor` and `hidden`
//! attributes, inherited down the tree, and from them whether its text is
//! shown, hidden (left out) or transparent (blanked: text the colour of its
//! background).
use super::colors::NAMED;

/// How a value was set; a stronger one is not overridden by inheritance.
pub const UNSET: u8 = 0;
pub const INHERITED: u8 = 1;
pub const IMPLICIT: u8 = 1;
pub const SET: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Display {
    #[default]
    Inline,
    Block,
    TableRow,
    Hidden,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Color {
    pub r: u8,
    pub g: u8,
    pub b: u8,
    pub alpha: u8,
}

impl Color {
    const fn rgb(r: u8, g: u8, b: u8) -> Color {
        Color::rgba(r, g, b, 255)
    }

    pub const fn rgba(r: u8, g: u8, b: u8, alpha: u8) -> Color {
        Color { r, g, b, alpha }
    }
    const WHITE: Color = Color::rgb(255, 255, 255);
    const BLACK: Color = Color::rgb(0, 0, 0);

    /// A colour attribute's value or CSS name: `#rgb`, `#rrggbb`,
    /// `#rrggbbaa` or a name (case as given).
    pub fn parse(s: &str) -> Option<Color> {
        if let Some(hex) = s.strip_prefix('#').filter(|h| !h.is_empty()) {
            return Color::from_hex(hex.as_bytes());
        }
        if s == "transparent" {
            return Some(Color::rgba(0, 0, 0, 0));
        }
        NAMED.binary_search_by(|(n, _)| (*n).cmp(s)).ok().map(|i| {
            let [r, g, b] = NAMED[i].1;
            Color::rgb(r, g, b)
        })
    }

    /// A CSS hash's digits (`#` already stripped).
    pub fn from_hex(h: &[u8]) -> Option<Color> {
        let pair = |a: u8, b: u8| hex_digit(a) * 16 + hex_digit(b);
        match h.len() {
            6 => Some(Color::rgb(
                pair(h[0], h[1]),
                pair(h[2], h[3]),
                pair(h[4], h[5]),
            )),
            3 => Some(Color::rgb(
                pair(h[0], h[0]),
                pair(h[1], h[1]),
                pair(h[2], h[2]),
            )),
            8 => Some(Color {
                r: pair(h[0], h[1]),
                g: pair(h[2], h[3]),
                b: pair(h[4], h[5]),
                alpha: pair(h[6], h[7]),
            }),
            _ => None,
        }
    }

    /// Too close to tell apart (a weighted RGB distance under 0.1).
    fn similar(self, o: Color) -> bool {
        let (dr, dg, db) = (
            f32::from(self.r) - f32::from(o.r),
            f32::from(self.g) - f32::from(o.g),
            f32::from(self.b) - f32::from(o.b),
        );
        let ravg = (f32::from(self.r) + f32::from(o.r)) / 2.0;
        let (dr, dg, db) = (dr * dr, dg * dg, db * db);
        let diff = (2.0 * dr + 4.0 * dg + 3.0 * db + (ravg * (dr - db) / 256.0)).sqrt() / 256.0;
        diff < 0.1
    }
}

fn hex_digit(c: u8) -> u8 {
    (c as char).to_digit(16).unwrap_or(0) as u8
}

/// Visibility outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Visibility {
    #[default]
    Visible,
    Invisible,
    Transparent,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Block {
    pub fg: Color,
    pub bg: Color,
    pub display: Display,
    pub font_size: f32,
    pub fg_mask: u8,
    pub bg_mask: u8,
    pub display_mask: u8,
    pub font_mask: u8,
    pub visibility: Visibility,
}

impl Block {
    pub fn set_fg(&mut self, c: Color) {
        self.fg = c;
        self.fg_mask = SET;
    }

    pub fn set_bg(&mut self, c: Color) {
        self.bg = c;
        self.bg_mask = SET;
    }

    pub fn set_display(&mut self, d: Display, how: u8) {
        self.display = d;
        self.display_mask = how;
    }

    /// A font size in pixels or percent, kept as Rspamd keeps it: a whole
    /// number in a signed byte (a percentage negative, a large one -100).
    pub fn set_font(&mut self, size: f32, percent: bool) {
        let fs = if percent { -size } else { size };
        self.font_size = if fs < f32::from(i8::MIN) {
            -100.0
        } else if fs > f32::from(i8::MAX) {
            f32::from(i8::MAX)
        } else {
            f32::from(fs as i8)
        };
        self.font_mask = SET;
    }

    /// A stylesheet's block over this one: each value it sets replaces
    /// one not set here by the element itself.
    pub fn set_block(&mut self, o: &Block) {
        if o.fg_mask != UNSET && self.fg_mask != SET {
            self.fg = o.fg;
            self.fg_mask = o.fg_mask;
        }
        if o.bg_mask != UNSET && self.bg_mask != SET {
            self.bg = o.bg;
            self.bg_mask = o.bg_mask;
        }
        if o.display_mask != UNSET && self.display_mask != SET {
            self.display = o.display;
            self.display_mask = o.display_mask;
        }
        if o.font_mask != UNSET && self.font_mask != SET {
            self.font_size = o.font_size;
            self.font_mask = o.font_mask;
        }
    }

    /// Takes what `parent` has and this block lacks.
    pub fn inherit(&mut self, p: &Block) {
        if p.fg_mask > self.fg_mask {
            self.fg = p.fg;
            self.fg_mask = INHERITED;
        }
        if p.bg_mask > self.bg_mask {
            self.bg = p.bg;
            self.bg_mask = INHERITED;
        }
        if p.display_mask > self.display_mask {
            self.display = p.display;
            self.display_mask = INHERITED;
        }
        if self.font_mask != UNSET {
            if self.font_size < 0.0 {
                let scale = -self.font_size / 100.0;
                let size = if p.font_mask > 0 {
                    if p.font_size >= 0.0 {
                        p.font_size * scale
                    } else {
                        self.font_size * (-p.font_size / 100.0)
                    }
                } else {
                    10.0 * scale
                };
                // Stored back into a signed byte, wrapping as Rspamd's does.
                self.font_size = f32::from(size as i32 as i8);
            } else if p.font_mask > self.font_mask {
                self.font_size = p.font_size;
                self.font_mask = INHERITED;
            }
        } else if p.font_mask > self.font_mask {
            self.font_size = p.font_size;
            self.font_mask = INHERITED;
        }
    }

    pub fn compute_visibility(&mut self) {
        self.visibility = self.visibility_now();
    }

    fn visibility_now(&self) -> Visibility {
        if self.display_mask != UNSET && self.display == Display::Hidden {
            return Visibility::Invisible;
        }
        if self.font_mask != UNSET && self.font_size.trunc() == 0.0 && self.font_size > -1.0 {
            return Visibility::Invisible;
        }
        let fg_set = self.fg_mask != UNSET;
        let bg_set = self.bg_mask != UNSET;
        if fg_set {
            if self.fg.alpha < 10 {
                return Visibility::Transparent;
            }
            let bg = if bg_set { self.bg } else { Color::WHITE };
            if (!bg_set || self.bg.alpha > 10) && self.fg.similar(bg) {
                return Visibility::Transparent;
            }
        } else if bg_set && self.bg.alpha > 10 && Color::BLACK.similar(self.bg) {
            return Visibility::Transparent;
        }
        Visibility::Visible
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_parse_as_attributes_give_them() {
        assert_eq!(Color::parse("#FFF"), Some(Color::rgb(255, 255, 255)));
        assert_eq!(Color::parse("navy"), Some(Color::rgb(0, 0, 128)));
        assert_eq!(Color::parse("transparent"), Some(Color::rgba(0, 0, 0, 0)));
        // Rspamd's names are X11's where X11 and CSS differ.
        assert_eq!(Color::parse("gray"), Some(Color::rgb(190, 190, 190)));
        assert_eq!(Color::parse("windowtext"), Some(Color::rgb(0, 0, 0)));
        assert_eq!(Color::parse("NAVY"), None);
    }

    #[test]
    fn font_sizes_are_kept_in_a_signed_byte() {
        let mut b = Block::default();
        b.set_font(0.9, false);
        assert_eq!(b.font_size, 0.0);
        b.set_font(50.0, true);
        assert_eq!(b.font_size, -50.0);
        b.set_font(200.0, true);
        assert_eq!(b.font_size, -100.0);
        b.set_font(300.0, false);
        assert_eq!(b.font_size, 127.0);
    }
}
