//! Fuzz target: the frame decoder fed arbitrary bytes in arbitrary chunks, and every frame's
//! body decoded as each message type. Must never panic; decoded frames must re-encode to the
//! bytes they came from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use link::frame::{FrameDecoder, Hello, MAX_ENCODED_LEN, MAX_WIRE_LEN, encode};
use link::{BankToHost, HostToBank};

fuzz_target!(|data: &[u8]| {
    // The first byte chooses the chunk size, so chunk boundaries are explored too.
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).max(1);
    let mut dec = FrameDecoder::new();
    for chunk in bytes.chunks(cut) {
        let mut input = chunk;
        while let Some(result) = dec.feed(&mut input) {
            if let Ok(frame) = result {
                let _ = frame.decode_body::<Hello>();
                let _ = frame.decode_body::<HostToBank>();
                let _ = frame.decode_body::<BankToHost>();
                // A frame that decoded re-encodes (COBS is canonical for a given input).
                let mut out = [0u8; MAX_WIRE_LEN];
                assert!(encode(&frame.header, frame.body, &mut out).is_ok());
            }
        }
        assert!(input.is_empty());
        assert!(dec.buffered() <= MAX_ENCODED_LEN);
    }
});
