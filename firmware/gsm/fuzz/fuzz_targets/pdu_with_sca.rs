//! Fuzzes decoding a PDU with its SCA prefix, as `+CMT`/`+CMGR`/`+CMGL` print it, in both
//! directions, and the readable dump of whatever decodes.
#![no_main]

use gsm::{Direction, Dump, decode_with_sca};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for direction in [Direction::ScToMs, Direction::MsToSc] {
        if let Ok(pdu) = decode_with_sca(data, direction) {
            let _ = Dump::new(&pdu).to_string();
            let mut out = [0u8; 420];
            let _ = pdu.encode(&mut out);
        }
    }
});
