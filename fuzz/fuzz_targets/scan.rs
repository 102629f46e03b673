//! Arbitrary bytes as a message through the shipped rules, every rule run.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sluice::fuzzing::scan(data));
