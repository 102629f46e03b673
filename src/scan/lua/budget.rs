//! The per-call budget every Lua state runs under: VM instructions and wall
//! time, enforced by a count hook.
//!
//! The hook is LuaJIT's global one (LuaJIT keeps one hook for the whole
//! state, coroutines included), so a loop inside a coroutine is counted like
//! any other. A per-thread hook would not do: mlua looks a per-thread hook
//! up by the running coroutine and, finding none there, removes it.
//!
//! The budget is sticky: once it is spent, the hook fires on every
//! instruction and fails each time until control is back in Rust, so
//! `pcall`, `xpcall` or `coroutine.resume` inside the rule cannot swallow
//! the error and carry on.
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use mlua::{Debug, HookTriggers, Lua, VmState};

/// The budget is checked every this many VM instructions while it lasts.
const HOOK_EVERY: u32 = 1000;

/// What one call (a callback, or a script's top level) may spend.
#[derive(Debug, Clone, Copy)]
pub struct Allowance {
    pub instructions: u64,
    pub time: Duration,
}

/// The running call's spending, shared with the hook.
#[derive(Debug)]
pub struct Budget {
    allowance: Cell<Allowance>,
    used: Cell<u64>,
    started: Cell<Instant>,
    /// Why the call overspent, once it has; cleared by [`Budget::reset`].
    tripped: RefCell<Option<String>>,
}

impl Budget {
    /// Installs the hook on `lua` and returns the budget it reads.
    pub fn install(lua: &Lua, allowance: Allowance) -> mlua::Result<Rc<Budget>> {
        let budget = Rc::new(Budget {
            allowance: Cell::new(allowance),
            used: Cell::new(0),
            started: Cell::new(Instant::now()),
            tripped: RefCell::new(None),
        });
        set_hook(lua, &budget, HOOK_EVERY)?;
        Ok(budget)
    }

    /// Gives the next call the full allowance; after an overspent call, also
    /// puts the hook back to its normal rate.
    pub fn reset(self: &Rc<Self>, lua: &Lua) -> mlua::Result<()> {
        self.used.set(0);
        self.started.set(Instant::now());
        if self.tripped.take().is_some() {
            set_hook(lua, self, HOOK_EVERY)?;
        }
        Ok(())
    }

    /// Changes the wall time the next calls may take.
    pub fn set_time(&self, time: Duration) {
        let a = self.allowance.get();
        self.allowance.set(Allowance { time, ..a });
    }

    /// Counts `n` more instructions; the reason the call must stop, if it must.
    fn spend(&self, n: u32) -> Option<String> {
        let used = self.used.get() + u64::from(n);
        self.used.set(used);
        let Allowance { instructions, time } = self.allowance.get();
        if used > instructions {
            return Some(format!("instruction budget of {instructions} exceeded"));
        }
        if self.started.get().elapsed() > time {
            return Some(format!("time budget of {} ms exceeded", time.as_millis()));
        }
        None
    }
}

fn set_hook(lua: &Lua, budget: &Rc<Budget>, every: u32) -> mlua::Result<()> {
    let b = Rc::clone(budget);
    let triggers = HookTriggers::new().every_nth_instruction(every);
    lua.set_global_hook(triggers, move |lua, debug| {
        if let Some(first) = b.tripped.borrow().as_ref() {
            return Err(mlua::Error::runtime(first.clone()));
        }
        let Some(why) = b.spend(every) else {
            return Ok(VmState::Continue);
        };
        let first = format!("{}: {why}", position(debug));
        *b.tripped.borrow_mut() = Some(first.clone());
        // From now on every instruction fails, until `reset`.
        set_hook(lua, &b, 1)?;
        Err(mlua::Error::runtime(first))
    })
}

/// `file:line` of the instruction the hook stopped at.
fn position(debug: &Debug<'_>) -> String {
    let src = debug.source();
    let at = src.short_src.as_deref().unwrap_or("?").to_string();
    format!("{at}:{}", debug.current_line().map_or(-1, |n| n as i64))
}
