//! Golden byte vectors: the frames quoted in `docs/link-protocol.md` §8 are checked byte for
//! byte against the encoder, and decoded back to the same values, so any change to the wire
//! format shows up here. `UPDATE_GOLDEN=1 cargo test -p link --test it golden` rewrites the
//! block in the document after an intended change (which needs a version bump, §6).

use std::fmt::Write as _;

use link::frame::{FLAG_NAK, FLAG_PING, FrameDecoder, Header, Hello, Kind, MAX_WIRE_LEN};
use link::msg::{
    BankInfo, HostTag, LogEvent, LogLevel, Pdu, Registration, Signal, SimInfo, SlotConfig,
    SlotCounters, SlotId, SlotLimits, SlotState, SlotStatus, SubmitError, SubmitOutcome,
};
use link::{BankToHost, HostToBank};

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/link-protocol.md");
const BEGIN: &str = "<!-- golden vectors: begin -->";
const END: &str = "<!-- golden vectors: end -->";

/// A frame body as the test knows it, to compare after decoding.
#[derive(Debug, PartialEq)]
enum Body {
    Hello(Hello),
    Host(HostToBank),
    Bank(BankToHost),
    Empty,
}

fn header(kind: Kind, flags: u8, seq: u16, ack: u16) -> Header {
    Header {
        kind,
        flags,
        seq,
        ack,
    }
}

/// SCA "00" (use the SIM's SMSC) then an SMS-SUBMIT to +15551234567 saying "hi" in the GSM 7-bit
/// alphabet (TS 23.040 §9.2.2.2).
fn submit_pdu() -> Pdu {
    Pdu::new(
        &[
            0x00, 0x01, 0x00, 0x0B, 0x91, 0x51, 0x55, 0x21, 0x43, 0x65, 0xF7, 0x00, 0x00, 0x02,
            0xE8, 0x34,
        ],
        15,
    )
    .unwrap()
}

/// SCA +447700900123 then an SMS-DELIVER from +15551234567 saying "hi" (TS 23.040 §9.2.2.1).
fn deliver_pdu() -> Pdu {
    Pdu::new(
        &[
            0x07, 0x91, 0x44, 0x77, 0x00, 0x09, 0x10, 0x32, 0x04, 0x0B, 0x91, 0x51, 0x55, 0x21,
            0x43, 0x65, 0xF7, 0x00, 0x00, 0x52, 0x10, 0x13, 0x21, 0x43, 0x65, 0x00, 0x02, 0xE8,
            0x34,
        ],
        21,
    )
    .unwrap()
}

fn s<const N: usize>(text: &str) -> heapless::String<N> {
    heapless::String::try_from(text).unwrap()
}

fn cases() -> Vec<(&'static str, Header, Body)> {
    vec![
        (
            "hello",
            header(Kind::Hello, 0, 0, 0),
            Body::Hello(Hello {
                major: 1,
                minor: 0,
                boot_id: 0x0102_0304,
                peer_boot_id: None,
                window: 8,
            }),
        ),
        (
            "hello-ack",
            header(Kind::HelloAck, 0, 0, 0),
            Body::Hello(Hello {
                major: 1,
                minor: 0,
                boot_id: 0xA0B0_C0D0,
                peer_boot_id: Some(0x0102_0304),
                window: 4,
            }),
        ),
        ("ack", header(Kind::Ack, 0, 0, 3), Body::Empty),
        (
            "ack-nak",
            header(Kind::Ack, FLAG_NAK, 0, 0x0102),
            Body::Empty,
        ),
        ("ping", header(Kind::Ack, FLAG_PING, 0, 0), Body::Empty),
        (
            "submit",
            header(Kind::Data, 0, 0, 0),
            Body::Host(HostToBank::Submit {
                slot: SlotId(1),
                tag: HostTag(0x1234),
                pdu: submit_pdu(),
            }),
        ),
        (
            "cancel",
            header(Kind::Data, 0, 1, 0),
            Body::Host(HostToBank::Cancel {
                tag: HostTag(0x1234),
            }),
        ),
        (
            "reset-slot",
            header(Kind::Data, 0, 2, 0),
            Body::Host(HostToBank::ResetSlot {
                slot: SlotId(3),
                hard: true,
            }),
        ),
        (
            "configure",
            header(Kind::Data, 0, 3, 0),
            Body::Host(HostToBank::Configure {
                slot: SlotId(0),
                config: SlotConfig {
                    enabled: true,
                    pin: Some(s("1234")),
                    profile: None,
                    limits: SlotLimits {
                        per_minute: Some(10),
                        per_hour: None,
                        per_day: Some(1000),
                    },
                },
            }),
        ),
        (
            "ack-inbound",
            header(Kind::Data, 0, 4, 2),
            Body::Host(HostToBank::AckInbound {
                slot: SlotId(2),
                index: 17,
            }),
        ),
        (
            "query",
            header(Kind::Data, 0, 5, 2),
            Body::Host(HostToBank::Query),
        ),
        (
            "slot-status",
            header(Kind::Data, 0, 0, 1),
            Body::Bank(BankToHost::SlotStatus(SlotStatus {
                slot: SlotId(2),
                state: SlotState::Ready,
                registration: Registration::Home,
                sim: SimInfo {
                    iccid: None,
                    imsi: Some(s("001010123456789")),
                },
                operator: Some(s("Test")),
                signal: Signal { rssi: 21, ber: 99 },
                counters: SlotCounters {
                    sent: 200,
                    failed: 1,
                    received: 3,
                    reinits: 0,
                    power_cycles: 0,
                    timeouts: 0,
                },
                queued: 0,
            })),
        ),
        (
            "submit-accepted",
            header(Kind::Data, 0, 1, 1),
            Body::Bank(BankToHost::SubmitResult {
                slot: SlotId(1),
                tag: HostTag(0x1234),
                outcome: SubmitOutcome::Accepted { mr: 0x2A },
            }),
        ),
        (
            "submit-failed",
            header(Kind::Data, 0, 2, 1),
            Body::Bank(BankToHost::SubmitResult {
                slot: SlotId(1),
                tag: HostTag(0x1235),
                outcome: SubmitOutcome::Failed(SubmitError::Cms(500)),
            }),
        ),
        (
            "inbound-sms",
            header(Kind::Data, 0, 3, 1),
            Body::Bank(BankToHost::InboundSms {
                slot: SlotId(2),
                index: 17,
                pdu: deliver_pdu(),
            }),
        ),
        (
            "log",
            header(Kind::Data, 0, 4, 1),
            Body::Bank(BankToHost::Log(LogEvent {
                level: LogLevel::Warn,
                slot: Some(SlotId(2)),
                text: s("CSQ 99"),
            })),
        ),
        (
            "bank-info",
            header(Kind::Data, 0, 5, 1),
            Body::Bank(BankToHost::BankInfo(BankInfo {
                firmware: s("0.1.0"),
                slot_count: 4,
                uptime_ms: 60_000,
            })),
        ),
    ]
}

fn encode(h: &Header, body: &Body) -> Vec<u8> {
    let mut out = [0u8; MAX_WIRE_LEN];
    let n = match body {
        Body::Hello(b) => link::frame::encode_message(h, b, &mut out),
        Body::Host(b) => link::frame::encode_message(h, b, &mut out),
        Body::Bank(b) => link::frame::encode_message(h, b, &mut out),
        Body::Empty => link::frame::encode(h, &[], &mut out),
    }
    .unwrap();
    out[..n].to_vec()
}

fn decode(bytes: &[u8], like: &Body) -> (Header, Body) {
    let mut dec = FrameDecoder::new();
    let mut input = bytes;
    let f = dec
        .feed(&mut input)
        .expect("one frame")
        .expect("valid frame");
    assert!(input.is_empty(), "one frame exactly");
    let body = match like {
        Body::Hello(_) => Body::Hello(f.decode_body().unwrap()),
        Body::Host(_) => Body::Host(f.decode_body().unwrap()),
        Body::Bank(_) => Body::Bank(f.decode_body().unwrap()),
        Body::Empty => {
            assert!(f.body.is_empty());
            Body::Empty
        }
    };
    (f.header, body)
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::new();
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn unhex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).unwrap_or_else(|_| panic!("bad hex {h:?}")))
        .collect()
}

/// The vectors as the document quotes them: `name  hex hex …` lines inside the markers.
fn quoted(doc: &str) -> Vec<(String, Vec<u8>)> {
    let start = doc.find(BEGIN).expect("begin marker in the spec");
    let end = doc.find(END).expect("end marker in the spec");
    doc[start + BEGIN.len()..end]
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("```"))
        .map(|l| {
            let (name, rest) = l.trim().split_once(' ').expect("name then hex");
            (name.to_owned(), unhex(rest))
        })
        .collect()
}

fn render(cases: &[(&str, Vec<u8>)]) -> String {
    let mut s = String::from("\n```text\n");
    for (name, bytes) in cases {
        let _ = writeln!(s, "{name:<16} {}", hex(bytes));
    }
    s.push_str("```\n");
    s
}

#[test]
fn golden_vectors_match_the_spec() {
    let doc = std::fs::read_to_string(DOC).expect("docs/link-protocol.md");
    let cases = cases();
    let actual: Vec<(&str, Vec<u8>)> = cases.iter().map(|(n, h, b)| (*n, encode(h, b))).collect();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let start = doc.find(BEGIN).unwrap() + BEGIN.len();
        let end = doc.find(END).unwrap();
        let updated = format!("{}{}{}", &doc[..start], render(&actual), &doc[end..]);
        std::fs::write(DOC, updated).unwrap();
        return;
    }
    let quoted = quoted(&doc);
    let names: Vec<&str> = quoted.iter().map(|(n, _)| n.as_str()).collect();
    let want: Vec<&str> = actual.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names, want,
        "the spec quotes exactly these vectors, in this order"
    );
    for ((name, bytes), (_, h, body)) in quoted.iter().zip(&cases) {
        assert_eq!(
            hex(bytes),
            hex(&encode(h, body)),
            "vector `{name}` differs from the encoder (UPDATE_GOLDEN=1 after a versioned change)"
        );
        assert_eq!(
            &decode(bytes, body),
            &(*h, decode_like(body)),
            "vector `{name}` decodes"
        );
    }
}

/// The expected decoded body: the case's own value (compared by `PartialEq`).
fn decode_like(body: &Body) -> Body {
    match body {
        Body::Hello(h) => Body::Hello(*h),
        Body::Host(m) => Body::Host(m.clone()),
        Body::Bank(m) => Body::Bank(m.clone()),
        Body::Empty => Body::Empty,
    }
}

/// Postcard ignores bytes after a complete value; the spec (§6) relies on it to let a newer
/// minor version append fields to the end of a top-level message.
#[test]
fn trailing_bytes_after_a_message_are_ignored() {
    let mut buf = [0u8; 64];
    let used = postcard::to_slice(&HostToBank::Query, &mut buf)
        .unwrap()
        .len();
    buf[used] = 0x55;
    let decoded: HostToBank = postcard::from_bytes(&buf[..used + 1]).unwrap();
    assert_eq!(decoded, HostToBank::Query);
}
