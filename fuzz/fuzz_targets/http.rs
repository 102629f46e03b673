//! One client connection to the scan listener or the controller (first
//! byte), through the listener's own dispatch: legacy RSPAMC/SPAMC lines or
//! HTTP/1.1 via hyper, request headers and query strings into a scan
//! request, bodies (zstd included) into the shipped pipeline.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sluice::fuzzing::http(data);
});
