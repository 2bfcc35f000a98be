//! `outpost pdu decode|encode` end to end: the printed fields, the plan line, the PDUs with
//! their AT+CMGS lengths, and one-line errors with exit code 2.

use std::process::Command;

use expect_test::{Expect, expect};

/// Runs `outpost` with `args` and renders exit code, stdout and stderr for a snapshot.
fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(args)
        .output()
        .expect("outpost runs");
    let code = out.status.code().map_or("signal".into(), |c| c.to_string());
    let mut s = format!("exit {code}\n");
    s.push_str(&String::from_utf8_lossy(&out.stdout));
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !stderr.is_empty() {
        s.push_str("stderr: ");
        s.push_str(&stderr);
    }
    s
}

fn check(args: &[&str], expect: Expect) {
    expect.assert_eq(&run(args));
}

const HOW_ARE_YOU: &str =
    "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07";

#[test]
fn decode_with_sca() {
    check(
        &["pdu", "decode", HOW_ARE_YOU],
        expect![[r#"
        exit 0
        SCA          +31624000000 (international, ISDN/E.164)
        type         SMS-DELIVER (SC→MS), TPDU 30 octets
        first octet  0x04: TP-MMS=1 (no more messages), TP-LP=0, TP-SRI=0, TP-UDHI=0, TP-RP=0
        TP-OA        +31641600986 (international, ISDN/E.164)
        TP-PID       0x00 (default)
        TP-DCS       0x00 (GSM-7, no class)
        TP-SCTS      2002-08-26T19:37:41+00:00
        TP-UDL       12 septets
        text         "How are you?"
    "#]],
    );
}

#[test]
fn decode_bare_tpdu_is_detected() {
    check(
        &["pdu", "decode", &HOW_ARE_YOU[16..]],
        expect![[r#"
        exit 0
        type         SMS-DELIVER (SC→MS), TPDU 30 octets
        first octet  0x04: TP-MMS=1 (no more messages), TP-LP=0, TP-SRI=0, TP-UDHI=0, TP-RP=0
        TP-OA        +31641600986 (international, ISDN/E.164)
        TP-PID       0x00 (default)
        TP-DCS       0x00 (GSM-7, no class)
        TP-SCTS      2002-08-26T19:37:41+00:00
        TP-UDL       12 septets
        text         "How are you?"
    "#]],
    );
}

#[test]
fn decode_forced_no_sca_lowercase() {
    check(
        &[
            "pdu",
            "decode",
            "--no-sca",
            "06ff0b911346610089f6521171519565235211716100002346",
        ],
        expect![[r#"
            exit 0
            type         SMS-STATUS-REPORT (SC→MS), TPDU 25 octets
            first octet  0x06: TP-MMS=1 (no more messages), TP-LP=0, TP-SRQ=0 (reports an SMS-SUBMIT), TP-UDHI=0
            TP-MR        255
            TP-RA        +31641600986 (international, ISDN/E.164)
            TP-SCTS      2025-11-17T15:59:56+08:00
            TP-DT        2025-11-17T16:00:00+08:00
            TP-ST        0x46 (permanent error: SM validity period expired)
        "#]],
    );
}

#[test]
fn decode_submit_direction_detected() {
    check(
        &[
            "pdu",
            "decode",
            "0691740900120011000A9174214365870000FF10C8329BFD0699E5EF36E81C6EB7EB",
        ],
        expect![[r#"
            exit 0
            SCA          +4790002100 (international, ISDN/E.164)
            type         SMS-SUBMIT (MS→SC), TPDU 27 octets
            first octet  0x11: TP-RD=0, TP-VPF=10, TP-SRR=0, TP-UDHI=0, TP-RP=0
            TP-MR        0
            TP-DA        +4712345678 (international, ISDN/E.164)
            TP-PID       0x00 (default)
            TP-DCS       0x00 (GSM-7, no class)
            TP-VP        relative 255 (63w)
            TP-UDL       16 septets
            text         "Hello from gammu"
        "#]],
    );
}

#[test]
fn decode_forced_wrong_direction_fails() {
    check(
        &["pdu", "decode", "--sca", "--direction", "mo", HOW_ARE_YOU],
        expect![[r#"
        exit 2
        stderr: error: SMS-DELIVER-REPORT is not supported by this decoder
    "#]],
    );
}

#[test]
fn decode_bad_hex_fails() {
    check(
        &["pdu", "decode", "07911326040000F0zz"],
        expect![[r#"
        exit 2
        stderr: error: bad hex: 'z' at position 16 is not a hex digit
    "#]],
    );
    check(
        &["pdu", "decode", "079"],
        expect![[r#"
        exit 2
        stderr: error: bad hex: odd number of digits (3)
    "#]],
    );
}

#[test]
fn decode_truncated_fails() {
    check(
        &["pdu", "decode", "--sca", &HOW_ARE_YOU[..40]],
        expect![[r#"
        exit 2
        stderr: error: truncated PDU: TP-SCTS needs 7 octets, 1 remain
    "#]],
    );
    check(
        &["pdu", "decode", &HOW_ARE_YOU[..40]],
        expect![[r#"
        exit 2
        stderr: error: not a PDU with SCA (truncated PDU: TP-SCTS needs 7 octets, 1 remain) nor a bare TPDU (reserved TP-MTI 3 (SC→MS))
    "#]],
    );
}

#[test]
fn encode_single_part() {
    check(
        &["pdu", "encode", "--to", "+8613800138000", "--text", "Hello"],
        expect![[r#"
        exit 0
        1 part, GSM-7, 155 characters left
        AT+CMGS=19
        0001000D91683108108300F0000005C8329BFD06
    "#]],
    );
}

#[test]
fn encode_with_options() {
    check(
        &[
            "pdu",
            "encode",
            "--to",
            "13800138000",
            "--text",
            "验证码 123456",
            "--report",
            "--class0",
            "--from-sca",
            "+8613800200500",
            "--validity",
            "1d",
            "--mr",
            "9",
        ],
        expect![[r#"
            exit 0
            1 part, UCS-2, 60 characters left
            AT+CMGS=34
            0891683108200005F031090B813108108300F00018A7149A8C8BC178010020003100320033003400350036
        "#]],
    );
}

#[test]
fn encode_multipart_ref16() {
    let text = "Long message part test 0123456789 ".repeat(5);
    check(
        &[
            "pdu",
            "encode",
            "--to",
            "+4712345678",
            "--text",
            &text,
            "--ref16",
            "--reference",
            "4660",
        ],
        expect![[r#"
            exit 0
            2 parts, GSM-7, 134 characters left
            part 1 of 2: AT+CMGS=152
            0041000A9174214365870000A006080412340201CCB7FB0C6A97E7F3F0B90C8287E57410BD3CA7836031D98C56B3DD703910F3ED3E83DAE5F93C7C2E83E061391D442FCFE920584C36A3D56C375C0EC47CBBCFA076793E0F9FCB2078584E07D1CB733A081693CD6835DB0D970331DFEE33A85D9ECFC3E732081E96D341F4F29C0E82C564335ACD76C3E540CCB7FB0C6A97E7F3F0B90C8287E5
            part 2 of 2: AT+CMGS=35
            0041000A91742143658700001A060804123402027410BD3CA7836031D98C56B3DD703910
        "#]],
    );
}

#[test]
fn encode_errors_exit_2() {
    let long = "x".repeat(400);
    check(
        &[
            "pdu",
            "encode",
            "--to",
            "+86",
            "--text",
            &long,
            "--max-parts",
            "2",
        ],
        expect![[r#"
        exit 2
        stderr: error: the text needs 3 parts, at most 2 allowed
    "#]],
    );
    check(
        &["pdu", "encode", "--to", "+86x", "--text", "hi"],
        expect![[r#"
        exit 2
        stderr: error: --to "+86x": 'x' at position 3 is not a digit
    "#]],
    );
    check(
        &[
            "pdu",
            "encode",
            "--to",
            "+86",
            "--text",
            "hi",
            "--validity",
            "3y",
        ],
        expect![[r#"
        exit 2
        stderr: error: --validity "3y": unknown unit "y" (use s, m, h, d or w)
    "#]],
    );
    check(
        &[
            "pdu",
            "encode",
            "--to",
            "+86",
            "--text",
            "hi",
            "--validity",
            "64w",
        ],
        expect![[r#"
        exit 2
        stderr: error: --validity "64w": validity period of 38707200 s is beyond 63 weeks, the longest relative period
    "#]],
    );
    check(
        &[
            "pdu",
            "encode",
            "--to",
            "+86",
            "--text",
            "中",
            "--encoding",
            "gsm7",
        ],
        expect![[r#"
        exit 2
        stderr: error: '中' at position 0 is not in the GSM 7-bit alphabet
    "#]],
    );
    check(
        &[
            "pdu",
            "encode",
            "--to",
            "+86",
            "--text",
            "hi",
            "--from-sca",
            "Bank",
        ],
        expect![[r#"
        exit 2
        stderr: error: --from-sca "Bank": a service centre is a number
    "#]],
    );
}

#[test]
fn usage_error_exit_2() {
    let out = run(&["pdu", "decode"]);
    assert!(
        out.starts_with("exit 2\nstderr: error: the following required arguments"),
        "{out}"
    );
}
