//! Fuzzes segment planning with arbitrary text: every part encodes into an SMS-SUBMIT that
//! decodes back to the part's text, and the parts join to the input.
#![no_main]

use gsm::{Address, Direction, PlanOptions, Tpdu, decode, plan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let options = PlanOptions {
        max_parts: 255,
        ..PlanOptions::default()
    };
    let Ok(p) = plan(text, &options) else {
        return;
    };
    let to = Address::parse("+1").expect("valid");
    let mut joined = String::new();
    for seg in p.segments(1) {
        let mut out = [0u8; 200];
        let n = seg
            .submit(to.clone())
            .encode(&mut out)
            .expect("a planned part fits");
        let Ok(Tpdu::Submit(s)) = decode(&out[..n], Direction::MsToSc) else {
            panic!("a planned part decodes");
        };
        s.user_data.write_text(&mut joined).expect("text");
    }
    assert_eq!(joined, text);
});
