//! Data-driven decode tests: one PDU per line, the readable dump (what `outpost pdu decode`
//! prints) as an expect-test snapshot. `UPDATE_EXPECT=1 cargo test -p gsm` rewrites them.

use expect_test::{Expect, expect};
use gsm::{Direction, Dump, decode_with_sca};

fn render(hex: &str, direction: Direction) -> String {
    let pdu = crate::bytes(hex);
    match decode_with_sca(&pdu, direction) {
        Ok(p) => Dump::new(&p).to_string(),
        Err(e) => format!("error: {e}\n"),
    }
}

/// A PDU from the SC (what `+CMT`, `+CDS`, `+CMGR` print), SCA included.
fn check_mt(hex: &str, expect: Expect) {
    expect.assert_eq(&render(hex, Direction::ScToMs));
}

/// A PDU from the MS (what `AT+CMGS` sends), SCA included.
fn check_mo(hex: &str, expect: Expect) {
    expect.assert_eq(&render(hex, Direction::MsToSc));
}

#[test]
fn deliver_classic_how_are_you() {
    check_mt(
        "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07",
        expect![[r#"
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
fn deliver_alphanumeric_sender() {
    check_mt(
        "00040BD0C7F7FBCC2E030000521171519565230DC7D6F84D2E8362B219AD6603",
        expect![[r#"
            SCA          (none: the modem's default)
            type         SMS-DELIVER (SC→MS), TPDU 31 octets
            first octet  0x04: TP-MMS=1 (no more messages), TP-LP=0, TP-SRI=0, TP-UDHI=0, TP-RP=0
            TP-OA        Google (alphanumeric, unknown plan)
            TP-PID       0x00 (default)
            TP-DCS       0x00 (GSM-7, no class)
            TP-SCTS      2025-11-17T15:59:56+08:00
            TP-UDL       13 septets
            text         "G-code 123456"
        "#]],
    );
}

#[test]
fn deliver_ucs2_with_emoji() {
    check_mt(
        "07919761989901F0040D91683108108300F0000852117151956523084F60597DD83DDE00",
        expect![[r#"
            SCA          +79168999100 (international, ISDN/E.164)
            type         SMS-DELIVER (SC→MS), TPDU 28 octets
            first octet  0x04: TP-MMS=1 (no more messages), TP-LP=0, TP-SRI=0, TP-UDHI=0, TP-RP=0
            TP-OA        +8613800138000 (international, ISDN/E.164)
            TP-PID       0x00 (default)
            TP-DCS       0x08 (UCS-2, no class)
            TP-SCTS      2025-11-17T15:59:56+08:00
            TP-UDL       8 octets
            text         "你好😀"
        "#]],
    );
}

#[test]
fn deliver_concatenated_8bit_ref() {
    check_mt(
        "00440B911346610089F60000521171519565230F050003AB0201A061391DF4769701",
        expect![[r#"
            SCA          (none: the modem's default)
            type         SMS-DELIVER (SC→MS), TPDU 33 octets
            first octet  0x44: TP-MMS=1 (no more messages), TP-LP=0, TP-SRI=0, TP-UDHI=1, TP-RP=0
            TP-OA        +31641600986 (international, ISDN/E.164)
            TP-PID       0x00 (default)
            TP-DCS       0x00 (GSM-7, no class)
            TP-SCTS      2025-11-17T15:59:56+08:00
            TP-UDL       15 septets
            UDH          5 octets
              IE         concatenation part 1 of 2, 8-bit reference 171
            text         "Part one"
        "#]],
    );
}

#[test]
fn deliver_concatenated_16bit_ref_ucs2() {
    check_mt(
        "00440B911346610089F60008521171519565230B060804123402024E2D6587",
        expect![[r#"
            SCA          (none: the modem's default)
            type         SMS-DELIVER (SC→MS), TPDU 30 octets
            first octet  0x44: TP-MMS=1 (no more messages), TP-LP=0, TP-SRI=0, TP-UDHI=1, TP-RP=0
            TP-OA        +31641600986 (international, ISDN/E.164)
            TP-PID       0x00 (default)
            TP-DCS       0x08 (UCS-2, no class)
            TP-SCTS      2025-11-17T15:59:56+08:00
            TP-UDL       11 octets
            UDH          6 octets
              IE         concatenation part 2 of 2, 16-bit reference 4660
            text         "中文"
        "#]],
    );
}

#[test]
fn deliver_ports_8bit_data() {
    check_mt(
        "00400B911346610089F6000452117151956523090605040B8423F00102",
        expect![[r#"
            SCA          (none: the modem's default)
            type         SMS-DELIVER (SC→MS), TPDU 28 octets
            first octet  0x40: TP-MMS=0 (more messages waiting), TP-LP=0, TP-SRI=0, TP-UDHI=1, TP-RP=0
            TP-OA        +31641600986 (international, ISDN/E.164)
            TP-PID       0x00 (default)
            TP-DCS       0x04 (8-bit, no class)
            TP-SCTS      2025-11-17T15:59:56+08:00
            TP-UDL       9 octets
            UDH          6 octets
              IE         application ports 16-bit, destination 2948, source 9200
            data         0102 (user data is 8-bit binary, not text)
        "#]],
    );
}

#[test]
fn deliver_class0_flash() {
    check_mt(
        "00040B911346610089F6001052117151956523064676788E0E01",
        expect![[r#"
            SCA          (none: the modem's default)
            type         SMS-DELIVER (SC→MS), TPDU 25 octets
            first octet  0x04: TP-MMS=1 (no more messages), TP-LP=0, TP-SRI=0, TP-UDHI=0, TP-RP=0
            TP-OA        +31641600986 (international, ISDN/E.164)
            TP-PID       0x00 (default)
            TP-DCS       0x10 (GSM-7, class 0)
            TP-SCTS      2025-11-17T15:59:56+08:00
            TP-UDL       6 septets
            text         "Flash!"
        "#]],
    );
}

#[test]
fn deliver_compressed_is_not_decoded() {
    check_mt(
        "00040B911346610089F6002052117151956523020102",
        expect![[r#"
            SCA          (none: the modem's default)
            type         SMS-DELIVER (SC→MS), TPDU 21 octets
            first octet  0x04: TP-MMS=1 (no more messages), TP-LP=0, TP-SRI=0, TP-UDHI=0, TP-RP=0
            TP-OA        +31641600986 (international, ISDN/E.164)
            TP-PID       0x00 (default)
            TP-DCS       0x20 (GSM-7, no class, compressed)
            TP-SCTS      2025-11-17T15:59:56+08:00
            TP-UDL       2 octets
            data         0102 (user data is compressed (TS 23.042), which is unsupported)
        "#]],
    );
}

#[test]
fn status_report_delivered() {
    check_mt(
        "07919761989901F0062A0D91683108108300F0521171519565235211716100002300",
        expect![[r#"
            SCA          +79168999100 (international, ISDN/E.164)
            type         SMS-STATUS-REPORT (SC→MS), TPDU 26 octets
            first octet  0x06: TP-MMS=1 (no more messages), TP-LP=0, TP-SRQ=0 (reports an SMS-SUBMIT), TP-UDHI=0
            TP-MR        42
            TP-RA        +8613800138000 (international, ISDN/E.164)
            TP-SCTS      2025-11-17T15:59:56+08:00
            TP-DT        2025-11-17T16:00:00+08:00
            TP-ST        0x00 (completed: short message received by the SME)
        "#]],
    );
}

#[test]
fn status_report_still_trying() {
    check_mt(
        "0006FF0B911346610089F6521171519565235211716100002320",
        expect![[r#"
            SCA          (none: the modem's default)
            type         SMS-STATUS-REPORT (SC→MS), TPDU 25 octets
            first octet  0x06: TP-MMS=1 (no more messages), TP-LP=0, TP-SRQ=0 (reports an SMS-SUBMIT), TP-UDHI=0
            TP-MR        255
            TP-RA        +31641600986 (international, ISDN/E.164)
            TP-SCTS      2025-11-17T15:59:56+08:00
            TP-DT        2025-11-17T16:00:00+08:00
            TP-ST        0x20 (temporary error, SC still trying: congestion)
        "#]],
    );
}

#[test]
fn status_report_expired_more_messages() {
    check_mt(
        "0002010B911346610089F6521171519565235211716100002346",
        expect![[r#"
            SCA          (none: the modem's default)
            type         SMS-STATUS-REPORT (SC→MS), TPDU 25 octets
            first octet  0x02: TP-MMS=0 (more messages waiting), TP-LP=0, TP-SRQ=0 (reports an SMS-SUBMIT), TP-UDHI=0
            TP-MR        1
            TP-RA        +31641600986 (international, ISDN/E.164)
            TP-SCTS      2025-11-17T15:59:56+08:00
            TP-DT        2025-11-17T16:00:00+08:00
            TP-ST        0x46 (permanent error: SM validity period expired)
        "#]],
    );
}

#[test]
fn status_report_gave_up_with_pi() {
    check_mt(
        "0006020B911346610089F6521171519565235211716100002363030000",
        expect![[r#"
            SCA          (none: the modem's default)
            type         SMS-STATUS-REPORT (SC→MS), TPDU 28 octets
            first octet  0x06: TP-MMS=1 (no more messages), TP-LP=0, TP-SRQ=0 (reports an SMS-SUBMIT), TP-UDHI=0
            TP-MR        2
            TP-RA        +31641600986 (international, ISDN/E.164)
            TP-SCTS      2025-11-17T15:59:56+08:00
            TP-DT        2025-11-17T16:00:00+08:00
            TP-ST        0x63 (temporary error, SC gave up: service rejected)
            TP-PID       0x00 (default)
            TP-DCS       0x00 (GSM-7, no class)
        "#]],
    );
}

#[test]
fn status_report_with_user_data() {
    check_mt(
        "0006030B911346610089F65211715195652352117161000023000402C834",
        expect![[r#"
            SCA          (none: the modem's default)
            type         SMS-STATUS-REPORT (SC→MS), TPDU 29 octets
            first octet  0x06: TP-MMS=1 (no more messages), TP-LP=0, TP-SRQ=0 (reports an SMS-SUBMIT), TP-UDHI=0
            TP-MR        3
            TP-RA        +31641600986 (international, ISDN/E.164)
            TP-SCTS      2025-11-17T15:59:56+08:00
            TP-DT        2025-11-17T16:00:00+08:00
            TP-ST        0x00 (completed: short message received by the SME)
            TP-UDL       2 septets
            text         "Hi"
        "#]],
    );
}

#[test]
fn status_report_command_qualifier_pi_extension() {
    check_mt(
        "0026040B911346610089F65211715195652352117161000023418000",
        expect![[r#"
            SCA          (none: the modem's default)
            type         SMS-STATUS-REPORT (SC→MS), TPDU 25 octets
            first octet  0x26: TP-MMS=1 (no more messages), TP-LP=0, TP-SRQ=1 (reports an SMS-COMMAND), TP-UDHI=0
            TP-MR        4
            TP-RA        +31641600986 (international, ISDN/E.164)
            TP-SCTS      2025-11-17T15:59:56+08:00
            TP-DT        2025-11-17T16:00:00+08:00
            TP-ST        0x41 (permanent error: incompatible destination)
        "#]],
    );
}

#[test]
fn error_truncated_oa() {
    check_mt(
        "07911326040000F0040B911346",
        expect![[r#"
            error: truncated PDU: TP-OA needs 8 octets, 4 remain
        "#]],
    );
}

#[test]
fn error_empty_tpdu() {
    check_mt(
        "07911326040000F0",
        expect![[r#"
            error: truncated PDU: first octet needs 1 octet, 0 remain
        "#]],
    );
}

#[test]
fn error_udh_ie_overflow() {
    check_mt(
        "00440B911346610089F60000521171519565230F0A0003AB0201A061391DF4769701",
        expect![[r#"
            error: bad UDH: IE 0xA0 claims 97 octets, 3 remain in the header
        "#]],
    );
}

#[test]
fn error_udhl_beyond_ud() {
    check_mt(
        "00440B911346610089F60008521171519565230405000301",
        expect![[r#"
            error: bad UDH: UDHL 5 is beyond TP-UD (3 octets follow it)
        "#]],
    );
}

#[test]
fn error_concat_seq_zero() {
    check_mt(
        "00440B911346610089F60000521171519565230F050003AB0200A061391DF4769701",
        expect![[r#"
            error: bad UDH: concatenation part 0 of 2 (parts count from 1 to the total)
        "#]],
    );
}

#[test]
fn error_udl_shorter_than_udh() {
    check_mt(
        "00440B911346610089F60000521171519565230706080412340201",
        expect![[r#"
            error: TP-UDL 7 is shorter than the UDH (8)
        "#]],
    );
}

#[test]
fn error_trailing_octets() {
    check_mt(
        "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD0700",
        expect![[r#"
            error: 1 unexpected octet(s) after TP-UD
        "#]],
    );
}

#[test]
fn error_reserved_mti() {
    check_mt(
        "00030B911346610089F600005211715195652300",
        expect![[r#"
            error: reserved TP-MTI 3 (SC→MS)
        "#]],
    );
}

#[test]
fn error_udl_too_long() {
    check_mt(
        "00040B911346610089F6000052117151956523A1",
        expect![[r#"
            error: TP-UDL 161 is beyond the maximum 160
        "#]],
    );
}

#[test]
fn error_bad_scts() {
    check_mt(
        "00040B911346610089F600005231715195652300",
        expect![[r#"
            error: TP-SCTS is not a valid time stamp
        "#]],
    );
}

#[test]
fn error_truncated_ud() {
    check_mt(
        "00040B911346610089F60000521171519565230CC8F71D",
        expect![[r#"
            error: truncated PDU: TP-UD needs 11 octets, 3 remain
        "#]],
    );
}

#[test]
fn error_address_too_long() {
    check_mt(
        "0004159100",
        expect![[r#"
            error: TP-OA length 21 is beyond the 20 digits allowed
        "#]],
    );
}

#[test]
fn error_sca_truncated() {
    check_mt(
        "0791132604",
        expect![[r#"
            error: truncated PDU: SCA needs 8 octets, 5 remain
        "#]],
    );
}

#[test]
fn submit_gammu_relative_vp() {
    check_mo(
        "0691740900120011000A9174214365870000FF10C8329BFD0699E5EF36E81C6EB7EB",
        expect![[r#"
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
fn submit_absolute_vp_ucs2_class0() {
    check_mo(
        "0019050B911346610089F6001852117151956523044F60597D",
        expect![[r#"
            SCA          (none: the modem's default)
            type         SMS-SUBMIT (MS→SC), TPDU 24 octets
            first octet  0x19: TP-RD=0, TP-VPF=11, TP-SRR=0, TP-UDHI=0, TP-RP=0
            TP-MR        5
            TP-DA        +31641600986 (international, ISDN/E.164)
            TP-PID       0x00 (default)
            TP-DCS       0x18 (UCS-2, class 0)
            TP-VP        absolute 2025-11-17T15:59:56+08:00
            TP-UDL       4 octets
            text         "你好"
        "#]],
    );
}

#[test]
fn submit_enhanced_vp() {
    check_mo(
        "0009000B911346610089F600000310300000000007CF3A1DFE9ED301",
        expect![[r#"
            SCA          (none: the modem's default)
            type         SMS-SUBMIT (MS→SC), TPDU 27 octets
            first octet  0x09: TP-RD=0, TP-VPF=01, TP-SRR=0, TP-UDHI=0, TP-RP=0
            TP-MR        0
            TP-DA        +31641600986 (international, ISDN/E.164)
            TP-PID       0x00 (default)
            TP-DCS       0x00 (GSM-7, no class)
            TP-VP        enhanced, 01:03:00
            TP-UDL       7 septets
            text         "Outpost"
        "#]],
    );
}

#[test]
fn submit_report_requested_concat_16bit() {
    check_mo(
        "0071070B911346610089F60000A70A06080412340201C834",
        expect![[r#"
            SCA          (none: the modem's default)
            type         SMS-SUBMIT (MS→SC), TPDU 23 octets
            first octet  0x71: TP-RD=0, TP-VPF=10, TP-SRR=1, TP-UDHI=1, TP-RP=0
            TP-MR        7
            TP-DA        +31641600986 (international, ISDN/E.164)
            TP-PID       0x00 (default)
            TP-DCS       0x00 (GSM-7, no class)
            TP-VP        relative 167 (1d)
            TP-UDL       10 septets
            UDH          6 octets
              IE         concatenation part 1 of 2, 16-bit reference 4660
            text         "Hi"
        "#]],
    );
}

#[test]
fn submit_alphanumeric_destination() {
    check_mo(
        "0001000ED0CF3A1DFE9ED301000002C834",
        expect![[r#"
            SCA          (none: the modem's default)
            type         SMS-SUBMIT (MS→SC), TPDU 16 octets
            first octet  0x01: TP-RD=0, TP-VPF=00, TP-SRR=0, TP-UDHI=0, TP-RP=0
            TP-MR        0
            TP-DA        Outpost (alphanumeric, unknown plan)
            TP-PID       0x00 (default)
            TP-DCS       0x00 (GSM-7, no class)
            TP-VP        none
            TP-UDL       2 septets
            text         "Hi"
        "#]],
    );
}

#[test]
fn error_enhanced_vp_reserved_format() {
    check_mo(
        "0009000B911346610089F600000500000000000000",
        expect![[r#"
            error: TP-VP (enhanced format) is reserved or malformed
        "#]],
    );
}

#[test]
fn error_command_is_unsupported() {
    check_mo(
        "00020000",
        expect![[r#"
            error: SMS-COMMAND is not supported by this decoder
        "#]],
    );
}

#[test]
fn error_deliver_report_is_unsupported() {
    check_mo(
        "000000",
        expect![[r#"
            error: SMS-DELIVER-REPORT is not supported by this decoder
        "#]],
    );
}
