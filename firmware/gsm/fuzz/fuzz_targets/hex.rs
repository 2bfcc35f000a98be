//! Fuzzes the hex decoder: any byte string either fails with a typed error or decodes to
//! octets that encode back to the same digits, upper-cased.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut out = [0u8; 4096];
    if let Ok(n) = gsm::hex::decode(data, &mut out) {
        let mut back = [0u8; 8192];
        let s = gsm::hex::encode(&out[..n], &mut back).expect("fits");
        assert!(s.as_bytes().eq_ignore_ascii_case(data));
    }
});
