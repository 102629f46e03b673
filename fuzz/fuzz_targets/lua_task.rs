//! The Lua task API: a fixed rule calls every task method and library
//! function with arguments and a message taken from the input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sluice::fuzzing::lua_task(data));
