//! A fresh, sandboxed Lua state: only the pure standard libraries, no file,
//! process or debug access, a `require` that knows just the built-in API
//! modules, a memory ceiling and an instruction budget per call.
//!
//! The interpreter is LuaJIT (vendored, builds here with gcc) running with
//! its JIT compiler switched off: compiled traces do not call count hooks,
//! so a `while true do end` would escape the instruction budget. The
//! LuaJIT interpreter alone is still faster than PUC Lua 5.4's.
use std::cell::Cell;
use std::rc::Rc;

use mlua::{HookTriggers, Lua, LuaOptions, StdLib, Table, VmState};

use super::error::LuaLoadError;
use super::libs;

/// The budget is checked every this many VM instructions.
const HOOK_EVERY: u32 = 1000;

/// Resource ceilings for every Lua state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LuaLimits {
    /// Bytes the whole state may allocate.
    pub memory: usize,
    /// VM instructions one callback (or one script's top level) may run.
    pub instructions: u64,
}

impl Default for LuaLimits {
    fn default() -> Self {
        LuaLimits {
            memory: 64 << 20,
            instructions: 10_000_000,
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

/// A sandboxed state and the counter its budget hook reads.
pub struct Sandbox {
    pub lua: Lua,
    used: Rc<Cell<u64>>,
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
        let regs = libs::install(&lua).map_err(setup)?;
        lua.set_memory_limit(limits.memory).map_err(setup)?;
        let used = Rc::new(Cell::new(0u64));
        install_budget(&lua, Rc::clone(&used), limits.instructions).map_err(setup)?;
        Ok((Sandbox { lua, used }, regs))
    }

    /// Gives the next call a full instruction budget.
    pub fn reset_budget(&self) {
        self.used.set(0);
    }
}

/// Runs `f`, Rust code that creates values for Lua, with the memory
/// ceiling lifted.
///
/// While a ceiling is set, mlua makes each string or table it creates in a
/// protected call (a failed allocation must not unwind through Rust): about
/// 2,500 instructions for every header value handed to a rule. What Rust
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

fn install_budget(lua: &Lua, used: Rc<Cell<u64>>, limit: u64) -> mlua::Result<()> {
    let triggers = HookTriggers::new().every_nth_instruction(HOOK_EVERY);
    lua.set_hook(triggers, move |_lua, debug| {
        let n = used.get() + u64::from(HOOK_EVERY);
        used.set(n);
        if n > limit {
            let src = debug.source();
            let at = src.short_src.as_deref().unwrap_or("?").to_string();
            return Err(mlua::Error::runtime(format!(
                "{at}:{}: instruction budget of {limit} exceeded",
                debug.current_line().map_or(-1, |n| n as i64)
            )));
        }
        Ok(VmState::Continue)
    })
}
