//! Data-driven digester tests: every case is fed whole, one byte at a time and in random splits.

use std::string::String;
use std::vec::Vec;

use expect_test::{Expect, expect};
use proptest::prelude::*;

use super::*;

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn render(item: Item<'_>) -> String {
    match item {
        Item::Echo => "echo".into(),
        Item::Prompt => "prompt".into(),
        Item::Final(f) => std::format!("final {f:?}"),
        Item::Info(l) => std::format!("info {}", lossy(l)),
        Item::Pdu(l) => std::format!("pdu {}", lossy(l)),
        Item::Urc(Urc::Cmt { len, pdu }) => std::format!("urc cmt {len} {}", lossy(pdu)),
        Item::Urc(Urc::Cds { len, pdu }) => std::format!("urc cds {len} {}", lossy(pdu)),
        Item::Urc(Urc::Other(l)) => std::format!("urc other {}", lossy(l)),
        Item::Urc(u) => std::format!("urc {u:?}"),
        Item::Garbage(g) => std::format!("garbage {g:?}"),
    }
}

/// Feeds `chunks` in order to a digester that was told about `cmd` (if not empty).
fn run<const N: usize>(cmd: &str, chunks: &[&[u8]]) -> Vec<String> {
    let mut d: Digester<N> = Digester::new();
    if !cmd.is_empty() {
        d.begin(cmd.as_bytes());
    }
    let mut out = Vec::new();
    for chunk in chunks {
        let mut rest = *chunk;
        let mut guard = 0;
        loop {
            guard += 1;
            assert!(guard < 100_000, "digester does not make progress");
            let (used, item) = d.feed(rest);
            rest = &rest[used..];
            match item {
                Some(item) => out.push(render(item)),
                None => {
                    assert!(rest.is_empty(), "None before the input was used up");
                    break;
                }
            }
        }
    }
    out
}

fn whole(cmd: &str, input: &[u8]) -> Vec<String> {
    run::<LINE_CAP>(cmd, &[input])
}

fn bytewise(cmd: &str, input: &[u8]) -> Vec<String> {
    let chunks: Vec<&[u8]> = input.chunks(1).collect();
    run::<LINE_CAP>(cmd, &chunks)
}

fn check(cmd: &str, input: &[u8], expect: Expect) {
    let got = whole(cmd, input);
    expect.assert_eq(&got.join("\n"));
    assert_eq!(
        bytewise(cmd, input),
        got,
        "byte-at-a-time differs from whole"
    );
    for size in [2, 3, 5, 7, 13] {
        let chunks: Vec<&[u8]> = input.chunks(size).collect();
        assert_eq!(
            run::<LINE_CAP>(cmd, &chunks),
            got,
            "chunks of {size} differ from whole"
        );
    }
}

#[test]
fn final_results() {
    check("AT", b"\r\nOK\r\n", expect!["final Ok"]);
    check("AT+CMGF=0", b"\r\nERROR\r\n", expect!["final Error"]);
    check(
        "AT+CPIN?",
        b"\r\n+CME ERROR: 10\r\n",
        expect!["final Cme(SimNotInserted)"],
    );
    check(
        "AT+CPIN?",
        b"\r\n+CME ERROR: SIM not inserted\r\n",
        expect!["final Cme(SimNotInserted)"],
    );
    check(
        "AT+CMGS=27",
        b"\r\n+CMS ERROR: 500\r\n",
        expect!["final Cms(Unknown)"],
    );
    check(
        "AT+CMGS=27",
        b"\r\n+CMS ERROR:304\r\n",
        expect!["final Cms(InvalidPduParameter)"],
    );
    check(
        "AT+CMGS=27",
        b"\r\n+CMS ERROR: 9999\r\n",
        expect!["final Cms(Other(9999))"],
    );
    check("AT", b"OK\n", expect!["final Ok"]);
    check("AT", b"\n\rOK\n\r", expect!["final Ok"]);
    check("AT", b"\rOK\r", expect!["final Ok"]);
    check("AT", b"  OK  \r\n", expect!["final Ok"]);
    // Never by substring: these are text, not results.
    check(
        "ATI",
        b"\r\nOKAY\r\nNOT OK\r\nERRORS\r\n",
        expect![[r#"
        info OKAY
        info NOT OK
        info ERRORS"#]],
    );
    check("AT", b"\r\nok\r\n", expect!["info ok"]);
    check(
        "AT",
        b"\r\n+CME ERRORS: 3\r\n",
        expect!["info +CME ERRORS: 3"],
    );
}

#[test]
fn information_lines() {
    check(
        "AT+CSQ",
        b"\r\n+CSQ: 21,0\r\n\r\nOK\r\n",
        expect![[r#"
        info +CSQ: 21,0
        final Ok"#]],
    );
    check(
        "ATI",
        b"\r\nSIMCOM_Ltd\r\nSIMCOM_SIM800\r\nRevision:1418B05SIM800L24\r\n\r\nOK\r\n",
        expect![[r#"
            info SIMCOM_Ltd
            info SIMCOM_SIM800
            info Revision:1418B05SIM800L24
            final Ok"#]],
    );
    // Huawei ATI carries `+GCAP:`; a basic command has no name of its own.
    check(
        "ATI",
        b"\r\nManufacturer: huawei\r\nModel: E3372\r\n+GCAP: +CGSM,+DS,+ES\r\n\r\nOK\r\n",
        expect![[r#"
            info Manufacturer: huawei
            info Model: E3372
            info +GCAP: +CGSM,+DS,+ES
            final Ok"#]],
    );
    check(
        "AT+CIMI",
        b"\r\n242011234567890\r\n\r\nOK\r\n",
        expect![[r#"
        info 242011234567890
        final Ok"#]],
    );
    // The query's own +CREG line is information, not a URC.
    check(
        "AT+CREG?",
        b"\r\n+CREG: 2,1,\"1A2B\",\"0C3D\"\r\n\r\nOK\r\n",
        expect![[r#"
        info +CREG: 2,1,"1A2B","0C3D"
        final Ok"#]],
    );
    check(
        "AT+CPIN?",
        b"\r\n+CPIN: NOT READY\r\n\r\nOK\r\n",
        expect![[r#"
        info +CPIN: NOT READY
        final Ok"#]],
    );
}

#[test]
fn urcs_interleaved_with_responses() {
    check(
        "AT+CSQ",
        b"\r\n+CMTI: \"SM\",3\r\n\r\n+CSQ: 21,0\r\n\r\n+CDSI: \"SR\",12\r\n\r\nOK\r\n\r\nRING\r\n",
        expect![[r#"
            urc Cmti { mem: Sm, index: 3 }
            info +CSQ: 21,0
            urc Cdsi { mem: Sr, index: 12 }
            final Ok
            urc Ring"#]],
    );
    check(
        "",
        b"\r\n+CREG: 5\r\n+CEREG: 1,\"1A2B\",\"0C3D\",7\r\n+CGREG: 0,3\r\n",
        expect![[r#"
        urc Registration { kind: Cs, stat: Roaming }
        urc Registration { kind: Eps, stat: Home }
        urc Registration { kind: Gprs, stat: Denied }"#]],
    );
    check(
        "AT+CMGS=27",
        b"\r\n+CPIN: NOT READY\r\n",
        expect!["urc Sim(NotReady)"],
    );
    check(
        "",
        b"\r\n+CPIN: READY\r\n+CPIN: SIM PIN\r\n",
        expect![[r#"
        urc Sim(Ready)
        urc Sim(PinRequired)"#]],
    );
    check(
        "",
        b"\r\n+CMTI: \"XX\",3\r\n+CMTI: \"SM\",x\r\n",
        expect![[r#"
        urc other +CMTI: "XX",3
        urc other +CMTI: "SM",x"#]],
    );
    // A URC with another name during an extended command is never taken as its answer.
    check(
        "AT+CSQ",
        b"\r\n^RSSI: 15\r\n+CSQ: 15,99\r\nOK\r\n",
        expect![[r#"
        urc other ^RSSI: 15
        info +CSQ: 15,99
        final Ok"#]],
    );
    // Unknown text with nothing pending.
    check("", b"\r\nhello\r\n", expect!["urc other hello"]);
}

#[test]
fn banners() {
    check(
        "",
        b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n",
        expect![[r#"
            urc Banner(Rdy)
            urc other +CFUN: 1
            urc Sim(Ready)
            urc Banner(CallReady)
            urc Banner(SmsReady)"#]],
    );
    check("AT+CMGS=27", b"\r\nRDY\r\n", expect!["urc Banner(Rdy)"]);
    check(
        "",
        b"\r\nNORMAL POWER DOWN\r\nRDY.\r\n",
        expect![[r#"
        urc Banner(PowerDown)
        urc other RDY."#]],
    );
}

#[test]
fn pdus_after_headers() {
    // Direct delivery (CNMI mt=2, TS 27.005 3.4.1).
    check(
        "",
        b"\r\n+CMT: ,39\r\n06917409001200040A91741932547600006211223094240018C8329BFD0699E5EF36888E2E83E6E9769D1DA6BFE5\r\n",
        expect!["urc cmt 39 06917409001200040A91741932547600006211223094240018C8329BFD0699E5EF36888E2E83E6E9769D1DA6BFE5"],
    );
    check(
        "",
        b"\r\n+CMT: \"\",24\r\n0011\r\n",
        expect!["urc cmt 24 0011"],
    );
    check(
        "",
        b"\r\n+CDS: 24\r\n0691740900120006030A917421436587621122309493006211223094930000\r\n",
        expect!["urc cds 24 0691740900120006030A917421436587621122309493006211223094930000"],
    );
    // Text-mode +CDS has no PDU line.
    check(
        "",
        b"\r\n+CDS: 6,1,\"+47\",145\r\n",
        expect![[r#"urc other +CDS: 6,1,"+47",145"#]],
    );
    // A header whose PDU never comes: the next line stands on its own.
    check(
        "AT+CSQ",
        b"\r\n+CMT: ,39\r\nOK\r\n",
        expect![[r#"
        garbage MissingPdu
        final Ok"#]],
    );
    check(
        "",
        b"\r\n+CMT: ,39\r\n+CMTI: \"SM\",1\r\n",
        expect![[r#"
        garbage MissingPdu
        urc Cmti { mem: Sm, index: 1 }"#]],
    );
    check(
        "",
        b"\r\n+CMT: ,39\r\n+CMT: ,2\r\n00AA\r\n",
        expect![[r#"
        garbage MissingPdu
        urc cmt 2 00AA"#]],
    );
    // Read and list.
    check(
        "AT+CMGR=1",
        b"\r\n+CMGR: 0,,39\r\n0691AB\r\n\r\nOK\r\n",
        expect![[r#"
        info +CMGR: 0,,39
        pdu 0691AB
        final Ok"#]],
    );
    check(
        "AT+CMGL=4",
        b"\r\n+CMGL: 1,0,,39\r\n0691AB\r\n+CMGL: 2,1,,24\r\n0691CD\r\n\r\nOK\r\n",
        expect![[r#"
            info +CMGL: 1,0,,39
            pdu 0691AB
            info +CMGL: 2,1,,24
            pdu 0691CD
            final Ok"#]],
    );
    // An empty slot answers with length 0 and no PDU line.
    check(
        "AT+CMGR=9",
        b"\r\n+CMGR: 0,,0\r\n\r\nOK\r\n",
        expect![[r#"
        info +CMGR: 0,,0
        final Ok"#]],
    );
}

#[test]
fn prompt_and_echo() {
    // Echo on (gammu's ATE1): the command comes back, ended by CR only.
    check(
        "AT+CMGS=27",
        b"AT+CMGS=27\r\r\n> ",
        expect![[r#"
        echo
        prompt"#]],
    );
    check("AT+CMGS=27", b"\r\n> ", expect!["prompt"]);
    check("AT+CMGS=27", b"> ", expect!["prompt"]);
    // Without the space it is not the prompt (TS 27.005 3.5.1 prescribes `> `).
    check("AT+CMGS=27", b"\r\n>\r\n", expect!["info >"]);
    check("AT+CMGS=27", b"\r\n>x\r\n", expect!["info >x"]);
    // The echo is matched once and exactly.
    check(
        "AT",
        b"AT\rAT\r\r\nOK\r\n",
        expect![[r#"
        echo
        info AT
        final Ok"#]],
    );
    check(
        "AT+CSQ",
        b"AT+CSQ\r\r\n+CSQ: 9,0\r\n\r\nOK\r\n",
        expect![[r#"
        echo
        info +CSQ: 9,0
        final Ok"#]],
    );
}

#[test]
fn body_echo_after_prompt() {
    let mut d: Digester = Digester::new();
    d.begin(b"AT+CMGS=3");
    let mut out = Vec::new();
    let mut feed = |d: &mut Digester, mut rest: &[u8]| {
        loop {
            let (used, item) = d.feed(rest);
            rest = &rest[used..];
            match item {
                Some(i) => out.push(render(i)),
                None => break,
            }
        }
    };
    feed(&mut d, b"AT+CMGS=3\r\r\n> ");
    d.expect_echo(b"0001000A");
    feed(&mut d, b"0001000A\x1a\r\n+CMGS: 12\r\n\r\nOK\r\n");
    expect![[r#"
        echo
        prompt
        echo
        info +CMGS: 12
        final Ok"#]]
    .assert_eq(&out.join("\n"));
}

#[test]
fn garbage_and_overflow() {
    check("", b"\x00\xff\x00RDY\r\n", expect!["urc Banner(Rdy)"]);
    check(
        "",
        b"\x01\x02\x03\r\nOK\r\n",
        expect![[r#"
        garbage Binary
        final Ok"#]],
    );
    let long = [b'A'; 600];
    let mut input = Vec::new();
    input.extend_from_slice(b"\r\n");
    input.extend_from_slice(&long);
    input.extend_from_slice(b"\r\nOK\r\n");
    check(
        "AT",
        &input,
        expect![[r#"
        garbage Overflow
        final Ok"#]],
    );
    // An overlong PDU after a +CMT header drops the header too.
    let mut input = Vec::new();
    input.extend_from_slice(b"+CMT: ,300\r\n");
    input.extend_from_slice(&[b'0'; 600]);
    input.extend_from_slice(b"\r\n+CMTI: \"ME\",1\r\n");
    check(
        "",
        &input,
        expect![[r#"
        garbage Overflow
        urc Cmti { mem: Me, index: 1 }"#]],
    );
    // Exactly the capacity fits.
    let got = run::<8>("", &[b"12345678\r\n"]);
    assert_eq!(got, ["urc other 12345678"]);
    let got = run::<8>("", &[b"123456789\r\nOK\r\n"]);
    assert_eq!(got, ["garbage Overflow", "final Ok"]);
}

/// Every stream of the cases above, split at random points, gives the same items as whole.
const STREAMS: &[(&str, &[u8])] = &[
    (
        "AT+CSQ",
        b"AT+CSQ\r\r\n+CMTI: \"SM\",3\r\n+CSQ: 21,0\r\n\r\nOK\r\n",
    ),
    (
        "AT+CMGS=27",
        b"AT+CMGS=27\r\r\n> \r\n+CMGS: 12\r\n\r\nOK\r\n\r\n+CDS: 2\r\n00AA\r\n",
    ),
    (
        "",
        b"\r\n+CMT: ,39\r\nOK\r\nRDY\r\n\x00\xffCall Ready\r\n> ",
    ),
    (
        "AT+CMGL=4",
        b"\r\n+CMGL: 1,0,,39\r\n0691AB\r\n+CMGL: 2,1,,24\r\n\r\nOK\r\n",
    ),
];

proptest! {
    #[test]
    fn random_splits_give_the_same_items(case in 0..STREAMS.len(), cuts in proptest::collection::vec(0usize..80, 0..12)) {
        let (cmd, input) = STREAMS[case];
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut at = 0;
        for c in cuts {
            chunks.push(&input[at..c.max(at)]);
            at = c.max(at);
        }
        chunks.push(&input[at..]);
        prop_assert_eq!(run::<LINE_CAP>(cmd, &chunks), whole(cmd, input));
    }

    #[test]
    fn arbitrary_bytes_never_panic(cmd in "[A-Z+=?0-9]{0,12}", data in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let _ = run::<LINE_CAP>(&cmd, &[&data]);
        let _ = run::<16>(&cmd, &[&data]);
    }

    #[test]
    fn line_soup_never_panics(parts in proptest::collection::vec(prop_oneof![
        Just(&b"\r\n"[..]), Just(&b"OK"[..]), Just(&b"+CMT: ,3"[..]), Just(&b"+CMGR: 0,,2"[..]),
        Just(&b"> "[..]), Just(&b"00AA"[..]), Just(&b"+CDS: 2"[..]), Just(&b"\x1a"[..]), Just(&b"+CME ERROR: "[..]),
    ], 0..60)) {
        let input: Vec<u8> = parts.concat();
        let a = run::<LINE_CAP>("AT+CMGR=1", &[&input]);
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        prop_assert_eq!(run::<LINE_CAP>("AT+CMGR=1", &chunks), a);
    }
}
