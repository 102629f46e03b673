//! Lua rules with an Rspamd-style API (`rspamd_config:register_symbol`,
//! `task:get_header`, `rspamd_regexp`, `rspamd_logger`; see
//! `docs/lua-api.md`).
//!
//! # Threads and reloads
//! Scripts are read and run once at load in a throw-away state to learn the
//! symbols they register (so the registry, composites and scores know them)
//! and to reject broken files before the config is swapped in. Each scan
//! thread then keeps its own state in a thread-local, built from the same
//! sources the first time it scans with this [`LuaRules`] (tagged with a
//! generation number); no lock is taken on the hot path, and a reload, which
//! builds a new `LuaRules`, replaces the state on each thread's next scan.
//!
//! # Failure
//! A callback that errors, loops past its instruction budget or hits the
//! memory ceiling loses its symbols for that message; the warning names the
//! symbol, the script and the line. The scan carries on.
mod additions;
mod budget;
mod ceiling;
pub mod error;
mod libs;
mod sandbox;
mod sources;
mod task;
mod text;
mod util;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlua::{Function, MultiValue, Table, Value};

pub use error::LuaLoadError;
pub use libs::format_log;
pub use sandbox::LuaLimits;
pub use sources::Script;

use super::context::ScanCtx;
use super::score::ScoreBoard;
use super::symbols::{Registry, RuleDefaults};
use crate::config::rules::ScanConfig;
use additions::Additions;
use sandbox::Sandbox;
pub use task::PreResult;
use task::{Pending, TaskRef};

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// How many times `lua_limits.time` a scan thread's own run of the top
/// levels may take (see `Live::build`).
const THREAD_TOP_LEVEL_SLACK: u32 = 10;

/// When a registered symbol runs, relative to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Prefilter,
    Normal,
    Postfilter,
    /// No callback of its own (`type = 'virtual'`).
    Virtual,
}

/// A symbol a script registered.
#[derive(Debug, Clone, PartialEq)]
pub struct LuaSymbol {
    pub name: String,
    /// Index in the pipeline's registry.
    pub symbol: usize,
    pub stage: Stage,
    pub priority: i64,
    /// The script that registered it (for logs).
    pub script: String,
}

/// The Lua rules of one configuration.
#[derive(Debug, Clone, Default)]
pub struct LuaRules {
    generation: u64,
    scripts: Arc<Vec<Script>>,
    limits: LuaLimits,
    /// Registration order.
    symbols: Vec<LuaSymbol>,
    /// Indices into `symbols` with a callback, in run order.
    order: Vec<usize>,
}

/// What the load-time run of the scripts registered.
#[derive(Debug)]
struct Registration {
    name: String,
    score: Option<f64>,
    description: Option<String>,
    group: Option<String>,
    stage: Stage,
    priority: i64,
    script: String,
}

/// The scripts of one config after their load-time run: what they
/// register, before the symbols are defined in the registry.
#[derive(Debug)]
pub struct LoadedLua {
    scripts: Vec<Script>,
    limits: LuaLimits,
    regs: Vec<Registration>,
    additions: Additions,
}

impl LoadedLua {
    /// Reads, checks and runs the scripts the tree names. No scripts: an
    /// empty, free-to-run set.
    pub fn load(tree: &serde_json::Value) -> Result<LoadedLua, LuaLoadError> {
        let scripts = sources::scripts(tree)?;
        let limits = sources::limits(tree)?;
        LoadedLua::from_scripts(scripts, limits)
    }

    /// [`LoadedLua::load`] with the sources already in hand.
    pub fn from_scripts(
        scripts: Vec<Script>,
        limits: LuaLimits,
    ) -> Result<LoadedLua, LuaLoadError> {
        if scripts.is_empty() {
            return Ok(LoadedLua {
                scripts,
                limits,
                regs: Vec::new(),
                additions: Additions::default(),
            });
        }
        let (_sandbox, registered) = load_all(&scripts, limits, limits.time)?;
        Ok(LoadedLua {
            regs: read_registrations(&registered.symbols)?,
            additions: Additions::read(&registered.config)?,
            scripts,
            limits,
        })
    }

    /// Adds the scripts' regexp rules, composites and metric symbols to
    /// `cfg`; call before the rules and the registry are built from it.
    pub fn extend_config(&self, cfg: &mut ScanConfig) {
        self.additions.apply(cfg);
    }

    /// Defines the registered symbols in `registry`.
    pub fn define(self, cfg: &ScanConfig, registry: &mut Registry) -> LuaRules {
        if self.regs.is_empty() {
            return LuaRules::default();
        }
        let symbols: Vec<LuaSymbol> = self
            .regs
            .into_iter()
            .map(|r| {
                let symbol = registry.define(
                    cfg,
                    &r.name,
                    RuleDefaults {
                        score: r.score,
                        description: r.description.as_deref(),
                        group: r.group.as_deref(),
                        ..Default::default()
                    },
                );
                LuaSymbol {
                    name: r.name,
                    symbol,
                    stage: r.stage,
                    priority: r.priority,
                    script: r.script,
                }
            })
            .collect();
        let mut order: Vec<usize> = (0..symbols.len())
            .filter(|&i| symbols[i].stage != Stage::Virtual)
            .collect();
        // Stage first, then higher priority first; stable for equal keys.
        order.sort_by_key(|&i| (symbols[i].stage, -symbols[i].priority));
        LuaRules {
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            scripts: Arc::new(self.scripts),
            limits: self.limits,
            symbols,
            order,
        }
    }
}

impl LuaRules {
    pub fn symbols(&self) -> &[LuaSymbol] {
        &self.symbols
    }

    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// Runs every callback on this thread's state; their insertions go on
    /// `board`. Returns the action a callback forced with `set_pre_result`.
    pub fn run(
        &self,
        ctx: &ScanCtx<'_>,
        registry: &Registry,
        board: &mut ScoreBoard<'_>,
    ) -> Option<PreResult> {
        if self.order.is_empty() {
            return None;
        }
        WORKER.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.as_ref().map(|w| w.generation) != Some(self.generation) {
                *slot = Some(Worker::build(self));
            }
            slot.as_ref()?.run(self, ctx, registry, board)
        })
    }
}

thread_local! {
    static WORKER: RefCell<Option<Worker>> = const { RefCell::new(None) };
}

/// One thread's state for one generation of the rules.
struct Worker {
    generation: u64,
    live: Option<Live>,
}

/// A built state with its callbacks.
struct Live {
    sandbox: Sandbox,
    /// Aligned with `LuaRules::symbols`.
    callbacks: Vec<Option<Function>>,
    /// The state's task table and the setter of its dispatch function.
    task: Table,
    set_dispatch: Function,
}

impl Worker {
    fn build(rules: &LuaRules) -> Worker {
        let live = Live::build(rules)
            .inspect_err(
                |e| tracing::error!(target: "lua", "lua rules disabled on this thread: {e}"),
            )
            .ok();
        Worker {
            generation: rules.generation,
            live,
        }
    }

    fn run(
        &self,
        rules: &LuaRules,
        ctx: &ScanCtx<'_>,
        registry: &Registry,
        board: &mut ScoreBoard<'_>,
    ) -> Option<PreResult> {
        self.live.as_ref()?.run(rules, ctx, registry, board)
    }
}

impl Live {
    fn build(rules: &LuaRules) -> Result<Live, LuaLoadError> {
        // The scripts passed this top level at load under `time`; a busy
        // thread gets more wall time, so that a slow moment does not
        // disable the rules here. The instruction budget is the same.
        let limits = rules.limits;
        let top_time = limits.time.saturating_mul(THREAD_TOP_LEVEL_SLACK);
        let (sandbox, registered) = load_all(&rules.scripts, limits, top_time)?;
        let callbacks = callbacks(&registered.symbols, rules)?;
        let native: Table = sandbox
            .lua
            .named_registry_value(libs::NATIVE_KEY)
            .map_err(|e| setup("?", e))?;
        Ok(Live {
            task: native.get("task").map_err(|e| setup("?", e))?,
            set_dispatch: native.get("set_dispatch").map_err(|e| setup("?", e))?,
            sandbox,
            callbacks,
        })
    }

    /// Runs the callbacks in order. Once one has forced an action with
    /// `set_pre_result`, only postfilters still run (Rspamd skips the rest
    /// of the checks of a message with a pre-result).
    fn run(
        &self,
        rules: &LuaRules,
        ctx: &ScanCtx<'_>,
        registry: &Registry,
        board: &mut ScoreBoard<'_>,
    ) -> Option<PreResult> {
        let sandbox = &self.sandbox;
        let board = RefCell::new(board);
        let pending = RefCell::new(Vec::new());
        let pre_result = RefCell::new(None);
        let mut forced: Option<PreResult> = None;
        let task_ref = TaskRef {
            ctx: *ctx,
            registry,
            board: &board,
            pending: &pending,
            pre_result: &pre_result,
        };
        let result = sandbox.lua.scope(|scope| {
            // Made from Rust, so unmetered as well (see `task_ref.call`).
            let dispatch = ceiling::unmetered(&sandbox.lua, || {
                scope.create_function(|lua, (name, args): (mlua::String, MultiValue)| {
                    ceiling::unmetered(lua, || task_ref.call(lua, &name.to_str()?, args))
                })
            })?;
            sandbox.call::<()>(&self.set_dispatch, dispatch)?;
            let share = ScanShare::start(rules.limits.time);
            for &i in &rules.order {
                let sym = &rules.symbols[i];
                if forced.is_some() && sym.stage != Stage::Postfilter {
                    continue;
                }
                let Some(cb) = &self.callbacks[i] else {
                    continue;
                };
                sandbox.set_time(share.next_call());
                match sandbox.call::<MultiValue>(cb, &self.task) {
                    Ok(ret) => {
                        if let Some(p) = returned(sym.symbol, ret) {
                            pending.borrow_mut().push(p);
                        }
                        commit(&mut board.borrow_mut(), &mut pending.borrow_mut());
                        let pre = pre_result.borrow_mut().take();
                        forced = forced.take().or(pre);
                    }
                    Err(e) => {
                        pending.borrow_mut().clear();
                        pre_result.borrow_mut().take();
                        tracing::warn!(
                            target: "lua",
                            "lua symbol {} ({}) failed, skipped for this message: {}",
                            sym.name,
                            sym.script,
                            first_line(&e)
                        );
                    }
                }
            }
            sandbox.set_time(rules.limits.time);
            sandbox.call::<()>(&self.set_dispatch, mlua::Nil)
        });
        if let Err(e) = result {
            tracing::warn!(target: "lua", "lua rules could not run: {}", first_line(&e));
        }
        forced
    }
}

/// How many slices of `lua_limits.time` a callback still gets once its
/// scan's Lua rules together have used the whole of it.
const LATE_CALL_SLICES: u32 = 50;

/// The wall time the Lua callbacks of one scan share.
///
/// Inline scans run on the session thread, so the other sessions there
/// wait for the whole scan: each callback may take `time`, and all of a
/// scan's callbacks together `time` too. Past that, each further callback
/// still gets a small slice, enough for any rule that is not looping, so a
/// hostile rule early in the order does not cost the well-behaved ones
/// after it their symbols.
struct ScanShare {
    started: Instant,
    time: Duration,
}

impl ScanShare {
    fn start(time: Duration) -> ScanShare {
        ScanShare {
            started: Instant::now(),
            time,
        }
    }

    /// The wall time the next callback may take.
    fn next_call(&self) -> Duration {
        let left = self.time.saturating_sub(self.started.elapsed());
        left.max(self.time / LATE_CALL_SLICES)
    }
}

/// Rspamd's callback return: `true` or a non-zero weight inserts the symbol,
/// further values (strings, numbers, or tables of them) are its options.
fn returned(symbol: usize, ret: MultiValue) -> Option<Pending> {
    let mut it = ret.into_iter();
    let weight = match it.next()? {
        Value::Boolean(true) => 1.0,
        Value::Integer(n) if n != 0 => n as f64,
        Value::Number(n) if n != 0.0 => n,
        _ => return None,
    };
    let mut options = Vec::new();
    for v in it {
        match v {
            // A table of options, as Rspamd accepts.
            Value::Table(t) => options.extend(
                t.sequence_values::<Value>()
                    .filter_map(|v| v.ok().and_then(|v| option_text(&v))),
            ),
            other => options.extend(option_text(&other)),
        }
    }
    Some(Pending {
        symbol,
        weight,
        options,
    })
}

fn option_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_string_lossy()),
        Value::Integer(n) => Some(n.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn commit(board: &mut ScoreBoard<'_>, pending: &mut Vec<Pending>) {
    for p in pending.drain(..) {
        let mut opts = p.options.iter();
        board.insert(p.symbol, p.weight, opts.next().map(String::as_str));
        for o in opts {
            board.push_option(p.symbol, o);
        }
    }
}

/// mlua errors carry a traceback after the message; logs want the message.
fn first_line(e: &mlua::Error) -> String {
    let text = match e {
        mlua::Error::CallbackError { cause, .. } => cause.to_string(),
        other => other.to_string(),
    };
    text.lines().next().unwrap_or_default().to_string()
}

/// A fresh state with every script run in order, each top level with
/// `top_time` of wall time; callbacks then get `limits.time`.
fn load_all(
    scripts: &[Script],
    limits: LuaLimits,
    top_time: Duration,
) -> Result<(Sandbox, libs::Registered), LuaLoadError> {
    let (sandbox, registered) = Sandbox::new(limits)?;
    sandbox.set_time(top_time);
    let regs = &registered.symbols;
    for s in scripts {
        let before = regs.raw_len();
        let failed = |e: mlua::Error| LuaLoadError::Script {
            script: s.name.clone(),
            reason: first_line(&e),
        };
        let top = sandbox
            .lua
            .load(s.code.as_str())
            .set_name(format!("@{}", s.name))
            .into_function()
            .map_err(failed)?;
        sandbox.call::<()>(&top, ()).map_err(failed)?;
        for i in before + 1..=regs.raw_len() {
            let r: Table = regs.raw_get(i).map_err(|e| setup(&s.name, e))?;
            r.raw_set("script", s.name.as_str())
                .map_err(|e| setup(&s.name, e))?;
        }
    }
    sandbox.set_time(limits.time);
    Ok((sandbox, registered))
}

fn setup(script: &str, e: mlua::Error) -> LuaLoadError {
    LuaLoadError::Script {
        script: script.to_string(),
        reason: first_line(&e),
    }
}

fn read_registrations(regs: &Table) -> Result<Vec<Registration>, LuaLoadError> {
    let mut out = Vec::new();
    for r in regs.sequence_values::<Table>() {
        let r = r.map_err(|e| setup("?", e))?;
        let get_s = |k: &str| r.get::<Option<String>>(k).ok().flatten();
        let script = get_s("script").unwrap_or_default();
        let stage = match get_s("type").as_deref() {
            Some("prefilter") => Stage::Prefilter,
            Some("postfilter") => Stage::Postfilter,
            Some("virtual") => Stage::Virtual,
            _ => Stage::Normal,
        };
        out.push(Registration {
            name: get_s("name").unwrap_or_default(),
            score: r.get::<Option<f64>>("score").ok().flatten(),
            description: get_s("description"),
            group: get_s("group"),
            stage,
            priority: r.get::<Option<i64>>("priority").ok().flatten().unwrap_or(0),
            script,
        });
    }
    Ok(out)
}

/// This state's callbacks, checked against the load-time registrations.
fn callbacks(regs: &Table, rules: &LuaRules) -> Result<Vec<Option<Function>>, LuaLoadError> {
    let mut out = Vec::with_capacity(rules.symbols.len());
    for (i, sym) in rules.symbols.iter().enumerate() {
        let r: Table = regs.raw_get(i + 1).map_err(|e| setup(&sym.script, e))?;
        let name: String = r.get("name").map_err(|e| setup(&sym.script, e))?;
        if name != sym.name {
            return Err(LuaLoadError::Script {
                script: sym.script.clone(),
                reason: format!("registered {name} where {} was expected at load; scripts must register the same symbols every time", sym.name),
            });
        }
        out.push(
            r.get::<Option<Function>>("callback")
                .map_err(|e| setup(&sym.script, e))?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_shares_one_allowance_then_hands_out_slices() {
        let time = Duration::from_millis(200);
        let fresh = ScanShare::start(time);
        let first = fresh.next_call();
        assert!(first <= time && first > time / 2, "{first:?}");
        let spent = ScanShare {
            started: Instant::now() - Duration::from_millis(150),
            time,
        };
        let left = spent.next_call();
        assert!(left <= Duration::from_millis(50), "{left:?}");
        assert!(left >= time / LATE_CALL_SLICES, "{left:?}");
        let over = ScanShare {
            started: Instant::now() - Duration::from_secs(5),
            time,
        };
        assert_eq!(over.next_call(), time / LATE_CALL_SLICES);
    }
}
