//! A fuzzy storage datagram, as the storage receives it: decoding (plain
//! or encrypted, with a fixed storage key) must never panic; a command that
//! decodes re-encodes to bytes that decode to the same command; reply and
//! key decoding must never panic either.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sluice_proto::fuzzy::{base32, Command, Keypair, Reply, Request};

fuzz_target!(|data: &[u8]| {
    let key = Keypair::from_secret([7; 32]);
    if let Ok(request) = Request::decode(data, std::slice::from_ref(&key)) {
        let again = Command::decode(&request.command.encode()).expect("re-encoded command decodes");
        assert_eq!(again, request.command);
        let _ = request.answer(&Reply::status(0, request.command.tag));
    }
    let _ = Reply::decode(data);
    let _ = base32::decode(&String::from_utf8_lossy(data));
});
