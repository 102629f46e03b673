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
        Color {
            r,
            g,
            b,
            alpha: 255,
        }
    }
    const WHITE: Color = Color::rgb(255, 255, 255);
    const BLACK: Color = Color::rgb(0, 0, 0);

    /// A colour attribute's value: `#rgb`, `#rrggbb`, `#rrggbbaa` or a name.
    pub fn parse(s: &str) -> Option<Color> {
        if let Some(hex) = s.strip_prefix('#').filter(|h| !h.is_empty()) {
            return Color::from_hex(hex.as_bytes());
        }
        NAMED.binary_search_by(|(n, _)| (*n).cmp(s)).ok().map(|i| {
            let [r, g, b] = NAMED[i].1;
            Color::rgb(r, g, b)
        })
    }

    fn from_hex(h: &[u8]) -> Option<Color> {
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

    /// A CSS value: as an attribute's, or `rgb(...)` / `rgba(...)`.
    fn parse_css(v: &str) -> Option<Color> {
        let lower = v.to_ascii_lowercase();
        let Some(args) = lower
            .strip_prefix("rgba(")
            .or_else(|| lower.strip_prefix("rgb("))
        else {
            return Color::parse(&lower);
        };
        let args = args.trim_end_matches(')');
        let parts: Vec<&str> = args
            .split([',', ' ', '/'])
            .filter(|p| !p.is_empty())
            .collect();
        if parts.len() < 3 {
            return None;
        }
        let comp = |p: &str| -> u8 {
            if let Some(pc) = p.strip_suffix('%') {
                let v = pc.parse::<f32>().unwrap_or(0.0).clamp(0.0, 100.0);
                (v / 100.0 * 255.0) as u8
            } else {
                p.parse::<f32>().unwrap_or(0.0).clamp(0.0, 255.0) as u8
            }
        };
        let alpha = parts.get(3).map_or(255, |a| {
            if let Some(pc) = a.strip_suffix('%') {
                (pc.parse::<f32>().unwrap_or(0.0).clamp(0.0, 100.0) / 100.0 * 255.0) as u8
            } else {
                let v = a.parse::<f32>().unwrap_or(0.0);
                if v <= 1.0 {
                    (v.max(0.0) * 255.0) as u8
                } else {
                    v.min(255.0) as u8
                }
            }
        });
        Some(Color {
            r: comp(parts[0]),
            g: comp(parts[1]),
            b: comp(parts[2]),
            alpha,
        })
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

    fn set_font(&mut self, size: f32, percent: bool) {
        self.font_size = if percent { -size } else { size };
        self.font_mask = SET;
    }

    /// A style attribute's declarations (`prop: value; ...`).
    pub fn from_style(style: &str) -> Block {
        let mut b = Block::default();
        let (mut font, mut background) = (None, None);
        for decl in style.split(';') {
            let Some((prop, value)) = decl.split_once(':') else {
                continue;
            };
            let prop = prop.trim().to_ascii_lowercase();
            let value = value.trim();
            let value = value
                .strip_suffix("!important")
                .map_or(value, str::trim_end);
            let values = css_values(value);
            let Some(last) = values.last() else {
                continue;
            };
            match prop.as_str() {
                "display" | "visibility" => b.set_display(display_of(last), SET),
                "font-size" => {
                    if let Some((v, pc)) = dimension(last) {
                        b.set_font(v, pc);
                    }
                }
                "color" | "font-color" => {
                    if let Some(c) = Color::parse_css(last) {
                        b.set_fg(c);
                    }
                }
                "background-color" => {
                    if let Some(c) = Color::parse_css(last) {
                        b.set_bg(c);
                    }
                }
                "font" => font = Some(values),
                "background" => background = Some(values),
                _ => {}
            }
        }
        if let Some(vals) = &font {
            if b.fg_mask == UNSET {
                for v in vals {
                    if let Some(c) = Color::parse_css(v) {
                        b.set_fg(c);
                    }
                }
            }
            if b.font_mask == UNSET {
                for v in vals {
                    if let Some((s, pc)) = dimension(v) {
                        b.set_font(s, pc);
                    }
                }
            }
        }
        if let (Some(vals), UNSET) = (&background, b.bg_mask) {
            for v in vals {
                if let Some(c) = Color::parse_css(v) {
                    b.set_bg(c);
                }
            }
        }
        b
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
                self.font_size = if p.font_mask > 0 {
                    if p.font_size >= 0.0 {
                        p.font_size * scale
                    } else {
                        self.font_size * (-p.font_size / 100.0)
                    }
                } else {
                    10.0 * scale
                };
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

/// A declaration's value as Rspamd's CSS parser splits it: by white space
/// and commas, a function call (`rgb(...)`) as one value.
fn css_values(v: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, None);
    for (i, c) in v.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ' ' | '\t' | '\n' | '\r' | ',' if depth == 0 => {
                if let Some(s) = start.take() {
                    out.push(&v[s..i]);
                }
                continue;
            }
            _ => {}
        }
        start.get_or_insert(i);
    }
    if let Some(s) = start {
        out.push(&v[s..]);
    }
    out
}

fn display_of(v: &str) -> Display {
    match v.to_ascii_lowercase().as_str() {
        "hidden" | "none" => Display::Hidden,
        "block" | "flex" | "grid" | "list-item" | "table" => Display::Block,
        "table-caption" | "table-column-group" | "table-header-group" | "table-footer-group"
        | "table-row-group" | "table-cell" | "table-column" | "table-row" => Display::TableRow,
        _ => Display::Inline,
    }
}

/// A length: its number and whether it is a percentage.
fn dimension(v: &str) -> Option<(f32, bool)> {
    let end = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(v.len());
    let n: f32 = v[..end].parse().ok()?;
    let unit = v[end..].to_ascii_lowercase();
    let px = match unit.as_str() {
        "%" => return Some((n, true)),
        "" | "px" => n,
        "em" | "rem" => n * 16.0,
        "pt" => n * 4.0 / 3.0,
        "pc" => n * 16.0,
        "in" => n * 96.0,
        "cm" => n * 96.0 / 2.54,
        "mm" => n * 96.0 / 25.4,
        _ => return None,
    };
    Some((px, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vis(style: &str) -> Visibility {
        let mut b = Block::from_style(style);
        b.compute_visibility();
        b.visibility
    }

    #[test]
    fn styles_decide_visibility() {
        assert_eq!(vis("display:none"), Visibility::Invisible);
        assert_eq!(vis("font-size: 0px"), Visibility::Invisible);
        assert_eq!(vis("color:#ffffff"), Visibility::Transparent);
        assert_eq!(
            vis("color: white; background-color: #fefefe"),
            Visibility::Transparent
        );
        assert_eq!(
            vis("color: rgb(0,0,0); background: #000 url(x)"),
            Visibility::Transparent
        );
        assert_eq!(vis("color: red"), Visibility::Visible);
        assert_eq!(vis("font-family: Arial"), Visibility::Visible);
        assert_eq!(Color::parse("#FFF"), Some(Color::rgb(255, 255, 255)));
        assert_eq!(Color::parse("navy"), Some(Color::rgb(0, 0, 128)));
    }
}
