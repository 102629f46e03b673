//! Declarations (`prop: value ...;`) as Rspamd 3.4 keeps them: only the
//! properties that decide how text shows, each with the values its kind
//! allows; a repeated property keeps its first values (`!important` is read
//! but, as in 3.4, changes nothing), and the last value of each property
//! sets the element's block.
use super::blocks::Node;
use super::tokens::Tok;
use crate::scan::fuzzy::html::block::{Block, Color, Display, SET};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prop {
    Font,
    FontColor,
    FontSize,
    Color,
    BgColor,
    Background,
    Display,
    Visibility,
}

impl Prop {
    fn from_name(n: &[u8]) -> Option<Prop> {
        Some(match n {
            b"font" => Prop::Font,
            b"font-color" => Prop::FontColor,
            b"font-size" => Prop::FontSize,
            b"color" => Prop::Color,
            b"bgcolor" | b"background-color" => Prop::BgColor,
            b"background" => Prop::Background,
            b"display" => Prop::Display,
            b"visibility" => Prop::Visibility,
            _ => return None,
        })
    }

    fn takes_color(self) -> bool {
        matches!(
            self,
            Prop::Color | Prop::Background | Prop::BgColor | Prop::FontColor | Prop::Font
        )
    }

    fn takes_length(self) -> bool {
        matches!(self, Prop::FontSize | Prop::Font)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Color(Color),
    Length(f32, bool),
    Display(Display),
}

impl Value {
    fn kind(self) -> u8 {
        match self {
            Value::Color(_) => 0,
            Value::Length(..) => 1,
            Value::Display(_) => 2,
        }
    }
}

/// A property and its values. Of a kind of value only the last counts
/// (the block takes a property's last value, and a shorthand's last colour
/// and last size), so only that is kept: merging costs the same however
/// many values either side was given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    pub prop: Prop,
    last: [Option<Value>; 3],
}

impl Rule {
    fn new(prop: Prop) -> Rule {
        Rule {
            prop,
            last: [None; 3],
        }
    }

    fn push(&mut self, v: Value) {
        self.last[usize::from(v.kind())] = Some(v);
    }

    fn is_empty(&self) -> bool {
        self.last.iter().all(Option::is_none)
    }

    /// Takes `other`'s values of kinds this rule lacks.
    fn merge(&mut self, other: &Rule) {
        for (mine, theirs) in self.last.iter_mut().zip(other.last) {
            if mine.is_none() {
                *mine = theirs;
            }
        }
    }

    fn color(&self) -> Option<Color> {
        match self.last[0] {
            Some(Value::Color(c)) => Some(c),
            _ => None,
        }
    }

    fn length(&self) -> Option<(f32, bool)> {
        match self.last[1] {
            Some(Value::Length(v, pc)) => Some((v, pc)),
            _ => None,
        }
    }

    fn display(&self) -> Option<Display> {
        match self.last[2] {
            Some(Value::Display(d)) => Some(d),
            _ => None,
        }
    }
}

/// A declaration block: its rules in the order first seen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decls {
    pub rules: Vec<Rule>,
}

impl Decls {
    fn add(&mut self, rule: Rule) {
        if rule.is_empty() {
            return;
        }
        match self.rules.iter_mut().find(|r| r.prop == rule.prop) {
            Some(r) => r.merge(&rule),
            None => self.rules.push(rule),
        }
    }

    /// Another block's rules for the same selector, merged in.
    pub fn merge(&mut self, other: &Decls) {
        for r in &other.rules {
            self.add(*r);
        }
    }

    /// The block the declarations give an element.
    pub fn compile(&self) -> Block {
        let mut b = Block::default();
        let (mut font, mut background) = (None, None);
        for r in &self.rules {
            match r.prop {
                Prop::Display | Prop::Visibility => {
                    b.set_display(r.display().unwrap_or(Display::Inline), SET);
                }
                Prop::FontSize => {
                    if let Some((v, pc)) = r.length() {
                        b.set_font(v, pc);
                    }
                }
                Prop::Color | Prop::FontColor => {
                    if let Some(c) = r.color() {
                        b.set_fg(c);
                    }
                }
                Prop::BgColor => {
                    if let Some(c) = r.color() {
                        b.set_bg(c);
                    }
                }
                Prop::Font => font = Some(r),
                Prop::Background => background = Some(r),
            }
        }
        if let Some(f) = font {
            if let (0, Some(c)) = (b.fg_mask, f.color()) {
                b.set_fg(c);
            }
            if let (0, Some((v, pc))) = (b.font_mask, f.length()) {
                b.set_font(v, pc);
            }
        }
        if let Some(bg) = background {
            if let (0, Some(c)) = (b.bg_mask, bg.color()) {
                b.set_bg(c);
            }
        }
        b
    }
}

/// The declarations in `nodes` (a `{}` block's or a style attribute's).
pub fn declarations(nodes: &[Node<'_>]) -> Decls {
    enum St {
        Property,
        Value(Rule),
        Skip,
    }
    let mut out = Decls::default();
    let mut st = St::Property;
    let mut it = nodes.iter();
    while let Some(node) = it.next() {
        st = match (st, node) {
            (St::Property, Node::Component(t)) => {
                let prop = match t {
                    Tok::Ident(n) => Prop::from_name(n),
                    _ => None,
                };
                match prop.map(|p| (p, it.next())) {
                    Some((p, Some(Node::Component(Tok::Colon)))) => St::Value(Rule::new(p)),
                    // Anything else after the name (a block too) skips
                    // to the next `;`.
                    _ => St::Skip,
                }
            }
            (St::Value(rule), Node::Component(Tok::Semicolon)) => {
                out.add(rule);
                St::Property
            }
            (St::Value(mut rule), n @ (Node::Component(_) | Node::Function(..))) => {
                if !matches!(n, Node::Component(Tok::Ident(b"important"))) {
                    if let Some(v) = value(rule.prop, n) {
                        rule.push(v);
                    }
                }
                St::Value(rule)
            }
            (St::Skip, Node::Component(Tok::Semicolon)) => St::Property,
            (s @ St::Skip, Node::Component(_) | Node::Function(..)) => s,
            (St::Property, Node::Function(..)) => St::Property,
            // A block where a property or value goes ends them.
            (_, Node::Simple(_)) => return out,
        };
    }
    if let St::Value(rule) = st {
        out.add(rule);
    }
    out
}

/// A value `prop` allows, from one node.
fn value(prop: Prop, n: &Node<'_>) -> Option<Value> {
    if prop.takes_color() {
        let c = match n {
            Node::Component(Tok::Hash(h)) => Color::from_hex(h),
            Node::Component(Tok::Ident(name)) => {
                std::str::from_utf8(name).ok().and_then(Color::parse)
            }
            Node::Function(name, args) => function_color(name, args),
            _ => None,
        };
        if let Some(c) = c {
            return Some(Value::Color(c));
        }
    }
    if let (true, Node::Component(Tok::Number { value, percent })) = (prop.takes_length(), n) {
        return Some(Value::Length(*value, *percent));
    }
    if let (Prop::Display | Prop::Visibility, Node::Component(Tok::Ident(name))) = (prop, n) {
        return display(name).map(Value::Display);
    }
    None
}

fn display(name: &[u8]) -> Option<Display> {
    Some(match name {
        b"hidden" | b"none" => Display::Hidden,
        b"inline" | b"content" | b"inline-block" | b"inline-flex" | b"inline-grid"
        | b"inline-table" | b"run-in" | b"initial" => Display::Inline,
        b"block" | b"flex" | b"grid" | b"list-item" | b"table" => Display::Block,
        b"table-caption"
        | b"table-column-group"
        | b"table-header-group"
        | b"table-footer-group"
        | b"table-row-group"
        | b"table-cell"
        | b"table-column"
        | b"table-row" => Display::TableRow,
        _ => return None,
    })
}

/// `rgb()`, `rgba()`, `hsl()`, `hsla()` with exactly their number of
/// arguments (anything but a number counts as zero).
fn function_color(name: &[u8], args: &[Tok<'_>]) -> Option<Color> {
    let num = |t: &Tok<'_>| match *t {
        Tok::Number { value, percent } => Some((value, percent)),
        _ => None,
    };
    let rgb = |t: &Tok<'_>| -> u8 {
        match num(t) {
            Some((v, true)) => (f64::from(v.clamp(0.0, 100.0)) / 100.0 * 255.0) as u8,
            Some((v, false)) => v.clamp(0.0, 255.0) as u8,
            None => 0,
        }
    };
    let alpha = |t: &Tok<'_>| -> u8 {
        let a = match num(t) {
            Some((v, true)) => f64::from(v.clamp(0.0, 100.0)) / 100.0,
            Some((v, false)) => f64::from(v.clamp(0.0, 1.0)),
            None => 1.0,
        };
        (a * 255.0) as u8
    };
    let hue = |t: &Tok<'_>| -> f64 {
        match num(t) {
            Some((v, true)) => f64::from(v.clamp(0.0, 100.0)) / 100.0,
            Some((v, false)) => f64::from(((v as i32 % 360) + 360) % 360) / 360.0,
            None => 0.0,
        }
    };
    let unit = |t: &Tok<'_>| -> f64 {
        match num(t) {
            Some((v, pc)) => f64::from(if pc { v / 100.0 } else { v }).clamp(0.0, 1.0),
            None => 0.0,
        }
    };
    match (name, args.len()) {
        (b"rgb", 3) => Some(Color::rgba(
            rgb(&args[0]),
            rgb(&args[1]),
            rgb(&args[2]),
            255,
        )),
        (b"rgba", 4) => Some(Color::rgba(
            rgb(&args[0]),
            rgb(&args[1]),
            rgb(&args[2]),
            alpha(&args[3]),
        )),
        (b"hsl", 3) => Some(hsl(hue(&args[0]), unit(&args[1]), unit(&args[2]), 255)),
        (b"hsla", 4) => Some(hsl(
            hue(&args[0]),
            unit(&args[1]),
            unit(&args[2]),
            alpha(&args[3]),
        )),
        _ => None,
    }
}

/// HSL to RGB as Rspamd converts it (a grey's lightness is taken as a
/// byte, so greys come out black).
fn hsl(h: f64, s: f64, l: f64, alpha: u8) -> Color {
    if s == 0.0 {
        let v = l as u8;
        return Color::rgba(v, v, v, alpha);
    }
    let hue2rgb = |p: f64, q: f64, mut t: f64| {
        if t < 0.0 {
            t += 1.0;
        }
        if t > 1.0 {
            t -= 1.0;
        }
        if t * 6.0 < 1.0 {
            p + (q - p) * 6.0 * t
        } else if t * 2.0 < 1.0 {
            q
        } else if t * 3.0 < 2.0 {
            p + (q - p) * (2.0 / 3.0 - t) * 6.0
        } else {
            p
        }
    };
    let q = if l <= 0.5 {
        l * (1.0 + s)
    } else {
        l + s - l * s
    };
    let p = 2.0 * l - q;
    Color::rgba(
        (hue2rgb(p, q, h + 1.0 / 3.0) * 255.0) as u8,
        (hue2rgb(p, q, h) * 255.0) as u8,
        (hue2rgb(p, q, h - 1.0 / 3.0) * 255.0) as u8,
        alpha,
    )
}
