//! First byte = command code, rest = payload: parsing must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sluice_proto::milter::{Command, Packet};

fuzz_target!(|data: &[u8]| {
    let Some((&code, payload)) = data.split_first() else {
        return;
    };
    if let Ok(cmd) = Command::parse(&Packet::new(code, payload.to_vec())) {
        let _ = cmd.name();
        if let Command::Connect(c) = &cmd {
            let _ = c.ip();
        }
        if let Command::Macro(m) = &cmd {
            let _ = m.get("i");
        }
    }
});
