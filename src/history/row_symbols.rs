//! A history row's symbols: typed, in the verdict's order, written as
//! Rspamd writes them (an object by name of `{name, score, metric_score,
//! description?, options?}`). Typed rather than a JSON map because a row is
//! built for every scanned message and a map of maps is an allocation per
//! key.
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::verdict::Verdict;

/// One symbol of a row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RowSymbol {
    pub name: String,
    pub score: f64,
    pub metric_score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// A row's symbols, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowSymbols(pub Vec<RowSymbol>);

impl RowSymbols {
    pub fn of(v: &Verdict) -> RowSymbols {
        RowSymbols(
            v.symbols
                .iter()
                .map(|s| RowSymbol {
                    name: s.name.clone(),
                    score: s.score,
                    metric_score: s.metric_score,
                    description: s.description.clone(),
                    options: s.options.clone(),
                })
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&RowSymbol> {
        self.0.iter().find(|s| s.name == name)
    }
}

impl Serialize for RowSymbols {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for sym in &self.0 {
            map.serialize_entry(&sym.name, sym)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for RowSymbols {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ByName)
    }
}

/// Reads the object by name; an entry without its own `name` (Rspamd's
/// rows may leave it out) takes the key's.
struct ByName;

impl<'de> Visitor<'de> for ByName {
    type Value = RowSymbols;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of symbols by name")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RowSymbols, A::Error> {
        let mut out = Vec::with_capacity(m.size_hint().unwrap_or(0));
        while let Some((key, mut sym)) = m.next_entry::<String, RowSymbol>()? {
            if sym.name.is_empty() {
                sym.name = key;
            }
            out.push(sym);
        }
        Ok(RowSymbols(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_by_name_in_order_and_read_back() {
        let syms = RowSymbols(vec![
            RowSymbol {
                name: "B_SYM".into(),
                score: 2.0,
                metric_score: 2.0,
                description: Some("b".into()),
                options: vec!["x".into()],
            },
            RowSymbol {
                name: "A_SYM".into(),
                score: -1.0,
                metric_score: -1.0,
                ..RowSymbol::default()
            },
        ]);
        let json = serde_json::to_string(&syms).unwrap();
        assert_eq!(
            json,
            r#"{"B_SYM":{"name":"B_SYM","score":2.0,"metric_score":2.0,"description":"b","options":["x"]},"A_SYM":{"name":"A_SYM","score":-1.0,"metric_score":-1.0}}"#
        );
        let back: RowSymbols = serde_json::from_str(&json).unwrap();
        assert_eq!(back, syms);
        // Rspamd's entries may have no name, and fields we do not keep.
        let rspamd: RowSymbols = serde_json::from_str(
            r#"{"R_SPF_ALLOW":{"score":-0.2,"metric_score":-0.2,"group":"spf"}}"#,
        )
        .unwrap();
        assert_eq!(rspamd.get("R_SPF_ALLOW").map(|s| s.score), Some(-0.2));
    }
}
