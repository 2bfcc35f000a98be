//! Property tests: encode→decode round trips for random text (GSM 7-bit, extension
//! characters, CJK, emoji) and random user-data headers (every fill-bit count), and no panic
//! on arbitrary bytes for every decoder.

use gsm::udh::{Ie, Udh};
use gsm::{
    Address, Deliver, Direction, Dump, PlanOptions, Submit, Timestamp, Tpdu, UserData, decode,
    decode_with_sca, plan,
};
use proptest::prelude::*;

/// Text drawn from the default table, the extension table, CJK and emoji, in any mix.
fn text() -> impl Strategy<Value = String> {
    let gsm = prop::sample::select(
        "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCXYZÄÖÑÜ§¿abcxyzäöñüà"
            .chars()
            .collect::<Vec<_>>(),
    );
    let ext = prop::sample::select("^{}\\[~]|€\u{0C}".chars().collect::<Vec<_>>());
    let cjk = prop::char::range('\u{4E00}', '\u{9FFF}');
    let emoji = prop::char::range('\u{1F600}', '\u{1F64F}');
    let alphabet = prop::sample::select(vec![0u8, 1, 2, 3]);
    alphabet.prop_flat_map(move |mix| {
        let c = match mix {
            0 => gsm.clone().boxed(),
            1 => prop_oneof![4 => gsm.clone(), 1 => ext.clone()].boxed(),
            2 => prop_oneof![gsm.clone(), cjk.clone()].boxed(),
            _ => prop_oneof![gsm.clone(), ext.clone(), cjk.clone(), emoji.clone()].boxed(),
        };
        prop::collection::vec(c, 0..400).prop_map(|v| v.into_iter().collect())
    })
}

fn ts() -> Timestamp {
    Timestamp {
        year: 26,
        month: 1,
        day: 2,
        hour: 3,
        minute: 4,
        second: 5,
        tz_quarters: -20,
    }
}

/// TP-UD in GSM 7-bit written bit by bit, independently of the codec's packer: the header
/// octets, zero fill up to the next septet boundary, then the septets (TS 23.040 9.2.3.24).
fn reference_gsm7_ud(ies: &[u8], septets: &[u8]) -> Vec<u8> {
    let mut bits = Vec::new();
    let header: Vec<u8> = std::iter::once(ies.len() as u8)
        .chain(ies.iter().copied())
        .collect();
    for octet in header {
        bits.extend((0..8).map(|i| (octet >> i) & 1));
    }
    while bits.len() % 7 != 0 {
        bits.push(0);
    }
    for s in septets {
        bits.extend((0..7).map(|i| (s >> i) & 1));
    }
    bits.chunks(8)
        .map(|c| c.iter().enumerate().map(|(i, b)| b << i).sum())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every planned part encodes to an SMS-SUBMIT that decodes back to the same text and
    /// header; the parts join to the input; the counts agree with the plan.
    #[test]
    fn plan_submit_round_trip(text in text(), reference in any::<u16>(), ref16 in any::<bool>()) {
        let options = PlanOptions { max_parts: 255, ref16, encoding: None };
        let p = plan(&text, &options).unwrap();
        let to = Address::parse("+8613800138000").unwrap();
        let mut joined = String::new();
        let mut parts = 0;
        for seg in p.segments(reference) {
            parts += 1;
            prop_assert!(seg.units <= p.units_per_part);
            let submit = seg.submit(to.clone()).with_message_ref(parts as u8);
            let mut out = [0u8; 200];
            let e = submit.encode_with_sca(None, &mut out).unwrap();
            prop_assert!(e.tpdu_len <= 164);
            let pdu = decode_with_sca(&out[..e.len], Direction::MsToSc).unwrap();
            let Tpdu::Submit(back) = &pdu.tpdu else { panic!("not a submit") };
            prop_assert_eq!(back, &submit);
            let part: String = back.user_data.chars().unwrap().collect();
            prop_assert_eq!(part.as_str(), seg.text);
            prop_assert_eq!(back.user_data.concat(), seg.concat);
            joined.push_str(&part);
        }
        prop_assert_eq!(parts, p.parts);
        prop_assert_eq!(&joined, &text);
        let last_used = p.units_per_part - p.left_in_last;
        prop_assert_eq!(last_used, p.used_in_last);
    }

    /// A random header (any length, so every fill-bit count) before GSM 7-bit or UCS-2 text
    /// survives an SMS-DELIVER round trip.
    #[test]
    fn udh_fill_round_trip(
        ies in prop::collection::vec((0x70u8..0x80, prop::collection::vec(any::<u8>(), 0..6)), 0..5),
        text in "[a-z€]{0,20}|[中文😀]{0,10}",
    ) {
        let ies: Vec<Ie<'_>> = ies.iter().map(|(iei, data)| Ie::Other { iei: *iei, data }).collect();
        let udh = Udh::from_ies(&ies).unwrap();
        let user_data = UserData::from_text(&text).with_udh(Some(udh));
        let deliver = Deliver {
            more_messages: true,
            loop_prevention: false,
            status_report_indication: true,
            reply_path: false,
            originator: Address::parse("Outpost").unwrap(),
            pid: gsm::Pid(0),
            dcs: user_data.alphabet().dcs(),
            sc_timestamp: ts(),
            user_data,
        };
        let mut out = [0u8; 200];
        let n = deliver.encode(&mut out).unwrap();
        if user_data.alphabet() == gsm::Alphabet::Gsm7 {
            let septets: Vec<u8> = user_data.septets().collect();
            let expected = reference_gsm7_ud(udh.as_bytes(), &septets);
            prop_assert_eq!(&out[n - expected.len()..n], &expected[..]);
        }
        let back = decode(&out[..n], Direction::ScToMs).unwrap();
        prop_assert_eq!(&back, &Tpdu::Deliver(deliver));
        let ud = back.user_data().unwrap();
        prop_assert_eq!(ud.chars().unwrap().collect::<String>(), text);
        let udh_back = ud.udh().unwrap();
        let got: Vec<Ie<'_>> = udh_back.ies().collect();
        prop_assert_eq!(got, ies);
    }

    /// Septets survive packing with any fill.
    #[test]
    fn pack_unpack(septets in prop::collection::vec(0u8..0x80, 0..200), fill in 0u8..7) {
        let mut out = [0u8; 200];
        let n = gsm::gsm7::pack(septets.iter().copied(), fill, &mut out).unwrap();
        prop_assert_eq!(n, gsm::gsm7::packed_len(septets.len(), fill));
        let back: Vec<u8> = gsm::gsm7::unpack(&out[..n], fill, septets.len()).collect();
        prop_assert_eq!(back, septets);
    }

    /// Hex survives a round trip in either case.
    #[test]
    fn hex_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let upper = gsm::Hex(&bytes).to_string();
        let mut out = [0u8; 64];
        let n = gsm::hex::decode(upper.to_lowercase(), &mut out).unwrap();
        prop_assert_eq!(&out[..n], &bytes[..]);
    }

    /// Numbers and alphanumeric senders survive the address field.
    #[test]
    fn address_round_trip(a in "\\+?[0-9*#]{1,20}|[A-Za-z0-9 ]{1,11}") {
        let addr = Address::parse(&a).unwrap();
        let mut out = [0u8; 16];
        let n = addr.encode(&mut out).unwrap();
        let (back, used) = Address::decode(&out[..n], gsm::Field::Da).unwrap();
        prop_assert_eq!(used, n);
        prop_assert_eq!(back.to_string(), a);
    }

    /// No byte sequence panics any decoder; what decodes re-encodes to something that decodes
    /// to the same value, and dumps without panicking.
    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        for direction in [Direction::ScToMs, Direction::MsToSc] {
            if let Ok(pdu) = decode_with_sca(&bytes, direction) {
                let _ = Dump::new(&pdu).to_string();
            }
            if let Ok(tpdu) = decode(&bytes, direction) {
                let _ = Dump::tpdu(&tpdu).to_string();
                // Re-encoding reaches a fixpoint after one round: decoded address text is
                // normalised once (see `Address::decode` on trailing '@' padding).
                let mut out = [0u8; 400];
                if let Ok(n) = tpdu.encode(&mut out) {
                    let once = decode(&out[..n], direction).unwrap();
                    let mut again = [0u8; 400];
                    let m = once.encode(&mut again).unwrap();
                    prop_assert_eq!(decode(&again[..m], direction), Ok(once));
                }
            }
        }
        let _ = Udh::parse(&bytes).map(|u| u.ies().count());
        let _ = Address::decode(&bytes, gsm::Field::Oa);
        let _ = Address::decode_sca(&bytes);
        let _ = UserData::from_smpp(&bytes, true, gsm::Alphabet::Gsm7).map(|u| u.chars().map(Iterator::count));
        let _ = gsm::gsm7::unpack(&bytes, 3, 400).count();
        let _ = gsm::hex::decoded_len(&bytes);
    }

    /// Well-formed TPDUs built from random field values are decoded without panic and
    /// survive re-encoding (the fuzzers see mostly malformed input; this sees valid input).
    #[test]
    fn random_submit_fields(first in any::<u8>(), mr in any::<u8>(), pid in any::<u8>(), dcs in any::<u8>(),
                            vp in prop::collection::vec(any::<u8>(), 7), ud in prop::collection::vec(any::<u8>(), 0..140)) {
        let mut pdu = vec![first | 0x01 & !0x02, mr, 0x0B, 0x91, 0x13, 0x46, 0x61, 0x00, 0x89, 0xF6, pid, dcs];
        pdu.extend_from_slice(&vp[..match (first >> 3) & 3 { 0 => 0, 2 => 1, _ => 7 }]);
        pdu.push(ud.len() as u8);
        pdu.extend_from_slice(&ud);
        if let Ok(t) = decode(&pdu, Direction::MsToSc) {
            let mut out = [0u8; 400];
            let n = t.encode(&mut out).unwrap();
            prop_assert_eq!(decode(&out[..n], Direction::MsToSc), Ok(t));
        }
    }
}

/// A text needing more parts than allowed is refused with the count (one-off check beside
/// the properties).
#[test]
fn too_many_parts_names_the_count() {
    let text = "a".repeat(153 * 255 + 1);
    let err = plan(
        &text,
        &PlanOptions {
            max_parts: 255,
            ..PlanOptions::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the text needs 256 parts, at most 255 allowed"
    );
    let _ = Submit::new(Address::parse("+1").unwrap(), UserData::from_text("x"));
}
