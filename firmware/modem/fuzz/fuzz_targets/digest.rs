//! Fuzzes the digester: any byte stream, after any command, must classify without panicking,
//! and feeding it in pieces (cut where the input says) must give the same items as whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modem::digest::{Digester, Item, Urc};

const COMMANDS: &[&[u8]] = &[
    b"", b"AT", b"ATI", b"AT+CSQ", b"AT+CMGS=27", b"AT+CMGR=1", b"AT+CMGL=4", b"AT+CREG?",
    b"AT+CPIN?",
];

fn render(item: Item<'_>, out: &mut Vec<String>) {
    out.push(match item {
        Item::Info(l) => format!("info {l:?}"),
        Item::Pdu(l) => format!("pdu {l:?}"),
        Item::Urc(Urc::Cmt { len, pdu }) => format!("cmt {len} {pdu:?}"),
        Item::Urc(Urc::Cds { len, pdu }) => format!("cds {len} {pdu:?}"),
        Item::Urc(Urc::Other(l)) => format!("other {l:?}"),
        other => format!("{other:?}"),
    });
}

fn run(cmd: &[u8], chunks: &[&[u8]]) -> Vec<String> {
    let mut d: Digester<128> = Digester::new();
    if !cmd.is_empty() {
        d.begin(cmd);
    }
    let mut out = Vec::new();
    for chunk in chunks {
        let mut rest = *chunk;
        loop {
            let (used, item) = d.feed(rest);
            rest = &rest[used..];
            match item {
                Some(item) => render(item, &mut out),
                None => {
                    assert!(rest.is_empty());
                    break;
                }
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Some((&cut, input)) = rest.split_first() else {
        return;
    };
    let cmd = COMMANDS[usize::from(sel) % COMMANDS.len()];
    let whole = run(cmd, &[input]);
    let step = usize::from(cut % 7) + 1;
    let chunks: Vec<&[u8]> = input.chunks(step).collect();
    assert_eq!(run(cmd, &chunks), whole);
});
