//! The tree the parser builds before it becomes JSON. Unlike `serde_json::Value` every object
//! entry remembers its priority, because `.include(priority=N)` decides per key whether a later
//! definition replaces, joins or loses to an earlier one.

use serde_json::{Map, Number, Value};

/// One UCL value. `Multi` is an implicit array: the same key given several times.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Node>),
    Object(Obj),
    Multi(Vec<Node>),
}

/// How a key that already exists is treated (`.include(duplicate=…)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duplicate {
    /// Higher priority replaces, lower is dropped, equal joins (implicit array, objects merge).
    Append,
    /// Like `Append`, but objects and arrays are merged into the old value whatever the priority.
    Merge,
    /// The new value replaces the old one whatever the priority.
    Rewrite,
    /// A repeated key is an error.
    Error,
}

/// An object entry with the priority of the source that defined it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub node: Node,
    pub priority: u8,
}

/// An object that keeps keys in the order they were first defined.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Obj {
    entries: Vec<(String, Entry)>,
}

/// A key repeated under `duplicate=error`.
#[derive(Debug)]
pub struct DuplicateKey;

impl Obj {
    /// An object holding one key, as a named section `key "name" { }` produces.
    pub fn single(key: String, node: Node, priority: u8) -> Obj {
        Obj {
            entries: vec![(key, Entry { node, priority })],
        }
    }

    /// Adds `key`, resolving a clash with an existing key by `strategy` and priorities.
    /// Returns false when the new value lost to a higher-priority one and was dropped.
    pub fn insert(
        &mut self,
        key: String,
        node: Node,
        priority: u8,
        strategy: Duplicate,
    ) -> Result<bool, DuplicateKey> {
        let Some(old) = self.entries.iter_mut().find(|(k, _)| *k == key) else {
            self.entries.push((key, Entry { node, priority }));
            return Ok(true);
        };
        let old = &mut old.1;
        match strategy {
            Duplicate::Rewrite => *old = Entry { node, priority },
            Duplicate::Error => return Err(DuplicateKey),
            Duplicate::Merge if same_container(&old.node, &node) => {
                merge_into(&mut old.node, node, strategy)?;
                old.priority = old.priority.max(priority);
            }
            Duplicate::Merge | Duplicate::Append => return resolve(old, node, priority, strategy),
        }
        Ok(true)
    }

    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.entries.iter().map(|(k, e)| (k.as_str(), &e.node))
    }

    pub fn into_json(self) -> Map<String, Value> {
        self.entries
            .into_iter()
            .map(|(k, e)| (k, e.node.into_json()))
            .collect()
    }
}

fn same_container(a: &Node, b: &Node) -> bool {
    matches!(
        (a, b),
        (Node::Object(_), Node::Object(_)) | (Node::Array(_), Node::Array(_))
    )
}

/// Priority decides; at equal priority objects merge (so `group "a" {}` and `group "b" {}`
/// form one `group` object serde can read) and anything else forms an implicit array.
fn resolve(
    old: &mut Entry,
    node: Node,
    priority: u8,
    strategy: Duplicate,
) -> Result<bool, DuplicateKey> {
    if priority > old.priority {
        *old = Entry { node, priority };
    } else if priority == old.priority {
        if matches!((&old.node, &node), (Node::Object(_), Node::Object(_))) {
            merge_into(&mut old.node, node, strategy)?;
        } else {
            append_implicit(&mut old.node, node);
        }
    } else {
        return Ok(false);
    }
    Ok(true)
}

fn merge_into(old: &mut Node, new: Node, strategy: Duplicate) -> Result<(), DuplicateKey> {
    match (old, new) {
        (Node::Object(o), Node::Object(n)) => {
            for (k, e) in n.entries {
                o.insert(k, e.node, e.priority, strategy)?;
            }
        }
        (Node::Array(o), Node::Array(n)) => o.extend(n),
        (old, new) => append_implicit(old, new),
    }
    Ok(())
}

fn append_implicit(old: &mut Node, new: Node) {
    match old {
        Node::Multi(items) => items.push(new),
        _ => {
            let first = std::mem::replace(old, Node::Null);
            *old = Node::Multi(vec![first, new]);
        }
    }
}

impl Node {
    /// JSON form: implicit arrays become arrays, non-finite floats become null.
    pub fn into_json(self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(b),
            Node::Int(i) => Value::from(i),
            Node::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
            Node::Str(s) => Value::String(s),
            Node::Array(items) | Node::Multi(items) => {
                Value::Array(items.into_iter().map(Node::into_json).collect())
            }
            Node::Object(o) => Value::Object(o.into_json()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(pairs: &[(&str, Node)]) -> Node {
        let mut o = Obj::default();
        for (k, v) in pairs {
            o.insert(k.to_string(), v.clone(), 0, Duplicate::Append)
                .unwrap();
        }
        Node::Object(o)
    }

    #[test]
    fn priorities_decide_between_scalars() {
        let mut o = Obj::default();
        o.insert("a".into(), Node::Int(1), 1, Duplicate::Append)
            .unwrap();
        o.insert("a".into(), Node::Int(2), 0, Duplicate::Append)
            .unwrap();
        assert_eq!(o.iter().next().unwrap().1, &Node::Int(1));
        o.insert("a".into(), Node::Int(3), 5, Duplicate::Append)
            .unwrap();
        assert_eq!(o.iter().next().unwrap().1, &Node::Int(3));
        o.insert("a".into(), Node::Int(4), 5, Duplicate::Append)
            .unwrap();
        assert_eq!(
            o.iter().next().unwrap().1,
            &Node::Multi(vec![Node::Int(3), Node::Int(4)])
        );
        o.insert("a".into(), Node::Int(9), 0, Duplicate::Rewrite)
            .unwrap();
        assert_eq!(o.iter().next().unwrap().1, &Node::Int(9));
        assert!(o
            .insert("a".into(), Node::Null, 0, Duplicate::Error)
            .is_err());
    }

    #[test]
    fn merge_keeps_old_keys_and_append_at_higher_priority_replaces() {
        let mut o = Obj::default();
        let base = obj(&[("x", Node::Int(1)), ("y", Node::Int(2))]);
        o.insert("s".into(), base.clone(), 0, Duplicate::Append)
            .unwrap();
        let mut patch = Obj::default();
        patch
            .insert("y".into(), Node::Int(20), 1, Duplicate::Merge)
            .unwrap();
        o.insert("s".into(), Node::Object(patch), 1, Duplicate::Merge)
            .unwrap();
        let want = serde_json::json!({"s": {"x": 1, "y": 20}});
        assert_eq!(Value::Object(o.clone().into_json()), want);
        let replacement = obj(&[("z", Node::Int(3))]);
        o.insert("s".into(), replacement, 10, Duplicate::Append)
            .unwrap();
        assert_eq!(
            Value::Object(o.into_json()),
            serde_json::json!({"s": {"z": 3}})
        );
    }
}
