//! A fresh, sandboxed Lua state: only the pure standard libraries, no file,
//! process or debug access, a `require` that knows just the built-in API
//! modules, a memory ceiling, a budget per call (instructions and wall
//! time, see [`super::budget`]) and a guard on how deep Lua may be called
//! back from C (`guard.lua`).
//!
//! The interpreter is LuaJIT (vendored, builds here with gcc) running with
//! its JIT compiler switched off: compiled traces do not call count hooks,
//! so a `while true do end` would escape the instruction budget. The
//! LuaJIT interpreter alone is still faster than PUC Lua 5.4's.
use std::rc::Rc;
use std::time::Duration;

use mlua::{FromLuaMulti, Function, IntoLuaMulti, Lua, LuaOptions, StdLib, Table};

use super::budget::{Allowance, Budget};
use super::error::LuaLoadError;
use super::libs;

const GUARD: &str = include_str!("guard.lua");

/// How deep Lua may be called back from C (a gsub callback calling gsub,
/// a comparator sorting, a coroutine resuming another). Each level costs
/// native stack (gsub alone keeps an 8 KiB buffer on it); this many fit in
/// the smallest thread stack that runs rules with a wide margin, and real
/// rules nest two or three levels.
const MAX_CALLBACK_DEPTH: u32 = 40;

/// Resource ceilings for every Lua state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LuaLimits {
    /// Bytes the whole state may allocate.
    pub memory: usize,
    /// VM instructions one callback (or one script's top level) may run.
    pub instructions: u64,
    /// Wall time one callback (or one script's top level) may take; checked
    /// with the instruction count, so a single long library call can run
    /// past it before the rule is stopped.
    pub time: Duration,
}

impl Default for LuaLimits {
    fn default() -> Self {
        LuaLimits {
            memory: 64 << 20,
            instructions: 10_000_000,
            time: Duration::from_millis(200),
        }
    }
}

/// Globals a rule must not reach: file loading and bytecode loading.
const REMOVED_GLOBALS: &[&str] = &[
    "dofile",
    "loadfile",
    "load",
    "loadstring",
    "module",
    "jit",
    "collectgarbage",
    "gcinfo",
    "newproxy",
];

/// A sandboxed state and the budget its hook reads.
pub struct Sandbox {
    pub lua: Lua,
    budget: Rc<Budget>,
    /// Resets the C-stack guard's depth (see `guard.lua`).
    reset_guard: Function,
}

impl Sandbox {
    /// Builds the state; the second value receives what rule files register.
    pub fn new(limits: LuaLimits) -> Result<(Sandbox, libs::Registered), LuaLoadError> {
        let setup = |e: mlua::Error| LuaLoadError::Setup(e.to_string());
        let libs_wanted = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::BIT | StdLib::JIT;
        let lua = Lua::new_with(libs_wanted, LuaOptions::default()).map_err(setup)?;
        let g = lua.globals();
        let jit: Table = g.get("jit").map_err(setup)?;
        let off: mlua::Function = jit.get("off").map_err(setup)?;
        off.call::<()>(()).map_err(setup)?;
        for name in REMOVED_GLOBALS {
            g.set(*name, mlua::Nil).map_err(setup)?;
        }
        let reset_guard: Function = lua
            .load(GUARD)
            .set_name("=sluice-guard")
            .call(MAX_CALLBACK_DEPTH)
            .map_err(setup)?;
        let regs = libs::install(&lua).map_err(setup)?;
        lua.set_memory_limit(limits.memory).map_err(setup)?;
        let allowance = Allowance {
            instructions: limits.instructions,
            time: limits.time,
        };
        let budget = Budget::install(&lua, allowance).map_err(setup)?;
        let sandbox = Sandbox {
            lua,
            budget,
            reset_guard,
        };
        Ok((sandbox, regs))
    }

    /// Changes the wall time each following call may take.
    pub fn set_time(&self, time: Duration) {
        self.budget.set_time(time);
    }

    /// Calls `f` with a full budget. A call that fails (its own error, the
    /// budget, the memory ceiling) leaves the state ready for the next one.
    pub fn call<R: FromLuaMulti>(&self, f: &Function, args: impl IntoLuaMulti) -> mlua::Result<R> {
        self.budget.reset(&self.lua)?;
        let out = f.call(args);
        if out.is_err() {
            // The hook may still be failing every instruction: un-trip it
            // before running the guard's reset.
            self.budget.reset(&self.lua)?;
            self.reset_guard.call::<()>(())?;
        }
        out
    }
}

/// Runs `f`, Rust code that creates values for Lua, with the memory
/// ceiling lifted.
///
/// While a ceiling is set, mlua makes each string or table it creates in a
/// protected call (a failed allocation must not unwind through Rust), a
/// real cost for every header value handed to a rule
/// (`docs/performance.md`). What Rust
/// creates here is bounded by the message and is still counted as used, so
/// the script's own next allocation past the ceiling fails as before.
/// `f` must not run Lua code.
pub fn unmetered<R>(lua: &Lua, f: impl FnOnce() -> R) -> R {
    /// Puts the ceiling back, also when `f` unwinds.
    struct Restore<'l>(&'l Lua, usize);
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            // Only fails for a state without mlua's allocator, where the
            // lift failed too.
            let _ = self.0.set_memory_limit(self.1);
        }
    }
    let _restore = lua.set_memory_limit(0).map(|limit| Restore(lua, limit));
    f()
}
