//! `$NAME` and `${NAME}` in strings. Unknown names stay as written, as in UCL, because Rspamd
//! configs carry `$` in log formats and regexps that are not variables.

/// The variables known to one parse; longer names are tried first for `$NAME` prefix matching.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    by_length: Vec<(String, String)>,
}

impl Vars {
    /// Later pairs override earlier ones with the same name.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Vars {
        let mut by_length: Vec<(String, String)> = Vec::new();
        for (name, value) in pairs {
            by_length.retain(|(n, _)| *n != name);
            by_length.push((name, value));
        }
        by_length.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
        Vars { by_length }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.by_length
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Replaces every known variable in `text`.
    pub fn expand(&self, text: &str) -> String {
        if !text.contains('$') {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(n) = rest.find('$') {
            out.push_str(&rest[..n]);
            let after = &rest[n + 1..];
            match self.lookup(after) {
                Some((value, used)) => {
                    out.push_str(value);
                    rest = &after[used..];
                }
                None => {
                    out.push('$');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// The value for the variable reference at the start of `after` (text after `$`), and how
    /// many bytes the reference used.
    fn lookup(&self, after: &str) -> Option<(&str, usize)> {
        if let Some(inner) = after.strip_prefix('{') {
            let close = inner.find('}')?;
            return self.get(&inner[..close]).map(|v| (v, close + 2));
        }
        self.by_length
            .iter()
            .find(|(name, _)| after.starts_with(name.as_str()))
            .map(|(name, value)| (value.as_str(), name.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_known_and_keeps_unknown() {
        let vars = Vars::new([
            ("CONFDIR".to_string(), "/etc/x".to_string()),
            ("CONF".to_string(), "short".to_string()),
            ("CONFDIR".to_string(), "/etc/sluice".to_string()),
        ]);
        assert_eq!(vars.expand("$CONFDIR/a"), "/etc/sluice/a");
        assert_eq!(vars.expand("${CONF}DIR"), "shortDIR");
        assert_eq!(vars.expand("$mid ${NOPE} $"), "$mid ${NOPE} $");
        assert_eq!(vars.expand("a$CONF-b"), "ashort-b");
    }
}
