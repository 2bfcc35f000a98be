//! Fuzzes the TPDU decoder (SMS-DELIVER, SMS-STATUS-REPORT, SMS-SUBMIT) without SCA: the
//! first input byte picks the direction. Whatever decodes must dump, and re-encoding must
//! reach a fixpoint after one round (address text is normalised once).
#![no_main]

use gsm::{Direction, Dump, Tpdu, decode};
use libfuzzer_sys::fuzz_target;

fn round(t: &Tpdu<'_>, direction: Direction, buf: &mut [u8]) -> Option<usize> {
    let n = t.encode(buf).ok()?;
    assert!(
        decode(&buf[..n], direction).is_ok(),
        "re-encoded TPDU must decode"
    );
    Some(n)
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, tpdu)) = data.split_first() else {
        return;
    };
    let direction = if pick & 1 == 0 {
        Direction::ScToMs
    } else {
        Direction::MsToSc
    };
    if let Ok(t) = decode(tpdu, direction) {
        let _ = Dump::tpdu(&t).to_string();
        let mut a = [0u8; 400];
        let mut b = [0u8; 400];
        if let Some(n) = round(&t, direction, &mut a) {
            let once = decode(&a[..n], direction).expect("decodes");
            let m = round(&once, direction, &mut b).expect("re-encodes");
            assert_eq!(decode(&b[..m], direction).as_ref(), Ok(&once));
        }
    }
});
