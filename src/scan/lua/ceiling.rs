//! The memory ceiling of a Lua state, lifted while Rust hands values to Lua.
use mlua::Lua;

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
