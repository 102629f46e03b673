//! Arbitrary bytes as a message through the shipped rules, every rule run.
#![no_main]
use libfuzzer_sys::fuzz_target;

// The first call builds the pipeline (every shipped rule compiled): done at
// start, so that time is not charged to the first input's timeout.
fuzz_target!(init: sluice::fuzzing::scan(b""), |data: &[u8]| sluice::fuzzing::scan(data));
