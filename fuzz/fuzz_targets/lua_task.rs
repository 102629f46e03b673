//! The Lua task API: a fixed rule calls every task method and library
//! function with arguments and a message taken from the input.
#![no_main]
use libfuzzer_sys::fuzz_target;

// The first call builds the pipeline (every shipped rule compiled): done at
// start, so that time is not charged to the first input's timeout.
fuzz_target!(init: sluice::fuzzing::lua_task(b""), |data: &[u8]| sluice::fuzzing::lua_task(data));
