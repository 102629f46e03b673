//! The CSS of an HTML part as Rspamd 3.4 applies it to decide which text is
//! shown: style attributes, and the rules of `<style>` elements with
//! selectors by tag, class, id and `*` (the only ones 3.4 applies). Only
//! the properties that hide or blank text are kept (display, visibility,
//! colours, font size), with Rspamd's own reading of the syntax, because
//! every difference in what is hidden changes the fuzzy hashes.
//!
//! Hostile stylesheets cost linear work: one tokenizing pass, nesting cut
//! at Rspamd's limit, each rule's block compiled once for all elements.
mod blocks;
mod decls;
mod selectors;
mod tokens;

use std::collections::HashMap;

use super::block::Block;
use decls::Decls;
use selectors::Selector;

/// The block a style attribute's declarations give an element.
pub fn style_block(style: &str) -> Block {
    let input = tokens::prepare(style.as_bytes());
    let nodes = blocks::Parser::new(&input).declarations();
    decls::declarations(&nodes).compile()
}

/// The rules of a part's `<style>` elements, merged per selector.
#[derive(Debug, Default)]
pub struct Sheet {
    /// Declaration blocks; the selectors of one rule share theirs, and a
    /// later rule for one of them merges into it (so into all of them, as
    /// in Rspamd).
    decls: Vec<Decls>,
    tags: HashMap<&'static str, usize>,
    classes: HashMap<Vec<u8>, usize>,
    ids: HashMap<Vec<u8>, usize>,
    all: Option<usize>,
    compiled: Vec<Block>,
}

impl Sheet {
    /// Adds a `<style>` element's rules; false when it had none (Rspamd
    /// then keeps no stylesheet for it).
    pub fn add(&mut self, css: &[u8]) -> bool {
        let input = tokens::prepare(css);
        let rules = blocks::Parser::new(&input).stylesheet();
        if rules.is_empty() {
            return false;
        }
        for rule in &rules {
            if rule.len() < 2 || !matches!(rule[0], blocks::Node::Component(_)) {
                continue;
            }
            let Some(at) = rule
                .iter()
                .position(|n| matches!(n, blocks::Node::Simple(_)))
            else {
                continue;
            };
            let sels = selectors::selectors(&rule[..at]);
            if sels.is_empty() {
                continue;
            }
            let blocks::Node::Simple(body) = &rule[at] else {
                continue;
            };
            let d = decls::declarations(body);
            if d.rules.is_empty() {
                continue;
            }
            self.decls.push(d);
            let idx = self.decls.len() - 1;
            for s in sels {
                self.add_selector(s, idx);
            }
        }
        true
    }

    fn add_selector(&mut self, s: Selector, idx: usize) {
        let existing = match s {
            Selector::All => match self.all {
                Some(e) => Some(e),
                None => {
                    self.all = Some(idx);
                    None
                }
            },
            Selector::Tag(t) => self.tags.get(t).copied().or_else(|| {
                self.tags.insert(t, idx);
                None
            }),
            Selector::Class(c) => self.classes.get(&c).copied().or_else(|| {
                self.classes.insert(c, idx);
                None
            }),
            Selector::Id(i) => self.ids.get(&i).copied().or_else(|| {
                self.ids.insert(i, idx);
                None
            }),
        };
        if let Some(e) = existing.filter(|&e| e != idx) {
            let other = std::mem::take(&mut self.decls[idx]);
            self.decls[e].merge(&other);
            self.decls[idx] = other;
        }
    }

    /// Compiles every declaration block once, after the last `<style>`.
    pub fn finish(&mut self) {
        self.compiled = self.decls.iter().map(Decls::compile).collect();
    }

    /// The stylesheet's block for an element with this tag name and
    /// (lowercase) `id` and `class` attributes: the id's, then each
    /// class's, the tag's and the universal one filling what is unset.
    pub fn block_for(&self, tag: &str, id: Option<&str>, class: Option<&str>) -> Option<Block> {
        let mut res: Option<Block> = None;
        let mut add = |idx: Option<&usize>| {
            if let Some(b) = idx.and_then(|&i| self.compiled.get(i)) {
                match res.as_mut() {
                    None => res = Some(*b),
                    Some(r) => r.inherit(b),
                }
            }
        };
        if let Some(id) = id {
            add(self.ids.get(id.as_bytes()));
        }
        if let Some(class) = class {
            for c in class.split(' ').filter(|c| !c.is_empty()) {
                add(self.classes.get(c.as_bytes()));
            }
        }
        add(self.tags.get(tag));
        add(self.all.as_ref());
        res
    }
}

#[cfg(test)]
mod tests;
