//! The `task` object a Lua callback receives: read access to the message
//! and envelope of the current scan, and `insert_result`.
//!
//! It borrows the scan's data for the length of one [`mlua::Lua::scope`],
//! so nothing is copied into Lua until a method asks for it. Insertions are
//! held back per callback and committed only when the callback returns
//! without error, so a failing script loses its symbols for that message.
use std::cell::RefCell;

use mlua::{FromLuaMulti, IntoLuaMulti, Lua, MultiValue, Value, Variadic};

use crate::message::extract::host_of;
use crate::scan::actions::ActionDef;
use crate::scan::context::{addresses_in, ScanCtx};
use crate::scan::score::ScoreBoard;
use crate::scan::symbols::Registry;

/// One `insert_result` call not yet on the board.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub symbol: usize,
    pub weight: f64,
    pub options: Vec<String>,
}

/// An action forced by `set_pre_result`.
#[derive(Debug, Clone, PartialEq)]
pub struct PreResult {
    pub action: ActionDef,
    pub message: Option<String>,
    /// Reported as the verdict's passthrough module.
    pub module: String,
    /// Replaces the message's score when given.
    pub score: Option<f64>,
}

/// The scan as Lua sees it.
pub struct TaskRef<'a, 'b> {
    pub ctx: ScanCtx<'a>,
    pub registry: &'a Registry,
    pub board: &'a RefCell<&'a mut ScoreBoard<'b>>,
    pub pending: &'a RefCell<Vec<Pending>>,
    /// Set by the running callback; kept only if it returns without error.
    pub pre_result: &'a RefCell<Option<PreResult>>,
}

impl TaskRef<'_, '_> {
    /// Text part `i` (1-based, as Lua counts).
    fn text_part(&self, i: usize) -> Option<&str> {
        let parts = &self.ctx.view.text_parts;
        i.checked_sub(1)
            .and_then(|i| parts.get(i))
            .map(|p| p.text.as_ref())
    }

    fn has_symbol(&self, name: &str) -> bool {
        let Some(i) = self.registry.find(name) else {
            return false;
        };
        self.board.borrow().get(i).is_some() || self.pending.borrow().iter().any(|p| p.symbol == i)
    }

    fn insert(&self, name: &str, weight: f64, options: Vec<String>) -> bool {
        match self.registry.find(name) {
            Some(symbol) => {
                self.pending.borrow_mut().push(Pending {
                    symbol,
                    weight,
                    options,
                });
                true
            }
            None => {
                tracing::warn!(target: "lua", "insert_result: symbol {name} is not registered; ignored");
                false
            }
        }
    }

    /// `set_pre_result(action, message, module, score)`: the action must be
    /// one the config defines.
    fn set_pre_result(
        &self,
        (action, message, module, score): (String, Option<String>, Option<String>, Option<f64>),
    ) -> mlua::Result<()> {
        let def = self.board.borrow().actions().find(&action).cloned();
        let Some(action) = def else {
            return Err(mlua::Error::runtime(format!(
                "set_pre_result: unknown action `{action}`"
            )));
        };
        *self.pre_result.borrow_mut() = Some(PreResult {
            action,
            message,
            module: module.unwrap_or_else(|| "lua".into()),
            score,
        });
        Ok(())
    }

    /// `get_from`/`get_recipients`: SMTP envelope or MIME headers (these
    /// with the display name).
    fn addresses(
        &self,
        lua: &Lua,
        smtp: Vec<String>,
        mime: &[&str],
        which: Option<String>,
    ) -> mlua::Result<MultiValue> {
        let mime_addrs = || -> Vec<(String, String)> {
            mime.iter()
                .flat_map(|h| self.ctx.view.headers_named(h))
                .flat_map(|h| named_addresses(&h.value))
                .collect()
        };
        let unnamed = |v: Vec<String>| v.into_iter().map(|a| (a, String::new())).collect();
        let list = match which.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("mime") | Some("2") => mime_addrs(),
            Some("smtp") | Some("1") | Some("envelope") => unnamed(smtp),
            _ if !smtp.is_empty() => unnamed(smtp),
            _ => mime_addrs(),
        };
        let mut blob = AddressBlob::default();
        for (addr, name) in list {
            blob.push(&addr, &name);
        }
        blob.into_values(lua)
    }
}

/// Addresses of a header value with their display names; commas inside
/// quotes do not split.
fn named_addresses(v: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in v.char_indices().chain(std::iter::once((v.len(), ','))) {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                let piece = &v[start..i];
                start = i + 1;
                let Some(addr) = addresses_in(piece).into_iter().next() else {
                    continue;
                };
                let name = piece.find('<').map_or("", |lt| &piece[..lt]);
                out.push((addr, name.trim().trim_matches('"').trim().to_string()));
            }
            _ => {}
        }
    }
    out
}

/// Address lists as they cross into Lua: one string holding every
/// `addr, user, domain, name` back to back, then their four byte lengths
/// per address; the prelude cuts the string into `{addr, user, domain,
/// name}` tables. Each string made from Rust costs a protected call (the
/// memory limit), so one string per list instead of four per address.
#[derive(Default)]
pub(super) struct AddressBlob {
    text: String,
    lens: Vec<Value>,
}

impl AddressBlob {
    /// Appends one address and its display name.
    pub(super) fn push(&mut self, addr: &str, name: &str) {
        let addr = addr.trim().trim_start_matches('<').trim_end_matches('>');
        let (user, domain) = addr.rsplit_once('@').unwrap_or((addr, ""));
        for v in [addr, user, &domain.to_ascii_lowercase(), name] {
            self.text.push_str(v);
            self.lens.push(Value::Integer(v.len() as i64));
        }
    }

    /// The string then the lengths; nothing at all when the list is empty.
    pub(super) fn into_values(self, lua: &Lua) -> mlua::Result<MultiValue> {
        if self.lens.is_empty() {
            return Ok(MultiValue::new());
        }
        let mut out = Vec::with_capacity(self.lens.len() + 1);
        out.push(Value::String(lua.create_string(&self.text)?));
        out.extend(self.lens);
        Ok(MultiValue::from_vec(out))
    }
}

/// Options after the weight: strings, numbers, or one table of them.
fn options(args: Variadic<Value>) -> Vec<String> {
    let mut out = Vec::new();
    for v in args {
        match v {
            Value::String(s) => out.push(s.to_string_lossy()),
            Value::Integer(i) => out.push(i.to_string()),
            Value::Number(n) => out.push(n.to_string()),
            Value::Table(t) => out.extend(
                t.sequence_values::<mlua::String>()
                    .filter_map(Result::ok)
                    .map(|s| s.to_string_lossy()),
            ),
            _ => {}
        }
    }
    out
}

/// Items joined by newlines into one Lua string (nil when there are
/// none); the prelude splits it. Items holding a newline are left out:
/// extracted URLs and addresses never do.
fn joined<'s>(lua: &Lua, items: impl Iterator<Item = &'s str>) -> mlua::Result<Value> {
    let mut out = String::new();
    for item in items.filter(|i| !i.contains('\n')) {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(item);
    }
    if out.is_empty() {
        return Ok(Value::Nil);
    }
    Ok(Value::String(lua.create_string(out)?))
}

fn opt_str(lua: &Lua, s: Option<&str>) -> mlua::Result<Value> {
    match s {
        Some(s) => Ok(Value::String(lua.create_string(s)?)),
        None => Ok(Value::Nil),
    }
}

/// `url:get_host()`, `get_tld()`, `get_path()` of one URL text.
pub(super) fn url_pieces(url: &str) -> (String, String, String) {
    let (host, path) = split_url(url);
    let tld = tld_of(&host);
    (host, tld, path)
}

/// `scheme://host:port/path?query` -> (host, path); path without its `/`.
/// The host is read by the URL rules ([`host_of`]).
fn split_url(url: &str) -> (String, String) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = host_of(url).unwrap_or_default();
    let path = rest[end..].trim_start_matches('/');
    let path = path.split(['?', '#']).next().unwrap_or("");
    (host, path.to_string())
}

/// The registrable domain of a host, by the Public Suffix List as Rspamd's
/// `get_tld()` gives it (`www.example.co.uk` -> `example.co.uk`).
pub(super) fn tld_of(host: &str) -> String {
    crate::message::domain::registrable(host).to_string()
}

/// One method call from Lua, matched against the method table below by
/// name. The task is a plain Lua table whose methods all forward to one
/// scoped dispatch function: creating a non-`'static` userdata per message
/// would rebuild a metatable of closures every time
/// (`docs/performance.md`).
pub struct Call<'l, 't, 'a, 'b> {
    lua: &'l Lua,
    this: Option<&'t TaskRef<'a, 'b>>,
    name: &'t str,
    args: Option<MultiValue>,
    out: Option<mlua::Result<MultiValue>>,
    /// Collect mode: every method name, for the Lua side's method table.
    names: Option<Vec<&'static str>>,
}

impl<'a, 'b> Call<'_, '_, 'a, 'b> {
    fn add_method<A, R, F>(&mut self, name: &'static str, f: F)
    where
        A: FromLuaMulti,
        R: IntoLuaMulti,
        F: FnOnce(&Lua, &TaskRef<'a, 'b>, A) -> mlua::Result<R>,
    {
        if let Some(names) = &mut self.names {
            names.push(name);
            return;
        }
        if self.out.is_some() || name != self.name {
            return;
        }
        let (Some(args), Some(this)) = (self.args.take(), self.this) else {
            return;
        };
        let lua = self.lua;
        self.out = Some(
            A::from_lua_multi(args, lua)
                .and_then(|a| f(lua, this, a))
                .and_then(|r| r.into_lua_multi(lua)),
        );
    }
}

impl<'a, 'b> TaskRef<'a, 'b> {
    /// Runs task method `name` with `args`.
    pub fn call(&self, lua: &Lua, name: &str, args: MultiValue) -> mlua::Result<MultiValue> {
        let mut call = Call {
            lua,
            this: Some(self),
            name,
            args: Some(args),
            out: None,
            names: None,
        };
        methods(&mut call);
        call.out
            .unwrap_or_else(|| Err(mlua::Error::runtime(format!("task has no method {name}"))))
    }
}

/// Names of every task method.
pub fn method_names(lua: &Lua) -> Vec<&'static str> {
    let mut call = Call {
        lua,
        this: None,
        name: "",
        args: None,
        out: None,
        names: Some(Vec::new()),
    };
    methods(&mut call);
    call.names.unwrap_or_default()
}

fn methods(m: &mut Call<'_, '_, '_, '_>) {
    m.add_method("get_header", |lua, this, name: String| {
        opt_str(lua, this.ctx.view.header(&name).map(|h| h.value.as_ref()))
    });
    m.add_method("get_header_raw", |lua, this, name: String| {
        match this.ctx.view.header(&name) {
            Some(h) => Ok(Value::String(lua.create_string(h.raw)?)),
            None => Ok(Value::Nil),
        }
    });
    m.add_method("get_header_full", |lua, this, name: String| {
        let out = lua.create_table()?;
        for (order, h) in this.ctx.view.headers_named(&name).enumerate() {
            let t = lua.create_table()?;
            t.set("name", h.name)?;
            t.set("decoded", h.value.as_ref())?;
            t.set("value", lua.create_string(h.raw.trim_ascii())?)?;
            t.set("raw", lua.create_string(h.raw)?)?;
            t.set("order", order)?;
            out.push(t)?;
        }
        Ok(if out.raw_len() == 0 {
            Value::Nil
        } else {
            Value::Table(out)
        })
    });
    m.add_method("get_header_count", |_, this, name: String| {
        Ok(this.ctx.view.headers_named(&name).count())
    });
    m.add_method("get_raw_headers", |lua, this, ()| {
        lua.create_string(this.ctx.view.header_block)
    });
    m.add_method("_from", |lua, this, which: Option<String>| {
        let smtp = this
            .ctx
            .env
            .from
            .iter()
            .filter(|f| !f.is_empty())
            .cloned()
            .collect();
        this.addresses(lua, smtp, &["From"], which)
    });
    m.add_method("_recipients", |lua, this, which: Option<String>| {
        let smtp = this.ctx.env.rcpts.clone();
        this.addresses(lua, smtp, &["To", "Cc", "Bcc"], which)
    });
    m.add_method("get_subject", |lua, this, ()| {
        opt_str(lua, this.ctx.view.subject())
    });
    m.add_method("get_message_id", |lua, this, ()| {
        opt_str(lua, this.ctx.view.message_id().as_deref())
    });
    m.add_method("get_from_ip", |lua, this, ()| {
        opt_str(
            lua,
            this.ctx.env.client_ip.map(|ip| ip.to_string()).as_deref(),
        )
    });
    m.add_method("get_helo", |lua, this, ()| {
        opt_str(lua, this.ctx.env.helo.as_deref())
    });
    m.add_method("get_hostname", |lua, this, ()| {
        opt_str(lua, this.ctx.env.client_name.as_deref())
    });
    m.add_method("get_user", |lua, this, ()| {
        opt_str(lua, this.ctx.env.user.as_deref())
    });
    m.add_method("get_queue_id", |lua, this, ()| {
        opt_str(lua, this.ctx.env.queue_id.as_deref())
    });
    m.add_method("get_size", |_, this, ()| Ok(this.ctx.view.raw.len()));
    // The object lists (`get_text_parts`, `get_parts`, `get_urls`,
    // `get_emails`) are built by the prelude from these internal calls:
    // flat numbers and one joined string cross into Lua instead of a table
    // and a Lua call per object, which cost more than most rules.
    m.add_method("_text_parts", |_, this, ()| {
        let parts = &this.ctx.view.text_parts;
        let mut out = Vec::with_capacity(parts.len() * 2);
        for p in parts {
            out.push(Value::Integer(p.text.len() as i64));
            out.push(Value::Boolean(p.html.is_some()));
        }
        Ok(MultiValue::from_vec(out))
    });
    m.add_method("_part_content", |lua, this, i: usize| {
        opt_str(lua, this.text_part(i))
    });
    m.add_method(
        "_part_words",
        |lua, this, (i, lower): (usize, bool)| match this.text_part(i) {
            Some(t) => Ok(Value::Table(
                lua.create_sequence_from(super::text::words(t, lower))?,
            )),
            None => Ok(Value::Nil),
        },
    );
    m.add_method("_part_words_count", |_, this, i: usize| {
        Ok(this.text_part(i).map_or(0, super::text::word_count))
    });
    m.add_method("_part_stats", |_, this, i: usize| {
        let s = super::text::stats(this.text_part(i).unwrap_or(""));
        Ok(MultiValue::from_vec(
            [
                s.lines,
                s.empty_lines,
                s.spaces,
                s.non_spaces,
                s.double_spaces,
                s.ascii_characters,
                s.non_ascii_characters,
                s.capital_letters,
                s.numeric_characters,
                s.letters,
            ]
            .map(|n| Value::Integer(n as i64))
            .to_vec(),
        ))
    });
    m.add_method("_part_language", |lua, this, i: usize| {
        opt_str(lua, this.text_part(i).and_then(super::text::language))
    });
    m.add_method("_urls", |lua, this, ()| {
        joined(lua, this.ctx.view.found.urls.iter().map(|u| u.as_str()))
    });
    m.add_method("has_urls", |_, this, ()| {
        Ok(!this.ctx.view.found.urls.is_empty())
    });
    m.add_method("_parts", |lua, this, ()| {
        let parts = &this.ctx.view.parts;
        let mut out = Vec::with_capacity(parts.len() * 5);
        let text = |s: Option<&str>| -> mlua::Result<Value> {
            Ok(match s {
                Some(s) => Value::String(lua.create_string(s)?),
                None => Value::Boolean(false),
            })
        };
        for p in parts {
            out.push(text(Some(p.content_type.as_str()))?);
            out.push(text(p.filename)?);
            out.push(Value::Integer(p.size as i64));
            out.push(Value::Boolean(p.is_attachment));
            out.push(text(p.encoding.as_deref())?);
        }
        Ok(MultiValue::from_vec(out))
    });
    m.add_method("_emails", |lua, this, ()| {
        let emails = this.ctx.view.found.emails.iter();
        joined(lua, emails.map(|e| e.strip_prefix("mailto:").unwrap_or(e)))
    });
    m.add_method(
        "set_pre_result",
        |_, this, args: (String, Option<String>, Option<String>, Option<f64>)| {
            this.set_pre_result(args)
        },
    );
    // No per-message settings exist in sluice (no settings module).
    m.add_method("get_settings", |_, _, ()| Ok(Value::Nil));
    m.add_method(
        "insert_result",
        |_, this, (name, weight, rest): (String, Option<f64>, Variadic<Value>)| {
            Ok(this.insert(&name, weight.unwrap_or(1.0), options(rest)))
        },
    );
    m.add_method("has_symbol", |_, this, name: String| {
        Ok(this.has_symbol(&name))
    });
    m.add_method("get_symbol", |lua, this, name: String| {
        let Some(i) = this.registry.find(&name) else {
            return Ok(Value::Nil);
        };
        let board = this.board.borrow();
        let Some(f) = board.get(i) else {
            return Ok(Value::Nil);
        };
        let t = lua.create_table()?;
        t.set("score", f.score)?;
        t.set("options", f.options.clone())?;
        let out = lua.create_table()?;
        out.push(t)?;
        Ok(Value::Table(out))
    });
    m.add_method("get_metric_score", |lua, this, ()| {
        let board = this.board.borrow();
        let pending: f64 = this
            .pending
            .borrow()
            .iter()
            .map(|p| board.symbols()[p.symbol].weight * p.weight)
            .sum();
        let t = lua.create_table()?;
        t.push(board.total() + pending)?;
        t.push(board.actions().required_score())?;
        Ok(t)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_and_quoted_commas() {
        assert_eq!(
            named_addresses("\"Smith, John\" <J@Example.org>, bob@example.net, Eve <e@x.io>"),
            [
                ("j@example.org".to_string(), "Smith, John".to_string()),
                ("bob@example.net".to_string(), String::new()),
                ("e@x.io".to_string(), "Eve".to_string()),
            ]
        );
    }

    #[test]
    fn url_pieces() {
        assert_eq!(
            split_url("https://user@Www.Example.co.uk:8080/a/b?q=1#f"),
            ("www.example.co.uk".to_string(), "a/b".to_string())
        );
        assert_eq!(
            split_url("www.x.org"),
            ("www.x.org".to_string(), String::new())
        );
        assert_eq!(tld_of("www.example.com"), "example.com");
        assert_eq!(tld_of("localhost"), "localhost");
        assert_eq!(
            split_url("http://[2001:db8::1]:8080/p"),
            ("2001:db8::1".to_string(), "p".to_string())
        );
        assert_eq!(tld_of("www.example.co.uk"), "example.co.uk");
        assert_eq!(tld_of("a.github.io"), "a.github.io");
    }
}
