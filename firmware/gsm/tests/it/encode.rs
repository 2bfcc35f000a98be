//! Encoder tests: SMS-SUBMIT as the AT clients in `shared/reference/at-clients.md` send it,
//! SMS-DELIVER and SMS-STATUS-REPORT as the modem simulator produces them, and the SMPP
//! `short_message` form of planned segments.

use gsm::{
    Address, Deliver, Direction, EncodeError, MessageClass, Pdu, PlanOptions, ReportQualifier,
    StatusCode, StatusReport, Submit, Timestamp, Tpdu, UserData, Validity, decode_with_sca, plan,
};

use crate::hex;

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

/// Encodes with an SCA; returns the hex and the `AT+CMGS` length.
fn with_sca(submit: &Submit<'_>, sca: Option<&Address>) -> (String, usize) {
    let mut out = [0u8; 200];
    let e = submit.encode_with_sca(sca, &mut out).unwrap();
    (hex(&out[..e.len]), e.tpdu_len)
}

fn ts(tz_quarters: i8) -> Timestamp {
    Timestamp {
        year: 2,
        month: 8,
        day: 26,
        hour: 19,
        minute: 37,
        second: 41,
        tz_quarters,
    }
}

#[test]
fn submit_like_gammu() {
    // gammu 1.42 `sendsms`: SCA from AT+CSCA?, first octet 0x11, VP 0xFF, AT+CMGS=27.
    let sca = addr("+4790002100");
    let submit = Submit::new(addr("+4712345678"), UserData::from_text("Hello from gammu"))
        .with_validity(Validity::Relative(gsm::RelativeValidity(0xFF)));
    assert_eq!(
        with_sca(&submit, Some(&sca)),
        (
            "0691740900120011000A9174214365870000FF10C8329BFD0699E5EF36E81C6EB7EB".into(),
            27
        )
    );
    // `-report` sets SRR: first octet 0x31, AT+CMGS=28.
    let report = Submit::new(
        addr("+4712345678"),
        UserData::from_text("Hello with report"),
    )
    .with_validity(Validity::Relative(gsm::RelativeValidity(0xFF)))
    .with_status_report(true);
    let (pdu, len) = with_sca(&report, Some(&sca));
    assert_eq!((&pdu[14..16], len), ("31", 28));
    // What the modem checks the AT+CMGS length against: the octets after the SCA.
    let bytes = crate::bytes(&pdu);
    let (got_sca, tpdu) = gsm::split_sca(&bytes).unwrap();
    assert_eq!((got_sca, tpdu.len()), (Some(sca), 28));
}

#[test]
fn submit_like_other_clients() {
    let to = addr("+4712345678");
    // python-gsmmodem: SRR always, no VP: `0021000A917421436587000011…`, AT+CMGS=27.
    let s =
        Submit::new(to.clone(), UserData::from_text("Hello from python")).with_status_report(true);
    let (pdu, len) = with_sca(&s, None);
    assert!(pdu.starts_with("0021000A917421436587000011"), "{pdu}");
    assert_eq!(len, 27);
    // Kannel: VP relative 167 (one day): `0011000A9174214365870000A711…`, AT+CMGS=28.
    let one_day = Validity::relative_seconds(86_400).unwrap();
    let s = Submit::new(to, UserData::from_text("Hello from kannel")).with_validity(one_day);
    let (pdu, len) = with_sca(&s, None);
    assert!(pdu.starts_with("0011000A9174214365870000A711"), "{pdu}");
    assert_eq!(len, 28);
}

#[test]
fn multipart_like_gammu() {
    // gammu split this text 153 + 47 with UDH 05 00 03 1F 02 0x and AT+CMGS=153 / 61.
    let text = "Long message part test 0123456789 ".repeat(5) + "Long message part test 0123456";
    let p = plan(&text, &PlanOptions::default()).unwrap();
    assert_eq!(p.to_string(), "2 parts, GSM-7, 106 characters left");
    let to = addr("+4712345678");
    let sca = addr("+4790002100");
    let got: Vec<(String, usize)> = p
        .segments(0x1F)
        .map(|seg| {
            let s = seg
                .submit(to.clone())
                .with_validity(Validity::Relative(gsm::RelativeValidity(0xFF)));
            let (pdu, len) = with_sca(&s, Some(&sca));
            (pdu[14..16].to_string() + " " + &pdu[40..52], len)
        })
        .collect();
    assert_eq!(
        got,
        [
            ("51 0500031F0201".to_string(), 153),
            ("51 0500031F0202".to_string(), 61)
        ]
    );
}

#[test]
fn class0_and_dcs() {
    let to = addr("13800138000");
    let flash = Submit::new(to.clone(), UserData::from_text("Flash"))
        .with_class(Some(MessageClass::Class0));
    assert_eq!(flash.dcs.0, 0x10);
    let flash =
        Submit::new(to.clone(), UserData::from_text("闪信")).with_class(Some(MessageClass::Class0));
    assert_eq!(flash.dcs.0, 0x18);
    let (pdu, _) = with_sca(&flash, None);
    assert_eq!(pdu, "0001000B813108108300F000180495EA4FE1");
    // A DCS that disagrees with the data is refused, not sent garbled.
    let mut wrong = Submit::new(to, UserData::from_text("abc"));
    wrong.dcs = gsm::Dcs::UCS2;
    assert_eq!(
        wrong.encode(&mut [0u8; 64]),
        Err(EncodeError::AlphabetMismatch)
    );
}

#[test]
fn encode_errors() {
    let s = Submit::new(addr("+1"), UserData::from_text("hello"));
    assert_eq!(
        s.encode(&mut [0u8; 8]),
        Err(EncodeError::BufferTooSmall {
            needed: 13,
            available: 8
        })
    );
    let long = "x".repeat(200);
    let s = Submit::new(addr("+1"), UserData::from_text(&long));
    assert_eq!(
        s.encode(&mut [0u8; 200]),
        Err(EncodeError::UserDataTooLong {
            needed: 200,
            max: 160
        })
    );
}

#[test]
fn deliver_round_trip() {
    let deliver = Deliver {
        more_messages: false,
        loop_prevention: false,
        status_report_indication: false,
        reply_path: false,
        originator: addr("+31641600986"),
        pid: gsm::Pid(0),
        dcs: gsm::Dcs::GSM7,
        sc_timestamp: ts(8),
        user_data: UserData::from_text("How are you?"),
    };
    let pdu = Pdu {
        sca: Some(addr("+31624000000")),
        tpdu: Tpdu::Deliver(deliver),
    };
    let mut out = [0u8; 200];
    let e = pdu.encode(&mut out).unwrap();
    assert_eq!(
        hex(&out[..e.len]),
        "07911326040000F0040B911346610089F60000208062917314800CC8F71D14969741F977FD07"
    );
    assert_eq!(decode_with_sca(&out[..e.len], Direction::ScToMs), Ok(pdu));
}

#[test]
fn status_report_round_trip() {
    let at = |hour, minute, second| Timestamp {
        year: 25,
        month: 11,
        day: 17,
        hour,
        minute,
        second,
        tz_quarters: 32,
    };
    let report = StatusReport {
        more_messages: false,
        loop_prevention: false,
        qualifier: ReportQualifier::Submit,
        message_ref: 42,
        recipient: addr("+8613800138000"),
        sc_timestamp: at(15, 59, 56),
        discharge_time: at(16, 0, 0),
        status: StatusCode::DELIVERED,
        pid: None,
        dcs: None,
        user_data: None,
    };
    let pdu = Pdu {
        sca: Some(addr("+79168999100")),
        tpdu: Tpdu::StatusReport(report),
    };
    let mut out = [0u8; 200];
    let e = pdu.encode(&mut out).unwrap();
    assert_eq!(
        hex(&out[..e.len]),
        "07919761989901F0062A0D91683108108300F0521171519565235211716100002300"
    );
    assert_eq!(decode_with_sca(&out[..e.len], Direction::ScToMs), Ok(pdu));
}

#[test]
fn smpp_short_message_of_segments() {
    let text = "€".repeat(81);
    let p = plan(&text, &PlanOptions::default()).unwrap();
    let parts: Vec<String> = p
        .segments(0xAB)
        .map(|s| {
            let mut out = [0u8; 200];
            let n = s.encode_smpp(&mut out).unwrap();
            format!("{} {}", n, hex(&out[..12]))
        })
        .collect();
    // 76 euros (152 septets) fit the first part with the 6-octet header; the 77th would
    // split its escape from its code, so five go on.
    assert_eq!(
        parts,
        [
            "158 050003AB02011B651B651B65",
            "16 050003AB02021B651B651B65"
        ]
    );
    let ucs = plan("中文", &PlanOptions::default()).unwrap();
    let seg = ucs.segments(0).next().unwrap();
    let mut out = [0u8; 8];
    let n = seg.encode_smpp(&mut out).unwrap();
    assert_eq!(hex(&out[..n]), "4E2D6587");
}
