//! Fuzzes 7-bit unpacking with any fill and count, the septet-to-character decoder, and
//! packing back: unpack(pack(s)) == s.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [fill, count, packed @ ..] = data else {
        return;
    };
    let fill = fill % 7;
    let septets: Vec<u8> = gsm::gsm7::unpack(packed, fill, usize::from(*count)).collect();
    let _: String = gsm::gsm7::Decoder::new(septets.iter().copied()).collect();
    let mut out = [0u8; 300];
    let n = gsm::gsm7::pack(septets.iter().copied(), fill, &mut out).expect("fits");
    let back: Vec<u8> = gsm::gsm7::unpack(&out[..n], fill, septets.len()).collect();
    assert_eq!(back, septets);
});
