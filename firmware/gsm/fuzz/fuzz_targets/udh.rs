//! Fuzzes the user-data header parser and the SMPP `short_message` reader built on it:
//! whatever parses must iterate, re-serialise identically and render as text.
#![no_main]

use gsm::{Alphabet, Udh, UserData};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(udh) = Udh::parse(data) {
        let n = udh.ies().count();
        let mut out = [0u8; 256];
        let len = udh.write(&mut out).expect("fits");
        assert_eq!(&out[1..len], data);
        assert!(n <= data.len() / 2);
    }
    for alphabet in [Alphabet::Gsm7, Alphabet::Ucs2, Alphabet::Eight] {
        if let Ok(ud) = UserData::from_smpp(data, true, alphabet) {
            let _ = ud.chars().map(Iterator::count);
            let mut out = vec![0u8; data.len()];
            let n = ud.encode_smpp(&mut out).expect("the same octets fit");
            assert_eq!(&out[..n], data);
        }
    }
});
