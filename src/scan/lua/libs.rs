//! The Rust half of the Lua API libraries: `rspamd_logger`, the regexp
//! object behind `rspamd_regexp`, the natives behind text parts, and a
//! harmless `os` subset (`rspamd_util` is [`super::util`]). The Lua half
//! (registration, `lua_util`, `require`) is `prelude.lua`.
use std::time::Instant;

use mlua::{Lua, MultiValue, Table, UserData, UserDataMethods, Value};

const PRELUDE: &str = include_str!("prelude.lua");

/// Registry key of the table holding the prelude's task and dispatch setter.
pub const NATIVE_KEY: &str = "sluice.native";

/// Installs the API into `lua`; returns the tables the prelude fills while
/// rule files run.
pub fn install(lua: &Lua) -> mlua::Result<Registered> {
    let native = lua.create_table()?;
    native.set("logger", logger(lua)?)?;
    native.set("util", super::util::table(lua)?)?;
    native.set(
        "split_url",
        lua.create_function(|lua, text: mlua::String| {
            let (host, tld, path) = super::task::url_pieces(&text.to_string_lossy());
            super::ceiling::unmetered(lua, || {
                Ok((
                    lua.create_string(host)?,
                    lua.create_string(tld)?,
                    lua.create_string(path)?,
                ))
            })
        })?,
    )?;
    native.set("os", os_subset(lua)?)?;
    native.set(
        "regexp_create",
        lua.create_function(|_, re: String| Ok(LuaRegexp::compile(&re)))?,
    )?;
    let (symbols, config): (Table, Table) = lua
        .load(PRELUDE)
        .set_name("=sluice-prelude")
        .call(native.clone())?;
    let define: mlua::Function = native.get("define_task")?;
    define.call::<()>(super::task::method_names(lua))?;
    lua.set_named_registry_value(NATIVE_KEY, native)?;
    Ok(Registered { symbols, config })
}

/// What rule files register while they load.
pub struct Registered {
    /// `register_symbol` calls, in order.
    pub symbols: Table,
    /// `config['regexp']`, `add_composite` and `set_metric_symbol` entries:
    /// `{ regexp = {...}, composites = {...}, metric = {...} }`.
    pub config: Table,
}

fn logger(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for (name, level) in [
        ("infox", tracing::Level::INFO),
        ("info", tracing::Level::INFO),
        ("messagex", tracing::Level::INFO),
        ("warnx", tracing::Level::WARN),
        ("warn", tracing::Level::WARN),
        ("errx", tracing::Level::ERROR),
        ("err", tracing::Level::ERROR),
        ("debugm", tracing::Level::DEBUG),
        ("debugx", tracing::Level::DEBUG),
    ] {
        let debugm = name == "debugm";
        t.set(
            name,
            lua.create_function(move |_, args: MultiValue| {
                let line = format_log(args, debugm);
                match level {
                    tracing::Level::ERROR => tracing::error!(target: "lua", "{line}"),
                    tracing::Level::WARN => tracing::warn!(target: "lua", "{line}"),
                    tracing::Level::INFO => tracing::info!(target: "lua", "{line}"),
                    _ => tracing::debug!(target: "lua", "{line}"),
                }
                Ok(())
            })?,
        )?;
    }
    let slog = lua.create_function(|_, args: MultiValue| Ok(format_log(args, false)))?;
    t.set("slog", slog)?;
    Ok(t)
}

/// Rspamd's logger formatting: an optional leading task/config object (and
/// for `debugm` a module name) is skipped; `%s` takes the next argument,
/// `%N` the Nth, `%%` is a percent sign.
pub fn format_log(args: MultiValue, debugm: bool) -> String {
    let mut args: Vec<Value> = args.into_iter().collect();
    if debugm && !args.is_empty() {
        args.remove(0);
    }
    if args.first().is_some_and(|v| !matches!(v, Value::String(_))) {
        args.remove(0);
    }
    let Some(fmt) = args.first().map(show) else {
        return String::new();
    };
    let rest = &args[1..];
    let mut out = String::with_capacity(fmt.len());
    let mut next = 0;
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some('s') => {
                chars.next();
                out.push_str(&rest.get(next).map(show).unwrap_or_default());
                next += 1;
            }
            Some(d) if d.is_ascii_digit() => {
                let mut n = 0usize;
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    n = n.saturating_mul(10).saturating_add(d as usize);
                    chars.next();
                }
                let arg = n.checked_sub(1).and_then(|i| rest.get(i));
                out.push_str(&arg.map(show).unwrap_or_default());
            }
            Some('%') => {
                chars.next();
                out.push('%');
            }
            _ => out.push('%'),
        }
    }
    out
}

/// A value as the logger prints it; tables one level deep.
fn show(v: &Value) -> String {
    match v {
        Value::Nil => "nil".into(),
        Value::Boolean(b) => b.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.to_string_lossy(),
        Value::Table(t) => {
            let items: Vec<String> = t
                .pairs::<Value, Value>()
                .filter_map(Result::ok)
                .map(|(k, v)| format!("{}={}", show_flat(&k), show_flat(&v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        other => format!("<{}>", other.type_name()),
    }
}

fn show_flat(v: &Value) -> String {
    match v {
        Value::Table(_) => "{...}".into(),
        other => show(other),
    }
}

fn os_subset(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "time",
        lua.create_function(|_, ()| Ok(super::util::unix_now().floor()))?,
    )?;
    let start = Instant::now();
    t.set(
        "clock",
        lua.create_function(move |_, ()| Ok(start.elapsed().as_secs_f64()))?,
    )?;
    Ok(t)
}

/// A compiled `rspamd_regexp`: Rspamd's `/re/flags` form or a bare pattern.
pub struct LuaRegexp(regex::bytes::Regex);

impl LuaRegexp {
    /// `None` (Lua `nil`) for a pattern that does not compile, as Rspamd.
    pub fn compile(spec: &str) -> Option<LuaRegexp> {
        let (pattern, flags) = split_slashes(spec);
        let mut b = regex::bytes::RegexBuilder::new(pattern);
        b.unicode(false).size_limit(1 << 20);
        for f in flags.chars() {
            match f {
                'i' => b.case_insensitive(true),
                'm' => b.multi_line(true),
                's' => b.dot_matches_new_line(true),
                'x' => b.ignore_whitespace(true),
                'u' => b.unicode(true),
                _ => &mut b,
            };
        }
        match b.build() {
            Ok(re) => Some(LuaRegexp(re)),
            Err(e) => {
                tracing::warn!(target: "lua", "rspamd_regexp: cannot compile `{spec}`: {e}");
                None
            }
        }
    }
}

fn split_slashes(spec: &str) -> (&str, &str) {
    match (spec.strip_prefix('/'), spec.rfind('/')) {
        (Some(_), Some(end)) if end > 0 => (&spec[1..end], &spec[end + 1..]),
        _ => (spec, ""),
    }
}

impl UserData for LuaRegexp {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("match", |_, this, s: Option<mlua::String>| {
            Ok(s.is_some_and(|s| this.0.is_match(&s.as_bytes())))
        });
        m.add_method("search", |lua, this, s: Option<mlua::String>| {
            let Some(s) = s else {
                return Ok(Value::Nil);
            };
            let bytes = s.as_bytes();
            let found: Vec<&[u8]> = this.0.find_iter(&bytes).map(|m| m.as_bytes()).collect();
            if found.is_empty() {
                return Ok(Value::Nil);
            }
            let t = lua.create_table()?;
            for f in found {
                t.push(lua.create_string(f)?)?;
            }
            Ok(Value::Table(t))
        });
        m.add_method("get_pattern", |_, this, ()| Ok(this.0.as_str().to_string()));
    }
}
