//! Arbitrary text through the UCL parser (macros, variables, includes of
//! missing files) and the atom typer: parsing must never panic or hang.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sluice::fuzzing::ucl(data));
