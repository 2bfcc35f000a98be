//! Scenario tests of the sans-I/O core: a script of client lines, raw bytes, clock moves and
//! control actions; the modem's output is compared byte for byte (escaped) with a snapshot.
//! Every script also runs one byte per `feed` and must give the same output: gammu writes one
//! byte per write (at-clients.md, requirement 1).
//!
//! Script lines: `AT…` is sent with CR; `~bytes` is sent raw (escapes `\r \n \xHH`); `@ms`
//! moves the clock to `ms` and polls; `!inject <from> <text>`, `!pdu <hex>`, `!fault <…>`,
//! `!power` act on the modem; `#` starts a comment.

use expect_test::{Expect, expect};
use modem_sim::{Event, InboundSms, Modem, ModemConfig, Profile, RejectReason, Route};

use crate::util::show;

fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b'x' => {
                    out.push(u8::from_str_radix(&s[i + 2..i + 4], 16).expect("hex escape"));
                    i += 4;
                    continue;
                }
                c => out.push(c),
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Runs `script`; returns the transcript.
fn run(m: &mut Modem, script: &str, bytewise: bool) -> String {
    let mut now = 0;
    let mut log = String::new();
    for line in script.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let input: Option<Vec<u8>> = if let Some(t) = line.strip_prefix('@') {
            now = t.parse().expect("time");
            m.poll(now);
            None
        } else if let Some(raw) = line.strip_prefix('~') {
            Some(unescape(raw))
        } else if let Some(cmd) = line.strip_prefix('!') {
            let (verb, rest) = cmd.split_once(' ').unwrap_or((cmd, ""));
            match verb {
                "inject" => {
                    let (from, text) = rest.split_once(' ').expect("inject <from> <text>");
                    m.inject_sms(now, &InboundSms::new(from, text))
                        .expect("inject");
                }
                "pdu" => m.inject_pdu(now, rest).expect("pdu"),
                "fault" => m.fault(now, rest.parse().expect("fault")),
                "power" => m.power_key(now),
                other => panic!("unknown action {other}"),
            }
            None
        } else {
            Some(format!("{line}\r").into_bytes())
        };
        if let Some(bytes) = &input {
            if bytewise {
                for b in bytes {
                    m.feed(now, std::slice::from_ref(b));
                }
            } else {
                m.feed(now, bytes);
            }
        }
        let out = m.take_output();
        log.push_str(&format!("{line}\n"));
        if !out.is_empty() {
            log.push_str(&format!("  {}\n", show(&out)));
        }
    }
    log
}

fn check_cfg(cfg: ModemConfig, script: &str, expect: Expect) -> Modem {
    let mut whole = Modem::new(cfg.clone());
    let got = run(&mut whole, script, false);
    let mut bytewise = Modem::new(cfg);
    let by_byte = run(&mut bytewise, script, true);
    assert_eq!(
        got, by_byte,
        "byte-at-a-time input gave a different transcript"
    );
    expect.assert_eq(&got);
    whole
}

fn check(script: &str, expect: Expect) -> Modem {
    let mut cfg = ModemConfig::new(Profile::Sim800);
    cfg.echo = false;
    check_cfg(cfg, script, expect)
}

#[test]
fn echo_framing_and_chained_commands() {
    let mut cfg = ModemConfig::new(Profile::Sim800);
    cfg.echo = true;
    check_cfg(
        cfg,
        r#"
        # Echo on at power-up: each command is repeated, then the result.
        AT
        AT+CMEE=1;+CREG=2
        AT+CREG?
        # ESC and ESC CR are ignored (gammu starts with them).
        ~\x1b\r
        ATE0
        AT+CSQ
        at+cgmi
        AT+NOSUCH
        AT+CMEE=1;+NOSUCH;+CREG=0
        garbageAT
        junk without prefix
        ATI
        "#,
        expect![[r#"
            AT
              AT\r\r\nOK\r\n
            AT+CMEE=1;+CREG=2
              AT+CMEE=1;+CREG=2\r\r\nOK\r\n
            AT+CREG?
              AT+CREG?\r\r\n+CREG: 2,1,"1A2B","0C3D"\r\n\r\nOK\r\n
            ~\x1b\r
              \r
            ATE0
              ATE0\r\r\nOK\r\n
            AT+CSQ
              \r\n+CSQ: 21,0\r\n\r\nOK\r\n
            at+cgmi
              \r\nSIMCOM_Ltd\r\n\r\nOK\r\n
            AT+NOSUCH
              \r\nERROR\r\n
            AT+CMEE=1;+NOSUCH;+CREG=0
              \r\nERROR\r\n
            garbageAT
              \r\nOK\r\n
            junk without prefix
            ATI
              \r\nSIMCOM_Ltd\r\nSIMCOM_SIM800\r\nRevision:1418B05SIM800L24\r\n\r\nOK\r\n
        "#]],
    );
}

#[test]
fn pdu_send_with_latency_and_status_report() {
    let mut cfg = ModemConfig::new(Profile::Sim800);
    cfg.echo = false;
    cfg.send_latency_ms = 3_000;
    cfg.receipt_delay_ms = 5_000;
    let m = check_cfg(
        cfg,
        r#"
        AT+CMEE=1
        AT+CNMI=2,1,0,2,0
        AT+CMGS=27
        # python-gsmmodem with a report: SCA 00, first octet 0x21 (SRR); Ctrl-Z in a later write.
        ~0021000A917421436587000011C8329BFD06DDD37434485E86BFE574
        ~\x1a
        # A command typed while the send is in progress waits for the answer.
        AT
        @2999
        @3000
        @7999
        @8000
        @8100
        AT+CPMS?
        AT+CMGR=1
        AT+CMGD=1
        AT+CMGR=1
        "#,
        expect![[r#"
            AT+CMEE=1
              \r\nOK\r\n
            AT+CNMI=2,1,0,2,0
              \r\nOK\r\n
            AT+CMGS=27
              \r\n> 
            ~0021000A917421436587000011C8329BFD06DDD37434485E86BFE574
            ~\x1a
            AT
            @2999
            @3000
              \r\n+CMGS: 1\r\n\r\nOK\r\n\r\nOK\r\n
            @7999
            @8000
              \r\n+CDSI: "SM",1\r\n
            @8100
            AT+CPMS?
              \r\n+CPMS: "SM",1,30,"SM",1,30,"SM",1,30\r\n\r\nOK\r\n
            AT+CMGR=1
              \r\n+CMGR: 0,,24\r\n0691740900120006010A917421436587421010310030404210103100804000\r\n\r\nOK\r\n
            AT+CMGD=1
              \r\nOK\r\n
            AT+CMGR=1
              \r\nOK\r\n
        "#]],
    );
    let accepted: Vec<_> = m
        .log()
        .iter()
        .filter_map(|e| match e {
            Event::Accepted(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].destination, "+4712345678");
    assert_eq!(accepted[0].text, "Hello with report");
    assert!(accepted[0].srr);
    assert_eq!(accepted[0].mr, 1);
    assert_eq!(accepted[0].at, 3_000);
}

#[test]
fn prompt_has_a_space_and_bad_pdus_are_refused() {
    let m = check(
        r#"
        AT+CMEE=1
        # Length does not match the TPDU after the SCA: refused.
        AT+CMGS=26
        ~0011000A9174214365870000FF10C8329BFD0699E5EF36E81C6EB7EB\x1a
        # Not hex.
        AT+CMGS=27
        ~zz\x1a
        # ESC cancels: OK and nothing sent.
        AT+CMGS=27
        ~0011\x1b
        # Length out of range.
        AT+CMGS=0
        # Right length with SCA 00 (smstools, python-gsmmodem).
        AT+CMGS=27
        ~0011000A9174214365870000FF10C8329BFD0699E5EF36E81C6EB7EB\x1a
        "#,
        expect![[r#"
            AT+CMEE=1
              \r\nOK\r\n
            AT+CMGS=26
              \r\n> 
            ~0011000A9174214365870000FF10C8329BFD0699E5EF36E81C6EB7EB\x1a
              \r\n+CMS ERROR: 304\r\n
            AT+CMGS=27
              \r\n> 
            ~zz\x1a
              \r\n+CMS ERROR: 304\r\n
            AT+CMGS=27
              \r\n> 
            ~0011\x1b
              \r\nOK\r\n
            AT+CMGS=0
              \r\n+CMS ERROR: 304\r\n
            AT+CMGS=27
              \r\n> 
            ~0011000A9174214365870000FF10C8329BFD0699E5EF36E81C6EB7EB\x1a
              \r\n+CMGS: 1\r\n\r\nOK\r\n
        "#]],
    );
    let log = m.log();
    assert!(matches!(
        log.iter()
            .filter(|e| matches!(
                e,
                Event::Rejected {
                    reason: RejectReason::BadPdu(_),
                    ..
                }
            ))
            .count(),
        2
    ));
    assert!(log.iter().any(|e| matches!(e, Event::Cancelled { .. })));
}

#[test]
fn mr_wraps_at_255() {
    let mut m = Modem::new(ModemConfig::new(Profile::Generic));
    let mut mrs = Vec::new();
    for _ in 0..257 {
        m.feed(0, b"AT+CMGS=27\r");
        m.feed(
            0,
            b"0011000A9174214365870000FF10C8329BFD0699E5EF36E81C6EB7EB\x1a",
        );
        m.poll(0);
    }
    for e in m.log() {
        if let Event::Accepted(s) = e {
            mrs.push(s.mr);
        }
    }
    assert_eq!(mrs.len(), 257);
    assert_eq!(&mrs[..2], &[1, 2]);
    assert_eq!(&mrs[254..], &[255, 0, 1]);
}

#[test]
fn separate_stores_listing_and_delete_flags() {
    check(
        r#"
        AT+CMEE=1
        !inject +4791234567 Hello in SM
        AT+CPMS="ME","ME","ME"
        !inject Bank Hello in ME
        @200
        AT+CPMS="SM"
        AT+CMGL=4
        AT+CMGL=4
        AT+CPMS="ME"
        AT+CMGL=0
        AT+CMGL=1
        AT+CMGD=1,1
        AT+CPMS?
        AT+CPMS="XX"
        AT+CMGR=31
        "#,
        expect![[r#"
            AT+CMEE=1
              \r\nOK\r\n
            !inject +4791234567 Hello in SM
            AT+CPMS="ME","ME","ME"
              \r\n+CPMS: 0,30,0,30,0,30\r\n\r\nOK\r\n
            !inject Bank Hello in ME
            @200
              \r\n+CMTI: "SM",1\r\n
            AT+CPMS="SM"
              \r\n+CPMS: 1,30,1,30,1,30\r\n\r\nOK\r\n
            AT+CMGL=4
              \r\n+CMGL: 1,0,,28\r\n06917409001200040A9174193254760000421010310000400BC8329BFD06A5DDA06913\r\n\r\nOK\r\n
            AT+CMGL=4
              \r\n+CMGL: 1,1,,28\r\n06917409001200040A9174193254760000421010310000400BC8329BFD06A5DDA06913\r\n\r\nOK\r\n
            AT+CPMS="ME"
              \r\n+CPMS: 1,30,1,30,1,30\r\n\r\nOK\r\n
            AT+CMGL=0
              \r\n+CMGL: 1,0,,27\r\n069174090012000407D0C2B07B0D0000421010310000400BC8329BFD06A5DDA06611\r\n\r\nOK\r\n
            AT+CMGL=1
              \r\n+CMGL: 1,1,,27\r\n069174090012000407D0C2B07B0D0000421010310000400BC8329BFD06A5DDA06611\r\n\r\nOK\r\n
            AT+CMGD=1,1
              \r\nOK\r\n
            AT+CPMS?
              \r\n+CPMS: "ME",0,30,"ME",0,30,"ME",0,30\r\n\r\nOK\r\n
            AT+CPMS="XX"
              \r\n+CMS ERROR: 302\r\n
            AT+CMGR=31
              \r\n+CMS ERROR: 321\r\n
        "#]],
    );
}

#[test]
fn urcs_wait_for_quiet_and_come_one_at_a_time() {
    let m = check(
        r#"
        AT+CNMI=2,1,0,2,0
        !inject +4791234567 one
        !inject +4791234567 two
        # Half a command line holds URCs back.
        ~AT+CS
        @500
        ~Q\r
        @550
        @600
        @650
        @700
        "#,
        expect![[r#"
            AT+CNMI=2,1,0,2,0
              \r\nOK\r\n
            !inject +4791234567 one
            !inject +4791234567 two
            ~AT+CS
            @500
            ~Q\r
              \r\n+CSQ: 21,0\r\n\r\nOK\r\n
            @550
            @600
              \r\n+CMTI: "SM",1\r\n
            @650
            @700
              \r\n+CMTI: "SM",2\r\n
        "#]],
    );
    assert_eq!(
        m.log()
            .iter()
            .filter(|e| matches!(
                e,
                Event::Inbound {
                    route: Route::Stored(_, _),
                    ..
                }
            ))
            .count(),
        2
    );
}

#[test]
fn direct_routing_cmt_and_cds() {
    let mut cfg = ModemConfig::new(Profile::Generic);
    cfg.echo = false;
    check_cfg(
        cfg,
        r#"
        # Kannel: CNMI=1,2,0,1,0 wants +CMT and +CDS pushed.
        AT+CNMI=1,2,0,1,0
        !inject +4791234567 Hello direct
        @100
        AT+CMGS=20
        ~0021000A917421436587000009C8329BFD0691D972\x1a
        @200
        AT+CPMS?
        "#,
        expect![[r#"
            AT+CNMI=1,2,0,1,0
              \r\nOK\r\n
            !inject +4791234567 Hello direct
            @100
              \r\n+CMT: ,29\r\n06917409001200040A9174193254760000421010310000400CC8329BFD0691D3F2F2980E\r\n
            AT+CMGS=20
              \r\n> 
            ~0021000A917421436587000009C8329BFD0691D972\x1a
              \r\n+CMGS: 1\r\n\r\nOK\r\n
            @200
              \r\n+CDS: 24\r\n0691740900120006010A917421436587421010310000404210103100004000\r\n
            AT+CPMS?
              \r\n+CPMS: "SM",0,30,"SM",0,30,"SM",0,30\r\n\r\nOK\r\n
        "#]],
    );
}

#[test]
fn text_mode_send_read_and_reports() {
    check(
        r#"
        AT+CMGF=1
        AT+CSMP=49,167,0,0
        AT+CNMI=2,1,0,2
        AT+CMGS="+4712345678"
        ~Hello text mode\x1a
        @200
        AT+CMGR=1
        !inject +4791234567 Hi there
        @400
        AT+CSDH=1
        AT+CMGR=2
        AT+CMGL="ALL"
        # HEX charset: the body is hex-coded GSM characters (gammu).
        AT+CSCS="HEX"
        AT+CMGS="+4712345678"
        ~48656C6C6F\x1a
        "#,
        expect![[r#"
            AT+CMGF=1
              \r\nOK\r\n
            AT+CSMP=49,167,0,0
              \r\nOK\r\n
            AT+CNMI=2,1,0,2
              \r\nOK\r\n
            AT+CMGS="+4712345678"
              \r\n> 
            ~Hello text mode\x1a
              \r\n+CMGS: 1\r\n\r\nOK\r\n
            @200
              \r\n+CDSI: "SM",1\r\n
            AT+CMGR=1
              \r\n+CMGR: "REC UNREAD",6,1,"+4712345678",145,"24/01/01,13:00:00+04","24/01/01,13:00:00+04",0\r\n\r\nOK\r\n
            !inject +4791234567 Hi there
            @400
              \r\n+CMTI: "SM",2\r\n
            AT+CSDH=1
              \r\nOK\r\n
            AT+CMGR=2
              \r\n+CMGR: "REC UNREAD","+4791234567",,"24/01/01,13:00:00+04",145,4,0,0,"+4790002100",145,8\r\nHi there\r\n\r\nOK\r\n
            AT+CMGL="ALL"
              \r\n+CMGL: 1,"REC READ",6,1,"+4712345678",145,"24/01/01,13:00:00+04","24/01/01,13:00:00+04",0\r\n+CMGL: 2,"REC READ","+4791234567",,"24/01/01,13:00:00+04",145,8\r\nHi there\r\n\r\nOK\r\n
            AT+CSCS="HEX"
              \r\nOK\r\n
            AT+CMGS="+4712345678"
              \r\n> 
            ~48656C6C6F\x1a
              \r\n+CMGS: 2\r\n\r\nOK\r\n
        "#]],
    );
}

#[test]
fn faults_hang_cms_sim_registration_reboot_slow_garbage() {
    let mut cfg = ModemConfig::new(Profile::Sim800);
    cfg.echo = false;
    cfg.send_latency_ms = 1_000;
    let m = check_cfg(
        cfg,
        r#"
        AT+CMEE=1;+CREG=1
        !fault cms 500
        AT+CMGS=27
        ~0011000A9174214365870000FF10C8329BFD0699E5EF36E81C6EB7EB\x1a
        @1000
        !fault hang
        AT
        @5000
        !power
        AT
        @6000
        ATE0
        AT+CMEE=1;+CREG=1
        !fault sim-removed
        @6200
        AT+CPIN?
        AT+CMGS=27
        ~0011000A9174214365870000FF10C8329BFD0699E5EF36E81C6EB7EB\x1a
        !fault sim-inserted
        @6400
        @6600
        !fault deregister
        @6800
        AT+CREG?
        !fault register
        @7000
        !fault garbage
        @7200
        @7400
        !fault slow 300
        AT+CSQ
        @7699
        @7700
        !fault slow 0
        AT+CMGS=27
        ~0011000A9174214365870000FF10C8329BFD0699E5EF36E81C6EB7EB\x1a
        !fault reboot
        @8000
        AT+CMEE?
        "#,
        expect![[r#"
            AT+CMEE=1;+CREG=1
              \r\nOK\r\n
            !fault cms 500
            AT+CMGS=27
              \r\n> 
            ~0011000A9174214365870000FF10C8329BFD0699E5EF36E81C6EB7EB\x1a
            @1000
              \r\n+CMS ERROR: 500\r\n
            !fault hang
            AT
            @5000
            !power
              \r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n
            AT
              \r\nOK\r\n
            @6000
            ATE0
              \r\nOK\r\n
            AT+CMEE=1;+CREG=1
              \r\nOK\r\n
            !fault sim-removed
            @6200
              \r\n+CPIN: NOT READY\r\n
            AT+CPIN?
              \r\n+CME ERROR: 10\r\n
            AT+CMGS=27
              \r\n> 
            ~0011000A9174214365870000FF10C8329BFD0699E5EF36E81C6EB7EB\x1a
              \r\n+CMS ERROR: 310\r\n
            !fault sim-inserted
            @6400
              \r\n+CREG: 0\r\n
            @6600
              \r\n+CPIN: READY\r\n
            !fault deregister
            @6800
              \r\n+CREG: 1\r\n
            AT+CREG?
              \r\n+CREG: 1,2\r\n\r\nOK\r\n
            !fault register
            @7000
              \r\n+CREG: 2\r\n
            !fault garbage
            @7200
              \r\n+CREG: 1\r\n
            @7400
              \r\n\x00\xff\xfe~#noise\x07\r\n
            !fault slow 300
            AT+CSQ
            @7699
            @7700
              \r\n+CSQ: 21,0\r\n\r\nOK\r\n
            !fault slow 0
            AT+CMGS=27
              \r\n> 
            ~0011000A9174214365870000FF10C8329BFD0699E5EF36E81C6EB7EB\x1a
            !fault reboot
              \r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n
            @8000
            AT+CMEE?
              \r\n+CMEE: 0\r\n\r\nOK\r\n
        "#]],
    );
    let stats = m.stats();
    eprintln!("{:#?}", m.log());
    // The CMS fault, the SIM-less send: refused. The send cut by the reboot: lost. None accepted.
    assert_eq!(
        (stats.accepted, stats.rejected, stats.lost, stats.reboots),
        (0, 2, 1, 2)
    );
}

#[test]
fn pin_and_clac_and_profiles() {
    let mut cfg = ModemConfig::new(Profile::Ec25);
    cfg.echo = false;
    cfg.pin = Some("1234".into());
    check_cfg(
        cfg,
        r#"
        AT+CMEE=1
        AT+CPIN?
        AT+CREG?
        AT+CPIN="0000"
        AT+CPIN="1234"
        AT+CPIN?
        AT+CEREG?
        AT+QCCID
        AT+COPS=3,2;+COPS?
        AT+CGMI;+CGMM
        "#,
        expect![[r#"
            AT+CMEE=1
              \r\nOK\r\n
            AT+CPIN?
              \r\n+CPIN: SIM PIN\r\n\r\nOK\r\n
            AT+CREG?
              \r\n+CREG: 0,0\r\n\r\nOK\r\n
            AT+CPIN="0000"
              \r\n+CME ERROR: 16\r\n
            AT+CPIN="1234"
              \r\nOK\r\n
            AT+CPIN?
              \r\n+CPIN: READY\r\n\r\nOK\r\n
            AT+CEREG?
              \r\n+CEREG: 0,1\r\n\r\nOK\r\n
            AT+QCCID
              \r\n+QCCID: 8947080036201234567\r\n\r\nOK\r\n
            AT+COPS=3,2;+COPS?
              \r\n+COPS: 0,2,"24201",7\r\n\r\nOK\r\n
            AT+CGMI;+CGMM
              \r\nQuectel\r\n\r\nEC25\r\n\r\nOK\r\n
        "#]],
    );
    // AT+CLAC names every command the modem answers (python-gsmmodem relies on it), and each
    // of them answers something other than a syntax ERROR in some form.
    for p in Profile::ALL {
        let mut m = Modem::new(ModemConfig::new(p));
        m.feed(0, b"ATE0\r");
        m.take_output();
        m.feed(0, b"AT+CLAC\r");
        let out = String::from_utf8(m.take_output()).unwrap();
        assert!(
            out.contains("\r\nAT+CSCS\r\n") && out.contains("\r\nAT+CMGS\r\n"),
            "{p}: {out}"
        );
        for name in out.lines().filter(|l| l.starts_with("AT")) {
            let basic = !name.contains(['+', '^']);
            let forms: &[&str] = if basic {
                &["", "0", "1"]
            } else {
                &["?", "=?", ""]
            };
            for form in forms {
                m.feed(0, format!("{name}{form}\r").as_bytes());
            }
            let answers = String::from_utf8_lossy(&m.take_output()).into_owned();
            assert!(
                answers.contains("OK") || answers.contains("+CME") || answers.contains("+CMS"),
                "{p}: {name} answers only ERROR"
            );
        }
    }
}

#[test]
fn storage_full_keeps_messages_in_the_network() {
    let mut cfg = ModemConfig::new(Profile::Sim800);
    cfg.sm_capacity = 1;
    let mut m = Modem::new(cfg);
    m.inject_sms(0, &InboundSms::new("+4791234567", "one"))
        .unwrap();
    m.inject_sms(0, &InboundSms::new("+4791234567", "two"))
        .unwrap();
    assert_eq!(m.network_backlog(), 1);
    m.feed(0, b"AT+CMGD=1\r");
    assert_eq!(m.network_backlog(), 0);
    assert_eq!(m.store_usage(modem_sim::Mem::Sm), (1, 1));
}

#[test]
fn long_inbound_is_split_with_udh() {
    let mut m = Modem::new(ModemConfig::new(Profile::Sim800));
    let text = "Long inbound message ".repeat(10);
    let parts = m.inject_sms(0, &InboundSms::new("Outpost", &text)).unwrap();
    assert_eq!(parts, 2);
    let inbound: Vec<_> = m
        .log()
        .iter()
        .filter_map(|e| match e {
            Event::Inbound {
                from, text, concat, ..
            } => Some((from.clone(), text.clone(), *concat)),
            _ => None,
        })
        .collect();
    assert_eq!(inbound.len(), 2);
    assert_eq!(inbound[0].0, "Outpost");
    assert_eq!(format!("{}{}", inbound[0].1, inbound[1].1), text);
    assert_eq!(inbound[1].2.map(|c| (c.total, c.seq)), Some((2, 2)));
}

/// Arbitrary input never panics the core and never leaves it unable to answer: a deterministic
/// stream of command fragments, PDUs, control characters and random bytes, split at random.
#[test]
fn arbitrary_input_never_panics() {
    let tokens: &[&[u8]] = &[
        b"AT",
        b"\r",
        b"\n",
        b"+CMGS=",
        b"27",
        b"176",
        b"0011000A9174214365870000FF10C8329BFD0699E5EF36E81C6EB7EB",
        b"\x1a",
        b"\x1b",
        b"\x08",
        b";+CMGR=",
        b"+CMGD=1,4",
        b"+CPMS=\"ME\"",
        b"+CMGF=1",
        b"+CMGF=0",
        b"+CSCS=\"UCS2\"",
        b"+CSCS=\"HEX\"",
        b"+CMGL=\"ALL\"",
        b"+CNMI=2,2,0,1,0",
        b"\"",
        b",",
        b"=?",
        b"?",
        b"E1",
        b"A/",
        b"+CFUN=1,1",
    ];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for profile in Profile::ALL {
        let mut m = Modem::new(ModemConfig::new(profile));
        let mut now = 0u64;
        for step in 0..20_000u32 {
            let r = next();
            let mut bytes: Vec<u8> = if r % 4 == 0 {
                (0..(r >> 8) % 16)
                    .map(|i| (next() >> (i % 8)) as u8)
                    .collect()
            } else {
                tokens[(r >> 8) as usize % tokens.len()].to_vec()
            };
            if step % 997 == 0 {
                let _ = m.inject_sms(
                    now,
                    &InboundSms::new("+4791234567", "x".repeat((r % 400) as usize)),
                );
                m.fault(now, modem_sim::Fault::Slow((r % 3) * 100));
            }
            now += (r >> 20) % 50;
            while !bytes.is_empty() {
                let cut = (next() as usize % bytes.len()) + 1;
                let rest = bytes.split_off(cut);
                m.feed(now, &bytes);
                bytes = rest;
            }
            m.poll(now);
            m.take_output();
        }
        assert!(m.stats().commands > 100, "{profile}: {}", m.stats());
        // Still alive: after ESC, a quiet second and a fresh line, AT answers OK.
        m.fault(now, modem_sim::Fault::Clear);
        m.feed(now, b"\x1b\r");
        now += 5_000;
        m.poll(now);
        m.take_output();
        m.feed(now, b"\rATE0\r");
        m.poll(now + 1_000);
        m.take_output();
        m.feed(now + 1_000, b"AT\r");
        m.poll(now + 2_000);
        let out = String::from_utf8_lossy(&m.take_output()).into_owned();
        assert!(out.contains("OK"), "{profile}: {out:?}");
    }
}
