//! First byte = reply code, rest = payload: parsing must never panic, and
//! `reply_code` must never panic on arbitrary text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sluice_proto::milter::{Packet, Reply};

fuzz_target!(|data: &[u8]| {
    let Some((&code, payload)) = data.split_first() else {
        return;
    };
    if let Ok(reply) = Reply::parse(&Packet::new(code, payload.to_vec())) {
        let _ = (reply.is_terminal(), reply.required_action());
    }
    let smtp = 400 + u16::from(code) * 4 % 250;
    let text = String::from_utf8_lossy(payload);
    let _ = Reply::reply_code(smtp, "", &text);
    let _ = Reply::reply_code(smtp, &text, "x");
});
