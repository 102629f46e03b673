//! One client connection to the scan listener or the controller (first
//! byte), through the listener's own dispatch: legacy RSPAMC/SPAMC lines or
//! HTTP/1.1 via hyper, request headers and query strings into a scan
//! request, bodies (zstd included) into the shipped pipeline.
#![no_main]
use libfuzzer_sys::fuzz_target;

// The first call builds the runtime and the shipped pipeline: done at start,
// so that time is not charged to the first input's timeout.
fuzz_target!(init: {
    sluice::fuzzing::http(b"");
}, |data: &[u8]| {
    sluice::fuzzing::http(data);
});
