//! Whatever parses must re-encode to something that parses to the same
//! value, for commands and replies alike; framing must round-trip exactly.
#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sluice_proto::milter::{Command, FrameCodec, Packet, Reply};
use tokio_util::codec::{Decoder, Encoder};

fuzz_target!(|data: &[u8]| {
    let Some((&code, payload)) = data.split_first() else {
        return;
    };
    let packet = Packet::new(code, payload.to_vec());
    if let Ok(cmd) = Command::parse(&packet) {
        let again = Command::parse(&cmd.to_packet()).expect("re-encoded command parses");
        assert_eq!(again, cmd);
    }
    if let Ok(reply) = Reply::parse(&packet) {
        let again = Reply::parse(&reply.to_packet()).expect("re-encoded reply parses");
        assert_eq!(again, reply);
    }
    let mut codec = FrameCodec::default();
    let mut wire = BytesMut::new();
    codec.encode(packet.clone(), &mut wire).expect("payload under the cap");
    let decoded = codec.decode_eof(&mut wire).expect("own frame decodes");
    assert_eq!(decoded, Some(packet));
    assert!(wire.is_empty());
});
