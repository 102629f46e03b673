//! Selector-lite: the envelope and header extractors of Rspamd's selector
//! language that need no Lua, with the common transforms.
//!
//! ```text
//! selector  = extractor [ "(" arg ")" ] { ":" method | "." transform }
//! extractor = ip | helo | hostname | user | queueid | from | rcpts
//!           | header | subject | messageid
//! method    = addr | domain | user          (for from / rcpts)
//! transform = lower
//! ```
//! `from('mime')` / `rcpts('mime')` read the From / To+Cc headers instead
//! of the envelope; `header('Name')` takes the header's values.
use crate::scan::context::ScanCtx;

#[derive(Debug, Clone, PartialEq)]
enum Extractor {
    Ip,
    Helo,
    Hostname,
    User,
    QueueId,
    From { mime: bool },
    Rcpts { mime: bool },
    Header(String),
    Subject,
    MessageId,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Method {
    Addr,
    Domain,
    User,
    Lower,
}

/// A parsed selector.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    extractor: Extractor,
    methods: Vec<Method>,
}

impl Selector {
    pub fn parse(s: &str) -> Result<Selector, String> {
        let s = s.trim();
        let head_len = s.find([':', '.']).unwrap_or(s.len());
        let (head, mut rest) = s.split_at(head_len);
        let (name, arg) = match head.split_once('(') {
            Some((n, a)) => {
                let a = a
                    .strip_suffix(')')
                    .ok_or(format!("selector `{s}`: unclosed `(`"))?;
                (
                    n.trim(),
                    Some(a.trim().trim_matches(['\'', '"']).to_string()),
                )
            }
            None => (head.trim(), None),
        };
        let mime = arg.as_deref() == Some("mime");
        let extractor = match name {
            "ip" => Extractor::Ip,
            "helo" => Extractor::Helo,
            "hostname" => Extractor::Hostname,
            "user" => Extractor::User,
            "queueid" | "queue_id" => Extractor::QueueId,
            "from" => Extractor::From { mime },
            "rcpts" | "rcpt" => Extractor::Rcpts { mime },
            "header" => Extractor::Header(arg.ok_or("selector `header` needs a name")?),
            "subject" => Extractor::Subject,
            "messageid" | "message_id" => Extractor::MessageId,
            other => return Err(format!("selector extractor `{other}` is not supported")),
        };
        let mut methods = Vec::new();
        while let Some(c) = rest.chars().next() {
            let tail = &rest[1..];
            let end = tail.find([':', '.']).unwrap_or(tail.len());
            let word = tail[..end].trim_end_matches("()");
            methods.push(match (c, word) {
                (_, "addr") => Method::Addr,
                (_, "domain") => Method::Domain,
                (_, "user") => Method::User,
                (_, "lower" | "lowercase") => Method::Lower,
                _ => return Err(format!("selector method `{word}` is not supported")),
            });
            rest = &tail[end..];
        }
        Ok(Selector { extractor, methods })
    }

    /// The selected values for one scan.
    pub fn values(&self, ctx: &ScanCtx<'_>) -> Vec<String> {
        let env = ctx.env;
        let mut v: Vec<String> = match &self.extractor {
            Extractor::Ip => env.client_ip.iter().map(|i| i.to_string()).collect(),
            Extractor::Helo => env.helo.iter().cloned().collect(),
            Extractor::Hostname => env.client_name.iter().cloned().collect(),
            Extractor::User => env.user.iter().cloned().collect(),
            Extractor::QueueId => env.queue_id.iter().cloned().collect(),
            Extractor::From { mime: false } => env.from.iter().cloned().collect(),
            Extractor::From { mime: true } => ctx.header_addresses("From"),
            Extractor::Rcpts { mime: false } => env.rcpts.clone(),
            Extractor::Rcpts { mime: true } => {
                let mut r = ctx.header_addresses("To");
                r.extend(ctx.header_addresses("Cc"));
                r
            }
            Extractor::Header(h) => ctx
                .view
                .headers_named(h)
                .map(|h| h.value.trim().to_string())
                .collect(),
            Extractor::Subject => ctx.view.subject().map(str::to_string).into_iter().collect(),
            Extractor::MessageId => ctx.view.message_id().into_iter().collect(),
        };
        for m in &self.methods {
            v = v.into_iter().filter_map(|x| apply(*m, x)).collect();
        }
        v
    }
}

fn apply(m: Method, v: String) -> Option<String> {
    match m {
        Method::Lower => Some(v.to_lowercase()),
        Method::Addr => Some(v),
        Method::Domain => v.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()),
        Method::User => v.rsplit_once('@').map(|(u, _)| u.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_extractors_and_methods() {
        let s = Selector::parse("from('smtp'):domain.lower").unwrap();
        assert_eq!(s.extractor, Extractor::From { mime: false });
        assert_eq!(s.methods, [Method::Domain, Method::Lower]);
        let s = Selector::parse("header('X-Mailer')").unwrap();
        assert_eq!(s.extractor, Extractor::Header("X-Mailer".into()));
        assert!(Selector::parse("lua_thing").is_err());
        assert!(Selector::parse("from:frobnicate").is_err());
        assert_eq!(
            apply(Method::Domain, "a@B.org".into()).as_deref(),
            Some("b.org")
        );
    }
}
