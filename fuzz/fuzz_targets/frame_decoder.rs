//! Arbitrary bytes through the frame decoder, fed in two pieces so partial
//! reads are exercised; a small cap makes the TooLarge path reachable.
#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sluice_proto::milter::FrameCodec;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let cut = (split as usize).min(rest.len());
    let mut codec = FrameCodec::new(4096);
    let mut buf = BytesMut::from(&rest[..cut]);
    while let Ok(Some(p)) = codec.decode(&mut buf) {
        assert!(p.payload.len() <= 4096);
    }
    buf.extend_from_slice(&rest[cut..]);
    while let Ok(Some(p)) = codec.decode_eof(&mut buf) {
        assert!(p.payload.len() <= 4096);
    }
});
