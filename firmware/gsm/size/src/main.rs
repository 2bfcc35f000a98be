//! Links what a modem-bank firmware uses of the gsm codec: decoding PDUs with SCA in both
//! directions and reading their text, hex in and out, planning a text and encoding its
//! SMS-SUBMITs, and encoding SMS-DELIVER / SMS-STATUS-REPORT. Inputs come through
//! `black_box`, so nothing is folded away; `--features baseline` links none of it.
#![no_std]
#![no_main]

use core::hint::black_box;
use core::panic::PanicInfo;

#[panic_handler]
fn panic(_: &PanicInfo<'_>) -> ! {
    loop {}
}

static INPUT: [u8; 400] = [0; 400];

#[cfg(not(feature = "baseline"))]
fn exercise() {
    use core::fmt::Write;
    use gsm::{Address, Direction, PlanOptions, Tpdu};

    let data: &[u8] = black_box(&INPUT[..]);
    let mut pdu = [0u8; 200];
    let mut text: heapless::String<640> = heapless::String::new();
    let mut hex = [0u8; 400];
    if let Ok(n) = gsm::hex::decode(&data[..black_box(10)], &mut pdu) {
        for direction in [Direction::ScToMs, Direction::MsToSc] {
            if let Ok(p) = gsm::decode_with_sca(&pdu[..n], direction) {
                if let Some(ud) = p.tpdu.user_data() {
                    let _ = ud.write_text(&mut text);
                }
                let _ = p.encode(&mut hex);
                #[cfg(feature = "dump")]
                let _ = write!(text, "{}", gsm::Dump::new(&p));
                if let Tpdu::StatusReport(r) = &p.tpdu {
                    black_box(r.status.category());
                }
            }
        }
    }
    let s = core::str::from_utf8(&data[..black_box(100)]).unwrap_or("");
    let to = Address::parse(s).unwrap_or_else(|_| black_box(Address::parse("+1").unwrap()));
    if let Ok(plan) = gsm::plan(s, &PlanOptions::default()) {
        let _ = write!(text, "{plan}");
        for seg in plan.segments(black_box(1)) {
            let submit = seg.submit(to.clone()).with_status_report(true);
            if let Ok(e) = submit.encode_with_sca(None, &mut pdu) {
                let _ = gsm::hex::encode(&pdu[..e.len], &mut hex);
            }
            let _ = seg.encode_smpp(&mut hex);
        }
    }
    black_box((&pdu, &text, &hex));
}

#[cfg(feature = "baseline")]
fn exercise() {
    black_box(&INPUT);
}

/// The entry point named in `link.x`.
// SAFETY: `_start` is the only symbol of this name in the program; the linker script makes
// it the entry and nothing else defines it.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    loop {
        exercise();
    }
}
