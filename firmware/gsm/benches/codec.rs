//! `cargo bench -p gsm`: encoding a 3-part UCS-2 message (plan + three SMS-SUBMITs with SCA)
//! and decoding SMS-DELIVER PDUs with their text. The README reports the numbers.
// `criterion_group!` generates a public function without documentation.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gsm::{Address, Deliver, Direction, Pdu, PlanOptions, Timestamp, Tpdu, decode_with_sca, plan};

fn bytes(hex: &str) -> Vec<u8> {
    let mut out = vec![0u8; hex.len() / 2];
    let n = gsm::hex::decode(hex, &mut out).unwrap();
    out.truncate(n);
    out
}

fn encode_ucs2_3_parts(c: &mut Criterion) {
    // 192 characters: 67 + 67 + 58 UTF-16 units.
    let text = "您的验证码是123456，请勿泄露。【某某银行】".repeat(8);
    let to = Address::parse("+8613800138000").unwrap();
    let sca = Address::parse("+8613800200500").unwrap();
    let p = plan(&text, &PlanOptions::default()).unwrap();
    assert_eq!(p.parts, 3);
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("ucs2_3_parts", |b| {
        b.iter(|| {
            let p = plan(black_box(&text), &PlanOptions::default()).unwrap();
            let mut out = [0u8; 200];
            let mut total = 0;
            for seg in p.segments(7) {
                let submit = seg.submit(to.clone()).with_status_report(true);
                total += submit.encode_with_sca(Some(&sca), &mut out).unwrap().len;
                black_box(&out);
            }
            total
        })
    });
    g.finish();
}

fn decode_deliver(c: &mut Criterion) {
    let gsm7 =
        bytes("07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07");
    // The first part of a concatenated UCS-2 message (67 units), built by the encoder.
    let text = "您的验证码是123456，请勿泄露。【某某银行】".repeat(8);
    let p = plan(&text, &PlanOptions::default()).unwrap();
    let seg = p.segments(7).next().unwrap();
    let deliver = Deliver {
        more_messages: false,
        loop_prevention: false,
        status_report_indication: false,
        reply_path: false,
        originator: Address::parse("+8613800138000").unwrap(),
        pid: gsm::Pid(0),
        dcs: gsm::Dcs::UCS2,
        sc_timestamp: Timestamp {
            year: 25,
            month: 11,
            day: 17,
            hour: 15,
            minute: 59,
            second: 56,
            tz_quarters: 32,
        },
        user_data: seg.user_data(),
    };
    let pdu = Pdu {
        sca: Address::parse("+8613800200500").ok(),
        tpdu: Tpdu::Deliver(deliver),
    };
    let mut out = [0u8; 200];
    let n = pdu.encode(&mut out).unwrap().len;
    let ucs2 = out[..n].to_vec();
    let mut g = c.benchmark_group("decode");
    for (name, pdu) in [("deliver_gsm7", &gsm7), ("deliver_ucs2_concat", &ucs2)] {
        let parsed = decode_with_sca(pdu, Direction::ScToMs).unwrap();
        assert!(parsed.tpdu.user_data().unwrap().text().is_ok());
        g.throughput(Throughput::Bytes(pdu.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let p = decode_with_sca(black_box(pdu), Direction::ScToMs).unwrap();
                let mut text = String::with_capacity(160);
                p.tpdu.user_data().unwrap().write_text(&mut text).unwrap();
                text
            })
        });
    }
    g.finish();
}

criterion_group!(benches, encode_ucs2_3_parts, decode_deliver);
criterion_main!(benches);
